/* keys.c - the key bindings and `:` commands of the dashboard. */
#include "keys.h"
#include "util.h"

#include <curses.h>
#include <stdio.h>
#include <string.h>

#define CTRL(c) ((c) - 'a' + 1)

/* Scoped rows first where a key means something else on one panel. A
 * key with a footer word is offered only where it acts: `p` where a check
 * is selected, `a` `s` `u` on the alerts. */
const struct binding keys_bindings[] = {
    {'?', "?", A_HELP, NULL, "help", "help"},
    {'q', "q", A_QUIT, NULL, "quit", "back"},
    {KEY_F(10), "F10", A_EXIT, NULL, NULL, NULL},
    {':', ":", A_COMMAND, NULL, NULL, NULL},
    {'1', "1", A_OVERVIEW, NULL, NULL, NULL},
    {'2', "2", A_DEPLOYS, NULL, NULL, NULL},
    {'3', "3", A_ALERTS, NULL, NULL, NULL},
    {'4', "4", A_EVENTS, NULL, NULL, NULL},
    {'5', "5", A_HOST, NULL, NULL, NULL},
    {'6', "6", A_CHECK, NULL, NULL, NULL},
    {'\t', "Tab", A_NEXT_VIEW, NULL, NULL, NULL},
    {KEY_BTAB, "S-Tab", A_PREV_VIEW, NULL, NULL, NULL},
    {'j', "j", A_DOWN, NULL, NULL, NULL},
    {KEY_DOWN, "Down", A_DOWN, NULL, NULL, NULL},
    {'k', "k", A_UP, NULL, NULL, NULL},
    {KEY_UP, "Up", A_UP, NULL, NULL, NULL},
    {CTRL('d'), "^D", A_HALF_DOWN, NULL, NULL, NULL},
    {CTRL('u'), "^U", A_HALF_UP, NULL, NULL, NULL},
    {KEY_NPAGE, "PgDn", A_PAGE_DOWN, NULL, NULL, NULL},
    {CTRL('f'), "^F", A_PAGE_DOWN, NULL, NULL, NULL},
    {KEY_PPAGE, "PgUp", A_PAGE_UP, NULL, NULL, NULL},
    {CTRL('b'), "^B", A_PAGE_UP, NULL, NULL, NULL},
    {KEYS_GG, "gg", A_FIRST, NULL, NULL, NULL},
    {KEY_HOME, "Home", A_FIRST, NULL, NULL, NULL},
    {CTRL('g'), "^G", A_FIRST, NULL, NULL, NULL},
    {'G', "G", A_LAST, NULL, NULL, NULL},
    {KEY_END, "End", A_LAST, NULL, NULL, NULL},
    {'/', "/", A_FILTER, NULL, "filter", NULL},
    {'n', "n", A_NODE, "Host", "next node", NULL},
    {'N', "N", A_PREV_NODE, "Host", NULL, NULL},
    {'n', "n", A_NEXT_MATCH, NULL, NULL, NULL},
    {'N', "N", A_PREV_MATCH, NULL, NULL, NULL},
    {'o', "o", A_SORT, "Overview", "sort", NULL},
    {'a', "a", A_ACK, "Alerts", "ack", NULL},
    {'s', "s", A_SILENCE, "Alerts", "silence", NULL},
    {'s', "s", A_SILENCE, NULL, NULL, NULL},
    {'u', "u", A_UNSILENCE, "Alerts", "unsilence", NULL},
    {'\n', "Enter", A_OPEN, NULL, "open", NULL},
    {'\r', NULL, A_OPEN, NULL, NULL, NULL},
    {KEY_ENTER, NULL, A_OPEN, NULL, NULL, NULL},
    {'l', "l", A_OPEN, NULL, NULL, NULL},
    {KEY_RIGHT, "Right", A_OPEN, NULL, NULL, NULL},
    {27, "Esc", A_BACK, NULL, NULL, NULL},
    {'h', "h", A_BACK, "Check", NULL, NULL},
    {KEY_LEFT, "Left", A_BACK, "Check", NULL, NULL},
    {'r', "r", A_RUN, "Overview", "run", NULL},
    {'r', "r", A_RUN, "Check", NULL, "run"},
    {'r', "r", A_RUN, NULL, NULL, NULL},
    {'p', "p", A_PAUSE, "Overview", "pause", NULL},
    {'p', "p", A_PAUSE, "Check", NULL, "pause"},
    {'t', "t", A_RANGE, "Check", NULL, "range"},
    {' ', "space", A_TAIL, "Events", "hold tail", NULL},
    {KEY_MOUSE, "mouse", A_MOUSE, NULL, NULL, NULL},
    {KEY_RESIZE, NULL, A_RESIZE, NULL, NULL, NULL},
};

