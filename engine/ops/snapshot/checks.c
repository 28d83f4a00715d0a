/* cmh_snapshot's checks (snap.h): the version a new content may take, the
 * guard against an unmounted share, the warnings for skipped files, and
 * the content INI and out-of-inodes hint a step writes. */
#include "snap.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "os/os.h"

/* The highest m such that DataLib holds a complete content <pkgid>.m
 * (folder and INI), 0 if none. With the PkgLib INI lost, a new version
 * must go above these: reusing <pkgid>.1 for different bytes would give
 * one content ID two meanings (docs/FORMAT.md, "Versions"). */
uint32_t cmh__snap_highest_datalib_version(cmh_library *l,
                                           const char *pkgid)
{
    int fd = dup(l->datalib_fd);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        if (fd >= 0)
            close(fd);
        return 0;
    }
    rewinddir(d);
    size_t pl = strlen(pkgid);
    uint32_t best = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        const char *nm = de->d_name;
        if (strncasecmp(nm, pkgid, pl) || nm[pl] != '.')
            continue;
        char *end;
        unsigned long m = strtoul(nm + pl + 1, &end, 10);
        if (end == nm + pl + 1 || *end || nm[pl + 1] == '0' ||
            m > 999999999ul || m <= best)
            continue;
        char ini[300];
        struct stat sb;
        snprintf(ini, sizeof ini, "%.255s.INI", nm);
        if (fstatat(l->datalib_fd, nm, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
            S_ISDIR(sb.st_mode) &&
            fstatat(l->datalib_fd, ini, &sb, AT_SYMLINK_NOFOLLOW) == 0)
            best = (uint32_t)m;
    }
    closedir(d);
    return best;
}

void cmh__snap_warn_skipped(snap *s)
{
    const char *p = cmh__buf_str(&s->walk.specials);
    for (const char *q; *p; p = q + 1) {
        q = strchr(p, '\n');
        s->walk.skipped++;
        if (s->o->warning.cb) {
            char line[1024];
            snprintf(line, sizeof line,
                     "skipped %.*s in %s: not a regular file",
                     (int)(q - p), p, s->source);
            s->o->warning.cb(line, s->o->warning.payload);
        }
    }
    if (s->walk.nlinks && (s->o->flags & CMH_SNAPSHOT_SKIP_LINKS)) {
        p = cmh__buf_str(&s->walk.links);
        for (const char *q; *p; p = q + 1) {
            q = strchr(p, '\n');
            s->walk.skipped++;
            if (s->o->warning.cb) {
                char line[1024];
                snprintf(line, sizeof line,
                         "skipped symbolic link %.*s in %s", (int)(q - p), p,
                         s->source);
                s->o->warning.cb(line, s->o->warning.payload);
            }
        }
    }
}

void cmh__snap_content_ini(snap *s, cmh_buf *b, const char *hash,
                           const char *sighash)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    int64_t ns = (int64_t)now.tv_sec * 1000000000LL + now.tv_nsec;
    /* SOURCE_DATE_EPOCH makes Created= reproducible (tests, builds). */
    const char *sde = getenv("SOURCE_DATE_EPOCH");
    if (sde && *sde) {
        char *end;
        long long v = strtoll(sde, &end, 10);
        if (!*end)
            ns = (int64_t)v * 1000000000LL;
    }
    cmh_contentini_facts f;
    memset(&f, 0, sizeof f);
    (void)cmh__hex64_decode(hash, f.hash);
    (void)cmh__hex64_decode(sighash, f.sighash);
    f.files = s->walk.nfiles;
    f.folders = s->walk.ndirs;
    f.bytes = s->walk.total_bytes;
    if (s->o->flags & CMH_SNAPSHOT_RECORD_SOURCE)
        f.source = s->o->source_display ? s->o->source_display
                                        : s->o->source;
    f.created = cmh__filetime_from_ns(ns);
    cmh__contentini_write(b, &f);
}

/* ENOSPC also means "no free inodes": then "free space" misleads an admin
 * who sees gigabytes free (issue 11, item 15). Reword the hint when the
 * library's filesystem has no inode left. */
void cmh__snap_inode_hint(cmh_ctx *ctx, int fd)
{
    const char *hint = cmh__write_hint(ENOSPC);
    bool no_inodes = false;
    unsigned long long used = 0;
    if (fd < 0 || !strstr(cmh__err_msg(ctx), hint) ||
        cmh__os_inodes_exhausted(fd, &no_inodes, &used) != 0 || !no_inodes)
        return;
    cmh__err_replace(ctx, hint,
                     "the library's filesystem has no free inodes left "
                     "(%llu in use; its free space is not the problem): "
                     "delete files there or use a filesystem with more "
                     "inodes, and run again", used);
}

/* Count the file INIs of a mirror (names only, no file read), stopping
 * once the count passes @p stop (the format model's one mirror walk). */
typedef struct mirror_count {
    uint64_t n, stop;
} mirror_count;

static int mirror_count_entry(void *arg, int dirfd, const char *name,
                              const struct stat *sb)
{
    (void)dirfd;
    (void)name;
    (void)sb;
    mirror_count *m = arg;
    return ++m->n > m->stop;
}

/* An unmounted share is an empty folder, a half-mounted one a few files:
 * refuse to let it replace a package that had content (issue 11, item 2)
 * unless the caller says so. The current version's file count comes from
 * the names in its mirror (one INI per file), read only as far as needed:
 * a first file for an empty source, ten times the new count otherwise. */
cmh_status cmh__snap_check_shrink(snap *s, const cmh_pkg_info *cur)
{
    unsigned f = s->o->flags;
    uint64_t now = s->walk.nfiles;
    bool empty = now == 0;
    if (!cur->version || (empty && (f & CMH_SNAPSHOT_ALLOW_EMPTY)) ||
        (!empty && (f & CMH_SNAPSHOT_ALLOW_SHRINK)))
        return CMH_OK;
    static const cmh_mirror_cb cb = {NULL, NULL, mirror_count_entry, false};
    mirror_count m = {0, empty ? 0 : now * 10};
    char *where = NULL;
    /* no mirror, or a damaged one: verify's to report; no guard */
    (void)cmh__mirror_walk(s->lib.datalib_fd, cur->cid, &cb, &m, &where);
    free(where);
    if (m.n <= m.stop)
        return CMH_OK;
    if (empty)
        return cmh__fail(s->ctx, CMH_E_SOURCE,
                         "source %s is empty but %s has files; check that "
                         "the share is mounted, or pass --allow-empty to "
                         "write an empty version",
                         s->source, cur->cid);
    return cmh__fail(s->ctx, CMH_E_SOURCE,
                     "source %s has %llu files but %s has more than %llu "
                     "(a drop of more than 90%%); check that the whole "
                     "share is mounted, or pass --allow-shrink", s->source,
                     (unsigned long long)now, cur->cid,
                     (unsigned long long)m.stop);
}

