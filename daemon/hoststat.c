/* hoststat.c - the host's figures from /proc and statvfs. */
#include "hoststat.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "host.h"
#include "util.h"

#define MOUNTS_MAX (256 * 1024)     /* bytes of /proc/self/mounts read */
#define NETDEV_MAX (64 * 1024)      /* bytes of /proc/net/dev read */

/* Parse a cpu line. */
bool hoststat_cpu_line(const char *line, int *id, struct hoststat_cpu *s)
{
    if (strncmp(line, "cpu", 3) != 0) {
        return false;
    }
    const char *p = line + 3;
    if (*p == ' ') {
        *id = -1;
    } else if (*p >= '0' && *p <= '9') {
        char *end;
        unsigned long n = strtoul(p, &end, 10);
        if (*end != ' ' || n > 1000000) {
            return false;
        }
        *id = (int)n;
        p = end;
    } else {
        return false;
    }
    memset(s, 0, sizeof(*s));
    for (int i = 0; i < HOSTSTAT_NSTATES; i++) {
        char *end;
        unsigned long long v = strtoull(p, &end, 10);
        if (end == p || (*end != ' ' && *end != '\n' && *end != '\0')) {
            break;              /* an older kernel's shorter line: the rest is 0 */
        }
        s->ticks[i] = v;
        p = end;
    }
    s->set = true;
    return true;
}

/* Shares from before to now. */
bool hoststat_cpu_share(const struct hoststat_cpu *now, const struct hoststat_cpu *before,
                        struct hoststat_cpu_pct *pct)
{
    double d[HOSTSTAT_NSTATES], total = 0;
    for (int i = 0; i < HOSTSTAT_NSTATES; i++) {
        unsigned long long b = before != NULL ? before->ticks[i] : 0;
        d[i] = now->ticks[i] >= b ? (double)(now->ticks[i] - b) : 0;
        total += d[i];
    }
    if (total <= 0) {
        return false;
    }
    pct->used = 100.0 * (total - d[HOSTSTAT_IDLE] - d[HOSTSTAT_IOWAIT]) / total;
    pct->iowait = 100.0 * d[HOSTSTAT_IOWAIT] / total;
    pct->steal = 100.0 * d[HOSTSTAT_STEAL] / total;
    return true;
}

/* A meminfo field in bytes (the file says kB); 0 when absent. */
static double kib(const char *text, const char *key, bool *found)
{
    double v = 0;
    bool ok = host_field(text, key, &v) && v >= 0;
    if (found != NULL) {
        *found = ok;
    }
    return ok ? v * 1024 : 0;
}

/* Memory from meminfo. */
int hoststat_meminfo(const char *root, struct hoststat_mem *m)
{
    char text[HOSTSTAT_MEMINFO_MAX];
    ssize_t n = host_read(root, "meminfo", text, sizeof(text));
    return n < 0 ? (int)n : hoststat_meminfo_text(text, m);
}

int hoststat_meminfo_text(const char *text, struct hoststat_mem *m)
{
    bool has_total;
    memset(m, 0, sizeof(*m));
    m->total = kib(text, "MemTotal:", &has_total);
    if (!has_total || m->total <= 0) {
        return -EINVAL;
    }
    m->available = kib(text, "MemAvailable:", &m->has_available);
    if (!m->has_available) {
        m->available = kib(text, "MemFree:", NULL) + kib(text, "Buffers:", NULL) +
                       kib(text, "Cached:", NULL) + kib(text, "SReclaimable:", NULL);
    }
    if (m->available > m->total) {
        m->available = m->total;
    }
    m->swap_total = kib(text, "SwapTotal:", NULL);
    m->swap_free = kib(text, "SwapFree:", NULL);
    if (m->swap_free > m->swap_total) {
        m->swap_free = m->swap_total;
    }
    return 0;
}

/* The load averages. */
int hoststat_loadavg(const char *root, double avg[3])
{
    char text[HOSTSTAT_LOADAVG_MAX];
    ssize_t n = host_read(root, "loadavg", text, sizeof(text));
    return n < 0 ? (int)n : hoststat_loadavg_text(text, avg);
}

int hoststat_loadavg_text(const char *text, double avg[3])
{
    return sscanf(text, "%lf %lf %lf", &avg[0], &avg[1], &avg[2]) == 3 ? 0 : -EINVAL;
}

/* part of part + rest, in percent; 0 of nothing. */
static double percent(double part, double rest)
{
    return part + rest > 0 ? 100.0 * part / (part + rest) : 0;
}

/* statvfs a path. */
int hoststat_fs(const char *path, struct hoststat_fs *fs)
{
    struct statvfs sv;
    if (statvfs(path, &sv) < 0) {
        return -errno;
    }
    double unit = sv.f_frsize != 0 ? (double)sv.f_frsize : (double)sv.f_bsize;
    double used = sv.f_blocks >= sv.f_bfree ? (double)(sv.f_blocks - sv.f_bfree) : 0;
    fs->size = (double)sv.f_blocks * unit;
    fs->free = (double)sv.f_bfree * unit;
    fs->avail = (double)sv.f_bavail * unit;
    fs->used_pct = percent(used, (double)sv.f_bavail);
    fs->files = (double)sv.f_files;
    fs->files_free = sv.f_ffree <= sv.f_files ? (double)sv.f_ffree : (double)sv.f_files;
    fs->files_used_pct = sv.f_files > 0 ? percent(fs->files - fs->files_free, fs->files_free) : 0;
    return 0;
}

