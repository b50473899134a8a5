/* theme.h - the dashboard's colours, by what they mean.
 *
 * Contract. Drawing code names a role (a state, a banner, a title), never
 * a colour; a scheme is one row of the table in theme.c giving each role
 * a colour and attributes (htop's CRT_colorSchemes). theme_init picks the
 * colour scheme, or the monochrome one when the terminal has no colours
 * or NO_COLOR is set; in monochrome every state still reads as a word, so
 * nothing depends on colour. Module state: the scheme in use. Call
 * theme_init once after initscr/newterm. */
#ifndef SHIPWATCH_THEME_H
#define SHIPWATCH_THEME_H

#include <curses.h>
#include <stdbool.h>

enum role {
    ROLE_NORMAL,
    ROLE_UP,                    /* a check up, a resolved alert */
    ROLE_DOWN,                  /* down, a failure, a firing alert */
    ROLE_DEGRADED,              /* degraded, an acknowledged alert */
    ROLE_UNKNOWN,
    ROLE_BANNER,                /* the daemon is away; the tail is paused */
    ROLE_DIM,                   /* secondary text: a group's last deploy */
    ROLE_TITLE,                 /* the name of the program, deploy marks */
    ROLE_HEADER,                /* a table's column titles */
    ROLE_SELECTED,              /* the selected row; the current tab */
    ROLE_STATUS,                /* the status line */
    ROLE_COUNT
};

/* Pick the scheme: colours if the terminal has them and NO_COLOR is unset
 * or empty, else monochrome. Starts ncurses' colours when used. */
void theme_init(void);

/* Whether the colour scheme is in use. */
bool theme_has_color(void);

/* Turn on role's colour and attributes, plus extra (A_BOLD...). */
void theme_on(enum role r, attr_t extra);

/* Undo theme_on(r, extra). */
void theme_off(enum role r, attr_t extra);

/* The role of a check state or outcome ("up", "down"...); NULL: unknown. */
enum role theme_state_role(const char *state);

#endif
