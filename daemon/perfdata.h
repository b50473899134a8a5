/* perfdata.h - a Nagios plugin's output: message, long output, perfdata.
 *
 * Parses what a plugin prints, as the Nagios plugin development guidelines
 * describe it:
 *
 *   TEXT OUTPUT | OPTIONAL PERFDATA
 *   LONG TEXT LINE 1
 *   LONG TEXT LINE N | PERFDATA LINE 2
 *   PERFDATA LINE 3
 *
 * and each perfdata item as 'label'=value[UOM];[warn];[crit];[min];[max]
 * (a label with spaces or '=' is quoted, a quote inside it doubled).
 *
 * Ownership: everything lands in caller-owned fixed-size structs; nothing is
 * allocated, so a struct perfdata is a value type copied freely. Input is
 * never trusted: any byte sequence of any length is safe, every item is
 * validated before it is kept, at most PERFDATA_MAX items are kept (the
 * rest counted in dropped), malformed ones are skipped and counted in
 * invalid. Nothing here blocks or reads global state (no locale). */
#ifndef SHIPWATCH_PERFDATA_H
#define SHIPWATCH_PERFDATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PERFDATA_MAX 32             /* items kept per result */
#define PERFDATA_LABEL_MAX 64       /* label bytes with the NUL; longer is invalid */
#define PERFDATA_UOM_MAX 8          /* unit bytes with the NUL */
#define PERFDATA_RANGE_MAX 24       /* warn/crit range text with the NUL */

/* Flags of one item. */
enum {
    PERFDATA_VALUE_UNKNOWN = 1 << 0,    /* the value was "U": value is 0 */
    PERFDATA_HAS_MIN = 1 << 1,
    PERFDATA_HAS_MAX = 1 << 2,
};

/* One measurement. Strings are NUL-terminated and free of control bytes. */
struct perfdata_item {
    char label[PERFDATA_LABEL_MAX];     /* unquoted, '' unescaped */
    char uom[PERFDATA_UOM_MAX];         /* "", "s", "ms", "%", "B", "KB", "c", ... */
    char warn[PERFDATA_RANGE_MAX];      /* range as written ("10", "@5:10", "~:3"); "" none */
    char crit[PERFDATA_RANGE_MAX];
    double value;                       /* finite; 0 when PERFDATA_VALUE_UNKNOWN */
    double min;                         /* finite, when PERFDATA_HAS_MIN */
    double max;                         /* finite, when PERFDATA_HAS_MAX */
    uint8_t flags;
};

/* Every item of one result, in the order printed; labels are unique (a
 * repeated label is dropped). */
struct perfdata {
    struct perfdata_item items[PERFDATA_MAX];
    uint8_t n;                          /* items kept, <= PERFDATA_MAX */
    uint16_t invalid;                   /* malformed items skipped (saturates) */
    uint16_t dropped;                   /* valid items past PERFDATA_MAX or
                                           repeated labels (saturates) */
};

/* A plugin's whole output taken apart. message and long_output are
 * NUL-terminated, cut at their size on a UTF-8 boundary, control bytes
 * other than '\n' in long_output replaced by spaces. */
struct perfdata_output {
    char *message;                      /* the first line's text, trimmed;
                                           the caller's buffer */
    size_t message_size;                /* its size, > 0 */
    char *long_output;                  /* the lines after the first, without
                                           their perfdata, trimmed; the
                                           caller's buffer, may be NULL */
    size_t long_output_size;            /* its size, > 0 when long_output is set */
    bool truncated;                     /* set by the split when message or
                                           long_output was cut */
};

/* Parse the perfdata text s[0..len) (items separated by blanks) and append
 * its valid items to pd. */
void perfdata_parse(struct perfdata *pd, const char *s, size_t len);

/* Take a plugin's output out[0..len) apart: the first line's text into
 * po->message, the long text into po->long_output, every perfdata section
 * into pd (which the caller zeroed or filled before). */
void perfdata_split_output(const char *out, size_t len, struct perfdata_output *po,
                           struct perfdata *pd);

/* Write pd's items as perfdata text into out (size > 0), one space
 * between items, each as 'label'=value[UOM];warn;crit;min;max with empty
 * trailing fields left out; an item that does not fit whole is left out
 * with every one after it. perfdata_parse reads the text back to the same
 * items. Returns the items written. */
size_t perfdata_format(const struct perfdata *pd, char *out, size_t size);

/* The item labelled label in pd, or NULL. */
const struct perfdata_item *perfdata_find(const struct perfdata *pd, const char *label);

#endif