/* Filesystems that hold no files of their own. */
static const char *const pseudo_types[] = {
    "autofs",  "binfmt_misc", "bpf",       "cgroup",   "cgroup2",    "configfs",
    "debugfs", "devpts",      "devtmpfs",  "efivarfs", "fusectl",    "hugetlbfs",
    "mqueue",  "nsfs",        "overlay",   "proc",     "pstore",     "ramfs",
    "rpc_pipefs", "securityfs", "selinuxfs", "squashfs", "sysfs",    "tracefs",
    "erofs",   "iso9660",     "nfsd",      "fuse.lxcfs", "fuse.gvfsd-fuse", "fuse.portal",
};

/* Mount points below these are the system's, not people's files. */
static const char *const pseudo_dirs[] = {"/proc", "/sys", "/dev", "/run/credentials",
                                          "/var/lib/docker/", "/var/lib/containers/"};

/* Filesystem types whose statvfs waits on a network. */
static const char *const remote_types[] = {"nfs", "nfs4", "cifs", "smb3", "smbfs", "ceph",
                                           "glusterfs", "9p", "afs", "lustre", "gfs2", "ocfs2",
                                           "sshfs", "davfs"};

/* Whether s is one of the n words. */
static bool among(const char *s, const char *const *words, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(s, words[i]) == 0) {
            return true;
        }
    }
    return false;
}

/* Whether fstype is local. */
bool hoststat_fs_local(const char *fstype)
{
    return strncmp(fstype, "fuse", 4) != 0 &&
           !among(fstype, remote_types, ARRAY_SIZE(remote_types));
}

/* Whether the mount point dir is under one of the system's trees. */
static bool system_dir(const char *dir)
{
    for (size_t i = 0; i < ARRAY_SIZE(pseudo_dirs); i++) {
        const char *p = pseudo_dirs[i];
        size_t n = strlen(p);
        if (p[n - 1] == '/' ? strncmp(dir, p, n) == 0
                            : strncmp(dir, p, n) == 0 && (dir[n] == '\0' || dir[n] == '/')) {
            return true;
        }
    }
    return false;
}

/* Copy a field of a mounts line into out (len > 0), "\040"-style octal
 * escapes undone; the field ends at a space. Returns where it ended. */
static const char *mount_field(const char *p, char *out, size_t len)
{
    size_t n = 0;
    while (*p == ' ') {
        p++;
    }
    while (*p != '\0' && *p != ' ' && *p != '\n') {
        char c = *p++;
        if (c == '\\' && p[0] >= '0' && p[0] <= '3' && p[1] >= '0' && p[1] <= '7' &&
            p[2] >= '0' && p[2] <= '7') {
            c = (char)((p[0] - '0') * 64 + (p[1] - '0') * 8 + (p[2] - '0'));
            p += 3;
        }
        if (n + 1 < len && c != '\0') {
            out[n++] = c;
        }
    }
    out[n] = '\0';
    return p;
}

/* root/name read into a new buffer of max bytes (the caller frees it);
 * NULL with *err a negative errno. */
static char *read_new(const char *root, const char *name, size_t max, int *err)
{
    char *text = malloc(max);
    ssize_t n = text != NULL ? host_read(root, name, text, max) : -ENOMEM;
    if (n < 0) {
        free(text);
        *err = (int)n;
        return NULL;
    }
    return text;
}

/* Mounts worth showing. */
int hoststat_mounts(const char *root, struct hoststat_mount *out, size_t cap)
{
    int err;
    char *text = read_new(root, "self/mounts", MOUNTS_MAX, &err);
    if (text == NULL) {
        return err;
    }
    size_t n = 0;
    for (const char *line = text; *line != '\0' && n < cap;) {
        const char *nl = strchr(line, '\n');
        struct hoststat_mount *m = &out[n];
        const char *p = mount_field(line, m->device, sizeof(m->device));
        p = mount_field(p, m->dir, sizeof(m->dir));
        mount_field(p, m->fstype, sizeof(m->fstype));
        line = nl != NULL ? nl + 1 : line + strlen(line);
        if (m->dir[0] != '/' || m->fstype[0] == '\0' ||
            among(m->fstype, pseudo_types, ARRAY_SIZE(pseudo_types)) || system_dir(m->dir)) {
            continue;
        }
        bool again = false;     /* a device seen already: a bind mount */
        for (size_t i = 0; i < n && m->device[0] == '/'; i++) {
            again = again || strcmp(out[i].device, m->device) == 0;
        }
        if (!again) {
            n++;
        }
    }
    free(text);
    return (int)n;
}

/* Interfaces of net/dev: "  eth0: rx_bytes packets errs drop fifo frame
 * compressed multicast tx_bytes ...". */
int hoststat_netdev(const char *root, struct hoststat_net *out, size_t cap)
{
    int err;
    char *text = read_new(root, "net/dev", NETDEV_MAX, &err);
    if (text == NULL) {
        return err;
    }
    size_t n = 0;
    for (char *line = text; line != NULL && *line != '\0' && n < cap;) {
        char *nl = strchr(line, '\n');
        if (nl != NULL) {
            *nl = '\0';
        }
        char *colon = strchr(line, ':');
        if (colon != NULL) {
            char *name = line;
            while (*name == ' ') {
                name++;
            }
            size_t len = (size_t)(colon - name);
            unsigned long long v[9];
            if (len > 0 && len < HOSTSTAT_NET_NAME_MAX &&
                sscanf(colon + 1, "%llu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1],
                       &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8]) == 9) {
                memcpy(out[n].name, name, len);
                out[n].name[len] = '\0';
                out[n].rx_bytes = v[0];
                out[n].tx_bytes = v[8];
                n++;
            }
        }
        line = nl != NULL ? nl + 1 : NULL;
    }
    free(text);
    return (int)n;
}
