/* proctab.c - one walk of /proc, shared by the process checks. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "host.h"
#include "proctab.h"

#define PROC_STAT_MAX 1024              /* /proc/PID/stat */

struct proctab {
    pthread_mutex_t mu;                 /* guards cur, walking and every table's refs */
    pthread_cond_t walked;              /* a walk ended */
    struct proctab_table *cur;          /* the last table read; NULL none */
    bool walking;                       /* a thread is reading a table for cur */
};

/* A cache with no table yet. */
struct proctab *proctab_create(void)
{
    struct proctab *t = calloc(1, sizeof(*t));
    if (t == NULL) {
        return NULL;
    }
    if (pthread_mutex_init(&t->mu, NULL) != 0) {
        free(t);
        return NULL;
    }
    if (pthread_cond_init(&t->walked, NULL) != 0) {
        pthread_mutex_destroy(&t->mu);
        free(t);
        return NULL;
    }
    return t;
}

/* Free a table and what it holds. */
static void table_free(struct proctab_table *tb)
{
    if (tb == NULL) {
        return;
    }
    for (size_t i = 0; i < tb->n; i++) {
        free(tb->entries[i].cmdline);
    }
    free(tb->entries);
    free(tb->root);
    free(tb);
}

/* Drop one reference, with the cache's lock held when there is a cache. */
static void unref(struct proctab_table *tb)
{
    if (--tb->refs == 0) {
        table_free(tb);
    }
}

/* Free the cache. */
void proctab_destroy(struct proctab *t)
{
    if (t == NULL) {
        return;
    }
    if (t->cur != NULL) {
        unref(t->cur);
    }
    pthread_cond_destroy(&t->walked);
    pthread_mutex_destroy(&t->mu);
    free(t);
}

/* Parse /proc/PID/stat into e, its name as "[name]" into comm: the name in
 * parentheses may hold anything, so the fields are counted from its last
 * ')'. */
static bool parse_stat(const char *text, struct proctab_entry *e, char *comm, size_t commlen)
{
    const char *open = strchr(text, '('), *close = strrchr(text, ')');
    if (open == NULL || close == NULL || close < open) {
        return false;
    }
    snprintf(comm, commlen, "[%.*s]", (int)(close - open - 1), open + 1);
    unsigned long long utime, stime;
    /* state(3) ... utime(14) stime(15) ... starttime(22) vsize(23) rss(24) */
    int n = sscanf(close + 1,
                   " %c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d %*d"
                   " %*d %llu %*u %lld",
                   &e->state, &utime, &stime, &e->start, &e->rss_pages);
    e->ticks = utime + stime;
    return n == 5;
}

/* Read process pid. */
int proctab_read_pid(const char *root, int pid, struct proctab_entry *e, char *buf, size_t len)
{
    char rel[64], stat[PROC_STAT_MAX], comm[64];
    snprintf(rel, sizeof(rel), "%d/stat", pid);
    if (host_read(root, rel, stat, sizeof(stat)) < 0 ||
        !parse_stat(stat, e, comm, sizeof(comm)) || e->state == 'Z') {
        return -ENOENT;         /* gone, unreadable, or a zombie */
    }
    snprintf(rel, sizeof(rel), "%d/cmdline", pid);
    ssize_t n = host_read(root, rel, buf, len);
    if (n < 0) {
        return -ENOENT;         /* exited since its stat was read */
    }
    for (ssize_t i = 0; i < n; i++) {
        buf[i] = buf[i] == '\0' ? ' ' : buf[i];
    }
    while (n > 0 && buf[n - 1] == ' ') {
        buf[--n] = '\0';
    }
    if (n == 0) {
        snprintf(buf, len, "%s", comm);  /* a kernel thread: its name */
    }
    e->pid = pid;
    e->cmdline = buf;
    return 0;
}

