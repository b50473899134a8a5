/* perfdata.c - a Nagios plugin's output taken apart: message, long output
 * and 'label'=value[UOM];warn;crit;min;max items, every byte validated. */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "perfdata.h"

#define NUMBER_MAX 64               /* longest number text accepted */
#define FIELDS_MAX 5                /* value;warn;crit;min;max */

/* A blank between items (or around lines). */
static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

/* A control byte: never kept in a label, a unit or a message. */
static bool is_control(unsigned char c)
{
    return c < 0x20 || c == 0x7f;
}

/* Add one to a saturating counter. */
static void bump(uint16_t *n)
{
    if (*n < UINT16_MAX) {
        (*n)++;
    }
}

/* Parse s[0..len) as a whole decimal number ([+-]digits[.digits][e[+-]digits],
 * digits on at least one side of the point) into *out; false unless it is
 * one and finite. Locale-free: strtod only ever sees validated C text. */
static bool parse_number(const char *s, size_t len, double *out)
{
    size_t i = 0;
    size_t digits = 0;
    if (len == 0 || len >= NUMBER_MAX) {
        return false;
    }
    if (s[i] == '+' || s[i] == '-') {
        i++;
    }
    while (i < len && s[i] >= '0' && s[i] <= '9') {
        i++;
        digits++;
    }
    if (i < len && s[i] == '.') {
        i++;
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            i++;
            digits++;
        }
    }
    if (digits == 0) {
        return false;
    }
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        size_t exp_digits = 0;
        i++;
        if (i < len && (s[i] == '+' || s[i] == '-')) {
            i++;
        }
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            i++;
            exp_digits++;
        }
        if (exp_digits == 0) {
            return false;
        }
    }
    if (i != len) {
        return false;
    }
    char buf[NUMBER_MAX];
    memcpy(buf, s, len);
    buf[len] = '\0';
    double v = strtod(buf, NULL);
    if (!isfinite(v)) {
        return false;
    }
    *out = v == 0 ? 0 : v;      /* no negative zero */
    return true;
}

/* The value field: "U", or a number followed by its unit of measure. */
static bool parse_value(const char *s, size_t len, struct perfdata_item *it)
{
    if (len == 1 && s[0] == 'U') {
        it->flags |= PERFDATA_VALUE_UNKNOWN;
        it->value = 0;
        return true;
    }
    size_t n = 0;
    while (n < len && ((s[n] >= '0' && s[n] <= '9') || s[n] == '.' || s[n] == '-' ||
                       s[n] == '+')) {
        n++;
    }
    /* An exponent belongs to the number only when digits follow it. */
    if (n < len && (s[n] == 'e' || s[n] == 'E')) {
        size_t m = n + 1;
        if (m < len && (s[m] == '+' || s[m] == '-')) {
            m++;
        }
        if (m < len && s[m] >= '0' && s[m] <= '9') {
            while (m < len && s[m] >= '0' && s[m] <= '9') {
                m++;
            }
            n = m;
        }
    }
    if (!parse_number(s, n, &it->value)) {
        return false;
    }
    size_t ulen = len - n;
    if (ulen >= sizeof(it->uom)) {
        return false;
    }
    for (size_t i = n; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '%')) {
            return false;
        }
    }
    memcpy(it->uom, s + n, ulen);
    it->uom[ulen] = '\0';
    return true;
}

/* A warn or crit range ("10", "10:", "~:10", "10:20", "@10:20"), kept as text. */
static bool parse_range(const char *s, size_t len, char *out, size_t size)
{
    if (len >= size) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        if (strchr("0123456789.+-:~@eE", s[i]) == NULL || s[i] == '\0') {
            return false;
        }
    }
    memcpy(out, s, len);
    out[len] = '\0';
    return true;
}

/* The fields after '=' (s[0..len), no blanks): value[UOM];warn;crit;min;max,
 * trailing fields optional, empty ones absent. */
static bool parse_fields(const char *s, size_t len, struct perfdata_item *it)
{
    size_t start = 0;
    for (int field = 0;; field++) {
        if (field >= FIELDS_MAX) {
            return false;
        }
        const char *semi = memchr(s + start, ';', len - start);
        size_t end = semi != NULL ? (size_t)(semi - s) : len;
        const char *f = s + start;
        size_t flen = end - start;
        bool ok = true;
        switch (field) {
        case 0:
            ok = parse_value(f, flen, it);
            break;
        case 1:
            ok = parse_range(f, flen, it->warn, sizeof(it->warn));
            break;
        case 2:
            ok = parse_range(f, flen, it->crit, sizeof(it->crit));
            break;
        case 3:
            if (flen > 0) {
                ok = parse_number(f, flen, &it->min);
                it->flags |= PERFDATA_HAS_MIN;
            }
            break;
        default:
            if (flen > 0) {
                ok = parse_number(f, flen, &it->max);
                it->flags |= PERFDATA_HAS_MAX;
            }
            break;
        }
        if (!ok) {
            return false;
        }
        if (semi == NULL) {
            return true;
        }
        start = end + 1;
    }
}