const size_t keys_nbindings = ARRAY_SIZE(keys_bindings);

/* Actions listed .with another share its line: fewer lines, so the help
 * fits 80x24. */
const struct action_info keys_actions[A_COUNT] = {
    [A_HELP] = {.command = "help", .help = "this help"},
    [A_QUIT] = {.command = "quit", .alias = "q", .help = "quit, or back"},
    [A_EXIT] = {.help = "quit from any view"},
    [A_COMMAND] = {.help = "command line"},
    [A_OVERVIEW] = {.command = "overview", .alias = "o", .help = "the five views"},
    [A_DEPLOYS] = {.command = "deploys", .alias = "d", .with = A_OVERVIEW},
    [A_ALERTS] = {.command = "alerts", .alias = "a", .with = A_OVERVIEW},
    [A_EVENTS] = {.command = "events", .alias = "e", .with = A_OVERVIEW},
    [A_HOST] = {.command = "host", .with = A_OVERVIEW},
    [A_CHECK] = {.command = "check", .arg = "NAME", .help = "last check opened"},
    [A_NEXT_VIEW] = {.help = "next, previous view"},
    [A_PREV_VIEW] = {.with = A_NEXT_VIEW},
    [A_DOWN] = {.help = "move down, up"},
    [A_UP] = {.with = A_DOWN},
    [A_HALF_DOWN] = {.help = "half page down, up"},
    [A_HALF_UP] = {.with = A_HALF_DOWN},
    [A_PAGE_DOWN] = {.help = "page down, up"},
    [A_PAGE_UP] = {.with = A_PAGE_DOWN},
    [A_FIRST] = {.help = "first, last row"},
    [A_LAST] = {.with = A_FIRST},
    [A_OPEN] = {.help = "open selected row"},
    [A_BACK] = {.help = "back; clear filter"},
    [A_FILTER] = {.command = "filter", .arg = "TEXT", .help = "filter rows"},
    [A_NEXT_MATCH] = {.help = "match: next, prev"},
    [A_PREV_MATCH] = {.with = A_NEXT_MATCH},
    [A_SORT] = {.command = "sort", .arg = "BY", .help = "overview: sort"},
    [A_ACK] = {.command = "ack", .arg = "COMMENT", .help = "alerts: acknowledge"},
    [A_SILENCE] = {.command = "silence", .arg = "FOR", .help = "alerts: silence"},
    [A_UNSILENCE] = {.command = "unsilence", .help = "alerts: unsilence"},
    [A_RUN] = {.command = "run", .arg = "CHECK", .help = "run the check now"},
    [A_PAUSE] = {.command = "pause", .arg = "CHECK", .help = "pause (asks)/resume"},
    [A_RESUME] = {.command = "resume", .arg = "CHECK"},
    [A_RANGE] = {.command = "range", .arg = "1h|24h|7d", .help = "check: graph range"},
    [A_TAIL] = {.command = "tail", .help = "events: hold tail"},
    [A_NODE] = {.command = "node", .arg = "NAME", .help = "host: next/prev node"},
    [A_PREV_NODE] = {.with = A_NODE},
    [A_MOUSE] = {.help = "click; double: open"},
};

/* The action of key ch on the panel called scope; A_NONE if unbound. */
enum action keys_lookup(const char *scope, int ch)
{
    for (size_t i = 0; i < keys_nbindings; i++) {
        const struct binding *b = &keys_bindings[i];
        if (b->key != ch) {
            continue;
        }
        if (b->scope == NULL || (scope != NULL && strcmp(b->scope, scope) == 0)) {
            return b->action;
        }
    }
    return A_NONE;
}