/* Add process pid to tb; a process gone meanwhile is left out. */
static int add_pid(struct proctab_table *tb, size_t *cap, const char *root, int pid, char *buf)
{
    struct proctab_entry e;
    if (proctab_read_pid(root, pid, &e, buf, PROCTAB_CMDLINE_MAX) < 0) {
        return 0;
    }
    if (tb->n == *cap) {
        size_t ncap = *cap != 0 ? *cap * 2 : 256;
        struct proctab_entry *v = realloc(tb->entries, ncap * sizeof(*v));
        if (v == NULL) {
            return -ENOMEM;
        }
        tb->entries = v;
        *cap = ncap;
    }
    e.cmdline = strdup(buf);
    if (e.cmdline == NULL) {
        return -ENOMEM;
    }
    tb->entries[tb->n++] = e;
    return 0;
}

/* Walk root into a new table. */
static int walk(const char *root, struct proctab_table **out)
{
    struct proctab_table *tb = calloc(1, sizeof(*tb));
    char *buf = malloc(PROCTAB_CMDLINE_MAX);
    if (tb == NULL || buf == NULL || (tb->root = strdup(root)) == NULL) {
        free(buf);
        table_free(tb);
        return -ENOMEM;
    }
    int rc = host_uptime(root, &tb->uptime_s);
    DIR *dir = rc == 0 ? opendir(root) : NULL;
    if (rc == 0 && dir == NULL) {
        rc = -errno;
    }
    size_t cap = 0, looked = 0;
    struct dirent *de;
    tb->whole = true;
    while (rc == 0 && (de = readdir(dir)) != NULL) {
        if (!isdigit((unsigned char)de->d_name[0])) {
            continue;
        }
        if (++looked > PROCTAB_SCAN_MAX) {
            tb->whole = false;
            break;
        }
        rc = add_pid(tb, &cap, root, atoi(de->d_name), buf);
    }
    if (dir != NULL) {
        closedir(dir);
    }
    free(buf);
    if (rc < 0) {
        table_free(tb);
        return rc;
    }
    tb->read_ms = clock_mono_ms();
    tb->refs = 1;
    *out = tb;
    return 0;
}

/* Whether cur serves a get of root after_s. */
static bool fresh(const struct proctab_table *cur, const char *root, double after_s)
{
    return cur != NULL && strcmp(cur->root, root) == 0 && cur->uptime_s > after_s &&
           clock_mono_ms() - cur->read_ms < PROCTAB_TTL_MS;
}

/* The table of root, fresh enough. One walk at a time: a read that finds
 * the table stale while another thread walks waits for that walk's table
 * (read after it asked, so newer than its last) rather than walking too;
 * a hundred process checks a second would otherwise walk /proc several
 * times over at each refresh. */
int proctab_get(struct proctab *t, const char *root, double after_s,
                const struct proctab_table **out)
{
    if (t != NULL) {
        pthread_mutex_lock(&t->mu);
        for (;;) {
            if (fresh(t->cur, root, after_s)) {
                t->cur->refs++;
                *out = t->cur;
                pthread_mutex_unlock(&t->mu);
                return 0;
            }
            if (!t->walking) {
                break;
            }
            pthread_cond_wait(&t->walked, &t->mu);
        }
        t->walking = true;
        pthread_mutex_unlock(&t->mu);
    }
    struct proctab_table *tb;
    int rc = walk(root, &tb);
    if (t != NULL) {
        pthread_mutex_lock(&t->mu);
        if (rc == 0) {
            if (t->cur != NULL) {
                unref(t->cur);
            }
            t->cur = tb;
            tb->refs++;         /* the cache's and the caller's */
        }
        t->walking = false;
        pthread_cond_broadcast(&t->walked);
        pthread_mutex_unlock(&t->mu);
    }
    if (rc < 0) {
        return rc;
    }
    *out = tb;
    return 0;
}

/* Drop a reference. */
void proctab_put(struct proctab *t, const struct proctab_table *table)
{
    struct proctab_table *tb = (struct proctab_table *)table;
    if (t != NULL) {
        pthread_mutex_lock(&t->mu);
    }
    unref(tb);
    if (t != NULL) {
        pthread_mutex_unlock(&t->mu);
    }
}
