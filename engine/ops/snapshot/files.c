/* cmh_snapshot's hash step, per file (snap.h): every file streamed once
 * into SHA-256 + signature + a FileLib temp (or, for a small file, a temp
 * in its FileLib/<H4> folder once its hash is known, or a pin of the entry
 * FileLib already holds), and its mirror INI into the temp mirror. */
#include "snap.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "os/os.h"

void *cmh__snap_worker_make(void *arg)
{
    snap *s = arg;
    cmh_worker *w = cmh__worker_new(s->ctx->sha256);
    /* A large file uses the run's other threads for its signature and
     * copy (stream_par.c). */
    unsigned t = s->o && s->o->threads ? s->o->threads : cmh__online_cpus();
    if (w && t > 1)
        w->sig_helpers = t - 1;
    return w;
}

void cmh__snap_worker_free(void *st)
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
    cmh_hex_upper(hex, n->sha, CMH_SHA256_LEN);
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

/* A worker's failure to write in the library's FileLib or DataLib. */
static void write_failed(snap *s, int e, const char *where)
{
    worker_fail(s, cmh__status_for_write_errno(e),
                "cannot write in %s/%s: %s; %s", s->lib.path, where,
                strerror(e), cmh__write_hint(e));
}

/* A new temp "<temp><suffix>" at the FileLib root, its name in @p name
 * ("" and -1 with errno on failure). */
static int open_temp(snap *s, char name[64], const char *suffix)
{
    int fd;
    do { /* EEXIST: a leftover holds the name, take another */
        cmh__tmp_name(name, 64, suffix);
        fd = openat(s->lib.filelib_fd, name, O_WRONLY | O_CREAT | O_EXCL |
                                                 O_CLOEXEC | O_NOFOLLOW,
                    0644);
    } while (fd < 0 && errno == EEXIST);
    if (fd < 0)
        name[0] = 0;
    return fd;
}

/* A small file's bytes and signature are kept in the worker's buffers. */
static void small_hooks(cmh_worker *w, cmh_stream_hooks *hooks)
{
    if (w->copy.oom)
        cmh__buf_free(&w->copy);
    if (w->sigcopy.oom)
        cmh__buf_free(&w->sigcopy);
    cmh__buf_reset(&w->copy);
    cmh__buf_reset(&w->sigcopy);
    hooks->data_sink = copy_sink;
    hooks->data_payload = &w->copy;
    hooks->sig_sink = sigcopy_sink;
    hooks->sig_payload = &w->sigcopy;
}

/* Stream @p path into its hashes and, for a large file, the two temps
 * (closed here either way). Returns 0 or an errno, @p r says which side. */
static int stream_file(snap *s, cmh_worker *w, const cmh_node *n,
                       const char *path, int data_fd, int sig_fd,
                       cmh_stream_res *r)
{
    cmh_stream_out so = {.data_fd = data_fd, .sig_fd = sig_fd};
    cmh_stream_hooks hooks = {0};
    bool small = data_fd < 0;
    if (small)
        small_hooks(w, &hooks);
    int e = cmh__stream_fileat(w, AT_FDCWD, path, n->name, n->size,
                              n->mtime_ns, &so, small ? &hooks : NULL, r,
                              &s->bytes_done, cmh__pool_cancel_flag(s->pool));
    if (e == 0 && data_fd >= 0 && close(data_fd) != 0) {
        e = errno;
        r->write_err = true;
    }
    if (e == 0 && sig_fd >= 0 && close(sig_fd) != 0) {
        e = errno;
        r->write_err = true;
    }
    /* on an error the descriptors are closed without a check */
    if (e && data_fd >= 0)
        close(data_fd);
    if (e && sig_fd >= 0)
        close(sig_fd);
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
    bool small = n->size <= SMALL_FILE;
    if (!small && ((data_fd = open_temp(s, fs->tmp, NULL)) < 0 ||
                   (sig_fd = open_temp(s, fs->sigtmp, ".SIG")) < 0)) {
        write_failed(s, errno, "FileLib");
        goto out;
    }
    cmh_stream_res r;
    int e = stream_file(s, w, n, path, data_fd, sig_fd, &r);
    data_fd = sig_fd = -1;
    if (e) {
        if (e == ECANCELED)
            goto out;
        char msg[CMH_ERRMSG_SIZE];
        cmh_status rst = cmh__scan_read_error(e, &r, path, s->lib.path, msg,
                                              sizeof msg);
        worker_fail(s, rst, "%s", msg);
        goto out;
    }
    n->attrs = r.attrs;
    memcpy(n->sha, r.sha, sizeof n->sha);
    memcpy(n->sig_sha, r.sig_sha, sizeof n->sig_sha);
    if (small && (e = place_small(s, w, fs, n)) != 0) {
        write_failed(s, e, "FileLib");
        goto out;
    }
    if (!small)
        pin_existing(s, w, fs, n);
    if ((e = write_mirror_ini(s, w, n, rel)) != 0) {
        write_failed(s, e, "DataLib");
        goto out;
    }
    atomic_fetch_add(&s->files_done, 1);
    cmh__crash_point("file");
out:
    if (data_fd >= 0)
        close(data_fd);
    free(rel);
    free(path);
}

/* After a failed (or unchanged) run, once every temp is gone: remove the
 * FileLib/<H4> folders this run created, when they are still empty. */
void cmh__snap_remove_made_h4(snap *s)
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
void cmh__snap_remove_temps(snap *s)
{
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

int cmh__snap_make_mirror_dirs(snap *s, const cmh_node *d, const char *rel)
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
            e = cmh__snap_make_mirror_dirs(s, d->dirs[i], sub);
        free(sub);
        if (e)
            return e;
    }
    return 0;
}


cmh_status cmh__snap_hash_files(snap *s)
{
    s->phase = "hash";
    size_t n = s->walk.nfiles;
    if (n) {
        s->fs = calloc(n, sizeof *s->fs);
        if (!s->fs)
            return cmh__fail(s->ctx, CMH_E_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++)
        s->walk.files[i]->aux = &s->fs[i];
    return cmh__scan_run(s->ctx, s->pool, &s->walk, file_task, s,
                         cmh__snap_tick, &s->wst, s->werr, s->source);
}
