/* cmh_snapshot: package source -> content library (contentlib.md section 7).
 *
 * Order of work, each step leaving the library valid:
 *   1. package lock (.cmhash/<P>.lock); dead runs' temps reclaimed
 *   2. parallel walk, name checks
 *   3. parallel streaming: every file once into SHA-256 + signature + a
 *      FileLib temp; its mirror INI into a temp mirror folder
 *   4. content INI temp; barrier 1 (syncfs: temps durable)
 *   5. under the library lock: FileLib reference INI temps, barrier, then
 *      renames of data, signatures and INIs
 *   6. mirror and content INI renamed in; barrier 2
 *   7. PkgLib INI replaced (temp + fsync + rename + fsync dir): commit
 *   8. older versions retired (retire.c)
 * Before step 5 nothing outside temp names has changed, so every failure
 * before it only removes temps. Cancellation (the progress callback) is
 * honoured up to step 7, undoing steps 5-6; after it the run finishes the
 * retirement and succeeds (issue 11, item 1). */
#include "internal.h"
#include "library.h"
#include "stream.h"
#include "walk.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "os/os.h"

/* Per-file snapshot state (node->aux), written by the one worker that
 * streams the file, read by the main thread after the pool is idle. */
typedef struct file_state {
    /* Paths relative to FileLib: "<temp>" at its root (large files, copied
     * while hashed) or "<H4>/<temp>" (small files, written once their hash
     * is known). "" = none. */
    char tmp[64];    /* data temp or pin */
    char sigtmp[64]; /* signature temp or pin */
    bool pinned;     /* tmp is a hard link of the existing entry */
    bool sig_pinned;
    bool replace;    /* the existing entry's bytes differ from ours: it is
                        damaged and ours replaces it (contentlib.md 7.2) */
} file_state;

typedef struct snap {
    cmh_ctx *ctx;
    const cmh_snapshot_opts *o;
    cmh_library lib;
    bool write;          /* false: hash only (cmh_hash_dir) */
    bool strict_hash;    /* cmh_hash_dir: snapshot's rules, links refused */
    bool do_fsync;
    const char *source;
    char cid[CMH_CID_SIZE];
    char mirror_tmp[128]; /* DataLib/<mirror_tmp> */
    int mirror_fd;
    cmh_walk walk;
    cmh_pool *pool;
    file_state *fs;      /* nfiles entries */
    /* First worker failure: written under mu by workers, read by the main
     * thread after cmh__pool_wait. */
    pthread_mutex_t mu;
    cmh_status wst;
    char werr[CMH_ERRMSG_SIZE];
    /* Progress counters: workers add, the tick reads. */
    _Atomic uint_fast64_t bytes_done, files_done;
    const char *phase;
    double t0;
    /* FileLib/<H4> folders this run created (bit per H4), set by workers,
     * read after the pool is idle: a failed run removes them again (when
     * still empty) so the library is left exactly as it was. */
    _Atomic uint64_t h4_made[65536 / 64];
} snap;

static void *worker_make(void *arg)
{
    snap *s = arg;
    cmh_worker *w = cmh__worker_new(s->ctx->sha256);
    /* A large file uses the run's other threads for its signature and
     * copy (stream_par.c). */
    unsigned t = s->o && s->o->threads ? s->o->threads : cmh__online_cpus();
    if (w && s->write && t > 1)
        w->sig_helpers = t - 1;
    return w;
}

static void worker_free(void *st)
{
    cmh__worker_free(st);
}