/* One item from s[*pos..len): true when valid (into *it). *pos always ends
 * past the item, at a blank or len, even when it was malformed. */
static bool parse_item(const char *s, size_t len, size_t *pos, struct perfdata_item *it)
{
    size_t i = *pos;
    size_t n = 0;
    bool ok = true;
    if (s[i] == '\'') {
        /* Quoted: '' is a quote; the label ends at a lone quote. */
        bool closed = false;
        for (i++; i < len; i++) {
            char c = s[i];
            if (c == '\'') {
                if (i + 1 < len && s[i + 1] == '\'') {
                    i++;
                } else {
                    i++;
                    closed = true;
                    break;
                }
            } else if (c == '\n') {
                break;      /* a label never spans lines */
            }
            if (is_control((unsigned char)c) || n + 1 >= sizeof(it->label)) {
                ok = false;
            } else {
                it->label[n++] = c;
            }
        }
        ok = ok && closed;
    } else {
        for (; i < len && s[i] != '=' && !is_blank(s[i]); i++) {
            if (s[i] == '\'' || is_control((unsigned char)s[i]) || n + 1 >= sizeof(it->label)) {
                ok = false;
            } else {
                it->label[n++] = s[i];
            }
        }
    }
    it->label[n] = '\0';
    if (n == 0 || i >= len || s[i] != '=') {
        ok = false;
    } else {
        i++;
    }
    size_t start = i;
    while (i < len && !is_blank(s[i])) {
        i++;
    }
    *pos = i;
    return ok && parse_fields(s + start, i - start, it);
}

/* The item labelled label in pd, or NULL. */
const struct perfdata_item *perfdata_find(const struct perfdata *pd, const char *label)
{
    for (size_t i = 0; i < pd->n && i < PERFDATA_MAX; i++) {
        if (strcmp(pd->items[i].label, label) == 0) {
            return &pd->items[i];
        }
    }
    return NULL;
}

/* v as "%.15g" prints it, into out (32 bytes); its length. Integers below
 * 1e15 (byte counts, counts: most values) skip printf, a tenth of the
 * time; -0 and the rest take it. */
static size_t format_num(double v, char out[32])
{
    if (v > -1e15 && v < 1e15 && v == (double)(int64_t)v && !(v == 0 && signbit(v))) {
        int64_t i = (int64_t)v;
        uint64_t u = i < 0 ? (uint64_t)-i : (uint64_t)i;
        char rev[20];
        size_t n = 0, len = 0;
        do {
            rev[n++] = (char)('0' + u % 10);
            u /= 10;
        } while (u > 0);
        if (i < 0) {
            out[len++] = '-';
        }
        while (n > 0) {
            out[len++] = rev[--n];
        }
        out[len] = '\0';
        return len;
    }
    int len = snprintf(out, 32, "%.15g", v);
    return len > 0 && len < 32 ? (size_t)len : 0;
}

/* Append n bytes of s to out[*len..size), keeping room for the NUL; false
 * when they do not fit. */
static bool put(char *out, size_t size, size_t *len, const char *s, size_t n)
{
    if (*len + n >= size) {
        return false;
    }
    memcpy(out + *len, s, n);
    *len += n;
    return true;
}

/* One item as perfdata text into out; its length, or -1 when it does not
 * fit in size. */
static int format_item(const struct perfdata_item *it, char *out, size_t size)
{
    size_t len = 0;
    bool ok = put(out, size, &len, "'", 1);
    size_t quoted = 0;
    for (const char *p = it->label; ok && *p != '\0' && quoted + 2 < 2 * PERFDATA_LABEL_MAX;
         p++) {
        if (*p == '\'') {
            ok = put(out, size, &len, "'", 1);
            quoted++;
        }
        ok = ok && put(out, size, &len, p, 1);
        quoted++;
    }
    ok = ok && put(out, size, &len, "'=", 2);
    char num[32];
    if (it->flags & PERFDATA_VALUE_UNKNOWN) {
        ok = ok && put(out, size, &len, "U", 1);
    } else {
        size_t n = format_num(it->value, num);
        ok = ok && put(out, size, &len, num, n);
    }
    ok = ok && put(out, size, &len, it->uom, strlen(it->uom));
    char min[32] = "", max[32] = "";
    if (it->flags & PERFDATA_HAS_MIN) {
        format_num(it->min, min);
    }
    if (it->flags & PERFDATA_HAS_MAX) {
        format_num(it->max, max);
    }
    const char *fields[] = {it->warn, it->crit, min, max};
    size_t nfields = 4;
    while (nfields > 0 && fields[nfields - 1][0] == '\0') {
        nfields--;
    }
    for (size_t i = 0; ok && i < nfields; i++) {
        ok = put(out, size, &len, ";", 1) && put(out, size, &len, fields[i], strlen(fields[i]));
    }
    if (!ok) {
        return -1;
    }
    out[len] = '\0';
    return (int)len;
}

