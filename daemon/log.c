/* log.c - structured logging to stderr. */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "civil.h"
#include "clock.h"
#include "log.h"
#include "util.h"

#define LOG_LINE_MAX 4096

const char log_kv_end[] = "";

static enum log_format log_format = LOG_FORMAT_JSON;
static enum log_level log_min = LOG_INFO;

static log_hook_fn log_hook;
static void *log_hook_arg;
static pthread_t log_hook_thread;
static int log_hook_busy;

/* Install fn for lines of the calling thread. */
void log_set_hook(log_hook_fn fn, void *arg)
{
    log_hook = fn;
    log_hook_arg = arg;
    log_hook_thread = pthread_self();
}

static const char *const level_names[] = {"debug", "info", "warn", "error"};

/* Set the format and the lowest level written. */
void log_init(enum log_format format, enum log_level min_level)
{
    log_format = format;
    log_min = min_level;
}

/* Parse a level name. */
int log_level_parse(const char *s, enum log_level *out)
{
    for (size_t i = 0; i < ARRAY_SIZE(level_names); i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    return -EINVAL;
}

/* Parse a format name. */
int log_format_parse(const char *s, enum log_format *out)
{
    if (strcmp(s, "json") == 0) {
        *out = LOG_FORMAT_JSON;
    } else if (strcmp(s, "text") == 0) {
        *out = LOG_FORMAT_TEXT;
    } else {
        return -EINVAL;
    }
    return 0;
}

/* Append s to buf at *pos, JSON-escaped when json is set; truncates at cap. */
static void put(char *buf, size_t cap, size_t *pos, const char *s, int json)
{
    for (; *s != '\0' && *pos + 7 < cap; s++) {
        unsigned char ch = (unsigned char)*s;
        if (json && (ch == '"' || ch == '\\')) {
            buf[(*pos)++] = '\\';
            buf[(*pos)++] = (char)ch;
        } else if (ch < 0x20) {
            if (json) {
                *pos += (size_t)snprintf(buf + *pos, cap - *pos, "\\u%04x", ch);
            } else {
                buf[(*pos)++] = ' ';
            }
        } else {
            buf[(*pos)++] = (char)ch;
        }
    }
}

/* Append a literal without escaping. */
static void raw(char *buf, size_t cap, size_t *pos, const char *s)
{
    put(buf, cap, pos, s, 0);
}

/* Write one log line with a single write(2). */
void log_emit(enum log_level level, const char *const *kv, const char *fmt, ...)
{
    if (level < log_min) {
        return;
    }
    char msg[LOG_LINE_MAX / 2];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    char when[CIVIL_RFC3339_LEN];
    civil_format_rfc3339(clock_wall_ms(), when, sizeof(when));

    char line[LOG_LINE_MAX];
    size_t pos = 0;
    int json = log_format == LOG_FORMAT_JSON;
    if (json) {
        raw(line, sizeof(line), &pos, "{\"ts\":\"");
        raw(line, sizeof(line), &pos, when);
        raw(line, sizeof(line), &pos, "\",\"level\":\"");
        raw(line, sizeof(line), &pos, level_names[level]);
        raw(line, sizeof(line), &pos, "\",\"msg\":\"");
        put(line, sizeof(line), &pos, msg, 1);
        raw(line, sizeof(line), &pos, "\"");
    } else {
        raw(line, sizeof(line), &pos, when);
        raw(line, sizeof(line), &pos, " ");
        raw(line, sizeof(line), &pos, level_names[level]);
        raw(line, sizeof(line), &pos, " ");
        put(line, sizeof(line), &pos, msg, 0);
    }
    for (size_t i = 0; kv != NULL && kv[i] != log_kv_end; i += 2) {
        const char *v = kv[i + 1];
        if (v == log_kv_end) {
            break;
        }
        if (v == NULL) {
            continue;
        }
        if (json) {
            raw(line, sizeof(line), &pos, ",\"");
            put(line, sizeof(line), &pos, kv[i], 1);
            raw(line, sizeof(line), &pos, "\":\"");
            put(line, sizeof(line), &pos, v, 1);
            raw(line, sizeof(line), &pos, "\"");
        } else {
            raw(line, sizeof(line), &pos, " ");
            put(line, sizeof(line), &pos, kv[i], 0);
            raw(line, sizeof(line), &pos, "=");
            put(line, sizeof(line), &pos, v, 0);
        }
    }
    if (json) {
        raw(line, sizeof(line), &pos, "}");
    }
    line[pos++] = '\n';
    ssize_t n;
    do {
        n = write(STDERR_FILENO, line, pos);
    } while (n < 0 && errno == EINTR);

    if (log_hook != NULL && level >= LOG_INFO && !log_hook_busy &&
        pthread_equal(pthread_self(), log_hook_thread)) {
        log_hook_busy = 1;
        log_hook(level, msg, kv, log_hook_arg);
        log_hook_busy = 0;
    }
}
