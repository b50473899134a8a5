/* fuzz_perfdata.c - libFuzzer: a plugin's whole output, as a plugin that
 * is broken or hostile may print it. The input is the output; it is split
 * into message, long output and perfdata with small buffers (so the cuts
 * are reached), and every item kept is checked against the contract. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "perfdata.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Abort unless s is NUL-terminated within size and free of control bytes. */
static void check_text(const char *s, size_t size, bool newlines)
{
    size_t len = strnlen(s, size);
    if (len >= size) {
        abort();
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c < 0x20 && !(newlines && c == '\n')) || c == 0x7f) {
            abort();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* An exact-size copy so ASan sees any read past the end. */
    char *out = malloc(size ? size : 1);
    if (out == NULL) {
        return 0;
    }
    memcpy(out, data, size);
    char message[32];
    char long_output[64];
    struct perfdata pd;
    memset(&pd, 0, sizeof(pd));
    struct perfdata_output po = {
        .message = message,
        .message_size = sizeof(message),
        .long_output = long_output,
        .long_output_size = sizeof(long_output),
    };
    perfdata_split_output(out, size, &po, &pd);
    check_text(message, sizeof(message), false);
    check_text(long_output, sizeof(long_output), true);
    if (pd.n > PERFDATA_MAX) {
        abort();
    }
    for (size_t i = 0; i < pd.n; i++) {
        const struct perfdata_item *it = &pd.items[i];
        check_text(it->label, sizeof(it->label), false);
        check_text(it->uom, sizeof(it->uom), false);
        check_text(it->warn, sizeof(it->warn), false);
        check_text(it->crit, sizeof(it->crit), false);
        if (it->label[0] == '\0' || !isfinite(it->value) || !isfinite(it->min) ||
            !isfinite(it->max) || perfdata_find(&pd, it->label) != it) {
            abort();
        }
    }
    /* As a result keeps it: the normalized text reads back to the items
     * written, labels and units unchanged. */
    char text[512];
    size_t written = perfdata_format(&pd, text, sizeof(text));
    check_text(text, sizeof(text), false);
    struct perfdata back;
    memset(&back, 0, sizeof(back));
    perfdata_parse(&back, text, strlen(text));
    if (back.n != written || back.invalid != 0) {
        abort();
    }
    for (size_t i = 0; i < written; i++) {
        if (strcmp(back.items[i].label, pd.items[i].label) != 0 ||
            strcmp(back.items[i].uom, pd.items[i].uom) != 0 ||
            back.items[i].flags != pd.items[i].flags) {
            abort();
        }
    }
    /* The parser alone, on the raw bytes, appending to what is there. */
    perfdata_parse(&pd, out, size);
    if (pd.n > PERFDATA_MAX) {
        abort();
    }
    free(out);
    return 0;
}
