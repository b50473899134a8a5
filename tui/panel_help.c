/* panel_help.c - the help, drawn over the screen from the key table. */
#include <curses.h>
#include <stdio.h>
#include <string.h>

#include "keys.h"
#include "panel.h"
#include "theme.h"

/* A box of h rows and w columns at (y0, x0), blank inside. */
static void draw_box(int y0, int x0, int h, int w)
{
    for (int y = 0; y < h; y++) {
        move(y0 + y, x0);
        for (int x = 0; x < w; x++) {
            bool edge = y == 0 || y == h - 1 || x == 0 || x == w - 1;
            addch(edge ? (y == 0 || y == h - 1 ? (x == 0 || x == w - 1 ? '+' : '-') : '|')
                       : ' ');
        }
    }
}

/* The line of s that fits in w columns, broken between two items (two
 * spaces); its length in *len. Returns where the next line starts. */
static const char *wrap_next(const char *s, int w, size_t *len)
{
    size_t cut = strlen(s);
    if (cut > (size_t)w) {
        cut = (size_t)w;
        while (cut > 1 && !(s[cut] == ' ' && s[cut - 1] == ' ')) {
            cut--;
        }
        cut = cut > 1 ? cut - 1 : (size_t)w;
    }
    if (len != NULL) {
        *len = cut;
    }
    s += cut;
    while (*s == ' ') {
        s++;
    }
    return s;
}

/* The help over the whole screen, generated from the bindings: the keys in one or two columns,
 * then the `:` commands, wrapped. */
static void draw(struct dash *d, struct panel *p, const struct rect *r)
{
    int h = r->h, w = r->w;
    enum { COL_W = 37, COMMANDS_MAX = 1024 };
    size_t nkeys = 0;
    char line[128];
    while (keys_help_line(nkeys, line, sizeof(line))) {
        nkeys++;
    }
    int ncols = w - 2 >= 2 * COL_W + 4 ? 2 : 1;
    int bw = ncols == 2 ? 2 * COL_W + 4 : 64 < w - 2 ? 64 : w - 2;
    int key_rows = (int)(nkeys + (size_t)ncols - 1) / ncols;
    char commands[COMMANDS_MAX];
    keys_commands(commands, sizeof(commands));
    /* The commands wrapped at the box's inner width: count the rows. */
    int inner = bw - 4;
    int cmd_rows = 0;
    for (const char *s = commands; *s != '\0' && inner > 0; cmd_rows++) {
        s = wrap_next(s, inner, NULL);
    }
    int n = 1 + key_rows + 1 + cmd_rows;     /* title, keys, title, commands */
    int bh = n + 2 < h - 2 ? n + 2 : h - 2;
    int y0 = (h - bh) / 2, x0 = (w - bw) / 2;
    int last = y0 + bh - 2;                  /* the last row inside */
    draw_box(y0, x0, bh, bw);
    theme_on(ROLE_HEADER, 0);
    panel_put(y0 + 1, x0 + 2, bw - 4, "Keys");
    theme_off(ROLE_HEADER, 0);
    for (size_t i = 0; i < nkeys; i++) {
        int y = y0 + 2 + (int)i % key_rows;
        int x = x0 + 2 + (int)i / key_rows * COL_W;
        if (y <= last && keys_help_line(i, line, sizeof(line))) {
            panel_put(y, x, (ncols == 2 ? COL_W - 1 : bw - 4), line);
        }
    }
    int y = y0 + 2 + key_rows;
    if (y <= last) {
        theme_on(ROLE_HEADER, 0);
        panel_put(y, x0 + 2, bw - 4, "Commands (type : then a command, Enter)");
        theme_off(ROLE_HEADER, 0);
    }
    for (const char *s = commands; *s != '\0' && inner > 0 && ++y <= last;) {
        size_t len = 0;
        const char *next = wrap_next(s, inner, &len);
        panel_putf(y, x0 + 2, inner, "%.*s", (int)len, s);
        s = next;
    }
}

const struct panel_class panel_help = {
    .name = "Help",
    .command = "help",
    .draw = draw,
};
