/* theme.c - colour schemes for the dashboard's roles. */
#include "theme.h"

#include <stdlib.h>
#include <string.h>

/* A role in a scheme: a foreground (-1: the terminal's) and attributes. */
struct style {
    short fg;
    attr_t attr;
};

/* A scheme: every role's style, and whether it uses colour pairs. */
struct scheme {
    const char *name;
    bool color;
    struct style roles[ROLE_COUNT];
};

enum { SCHEME_DEFAULT, SCHEME_MONOCHROME, SCHEME_COUNT };

static const struct scheme schemes[SCHEME_COUNT] = {
    [SCHEME_DEFAULT] = {
        .name = "default",
        .color = true,
        .roles = {
            [ROLE_NORMAL] = {-1, 0},
            [ROLE_UP] = {COLOR_GREEN, 0},
            [ROLE_DOWN] = {COLOR_RED, 0},
            [ROLE_DEGRADED] = {COLOR_YELLOW, 0},
            [ROLE_UNKNOWN] = {COLOR_MAGENTA, 0},
            [ROLE_BANNER] = {COLOR_RED, 0},
            [ROLE_DIM] = {COLOR_CYAN, 0},
            [ROLE_TITLE] = {COLOR_CYAN, 0},
            [ROLE_HEADER] = {-1, A_BOLD},
            [ROLE_SELECTED] = {-1, A_REVERSE},
            [ROLE_STATUS] = {-1, A_REVERSE},
        },
    },
    [SCHEME_MONOCHROME] = {
        .name = "monochrome",
        .color = false,
        .roles = {
            [ROLE_HEADER] = {-1, A_BOLD},
            [ROLE_SELECTED] = {-1, A_REVERSE},
            [ROLE_STATUS] = {-1, A_REVERSE},
        },
    },
};

static const struct scheme *scheme = &schemes[SCHEME_MONOCHROME];

/* Colours unless the terminal or the user says no. */
void theme_init(void)
{
    const char *nc = getenv("NO_COLOR");
    if (!has_colors() || (nc != NULL && nc[0] != '\0')) {
        scheme = &schemes[SCHEME_MONOCHROME];
        return;
    }
    scheme = &schemes[SCHEME_DEFAULT];
    start_color();
    use_default_colors();
    /* Pair n is role n's; roles on the terminal's colours need none. */
    for (int r = 1; r < ROLE_COUNT; r++) {
        if (scheme->roles[r].fg >= 0) {
            init_pair((short)r, scheme->roles[r].fg, -1);
        }
    }
}

/* Whether roles have colours. */
bool theme_has_color(void)
{
    return scheme->color;
}

/* The attributes of role r plus extra. */
static attr_t attrs(enum role r, attr_t extra)
{
    attr_t a = extra | scheme->roles[r].attr;
    if (scheme->color && r > ROLE_NORMAL && scheme->roles[r].fg >= 0) {
        a |= COLOR_PAIR(r);
    }
    return a;
}

/* Role r on. */
void theme_on(enum role r, attr_t extra)
{
    attron(attrs(r, extra));
}

/* Role r off. */
void theme_off(enum role r, attr_t extra)
{
    attroff(attrs(r, extra));
}

/* The role of a state by its word. */
enum role theme_state_role(const char *state)
{
    if (state == NULL) {
        return ROLE_UNKNOWN;
    }
    if (strcmp(state, "up") == 0) {
        return ROLE_UP;
    }
    if (strcmp(state, "down") == 0) {
        return ROLE_DOWN;
    }
    if (strcmp(state, "degraded") == 0) {
        return ROLE_DEGRADED;
    }
    return ROLE_UNKNOWN;
}
