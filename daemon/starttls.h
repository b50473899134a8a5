/* starttls.h - the plaintext dialogue before a TLS handshake, for the
 * protocols libcurl does not take that far itself: FTP's AUTH TLS (its
 * connect phase would log in) and PostgreSQL's SSLRequest (it does not
 * speak the protocol).
 *
 * Two layers. A talk is the dialogue alone, bytes in and bytes out, with
 * no I/O: the unit tests and the fuzz target drive it. starttls_open
 * resolves, connects and talks on the loop, then hands the connected
 * socket over, its dialogue done, for the handshake to be made on it. */
#ifndef SHIPWATCH_STARTTLS_H
#define SHIPWATCH_STARTTLS_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

enum starttls_proto { STARTTLS_FTP, STARTTLS_POSTGRES };

/* What the dialogue wants next. */
enum starttls_step {
    STARTTLS_MORE,   /* bytes from the server */
    STARTTLS_SEND,   /* send send/send_len, then bytes from the server */
    STARTTLS_READY,  /* the server waits for the client's TLS hello */
    STARTTLS_FAIL,   /* why says why; the connection is useless */
};

/* The most a reply (a multi-line FTP greeting, say) may take. */
#define STARTTLS_MAX_REPLY 4096

struct starttls_talk {
    enum starttls_proto proto;
    int phase;                  /* FTP: 0 greeting, 1 the answer to AUTH TLS */
    const char *send;           /* with STARTTLS_SEND */
    size_t send_len;
    char buf[STARTTLS_MAX_REPLY];
    size_t len;
    char why[160];              /* with STARTTLS_FAIL */
};

/* Begin a dialogue: PostgreSQL speaks first (SEND), FTP listens (MORE). */
enum starttls_step starttls_talk_begin(struct starttls_talk *t, enum starttls_proto proto);

/* The server sent n bytes. Any byte past the answer that lets TLS begin is
 * a FAIL: it would be read as if it came through TLS (the injection
 * STARTTLS implementations have had). */
enum starttls_step starttls_talk_feed(struct starttls_talk *t, const char *data, size_t n);

/* Called once, always from the loop: fd >= 0 is a connected socket whose dialogue is done, now
 * the callee's to close; otherwise why says what failed and local is the
 * reason when it was a shortage of this host's own (fdres.h). peer is the
 * address connected to, as text (may be empty). */
typedef void (*starttls_done_fn)(void *arg, int fd, const char *peer, const char *why,
                                 const char *local);

struct starttls_conn;

/* Resolve host (without blocking the loop), connect to port and talk, all
 * within timeout_ms. 0, or a negative errno when nothing was begun; done is
 * called later, never from here. */
int starttls_open(uv_loop_t *loop, const char *host, int port, enum starttls_proto proto,
                  int64_t timeout_ms, starttls_done_fn done, void *arg,
                  struct starttls_conn **out);

/* Cut a dialogue short: done is still called, later, once the loop is done
 * with the handles (with a socket, if the dialogue had already ended). */
void starttls_cancel(struct starttls_conn *c);

#endif
