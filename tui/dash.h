/* dash.h - the ncurses dashboard, `shipwatch` with no command. */
#ifndef SHIPWATCH_DASH_H
#define SHIPWATCH_DASH_H

/* Run the dashboard against the daemon on socket until the user quits, a
 * signal ends it, or the daemon turns out unusable (another protocol,
 * garbage). The terminal is restored in every case. Returns the exit
 * status; a fatal reason is printed on stderr as one line. */
int dash_run(const char *socket);

#endif
