/* hoststat.h - the host's figures as /proc and statvfs give them: CPU
 * ticks, memory, load, filesystems, network counters. One reader each,
 * shared by the host check types (check_cpu.c, check_memory.c,
 * check_load.c, check_disk.c), the host sampler (hostmon.c) and
 * /metrics (metrics.c), so a file is parsed one way only.
 *
 * Contract. Pure readers: no state, no allocation, no loop; safe on any
 * thread (host_read, strtod, statvfs). root is a /proc root without a
 * final / ("/proc"; tests hand in a fake tree). What a file lacks (a
 * container's meminfo without swap, an old kernel's short cpu line) reads
 * as 0 or is said by a flag, never as an error, unless the figure itself
 * is missing. Every buffer has a limit: a line, a name or a list longer
 * than its bound is cut, never grown. statvfs may block on a hung network
 * mount: call hoststat_fs off the loop unless the mount is local
 * (hoststat_fs_local). */
#ifndef SHIPWATCH_HOSTSTAT_H
#define SHIPWATCH_HOSTSTAT_H

#include <stdbool.h>
#include <stddef.h>

/* The states of a /proc/stat cpu line, in its order; guest time is part
 * of user and nice already, so it is not read. */
enum hoststat_cpu_state {
    HOSTSTAT_USER,
    HOSTSTAT_NICE,
    HOSTSTAT_SYSTEM,
    HOSTSTAT_IDLE,
    HOSTSTAT_IOWAIT,
    HOSTSTAT_IRQ,
    HOSTSTAT_SOFTIRQ,
    HOSTSTAT_STEAL,
    HOSTSTAT_NSTATES
};

/* Clock ticks since boot of one cpu line, by state. */
struct hoststat_cpu {
    unsigned long long ticks[HOSTSTAT_NSTATES];
    bool set;                           /* read */
};

/* Busy shares over an interval, in percent. */
struct hoststat_cpu_pct {
    double used;                        /* neither idle nor waiting for I/O
                                           (steal included, as htop shows it) */
    double iowait;
    double steal;
};

/* Parse a cpu line of /proc/stat ("cpu  1 2 3..." or "cpu7 1 2 3...")
 * into s; *id is -1 for the total line, N for cpuN. false when line is
 * not a cpu line. A state the line lacks (kernels before 2.6.11) is 0. */
bool hoststat_cpu_line(const char *line, int *id, struct hoststat_cpu *s);

/* The shares of each state from before (NULL: boot) to now, into pct;
 * false when no tick passed between them. A counter that went back
 * counts 0. */
bool hoststat_cpu_share(const struct hoststat_cpu *now, const struct hoststat_cpu *before,
                        struct hoststat_cpu_pct *pct);

/* Memory and swap in bytes from root/meminfo. */
struct hoststat_mem {
    double total;
    double available;                   /* MemAvailable, or its estimate before
                                           3.14 (MemFree+Buffers+Cached+
                                           SReclaimable); at most total */
    double swap_total;                  /* 0 without swap or its lines */
    double swap_free;                   /* at most swap_total */
    bool has_available;                 /* MemAvailable was there */
};

#define HOSTSTAT_MEMINFO_MAX 8192   /* bytes of /proc/meminfo read (about 1.5 KiB today) */
#define HOSTSTAT_LOADAVG_MAX 256

/* 0, a negative errno when the file cannot be read, or -EINVAL when it
 * has no MemTotal. */
int hoststat_meminfo(const char *root, struct hoststat_mem *m);

/* The same from meminfo's text, read already: 0 or -EINVAL. */
int hoststat_meminfo_text(const char *text, struct hoststat_mem *m);

/* The three load averages of root/loadavg: 0, a negative errno, or
 * -EINVAL when the file does not start with three numbers. */
int hoststat_loadavg(const char *root, double avg[3]);

/* The same from loadavg's text, read already: 0 or -EINVAL. */
int hoststat_loadavg_text(const char *text, double avg[3]);

/* A filesystem as statvfs(3) tells, in bytes and inodes. */
struct hoststat_fs {
    double size;                        /* f_blocks */
    double free;                        /* f_bfree: root's reserve included */
    double avail;                       /* f_bavail: what users may still write */
    double used_pct;                    /* df's: used over used + avail */
    double files;                       /* 0: it counts no inodes (btrfs) */
    double files_free;
    double files_used_pct;              /* 0 without inodes */
};

/* statvfs path into fs: 0 or a negative errno. May block (see above). */
int hoststat_fs(const char *path, struct hoststat_fs *fs);

#define HOSTSTAT_MOUNT_DIR_MAX 256
#define HOSTSTAT_MOUNT_DEV_MAX 128
#define HOSTSTAT_FSTYPE_MAX 32

/* A mounted filesystem worth showing. */
struct hoststat_mount {
    char dir[HOSTSTAT_MOUNT_DIR_MAX];   /* the mount point, unescaped */
    char device[HOSTSTAT_MOUNT_DEV_MAX];
    char fstype[HOSTSTAT_FSTYPE_MAX];
};

/* The mounts of root/self/mounts that hold files people keep: pseudo
 * filesystems (proc, sysfs, cgroup, overlay...), those under /proc, /sys,
 * /dev and /run/credentials, and a device mounted again (a bind mount, a
 * container's /etc/hosts) are left out; at most cap, in the file's order.
 * The count, or a negative errno. */
int hoststat_mounts(const char *root, struct hoststat_mount *out, size_t cap);

/* Whether a mount of fstype is local: statvfs of it does not wait on a
 * network (nfs, cifs, fuse and the like are not). */
bool hoststat_fs_local(const char *fstype);

#define HOSTSTAT_NET_NAME_MAX 32

/* One interface's counters from /proc/net/dev. */
struct hoststat_net {
    char name[HOSTSTAT_NET_NAME_MAX];
    unsigned long long rx_bytes;
    unsigned long long tx_bytes;
};

/* The interfaces of root/net/dev, at most cap, in the file's order: the
 * count, or a negative errno. A line that does not parse is skipped. */
int hoststat_netdev(const char *root, struct hoststat_net *out, size_t cap);

#endif
