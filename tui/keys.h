/* keys.h - the dashboard's key bindings and `:` commands, as one table.
 *
 * Contract. A key maps to an action tag (htop's Action_setBindings): a
 * binding scoped to a panel (by its class name) wins over a global one, so
 * `r` is offered where a check is selected and `s` silences an alert. The
 * `:` command line maps a word (or its short alias) to the same tags; the
 * rest of the line is the action's argument. The help screen and every
 * view's footer are generated from these tables, so neither drifts from
 * what the keys do. Everything here is const data and pure functions: what
 * an action does is the panels' and the screen manager's business. */
#ifndef SHIPWATCH_KEYS_H
#define SHIPWATCH_KEYS_H

#include <curses.h>
#include <stdbool.h>
#include <stddef.h>

/* Every action, in the order the help lists them. */
enum action {
    A_NONE,
    A_HELP,
    A_QUIT,                     /* quit; in a sub-view (not a tab), back */
    A_EXIT,                     /* quit from any view */
    A_COMMAND,                  /* the `:` command line */
    A_OVERVIEW,
    A_DEPLOYS,
    A_ALERTS,
    A_EVENTS,
    A_HOST,
    A_CHECK,                    /* back to the last check view, or `:check NAME` */
    A_NEXT_VIEW,
    A_PREV_VIEW,
    A_DOWN,
    A_UP,
    A_HALF_DOWN,
    A_HALF_UP,
    A_PAGE_DOWN,
    A_PAGE_UP,
    A_FIRST,
    A_LAST,
    A_OPEN,                     /* the selected check */
    A_BACK,
    A_FILTER,
    A_NEXT_MATCH,               /* the filter's next match, wrapping */
    A_PREV_MATCH,
    A_SORT,
    A_ACK,
    A_SILENCE,
    A_UNSILENCE,
    A_RUN,
    A_PAUSE,                    /* pause (asked first) or resume: a key toggles */
    A_RESUME,                   /* `:resume` only */
    A_RANGE,
    A_TAIL,                     /* hold the events tail */
    A_NODE,                     /* host: the next node's host, or `:node NAME` */
    A_PREV_NODE,
    A_MOUSE,
    A_RESIZE,
    A_COUNT
};

/* `gg`: the screen manager reads a second g after a first as this code. */
#define KEYS_GG (KEY_MAX + 1)

/* One key: what it does, where, and what the footer says of it. */
struct binding {
    int key;                    /* a character, an ncurses KEY_ code, KEYS_GG */
    const char *label;          /* as the help and the footer show it */
    enum action action;
    const char *scope;          /* a panel class name, or NULL: everywhere */
    const char *hint;           /* the footer's word on a tab view, or NULL */
    const char *sub_hint;       /* the footer's word on a sub-view, or NULL */
};

/* One action: its command words and its line of help. */
struct action_info {
    const char *command;        /* the `:` word, or NULL */
    const char *alias;          /* a short word, or NULL */
    const char *arg;            /* what its argument is, for the help; or NULL */
    const char *help;           /* NULL: not listed */
    enum action with;           /* listed on this action's line instead; A_NONE */
};

extern const struct binding keys_bindings[];
extern const size_t keys_nbindings;
extern const struct action_info keys_actions[A_COUNT];

/* The action of key ch on the panel called scope; A_NONE if unbound. */
enum action keys_lookup(const char *scope, int ch);

/* Parse a command line (without its ':'): its action, and in *arg the
 * argument after the word (a pointer into line, leading blanks skipped,
 * NULL when none). A_NONE when the word is not a command. Writes into
 * line to end the word. */
enum action keys_command(char *line, char **arg);

/* Line i of the generated help into buf: "keys   what it does";
 * false past the last line. */
bool keys_help_line(size_t i, char *buf, size_t len);

/* Every command as the help lists it, ":quit (:q)  :run [CHECK]  ...",
 * into buf (cut at len). */
void keys_commands(char *buf, size_t len);

/* The footer of the panel called scope, "? help  q quit  / filter ...",
 * into buf (cut at len): the hints of the keys bound there, in table
 * order; sub: the panel is a sub-view (the keys' sub_hint words). */
void keys_footer(const char *scope, bool sub, char *buf, size_t len);

#endif
