/* keys.c - the key bindings and `:` commands of the dashboard. */
#include "keys.h"
#include "util.h"

#include <curses.h>
#include <stdio.h>
#include <string.h>

#define CTRL(c) ((c) - 'a' + 1)

/* Scoped rows first where a key means something else on one panel. */
const struct binding keys_bindings[] = {
    {'q', "q", A_BACK, "Deploy"},
    {'q', "q", A_BACK, "Alert"},
    {'q', "q", A_QUIT, NULL},
    {'?', "?", A_HELP, NULL},
    {':', ":", A_COMMAND, NULL},
    {'1', "1", A_OVERVIEW, NULL},
    {'2', "2", A_DEPLOYS, NULL},
    {'3', "3", A_ALERTS, NULL},
    {'4', "4", A_EVENTS, NULL},
    {'5', "5", A_CHECK, NULL},
    {'\t', "Tab", A_NEXT_VIEW, NULL},
    {KEY_BTAB, "S-Tab", A_PREV_VIEW, NULL},
    {'j', "j", A_DOWN, NULL},
    {KEY_DOWN, "Down", A_DOWN, NULL},
    {'k', "k", A_UP, NULL},
    {KEY_UP, "Up", A_UP, NULL},
    {KEY_NPAGE, "PgDn", A_PAGE_DOWN, NULL},
    {KEY_PPAGE, "PgUp", A_PAGE_UP, NULL},
    {KEY_HOME, "Home", A_FIRST, NULL},
    {CTRL('g'), "^G", A_FIRST, NULL},
    {KEY_END, "End", A_LAST, NULL},
    {'G', "G", A_LAST, NULL},
    {'\n', "Enter", A_OPEN, NULL},
    {'\r', NULL, A_OPEN, NULL},
    {KEY_ENTER, NULL, A_OPEN, NULL},
    {'l', "l", A_OPEN, NULL},
    {KEY_RIGHT, "Right", A_OPEN, NULL},
    {27, "Esc", A_BACK, NULL},
    {'h', "h", A_BACK, "Check"},
    {KEY_LEFT, "Left", A_BACK, "Check"},
    {'/', "/", A_FILTER, NULL},
    {'s', "s", A_SILENCE, "Alerts"},
    {'s', "s", A_SORT, NULL},
    {'a', "a", A_ACK, "Alerts"},
    {'u', "u", A_UNSILENCE, "Alerts"},
    {'r', "r", A_RUN, NULL},
    {'p', "p", A_PAUSE, NULL},
    {'g', "g", A_RANGE, "Check"},
    {' ', "space", A_TAIL, "Events"},
    {KEY_MOUSE, "mouse", A_MOUSE, NULL},
    {KEY_RESIZE, NULL, A_RESIZE, NULL},
};

const size_t keys_nbindings = ARRAY_SIZE(keys_bindings);

const struct action_info keys_actions[A_COUNT] = {
    [A_QUIT] = {.command = "quit", .alias = "q", .help = "quit"},
    [A_HELP] = {.command = "help", .help = "this help"},
    [A_COMMAND] = {.help = "command line (below)"},
    [A_OVERVIEW] = {.command = "overview", .alias = "o", .help = "overview"},
    [A_DEPLOYS] = {.command = "deploys", .alias = "d", .help = "deploys"},
    [A_ALERTS] = {.command = "alerts", .alias = "a", .help = "open alerts"},
    [A_EVENTS] = {.command = "events", .alias = "e", .help = "events tail"},
    [A_CHECK] = {.command = "check", .arg = "NAME", .help = "last check opened"},
    [A_NEXT_VIEW] = {.help = "next view"},
    [A_PREV_VIEW] = {.help = "previous view"},
    [A_DOWN] = {.help = "move down"},
    [A_UP] = {.help = "move up"},
    [A_PAGE_DOWN] = {.help = "page down"},
    [A_PAGE_UP] = {.help = "page up"},
    [A_FIRST] = {.help = "first row"},
    [A_LAST] = {.help = "last row"},
    [A_OPEN] = {.help = "open the selected row"},
    [A_BACK] = {.help = "back (q in a deploy, alert); clear filter"},
    [A_FILTER] = {.command = "filter", .arg = "TEXT", .help = "filter rows"},
    [A_SORT] = {.command = "sort", .arg = "BY", .help = "cycle the sort order"},
    [A_ACK] = {.command = "ack", .arg = "COMMENT", .help = "alerts: acknowledge"},
    [A_SILENCE] = {.command = "silence", .arg = "FOR", .help = "alerts: silence"},
    [A_UNSILENCE] = {.command = "unsilence", .help = "alerts: unsilence"},
    [A_RUN] = {.command = "run", .arg = "CHECK", .help = "run the check now"},
    [A_PAUSE] = {.command = "pause", .arg = "CHECK", .help = "pause or resume check"},
    [A_RESUME] = {.command = "resume", .arg = "CHECK"},
    [A_RANGE] = {.command = "range", .arg = "1h|24h|7d", .help = "check: graph range"},
    [A_TAIL] = {.command = "tail", .help = "events: pause tail"},
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
    return A_NONE;
}

/* The labels of the keys bound to a, space-separated. */
static void labels(enum action a, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < keys_nbindings; i++) {
        const struct binding *b = &keys_bindings[i];
        if (b->action != a || b->label == NULL) {
            continue;
        }
        /* A key listed under two scopes shows once. */
        bool seen = false;
        for (size_t j = 0; j < i; j++) {
            seen |= keys_bindings[j].action == a && keys_bindings[j].key == b->key;
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
            snprintf(buf, len, "%-13s %s", keys, ai->help);
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