/* The command word, ended in place; its argument in *arg. */
enum action keys_command(char *line, char **arg)
{
    *arg = NULL;
    while (*line == ' ') {
        line++;
    }
    char *end = line + strcspn(line, " ");
    if (*end != '\0') {
        *end++ = '\0';
        while (*end == ' ') {
            end++;
        }
        if (*end != '\0') {
            *arg = end;
        }
    }
    /* vim's habit: q! and wq quit too. */
    if (strcmp(line, "q!") == 0 || strcmp(line, "wq") == 0) {
        return A_QUIT;
    }
    for (int a = 0; a < A_COUNT; a++) {
        const struct action_info *ai = &keys_actions[a];
        if ((ai->command != NULL && strcmp(ai->command, line) == 0) ||
            (ai->alias != NULL && strcmp(ai->alias, line) == 0)) {
            return (enum action)a;
        }
    }
    /* k9s names a view in the singular as well (:deploy, :alert, :event). */
    size_t n = strlen(line);
    for (int a = 0; a < A_COUNT && n > 1; a++) {
        const char *cmd = keys_actions[a].command;
        if (cmd != NULL && strlen(cmd) == n + 1 && cmd[n] == 's' && strncmp(cmd, line, n) == 0) {
            return (enum action)a;
        }
    }
    return A_NONE;
}

/* Whether binding b's keys go on the help line of action a. */
static bool on_line(const struct binding *b, enum action a)
{
    return b->action == a || keys_actions[b->action].with == a;
}

/* The labels of the keys on a's line, space-separated, in table order. */
static void labels(enum action a, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < keys_nbindings; i++) {
        const struct binding *b = &keys_bindings[i];
        if (!on_line(b, a) || b->label == NULL) {
            continue;
        }
        /* A key listed under two scopes shows once. */
        bool seen = false;
        for (size_t j = 0; j < i; j++) {
            seen |= keys_bindings[j].action == b->action && keys_bindings[j].key == b->key;
        }
        if (seen) {
            continue;
        }
        int n = snprintf(buf + used, len - used, "%s%s", used > 0 ? " " : "", b->label);
        if (n < 0 || (size_t)n >= len - used) {
            break;
        }
        used += (size_t)n;
    }
}

/* Line i of the help: the actions with a line, then the commands. */
bool keys_help_line(size_t i, char *buf, size_t len)
{
    for (int a = 0; a < A_COUNT; a++) {
        const struct action_info *ai = &keys_actions[a];
        if (ai->help == NULL) {
            continue;
        }
        if (i-- == 0) {
            char keys[64];
            labels((enum action)a, keys, sizeof(keys));
            snprintf(buf, len, "%-16s %s", keys, ai->help);
            return true;
        }
    }
    return false;
}

/* Every command with its alias and argument, two spaces apart. */
void keys_commands(char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int a = 0; a < A_COUNT; a++) {
        const struct action_info *ai = &keys_actions[a];
        if (ai->command == NULL) {
            continue;
        }
        char alias[32] = "", arg[32] = "";
        if (ai->alias != NULL) {
            snprintf(alias, sizeof(alias), " (:%s)", ai->alias);
        }
        if (ai->arg != NULL) {
            snprintf(arg, sizeof(arg), " [%s]", ai->arg);
        }
        int n = snprintf(buf + used, len - used, "%s:%s%s%s", used > 0 ? "  " : "", ai->command,
                         alias, arg);
        if (n < 0 || (size_t)n >= len - used) {
            break;
        }
        used += (size_t)n;
    }
}

/* The hints of the rows keys_lookup would choose on this panel. */
void keys_footer(const char *scope, bool sub, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < keys_nbindings; i++) {
        const struct binding *b = &keys_bindings[i];
        const char *hint = sub ? b->sub_hint : b->hint;
        bool here = b->scope == NULL || (scope != NULL && strcmp(b->scope, scope) == 0);
        if (hint == NULL || !here || keys_lookup(scope, b->key) != b->action) {
            continue;
        }
        int n = snprintf(buf + used, len - used, "%s%s %s", used > 0 ? "  " : "", b->label, hint);
        if (n < 0 || (size_t)n >= len - used) {
            buf[used] = '\0';
            break;
        }
        used += (size_t)n;
    }
}