/* pd's items as perfdata text, whole items only. */
size_t perfdata_format(const struct perfdata *pd, char *out, size_t size)
{
    size_t used = 0;
    size_t written = 0;
    out[0] = '\0';
    for (size_t i = 0; i < pd->n && i < PERFDATA_MAX; i++) {
        size_t sep = used > 0 ? 1 : 0;
        if (used + sep >= size) {
            break;
        }
        int len = format_item(&pd->items[i], out + used + sep, size - used - sep);
        if (len < 0) {
            out[used] = '\0';
            break;
        }
        if (sep != 0) {
            out[used] = ' ';
        }
        used += sep + (size_t)len;
        written++;
    }
    return written;
}

/* Parse perfdata text and append its valid items to pd. */
void perfdata_parse(struct perfdata *pd, const char *s, size_t len)
{
    size_t i = 0;
    if (s == NULL) {
        return;
    }
    while (i < len) {
        while (i < len && is_blank(s[i])) {
            i++;
        }
        if (i >= len) {
            break;
        }
        struct perfdata_item it;
        memset(&it, 0, sizeof(it));
        if (!parse_item(s, len, &i, &it)) {
            bump(&pd->invalid);
        } else if (pd->n >= PERFDATA_MAX || perfdata_find(pd, it.label) != NULL) {
            bump(&pd->dropped);
        } else {
            pd->items[pd->n++] = it;
        }
    }
}

/* Where out[0..len) may be cut without splitting a UTF-8 sequence: len, or
 * less when the last sequence would be incomplete. */
static size_t utf8_cut(const char *out, size_t len)
{
    size_t i = len;
    size_t back = 0;
    while (i > 0 && back < 4 && ((unsigned char)out[i - 1] & 0xc0) == 0x80) {
        i--;
        back++;
    }
    if (i == 0) {
        return len;
    }
    unsigned char lead = (unsigned char)out[i - 1];
    size_t need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
    if (lead >= 0xc0 && back + 1 < need) {
        return i - 1;
    }
    return len;
}

/* Append s[0..len) to dst (size bytes, *used so far), control bytes but
 * '\n' as spaces; false when it did not all fit (cut on a UTF-8 boundary). */
static bool append_text(char *dst, size_t size, size_t *used, const char *s, size_t len)
{
    size_t room = size - 1 - *used;
    size_t n = len <= room ? len : utf8_cut(s, room);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        dst[(*used)++] = (c != '\n' && is_control(c)) ? ' ' : (char)c;
    }
    dst[*used] = '\0';
    return n == len;
}

/* len without trailing blanks. */
static size_t rtrim(const char *s, size_t len)
{
    while (len > 0 && is_blank(s[len - 1])) {
        len--;
    }
    return len;
}

/* Take a plugin's output apart into message, long output and perfdata. */
void perfdata_split_output(const char *out, size_t len, struct perfdata_output *po,
                           struct perfdata *pd)
{
    size_t used = 0;
    size_t long_used = 0;
    bool long_full = false;
    bool in_perf = false;
    if (out == NULL) {
        len = 0;
    }
    po->message[0] = '\0';
    po->truncated = false;
    if (po->long_output != NULL) {
        po->long_output[0] = '\0';
    }
    /* First line: text | perfdata. */
    const char *nl = len > 0 ? memchr(out, '\n', len) : NULL;
    size_t line_end = nl != NULL ? (size_t)(nl - out) : len;
    const char *bar = line_end > 0 ? memchr(out, '|', line_end) : NULL;
    size_t text_end = bar != NULL ? (size_t)(bar - out) : line_end;
    if (bar != NULL) {
        perfdata_parse(pd, bar + 1, line_end - text_end - 1);
    }
    if (!append_text(po->message, po->message_size, &used, out, rtrim(out, text_end))) {
        po->truncated = true;
    }
    /* Later lines: long text until a '|'; perfdata after it, to the end. */
    size_t i = nl != NULL ? line_end + 1 : len;
    while (i < len) {
        nl = memchr(out + i, '\n', len - i);
        line_end = nl != NULL ? (size_t)(nl - out) : len;
        const char *line = out + i;
        size_t line_len = line_end - i;
        if (in_perf) {
            perfdata_parse(pd, line, line_len);
        } else {
            bar = memchr(line, '|', line_len);
            size_t text_len = bar != NULL ? (size_t)(bar - line) : line_len;
            if (bar != NULL) {
                perfdata_parse(pd, bar + 1, line_len - text_len - 1);
                in_perf = true;
            }
            if (po->long_output != NULL && !long_full) {
                if ((long_used > 0 &&
                     !append_text(po->long_output, po->long_output_size, &long_used, "\n", 1)) ||
                    !append_text(po->long_output, po->long_output_size, &long_used, line,
                                 text_len)) {
                    long_full = true;
                    po->truncated = true;
                }
            }
        }
        i = line_end + 1;
    }
    if (po->long_output != NULL) {
        long_used = rtrim(po->long_output, long_used);
        po->long_output[long_used] = '\0';
    }
}
