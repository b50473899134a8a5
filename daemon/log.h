/* log.h - structured logging to stderr: one JSON object a line, or text. */
#ifndef SHIPWATCH_LOG_H
#define SHIPWATCH_LOG_H

enum log_level {
    LOG_DEBUG,
    LOG_INFO,
    LOG_WARN,
    LOG_ERROR,
};

enum log_format {
    LOG_FORMAT_JSON,
    LOG_FORMAT_TEXT,
};

/* Key/value pairs for a log line: LOG_KV("check", name, "app", app). A pair
 * whose value is NULL is omitted. Values are copied into the line, never
 * kept. The list ends with the log_kv_end sentinel, so values may be NULL. */
extern const char log_kv_end[];
#define LOG_KV(...) ((const char *const[]){__VA_ARGS__, log_kv_end})
#define LOG_NOKV ((const char *const *)0)

/* Set the format and the lowest level written. Safe to call again. */
void log_init(enum log_format format, enum log_level min_level);

/* Parse "debug", "info", "warn", "error"; 0 or -EINVAL. */
int log_level_parse(const char *s, enum log_level *out);

/* Parse "json" or "text"; 0 or -EINVAL. */
int log_format_parse(const char *s, enum log_format *out);

/* Write one line. kv is LOG_NOKV or a LOG_KV(...) list.
 * The line is written with one write(2) so lines from threads never mix. */
void log_emit(enum log_level level, const char *const *kv, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A function that sees every line of level info and above written by the
 * thread that set it (the loop thread); lines it writes itself are not fed
 * back to it. NULL removes it. */
typedef void (*log_hook_fn)(enum log_level level, const char *msg, const char *const *kv,
                            void *arg);
void log_set_hook(log_hook_fn fn, void *arg);

#define log_debug(kv, ...) log_emit(LOG_DEBUG, kv, __VA_ARGS__)
#define log_info(kv, ...) log_emit(LOG_INFO, kv, __VA_ARGS__)
#define log_warn(kv, ...) log_emit(LOG_WARN, kv, __VA_ARGS__)
#define log_error(kv, ...) log_emit(LOG_ERROR, kv, __VA_ARGS__)

#endif