static void worker_fail(snap *s, cmh_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void worker_fail(snap *s, cmh_status st, const char *fmt, ...)
{
    pthread_mutex_lock(&s->mu);
    if (s->wst == CMH_OK) {
        s->wst = st;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(s->werr, sizeof s->werr, fmt, ap);
        va_end(ap);
    }
    pthread_mutex_unlock(&s->mu);
    cmh__pool_cancel(s->pool);
}

static int tick(void *arg)
{
    snap *s = arg;
    if (!s->o || !s->o->progress)
        return 0;
    cmh_progress p = {0};
    p.phase = s->phase;
    p.files_done = atomic_load(&s->files_done);
    p.bytes_done = atomic_load(&s->bytes_done);
    if (!strcmp(s->phase, "scan")) {
        p.files_done = atomic_load(&s->walk.seen_files);
    } else {
        p.files_total = s->walk.nfiles;
        p.bytes_total = s->walk.total_bytes;
    }
    p.elapsed = cmh__now() - s->t0;
    return s->o->progress(&p, s->o->payload);
}

/* Has the caller asked to stop? Asked on the caller's thread between the
 * steps of the commit phase (the progress callback is the channel). */
static bool canceled(snap *s)
{
    return s->o && s->o->progress && tick(s) != 0;
}

static int canceled_cb(void *arg)
{
    return canceled(arg);
}

/* Same bytes as @p len bytes at @p data: FileLib/<rel> read whole (small
 * files only). A read error counts as different: ours then replaces it. */
static bool same_bytes(snap *s, const char *rel, const void *data, size_t len)
{
    char *have = NULL;
    size_t hlen = 0;
    if (cmh__read_small_file(s->lib.filelib_fd, rel, len + 1, &have, &hlen))
        return false;
    bool same = hlen == len && (!len || !memcmp(have, data, len));
    free(have);
    return same;
}

/* SHA-256 of FileLib/<rel> equals @p sha (snapshot --heal, large files). */
static bool same_hash(snap *s, cmh_worker *w, const char *rel,
                      const uint8_t sha[CMH_SHA256_LEN])
{
    cmh_stream_out so = {.data_fd = -1, .sig_fd = -1};
    cmh_stream_hooks hooks = {0};
    hooks.library_file = true;
    cmh_stream_res r;
    const char *base = strrchr(rel, '/');
    if (cmh__stream_fileat(w, s->lib.filelib_fd, rel, base ? base + 1 : rel,
                          UINT64_MAX, INT64_MIN, &so, &hooks, &r, NULL,
                          cmh__pool_cancel_flag(s->pool)) != 0)
        return false;
    return !memcmp(r.sha, sha, CMH_SHA256_LEN);
}

/* Write dest INI of one file into the temp mirror. */
static int write_mirror_ini(snap *s, cmh_worker *w, const cmh_node *n,
                            const char *rel)
{
    cmh_buf *b = &w->scratch;
    cmh__buf_reset(b);
    cmh__fileini_write(b, n->attrs, n->size, cmh__filetime_from_ns(n->mtime_ns),
                      n->sha);
    if (b->oom)
        return ENOMEM;
    size_t rl = strlen(rel);
    char *name = malloc(rl + 5);
    if (!name)
        return ENOMEM;
    memcpy(name, rel, rl);
    memcpy(name + rl, ".INI", 5);
    int e = cmh__write_new(s->mirror_fd, name, b->data, b->len, false);
    free(name);
    return e;
}

/* If FileLib already holds these bytes (same size), keep a hard link to
 * the existing entry instead of our copy: a concurrent retirement may
 * delete the entry before we reference it, and the pin keeps the bytes. */
static void pin_existing(snap *s, cmh_worker *w, file_state *fs,
                         const cmh_node *n)
{
    char rel[CMH_FILELIB_REL_SIZE], sigrel[CMH_FILELIB_REL_SIZE];
    cmh__filelib_rel(rel, n->sha, "");
    cmh__filelib_rel(sigrel, n->sha, ".SIG");
    struct stat sb;
    int fl = s->lib.filelib_fd;
    if (fstatat(fl, rel, &sb, AT_SYMLINK_NOFOLLOW) != 0 ||
        !S_ISREG(sb.st_mode) || (uint64_t)sb.st_size != n->size)
        return;
    char pin[64];
    cmh__tmp_name(pin, sizeof pin, NULL);
    if (linkat(fl, rel, fl, pin, 0) != 0)
        return; /* no hard links here (some CIFS mounts): keep our copy */
    /* --heal: the entry has the right name and size; are its bytes ours?
     * (A plain run trusts a large entry: re-reading every present large
     * file would double the I/O of each re-snapshot.) */
    if ((s->o->flags & CMH_SNAPSHOT_HEAL) && !same_hash(s, w, pin, n->sha)) {
        unlinkat(fl, pin, 0);
        fs->replace = true;
        return;
    }
    unlinkat(fl, fs->tmp, 0);
    memcpy(fs->tmp, pin, sizeof pin);
    fs->pinned = true;
    if (fstatat(fl, sigrel, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
        S_ISREG(sb.st_mode) && (uint64_t)sb.st_size == cmh_sig_size(n->size)) {
        cmh__tmp_name(pin, sizeof pin, NULL);
        if (linkat(fl, sigrel, fl, pin, 0) == 0) {
            unlinkat(fl, fs->sigtmp, 0);
            memcpy(fs->sigtmp, pin, sizeof pin);
            fs->sig_pinned = true;
        }
    }
}

/* Files up to this size are kept in memory while hashed and written once,
 * straight into their FileLib/<H4> folder (or not at all when FileLib has
 * them): the large-file path creates a temp at the FileLib root before the
 * hash is known, and with many small files every create and rename lands
 * in that one folder, serialised by the filesystem's folder lock. One read
 * buffer: a small file is read whole in one read(). */
#define SMALL_FILE CMH_READ_SIZE

static int copy_sink(const void *data, size_t len, void *payload)
{
    cmh_buf *b = payload;
    cmh__buf_add(b, data, len);
    return b->oom ? ENOMEM : 0;
}

static int sigcopy_sink(const void *data, size_t len, void *payload)
{
    return copy_sink(data, len, payload) != 0;
}

/* Write @p len bytes as a new temp "<h4>/<temp><suffix>" in FileLib; the
 * folder is made when missing (gc may have removed an empty one). */
static int write_h4_temp(snap *s, const char *h4, const char *suffix,
                         const void *data, size_t len, char out[64])
{
    char name[48];
    int e = 0;
    for (int tries = 0; tries < 6; tries++) {
        cmh__tmp_name(name, sizeof name, suffix);
        snprintf(out, 64, "%s/%s", h4, name);
        e = cmh__write_new(s->lib.filelib_fd, out, data, len, false);
        if (e == EEXIST)
            continue; /* a leftover holds the name: take another */
        if (e != ENOENT)
            break;
        if (mkdirat(s->lib.filelib_fd, h4, 0755) == 0) {
            unsigned idx = (unsigned)strtoul(h4, NULL, 16);
            atomic_fetch_or(&s->h4_made[idx / 64], 1ull << (idx % 64));
        } else if (errno != EEXIST) {
            e = errno;
            break;
        }
    }
    if (e)
        out[0] = 0;
    return e;
}

/* Hard-link FileLib/<rel> to a temp name in its folder: the bytes stay
 * ours even if a concurrent retirement deletes the entry before we
 * reference it. */
static bool pin_h4(snap *s, const char *h4, const char *rel,
                   uint64_t want_size, char out[64])
{
    struct stat sb;
    int fl = s->lib.filelib_fd;
    if (fstatat(fl, rel, &sb, AT_SYMLINK_NOFOLLOW) != 0 ||
        !S_ISREG(sb.st_mode) || (uint64_t)sb.st_size != want_size)
        return false;
    char name[48];
    cmh__tmp_name(name, sizeof name, NULL);
    snprintf(out, 64, "%s/%s", h4, name);
    if (linkat(fl, rel, fl, out, 0) != 0) {
        out[0] = 0;
        return false;
    }
    return true;
}

/* Small file, hashed: pin the existing entry or write our copy. */
static int place_small(snap *s, cmh_worker *w, file_state *fs,
                       const cmh_node *n)
{
    char hex[CMH_HEX_SIZE], h4[5], rel[CMH_FILELIB_REL_SIZE],
        sigrel[CMH_FILELIB_REL_SIZE];
    cmh_hex_upper(n->sha, CMH_SHA256_LEN, hex);
    memcpy(h4, hex, 4);
    h4[4] = 0;
    cmh__filelib_rel_hex(rel, hex, "");
    cmh__filelib_rel_hex(sigrel, hex, ".SIG");
    fs->pinned = pin_h4(s, h4, rel, n->size, fs->tmp);
    /* The bytes are in memory: compare before trusting the entry, so a
     * re-snapshot repairs a damaged entry of the right size (7.2). */
    if (fs->pinned &&
        !same_bytes(s, fs->tmp, w->copy.data, w->copy.len)) {
        unlinkat(s->lib.filelib_fd, fs->tmp, 0);
        fs->tmp[0] = 0;
        fs->pinned = false;
        fs->replace = true;
    }
    if (fs->pinned)
        fs->sig_pinned = pin_h4(s, h4, sigrel, cmh_sig_size(n->size),
                                fs->sigtmp);
    int e = 0;
    if (!fs->pinned)
        e = write_h4_temp(s, h4, NULL, w->copy.data, w->copy.len, fs->tmp);
    if (!e && !fs->sig_pinned)
        e = write_h4_temp(s, h4, ".SIG", w->sigcopy.data, w->sigcopy.len,
                          fs->sigtmp);
    return e;
}

static void file_task(void *tk, void *state, void *arg)
{
    cmh_node *n = tk;
    cmh_worker *w = state;
    snap *s = arg;
    file_state *fs = n->aux;
    char *rel = NULL, *path = NULL;
    int data_fd = -1, sig_fd = -1;
    if (cmh__pool_canceled(s->pool))
        return;
    rel = cmh__node_relpath(n);
    path = rel ? cmh__path_join(s->source, rel) : NULL;
    if (!path) {
        worker_fail(s, CMH_E_NOMEM, "out of memory");
        goto out;
    }
    bool small = s->write && n->size <= SMALL_FILE;
    if (s->write && !small) {
        int fl = s->lib.filelib_fd;
        do { /* EEXIST: a leftover holds the name, take another */
            cmh__tmp_name(fs->tmp, sizeof fs->tmp, NULL);
            data_fd = openat(fl, fs->tmp, O_WRONLY | O_CREAT | O_EXCL |
                                              O_CLOEXEC | O_NOFOLLOW, 0644);
        } while (data_fd < 0 && errno == EEXIST);
        if (data_fd < 0) {
            int e = errno;
            fs->tmp[0] = 0;
            worker_fail(s, cmh__status_for_write_errno(e),
                        "cannot write in %s/FileLib: %s; %s", s->lib.path,
                        strerror(e), cmh__write_hint(e));
            goto out;
        }
        do {
            cmh__tmp_name(fs->sigtmp, sizeof fs->sigtmp, ".SIG");
            sig_fd = openat(fl, fs->sigtmp, O_WRONLY | O_CREAT | O_EXCL |
                                                O_CLOEXEC | O_NOFOLLOW, 0644);
        } while (sig_fd < 0 && errno == EEXIST);
        if (sig_fd < 0) {
            int e = errno;
            fs->sigtmp[0] = 0;
            worker_fail(s, cmh__status_for_write_errno(e),
                        "cannot write in %s/FileLib: %s; %s", s->lib.path,
                        strerror(e), cmh__write_hint(e));
            goto out;
        }
    }
    cmh_stream_out so = {.data_fd = data_fd,
                         .sig_fd = s->write ? sig_fd : -1};
    cmh_stream_hooks hooks = {0};
    if (small) {
        if (w->copy.oom)
            cmh__buf_free(&w->copy);
        if (w->sigcopy.oom)
            cmh__buf_free(&w->sigcopy);
        cmh__buf_reset(&w->copy);
        cmh__buf_reset(&w->sigcopy);
        hooks.data_sink = copy_sink;
        hooks.data_payload = &w->copy;
        hooks.sig_sink = sigcopy_sink;
        hooks.sig_payload = &w->sigcopy;
    }
    cmh_stream_res r;
    int e = cmh__stream_fileat(w, AT_FDCWD, path, n->name, n->size,
                              n->mtime_ns, &so, small ? &hooks : NULL, &r,
                              &s->bytes_done, cmh__pool_cancel_flag(s->pool));
    if (e == 0 && data_fd >= 0 && close(data_fd) != 0) {
        e = errno;
        r.write_err = true;
    }
    data_fd = -1;
    if (e == 0 && sig_fd >= 0 && close(sig_fd) != 0) {
        e = errno;
        r.write_err = true;
    }
    sig_fd = -1;
    if (e) {
        if (e == ECANCELED)
            goto out;
        if (r.changed)
            worker_fail(s, CMH_E_SOURCE,
                        "%s changed while it was read; run the snapshot "
                        "again when the source is no longer being written",
                        path);
        else if (r.write_err)
            worker_fail(s, cmh__status_for_write_errno(e),
                        "cannot write in %s/FileLib: %s; %s", s->lib.path,
                        strerror(e), cmh__write_hint(e));
        else if (e == ENOENT)
            worker_fail(s, CMH_E_SOURCE,
                        "%s vanished during the snapshot; run it again when "
                        "the source is stable", path);
        else if (e == EACCES || e == EPERM)
            worker_fail(s, CMH_E_SOURCE,
                        "cannot read %s: %s; give this user read access or "
                        "remove the file from the source", path,
                        strerror(e));
        else
            worker_fail(s, e == ENOMEM ? CMH_E_NOMEM : CMH_E_IO,
                        "cannot read %s: %s; check the source's disk or "
                        "share", path, strerror(e));
        goto out;
    }
    n->attrs = r.attrs;
    memcpy(n->sha, r.sha, sizeof n->sha);
    memcpy(n->sig_sha, r.sig_sha, sizeof n->sig_sha);
    if (small) {
        e = place_small(s, w, fs, n);
        if (e) {
            worker_fail(s, cmh__status_for_write_errno(e),
                        "cannot write in %s/FileLib: %s; %s", s->lib.path,
                        strerror(e), cmh__write_hint(e));
            goto out;
        }
    } else if (s->write) {
        pin_existing(s, w, fs, n);
    }
    if (s->write) {
        e = write_mirror_ini(s, w, n, rel);
        if (e) {
            worker_fail(s, cmh__status_for_write_errno(e),
                        "cannot write in %s/DataLib: %s; %s", s->lib.path,
                        strerror(e), cmh__write_hint(e));
            goto out;
        }
    }
    atomic_fetch_add(&s->files_done, 1);
    if (s->write)
        cmh__crash_point("file");
out:
    if (data_fd >= 0)
        close(data_fd);
    if (sig_fd >= 0)
        close(sig_fd);
    free(rel);
    free(path);
}

/* After a failed (or unchanged) run, once every temp is gone: remove the
 * FileLib/<H4> folders this run created, when they are still empty. */
static void remove_made_h4(snap *s)
{
    for (unsigned i = 0; i < 65536 / 64; i++) {
        uint64_t bits = atomic_load(&s->h4_made[i]);
        for (unsigned b = 0; bits && b < 64; b++) {
            if (!(bits & (1ull << b)))
                continue;
            char h4[8];
            snprintf(h4, sizeof h4, "%04X", i * 64 + b);
            unlinkat(s->lib.filelib_fd, h4, AT_REMOVEDIR); /* if empty */
        }
        atomic_store(&s->h4_made[i], 0);
    }
}

/* Remove every temp this snapshot made (failure before the FileLib
 * renames, or the drop of an unchanged version). */
static void remove_temps(snap *s)
{
    if (!s->write)
        return;
    for (size_t i = 0; s->fs && i < s->walk.nfiles; i++) {
        if (s->fs[i].tmp[0])
            unlinkat(s->lib.filelib_fd, s->fs[i].tmp, 0);
        if (s->fs[i].sigtmp[0])
            unlinkat(s->lib.filelib_fd, s->fs[i].sigtmp, 0);
        s->fs[i].tmp[0] = s->fs[i].sigtmp[0] = 0;
    }
    if (s->mirror_fd >= 0) {
        close(s->mirror_fd);
        s->mirror_fd = -1;
    }
    if (s->mirror_tmp[0]) {
        cmh__tree_remove(s->lib.datalib_fd, s->mirror_tmp);
        s->mirror_tmp[0] = 0;
    }
}

static int make_mirror_dirs(snap *s, const cmh_node *d, const char *rel)
{
    for (size_t i = 0; i < d->ndirs; i++) {
        char *sub = rel[0] ? cmh__path_join(rel, d->dirs[i]->name)
                           : cmh__strdup(d->dirs[i]->name);
        if (!sub)
            return ENOMEM;
        int e = 0;
        if (mkdirat(s->mirror_fd, sub, 0755) != 0)
            e = errno;
        if (!e)
            e = make_mirror_dirs(s, d->dirs[i], sub);
        free(sub);
        if (e)
            return e;
    }
    return 0;
}

/* The highest m such that DataLib holds a complete content <pkgid>.m
 * (folder and INI), 0 if none. With the PkgLib INI lost, a new version
 * must go above these: reusing <pkgid>.1 for different bytes would give
 * one content ID two meanings (docs/FORMAT.md, "Versions"). */
static uint32_t highest_datalib_version(cmh_library *l, const char *pkgid)
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

/* Room for the head of a list failure (the source path, cut). */
#define CMH_PATH_HEAD 1024

/* Section 4's name rules over the walked tree: one failure listing the
 * offending names (cmh__fail_list). @p cid sizes the mirror paths. */
static cmh_status check_names(cmh_ctx *ctx, const cmh_node *root,
                              const char *cid, const char *source,
                              bool hash_only)
{
    cmh_buf b;
    cmh__buf_init(&b);
    size_t n = cmh__walk_check_names(root, cid, &b);
    cmh_status st = CMH_OK;
    if (n) {
        if (b.len && b.data[b.len - 1] == '\n')
            b.data[--b.len] = 0;
        char head[CMH_PATH_HEAD];
        snprintf(head, sizeof head, "%.900s has %zu name(s) a Windows "
                 "distribution point cannot hold", source, n);
        st = cmh__fail_list(ctx, CMH_E_SOURCE, head, cmh__buf_str(&b),
                            hash_only ? "a snapshot would refuse this "
                                        "folder; rename them"
                                      : "rename them and run again");
    }
    cmh__buf_free(&b);
    return st;
}

static cmh_status walk_source(snap *s)
{
    cmh_ctx *ctx = s->ctx;
    s->phase = "scan";
    int e = cmh__walk_run(&s->walk, tick, s);
    if (e == ECANCELED)
        return cmh__fail(ctx, CMH_E_CANCELED,
                         "canceled while listing %s; nothing was written, "
                         "run it again to finish", s->source);
    if (e) {
        const char *rel = s->walk.err_path ? s->walk.err_path : "";
        if (e == ENOMEM)
            return cmh__fail(ctx, CMH_E_NOMEM, "out of memory");
        return cmh__fail_errno(ctx, CMH_E_SOURCE, e,
                               "cannot list %s%s%s; check permissions and "
                               "that it still exists",
                               s->source, rel[0] ? "/" : "", rel);
    }
    if (s->walk.nlinks && !(s->o->flags & CMH_SNAPSHOT_SKIP_LINKS)) {
        /* quoted, the first few on the line, all in the detail */
        cmh_buf list;
        cmh__buf_init(&list);
        const char *p = cmh__buf_str(&s->walk.links);
        for (const char *q; *p; p = q + 1) {
            q = strchr(p, '\n');
            cmh__buf_addf(&list, "%s'%.*s'", list.len ? "\n" : "",
                         (int)(q - p), p);
        }
        char head[CMH_PATH_HEAD];
        snprintf(head, sizeof head, "%.900s holds %zu symbolic link(s), "
                 "which are not stored", s->source, s->walk.nlinks);
        cmh_status st = cmh__fail_list(
            ctx, CMH_E_SOURCE, head, cmh__buf_str(&list),
            s->strict_hash ? "a snapshot would refuse this folder; replace "
                             "them with real files"
                           : "replace them with real files or pass "
                             "--skip-links");
        cmh__buf_free(&list);
        return st;
    }
    return CMH_OK;
}

static void warn_skipped(snap *s)
{
    const char *p = cmh__buf_str(&s->walk.specials);
    for (const char *q; *p; p = q + 1) {
        q = strchr(p, '\n');
        s->walk.skipped++;
        if (s->o->warning) {
            char line[1024];
            snprintf(line, sizeof line,
                     "skipped %.*s in %s: not a regular file",
                     (int)(q - p), p, s->source);
            s->o->warning(line, s->o->payload);
        }
    }
    if (s->walk.nlinks && (s->o->flags & CMH_SNAPSHOT_SKIP_LINKS)) {
        p = cmh__buf_str(&s->walk.links);
        for (const char *q; *p; p = q + 1) {
            q = strchr(p, '\n');
            s->walk.skipped++;
            if (s->o->warning) {
                char line[1024];
                snprintf(line, sizeof line,
                         "skipped symbolic link %.*s in %s", (int)(q - p), p,
                         s->source);
                s->o->warning(line, s->o->payload);
            }
        }
    }
}

static cmh_status hash_files(snap *s)
{
    s->phase = "hash";
    size_t n = s->walk.nfiles;
    if (n) {
        s->fs = calloc(n, sizeof *s->fs);
        if (!s->fs)
            return cmh__fail(s->ctx, CMH_E_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        s->walk.files[i]->aux = &s->fs[i];
        if (cmh__pool_push(s->pool, file_task, s->walk.files[i], s)) {
            cmh__pool_cancel(s->pool);
            cmh__pool_wait(s->pool, 0.1, NULL, NULL);
            return cmh__fail(s->ctx, CMH_E_NOMEM, "out of memory");
        }
    }
    cmh__pool_wait(s->pool, 0.1, tick, s);
    if (s->wst != CMH_OK)
        return cmh__fail(s->ctx, s->wst, "%s", s->werr);
    if (cmh__pool_canceled(s->pool))
        return cmh__fail(s->ctx, CMH_E_CANCELED,
                         "canceled while reading %s; nothing was written, "
                         "run it again to finish", s->source);
    return CMH_OK;
}

static cmh_status check_source_dir(cmh_ctx *ctx, const char *src)
{
    struct stat sb;
    if (stat(src, &sb) != 0) {
        int e = errno;
        if (e == ENOENT)
            return cmh__fail(ctx, CMH_E_SOURCE,
                             "source %s does not exist; check the path (and "
                             "--unc-root for UNC paths)", src);
        return cmh__fail_errno(ctx, CMH_E_SOURCE, e,
                               "cannot access source %s", src);
    }
    if (!S_ISDIR(sb.st_mode))
        return cmh__fail(ctx, CMH_E_SOURCE,
                         "source %s is not a folder; give the package's "
                         "source folder", src);
    return CMH_OK;
}

static int barrier(snap *s)
{
    if (!s->do_fsync)
        return 0;
    return cmh__os_sync_fs(s->lib.root_fd);
}

static void content_ini(snap *s, cmh_buf *b, const char *hash,
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

static int node_sha_cmp(const void *a, const void *b)
{
    const cmh_node *x = *(cmh_node *const *)a, *y = *(cmh_node *const *)b;
    return memcmp(x->sha, y->sha, CMH_SHA256_LEN);
}

/* ENOSPC also means "no free inodes": then "free space" misleads an admin
 * who sees gigabytes free (issue 11, item 15). Reword the hint when the
 * library's filesystem has no inode left. */
static void inode_hint(cmh_ctx *ctx, int fd)
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

static cmh_status cancel_fail(snap *s)
{
    return cmh__fail(s->ctx, CMH_E_CANCELED,
                     "canceled before the commit point; %s is unchanged "
                     "(the previous version stays), run it again to finish",
                     s->cid);
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
static cmh_status check_shrink(snap *s, const cmh_pkg_info *cur)
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

cmh_status cmh_snapshot(cmh_ctx *ctx, const cmh_snapshot_opts *o,
                        cmh_snapshot_result *res)
{
    snap s;
    memset(&s, 0, sizeof s);
    memset(res, 0, sizeof *res);
    cmh_status st = CMH_OK;
    cmh_buf b;
    cmh__buf_init(&b);
    cmh_placement pl;
    cmh__placement_init(&pl);
    char content_tmp[64] = "";
    char pkgid[CMH_PKGID_SIZE];
    cmh__err_clear(ctx);
    s.ctx = ctx;
    s.o = o;
    s.mirror_fd = -1;
    s.t0 = cmh__now();
    s.phase = "scan";
    pthread_mutex_init(&s.mu, NULL);
    cmh__library_init(&s.lib);

    if (!o || (o->version != CMH_SNAPSHOT_OPTS_VERSION && o->version != 1) ||
        !o->source ||
        !o->lib) {
        st = cmh__fail(ctx, CMH_E_INVALID, "bad snapshot options");
        goto done;
    }
    if (!o->pkgid || cmh_pkgid_parse(pkgid, o->pkgid) != CMH_OK) {
        st = cmh__fail(ctx, CMH_E_INVALID,
                       "'%s' is not a package ID: expected a 3-character "
                       "site code and 5 hex digits, e.g. MSC0000B",
                       o->pkgid ? o->pkgid : "");
        goto done;
    }
    memcpy(res->pkgid, pkgid, sizeof pkgid);
    s.source = o->source;
    s.write = true;
    s.do_fsync = !(o->flags & CMH_SNAPSHOT_NO_FSYNC);
    if ((st = check_source_dir(ctx, o->source)) != CMH_OK)
        goto done;
    if ((st = cmh__library_open(ctx, &s.lib, o->lib, true)) != CMH_OK)
        goto done;
    pl.allow_foreign = o->flags & CMH_SNAPSHOT_ALLOW_FOREIGN;
    if (!pl.allow_foreign &&
        (st = cmh__library_refuse_foreign(ctx, &s.lib, "snapshot")) != CMH_OK)
        goto done;
    s.lib.no_wait = o->flags & CMH_SNAPSHOT_NO_WAIT; /* every lock (11.12) */
    /* a wait for another snapshot's lock is announced, not silent */
    st = cmh__library_lock_package(ctx, &s.lib, pkgid, false);
    if (st == CMH_E_BUSY && !(o->flags & CMH_SNAPSHOT_NO_WAIT)) {
        if (o->warning) {
            char line[160];
            snprintf(line, sizeof line, "package %s is locked by another "
                     "snapshot; waiting for it to finish (--no-wait fails "
                     "instead)", pkgid);
            o->warning(line, o->payload);
        }
        if (s.lib.pkg_lock_fd >= 0) /* the try's descriptor */
            close(s.lib.pkg_lock_fd);
        s.lib.pkg_lock_fd = -1;
        st = cmh__library_lock_package(ctx, &s.lib, pkgid, true);
    }
    if (st != CMH_OK)
        goto done;
    cmh_pkg_info cur;
    if ((st = cmh__pkglib_read(ctx, &s.lib, pkgid, &cur)) != CMH_OK)
        goto done;
    uint32_t n = cur.version + 1;
    if (cur.version == 0) /* no PkgLib INI: lost, or a first snapshot */
        n = highest_datalib_version(&s.lib, pkgid) + 1;
    if (o->new_version) {
        if (o->new_version <= cur.version) {
            st = cmh__fail(ctx, CMH_E_INVALID,
                           "--version %u is not above the current version "
                           "%u of %s; give a larger number or leave it out",
                           o->new_version, cur.version, pkgid);
            goto done;
        }
        n = o->new_version;
    }
    if (n > 999999999u) {
        st = cmh__fail(ctx, CMH_E_LIBRARY,
                       "%s has used every version number (the highest is "
                       "999999999); snapshot the source as a new package "
                       "ID, and retire %s in ConfigMgr", pkgid, pkgid);
        goto done;
    }
    snprintf(s.cid, sizeof s.cid, "%s.%u", pkgid, n);
    memcpy(res->content_id, s.cid, sizeof s.cid);
    res->version = n;
    res->previous_version = cur.version;

    unsigned threads = o->threads ? o->threads : cmh__online_cpus();
    if (cmh__pool_new(&s.pool, threads, worker_make, worker_free, &s)) {
        st = cmh__fail(ctx, CMH_E_NOMEM, "cannot start %u threads", threads);
        goto done;
    }
    s.walk.root_path = o->source;
    s.walk.pool = s.pool;
    if ((st = walk_source(&s)) != CMH_OK)
        goto done;
    if ((st = check_names(ctx, s.walk.root, s.cid, o->source, false)))
        goto done;
    cmh__buf_reset(&b);
    warn_skipped(&s);
    if ((st = check_shrink(&s, &cur)) != CMH_OK)
        goto done;
    /* Leftovers of crashed snapshots above the current version go before
     * anything of ours is placed: their references to files this version
     * may not have would otherwise dangle (library.h). Not fatal: at worst
     * they stay, as warnings for verify. */
    uint64_t stale_files = 0;
    if (cmh__retire_stale(ctx, &s.lib, pkgid, cur.version, s.do_fsync,
                         &stale_files) != CMH_OK) {
        if (o->warning) {
            char line[CMH_ERRMSG_SIZE + 64];
            snprintf(line, sizeof line, "cleaning up after a crashed "
                     "snapshot: %s", cmh__err_msg(ctx));
            o->warning(line, o->payload);
        }
        cmh__err_clear(ctx);
    }
    /* From here on we make temps. Temps of runs that died (kill -9, power
     * cut) are reclaimed: they would fill the disk. Not fatal. */
    if ((st = cmh__library_hold_run(ctx, &s.lib)) != CMH_OK)
        goto done;
    uint64_t reclaimed = 0;
    if (cmh__reclaim_dead_temps(ctx, &s.lib, &reclaimed) != CMH_OK) {
        if (cmh__err_msg(ctx)[0] && o->warning) {
            char line[CMH_ERRMSG_SIZE + 64];
            snprintf(line, sizeof line, "leftovers of dead runs not "
                     "removed: %s", cmh__err_msg(ctx));
            o->warning(line, o->payload);
        }
        cmh__err_clear(ctx);
    }

    /* temp mirror */
    snprintf(s.mirror_tmp, sizeof s.mirror_tmp, CMH_TMP_PREFIX "%s-%s",
             cmh__tmp_token(), s.cid);
    if (mkdirat(s.lib.datalib_fd, s.mirror_tmp, 0755) != 0) {
        int e = errno;
        s.mirror_tmp[0] = 0;
        st = cmh__fail_errno(ctx, cmh__status_for_write_errno(e), e,
                             "cannot write in %s/DataLib", s.lib.path);
        goto done;
    }
    int oe = cmh__os_open_dir(s.lib.datalib_fd, s.mirror_tmp, &s.mirror_fd);
    if (oe) {
        int e = oe; /* remove_temps() deletes the folder */
        st = cmh__fail_errno(ctx, cmh__status_for_write_errno(e), e,
                             "cannot write in %s/DataLib", s.lib.path);
        goto done;
    }
    int e = make_mirror_dirs(&s, s.walk.root, "");
    if (e) {
        st = cmh__fail(ctx, cmh__status_for_write_errno(e),
                       "cannot write in %s/DataLib: %s; %s", s.lib.path,
                       strerror(e), cmh__write_hint(e));
        goto done;
    }
    if ((st = hash_files(&s)) != CMH_OK)
        goto done;
    cmh__pause_point("snapshot-hashed");

    uint8_t ch[CMH_SHA256_LEN], sh[CMH_SHA256_LEN];
    if (cmh__tree_hash(s.walk.root, false, ctx->sha256, ch) ||
        cmh__tree_hash(s.walk.root, true, ctx->sha256, sh)) {
        st = cmh__fail(ctx, CMH_E_NOMEM, "out of memory");
        goto done;
    }
    cmh_hex_upper(ch, sizeof ch, res->content_hash);
    cmh_hex_upper(sh, sizeof sh, res->signature_hash);
    res->files = s.walk.nfiles;
    res->folders = s.walk.ndirs;
    res->bytes = s.walk.total_bytes;
    res->skipped = s.walk.skipped;
    if (canceled(&s)) {
        st = cancel_fail(&s);
        goto done;
    }

    if ((o->flags & CMH_SNAPSHOT_IF_CHANGED) && cur.version &&
        !strcmp(cur.hash, res->content_hash)) {
        res->unchanged = 1;
        res->version = cur.version;
        snprintf(res->content_id, sizeof res->content_id, "%s.%u", pkgid,
                 cur.version);
        /* Nothing new is written, but a retirement an earlier run could not
         * finish (I/O error, crash) is finished now. */
        uint64_t retired = 0;
        if (cmh__retire_package(ctx, &s.lib, pkgid, res->content_id,
                               s.do_fsync, &retired) != CMH_OK &&
            o->warning) {
            char line[CMH_ERRMSG_SIZE + 64];
            snprintf(line, sizeof line, "retiring old versions: %s",
                     cmh__err_msg(ctx));
            o->warning(line, o->payload);
            cmh__err_clear(ctx);
        }
        res->retired_files = retired;
        goto done; /* temps are removed below */
    }

    /* content INI temp */
    content_ini(&s, &b, res->content_hash, res->signature_hash);
    cmh__tmp_name(content_tmp, sizeof content_tmp, ".INI");
    if (b.oom || (e = cmh__write_new(s.lib.datalib_fd, content_tmp, b.data,
                                    b.len, false)) != 0) {
        if (b.oom)
            e = ENOMEM;
        content_tmp[0] = 0;
        st = cmh__fail(ctx, cmh__status_for_write_errno(e),
                       "cannot write in %s/DataLib: %s; %s", s.lib.path,
                       strerror(e), cmh__write_hint(e));
        goto done;
    }
    cmh__crash_point("temps");
    s.phase = "commit"; /* shown ("committing ...") by the next tick */
    if (canceled(&s)) {
        st = cancel_fail(&s);
        goto done;
    }
    if ((e = barrier(&s)) != 0) {
        st = cmh__fail(ctx, CMH_E_IO,
                       "cannot flush %s to disk: %s; %s", s.lib.path,
                       strerror(e), cmh__write_hint(e));
        goto done;
    }

    /* distinct hashes -> placements (FileLib under the library lock) */
    cmh_node **byhash = NULL;
    if (s.walk.nfiles) {
        byhash = malloc(s.walk.nfiles * sizeof *byhash);
        if (!byhash) {
            st = cmh__fail(ctx, CMH_E_NOMEM, "out of memory");
            goto done;
        }
        memcpy(byhash, s.walk.files, s.walk.nfiles * sizeof *byhash);
        qsort(byhash, s.walk.nfiles, sizeof *byhash, node_sha_cmp);
    }
    for (size_t i = 0; i < s.walk.nfiles; i++) {
        cmh_node *nd = byhash[i];
        file_state *fs = nd->aux;
        if (i > 0 && !memcmp(byhash[i - 1]->sha, nd->sha, CMH_SHA256_LEN))
            continue; /* same bytes elsewhere in this package */
        if (!cmh__placement_add(&pl, nd->sha, nd->size, fs->tmp, fs->sigtmp)) {
            free(byhash);
            st = cmh__fail(ctx, CMH_E_NOMEM, "out of memory");
            goto done;
        }
        pl.v[pl.n - 1].replace = fs->replace;
        fs->tmp[0] = fs->sigtmp[0] = 0; /* now owned by the placement */
    }
    free(byhash);
    /* Unused temps of in-package duplicates go now. */
    for (size_t i = 0; s.fs && i < s.walk.nfiles; i++) {
        if (s.fs[i].tmp[0])
            unlinkat(s.lib.filelib_fd, s.fs[i].tmp, 0);
        if (s.fs[i].sigtmp[0])
            unlinkat(s.lib.filelib_fd, s.fs[i].sigtmp, 0);
        s.fs[i].tmp[0] = s.fs[i].sigtmp[0] = 0;
    }
    if ((st = cmh__placement_commit(ctx, &s.lib, &pl, s.cid, s.do_fsync,
                                   s.pool, canceled_cb, &s)) != CMH_OK)
        goto done;
    res->new_files = pl.new_files;
    res->new_bytes = pl.new_bytes;
    res->present_files = pl.n - pl.new_files;

    /* mirror and content INI into place */
    close(s.mirror_fd);
    s.mirror_fd = -1;
    if ((st = cmh__datalib_install(ctx, &s.lib, s.cid, s.mirror_tmp,
                                  content_tmp)) != CMH_OK) {
        cmh__placement_rollback(&s.lib, &pl, s.cid);
        goto done;
    }
    s.mirror_tmp[0] = 0;
    content_tmp[0] = 0;
    if ((e = barrier(&s)) != 0 || canceled(&s)) {
        cmh__datalib_uninstall(&s.lib, s.cid);
        cmh__placement_rollback(&s.lib, &pl, s.cid);
        st = e ? cmh__fail(ctx, CMH_E_IO, "cannot flush %s to disk: %s; %s",
                           s.lib.path, strerror(e), cmh__write_hint(e))
               : cancel_fail(&s);
        goto done;
    }
    /* --keep: the newest previous complete versions stay, listed in the
     * new PkgLib INI so retirement, verify and gc leave them alone */
    char(*keep)[CMH_CID_SIZE] = NULL;
    size_t nkeep = 0;
    if (o->version >= 2 && o->keep &&
        (st = cmh__keep_select(ctx, &s.lib, pkgid, n, o->keep, &keep,
                              &nkeep)) != CMH_OK) {
        cmh__datalib_uninstall(&s.lib, s.cid);
        cmh__placement_rollback(&s.lib, &pl, s.cid);
        goto done;
    }
    /* the last moment a cancellation undoes the run */
    if (canceled(&s)) {
        free(keep);
        cmh__datalib_uninstall(&s.lib, s.cid);
        cmh__placement_rollback(&s.lib, &pl, s.cid);
        st = cancel_fail(&s);
        goto done;
    }
    /* the commit point */
    cmh__crash_point("commit");
    st = cmh__pkglib_write_keep(ctx, &s.lib, pkgid, n,
                               (const char(*)[CMH_CID_SIZE])keep, nkeep,
                               s.do_fsync);
    free(keep);
    bool flushed = true;
    if (st != CMH_OK) {
        /* The write can fail after its rename (the folder's fsync): then
         * the new version is what PkgLib shows, and undoing the content it
         * points at would break the package. Look before rolling back. */
        cmh_pkg_info now;
        cmh_err_saved err;
        cmh__err_capture(ctx, &err);
        if (cmh__pkglib_read(ctx, &s.lib, pkgid, &now) == CMH_OK &&
            !strcmp(now.cid, s.cid)) {
            flushed = false;
            st = CMH_OK;
            if (o->warning) {
                char line[2 * CMH_ERRMSG_SIZE + 256];
                snprintf(line, sizeof line,
                         "%s is committed but may not survive a power loss "
                         "(%s); older versions are kept until the next "
                         "snapshot", s.cid, err.msg);
                o->warning(line, o->payload);
            }
            cmh__err_discard(&err);
            cmh__err_clear(ctx);
        } else {
            cmh__err_restore(ctx, &err);
            cmh__datalib_uninstall(&s.lib, s.cid);
            cmh__placement_rollback(&s.lib, &pl, s.cid);
            goto done;
        }
    }
    cmh__crash_point("committed");
    cmh__pause_point("snapshot-committed");
    /* Retire older versions. The new version is committed: a failure here
     * leaves old entries behind (verify: ORPHAN_CONTENT; the next snapshot
     * or gc removes them), it does not fail the snapshot. Not when the
     * commit may not be durable: after a power loss PkgLib could show the
     * old version again, which must then still be there. */
    s.phase = "retire";
    (void)canceled(&s); /* shows the phase; too late to cancel */
    uint64_t retired = 0;
    if (flushed &&
        cmh__retire_package(ctx, &s.lib, pkgid, s.cid, s.do_fsync,
                           &retired) != CMH_OK &&
        o->warning) {
        char line[CMH_ERRMSG_SIZE + 64];
        snprintf(line, sizeof line, "retiring old versions: %s",
                 cmh__err_msg(ctx));
        o->warning(line, o->payload);
        cmh__err_clear(ctx);
    }
    res->retired_files = retired;

done:
    if (st == CMH_E_IO)
        inode_hint(ctx, s.lib.root_fd);
    if (content_tmp[0])
        unlinkat(s.lib.datalib_fd, content_tmp, 0);
    remove_temps(&s);
    cmh__placement_free(&s.lib, &pl);
    if (s.write && (st != CMH_OK || res->unchanged))
        remove_made_h4(&s);
    cmh__pool_free(s.pool);
    cmh__walk_free(&s.walk);
    free(s.fs);
    cmh__library_close(&s.lib);
    cmh__buf_free(&b);
    pthread_mutex_destroy(&s.mu);
    res->seconds = cmh__now() - s.t0;
    return st;
}

/* ---- hash-only helpers ---- */

static cmh_status hash_dir_tree(cmh_ctx *ctx, const char *path,
                                cmh_node **out, bool strict);

cmh_status cmh_hash_dir(cmh_ctx *ctx, const char *path,
                        char out[CMH_HEX_SIZE])
{
    cmh_node *root = NULL;
    cmh_status st = hash_dir_tree(ctx, path, &root, true);
    if (st == CMH_OK) {
        uint8_t h[CMH_SHA256_LEN];
        if (cmh__tree_hash(root, false, ctx->sha256, h))
            st = cmh__fail(ctx, CMH_E_NOMEM, "out of memory");
        else
            cmh_hex_upper(h, sizeof h, out);
    }
    cmh__node_free(root);
    return st;
}

cmh_status cmh__hash_dir_tree(cmh_ctx *ctx, const char *path, cmh_node **out)
{
    return hash_dir_tree(ctx, path, out, false);
}

/* strict: what a snapshot would refuse is refused (symbolic links, names
 * Windows cannot hold), so `hash` never prints a hash for a folder that
 * cannot become a content. */
static cmh_status hash_dir_tree(cmh_ctx *ctx, const char *path,
                                cmh_node **out, bool strict)
{
    *out = NULL;
    snap s;
    memset(&s, 0, sizeof s);
    cmh_snapshot_opts o = CMH_SNAPSHOT_OPTS_INIT;
    o.source = path;
    o.flags = strict ? 0 : CMH_SNAPSHOT_SKIP_LINKS;
    s.strict_hash = strict;
    s.ctx = ctx;
    s.o = &o;
    s.source = path;
    s.mirror_fd = -1;
    s.t0 = cmh__now();
    s.phase = "scan";
    cmh__err_clear(ctx);
    pthread_mutex_init(&s.mu, NULL);
    cmh__library_init(&s.lib);
    cmh_status st = check_source_dir(ctx, path);
    if (st)
        goto done;
    if (cmh__pool_new(&s.pool, cmh__online_cpus(), worker_make, worker_free,
                     &s)) {
        st = cmh__fail(ctx, CMH_E_NOMEM, "cannot start threads");
        goto done;
    }
    s.walk.root_path = path;
    s.walk.pool = s.pool;
    s.walk.skip_links = !strict;
    if ((st = walk_source(&s)) != CMH_OK)
        goto done;
    /* the longest content ID of a package sizes the mirror paths */
    if (strict && (st = check_names(ctx, s.walk.root, "XXX00000.999999999",
                                    path, true)) != CMH_OK)
        goto done;
    if ((st = hash_files(&s)) != CMH_OK)
        goto done;
    *out = s.walk.root;
    s.walk.root = NULL;
done:
    cmh__pool_free(s.pool);
    cmh__walk_free(&s.walk);
    free(s.fs);
    pthread_mutex_destroy(&s.mu);
    return st;
}

cmh_status cmh_hash_file(cmh_ctx *ctx, const char *path,
                         char out[CMH_HEX_SIZE])
{
    cmh__err_clear(ctx);
    cmh_worker *w = cmh__worker_new(ctx->sha256);
    if (!w)
        return cmh__fail(ctx, CMH_E_NOMEM, "out of memory");
    const char *slash = strrchr(path, '/');
    cmh_stream_res r;
    int e = cmh__stream_file(w, path, slash ? slash + 1 : path, UINT64_MAX,
                            INT64_MIN, NULL, &r, NULL, NULL);
    cmh__worker_free(w);
    if (e) {
        if (r.changed && e == ESTALE)
            return cmh__fail(ctx, CMH_E_SOURCE,
                             "%s is not a regular file or changed while it "
                             "was read", path);
        return cmh__fail_errno(ctx, e == ENOENT || e == EACCES
                                        ? CMH_E_SOURCE
                                        : CMH_E_IO,
                               e, "cannot read %s", path);
    }
    cmh_hex_upper(r.sha, CMH_SHA256_LEN, out);
    return CMH_OK;
}

cmh_status cmh_sig_file(cmh_ctx *ctx, const char *path, const char *out_path)
{
    cmh__err_clear(ctx);
    cmh_worker *w = cmh__worker_new(ctx->sha256);
    if (!w)
        return cmh__fail(ctx, CMH_E_NOMEM, "out of memory");
    char *dir = cmh__strdup(out_path);
    if (!dir) {
        cmh__worker_free(w);
        return cmh__fail(ctx, CMH_E_NOMEM, "out of memory");
    }
    char *slash = strrchr(dir, '/');
    const char *base = out_path;
    if (slash) {
        *slash = 0;
        base = out_path + (slash - dir) + 1;
    }
    int dfd = -1;
    cmh_status st = CMH_OK;
    char tmp[64] = "";
    int e = cmh__os_open_dir(AT_FDCWD, slash ? (dir[0] ? dir : "/") : ".",
                            &dfd);
    if (e) {
        st = cmh__fail_errno(ctx, CMH_E_IO, e, "cannot open folder of %s",
                             out_path);
        goto out;
    }
    cmh__tmp_name(tmp, sizeof tmp, NULL);
    int fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        tmp[0] = 0;
        st = cmh__fail_errno(ctx, CMH_E_IO, errno, "cannot write %s",
                             out_path);
        goto out;
    }
    cmh_stream_out so = {.data_fd = -1, .sig_fd = fd};
    cmh_stream_res r;
    const char *ps = strrchr(path, '/');
    e = cmh__stream_file(w, path, ps ? ps + 1 : path, UINT64_MAX, INT64_MIN,
                        &so, &r, NULL, NULL);
    if (close(fd) != 0 && !e)
        e = errno;
    if (e) {
        st = cmh__fail_errno(ctx, r.write_err ? CMH_E_IO : CMH_E_SOURCE, e,
                             "cannot sign %s", path);
        goto out;
    }
    if (renameat(dfd, tmp, dfd, base) != 0) {
        st = cmh__fail_errno(ctx, CMH_E_IO, errno, "cannot write %s",
                             out_path);
        goto out;
    }
    tmp[0] = 0;
out:
    if (tmp[0])
        unlinkat(dfd, tmp, 0);
    if (dfd >= 0)
        close(dfd);
    free(dir);
    cmh__worker_free(w);
    return st;
}
