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
 * retirement and succeeds (issue 11, item 1).
 *
 * cmh_snapshot below reads as these steps; each is a static function on
 * the run's state (snap.h). The crash and pause points (internal.h) sit
 * where they did in the order of effects: "file" (files.c), "temps",
 * "commit", "committed". */
#include "snap.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "os/os.h"

int cmh__snap_tick(void *arg)
{
    snap *s = arg;
    if (!s->o || !s->o->progress.cb)
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
    return s->o->progress.cb(&p, s->o->progress.payload);
}

/* Has the caller asked to stop? Asked on the caller's thread between the
 * steps of the commit phase (the progress callback is the channel). */
static bool canceled(snap *s)
{
    return s->o && s->o->progress.cb && cmh__snap_tick(s) != 0;
}

static int canceled_cb(void *arg)
{
    return canceled(arg);
}

static cmh_status cancel_fail(snap *s)
{
    return cmh__fail(s->ctx, CMH_E_CANCELED,
                     "canceled before the commit point; %s is unchanged "
                     "(the previous version stays), run it again to finish",
                     s->cid);
}

static int barrier(snap *s)
{
    if (!s->do_fsync)
        return 0;
    return cmh__os_sync_fs(s->lib.root_fd);
}

static cmh_status flush_fail(snap *s, int e)
{
    return cmh__fail(s->ctx, CMH_E_IO, "cannot flush %s to disk: %s; %s",
                     s->lib.path, strerror(e), cmh__write_hint(e));
}

static cmh_status write_fail(snap *s, int e, const char *where)
{
    return cmh__fail(s->ctx, cmh__status_for_write_errno(e),
                     "cannot write in %s/%s: %s; %s", s->lib.path, where,
                     strerror(e), cmh__write_hint(e));
}

/* Pass @p what's failure (ctx's message) to the warning callback and go on
 * (the step is not fatal). */
static void warn_and_clear(snap *s, const char *what)
{
    if (s->o->warning.cb) {
        char line[CMH_ERRMSG_SIZE + 64];
        snprintf(line, sizeof line, "%s: %s", what, cmh__err_msg(s->ctx));
        s->o->warning.cb(line, s->o->warning.payload);
    }
    cmh__err_clear(s->ctx);
}

static void begin(snap *s, cmh_ctx *ctx, const cmh_snapshot_opts *o,
                  cmh_snapshot_result *res)
{
    memset(s, 0, sizeof *s);
    memset(res, 0, sizeof *res);
    cmh__placement_init(&s->pl);
    cmh__err_clear(ctx);
    s->ctx = ctx;
    s->o = o;
    s->res = res;
    s->mirror_fd = -1;
    s->t0 = cmh__now();
    s->phase = "scan";
    pthread_mutex_init(&s->mu, NULL);
    cmh__library_init(&s->lib);
}

/* The options, the package ID and the source folder. */
static cmh_status validate(snap *s)
{
    const cmh_snapshot_opts *o = s->o;
    cmh_status st =
        CMH__OPTS_CHECK(s->ctx, o, CMH_SNAPSHOT_OPTS_VERSION, "snapshot");
    if (st)
        return st;
    if (!o->source || !o->lib)
        return cmh__fail(s->ctx, CMH_E_INVALID,
                         "cmh_snapshot: opts.lib and opts.source are required");
    if (!o->pkgid || cmh_pkgid_parse(s->pkgid, o->pkgid) != CMH_OK)
        return cmh__fail(s->ctx, CMH_E_INVALID,
                         "'%s' is not a package ID: expected a 3-character "
                         "site code and 5 hex digits, e.g. MSC0000B",
                         o->pkgid ? o->pkgid : "");
    memcpy(s->res->pkgid, s->pkgid, sizeof s->pkgid);
    s->source = o->source;
    s->do_fsync = !(o->flags & CMH_SNAPSHOT_NO_FSYNC);
    return cmh__scan_check_source(s->ctx, o->source);
}

/* Step 1: the library, then the package lock. */
static cmh_status open_and_lock(snap *s)
{
    cmh_ctx *ctx = s->ctx;
    const cmh_snapshot_opts *o = s->o;
    cmh_status st = cmh__library_open(ctx, &s->lib, o->lib, true);
    if (st != CMH_OK)
        return st;
    s->pl.allow_foreign = o->flags & CMH_SNAPSHOT_ALLOW_FOREIGN;
    if (!s->pl.allow_foreign &&
        (st = cmh__library_refuse_foreign(ctx, &s->lib, "snapshot")) != CMH_OK)
        return st;
    s->lib.no_wait = o->flags & CMH_SNAPSHOT_NO_WAIT; /* every lock (11.12) */
    /* a wait for another snapshot's lock is announced, not silent */
    st = cmh__library_lock_package(ctx, &s->lib, s->pkgid, false);
    if (st == CMH_E_BUSY && !(o->flags & CMH_SNAPSHOT_NO_WAIT)) {
        if (o->warning.cb) {
            char line[160];
            snprintf(line, sizeof line, "package %s is locked by another "
                     "snapshot; waiting for it to finish (--no-wait fails "
                     "instead)", s->pkgid);
            o->warning.cb(line, o->warning.payload);
        }
        if (s->lib.pkg_lock_fd >= 0) /* the try's descriptor */
            close(s->lib.pkg_lock_fd);
        s->lib.pkg_lock_fd = -1;
        st = cmh__library_lock_package(ctx, &s->lib, s->pkgid, true);
    }
    return st;
}

/* The new version's number and content ID. */
static cmh_status pick_version(snap *s)
{
    cmh_ctx *ctx = s->ctx;
    cmh_status st = cmh__pkglib_read(ctx, &s->lib, s->pkgid, &s->cur);
    if (st != CMH_OK)
        return st;
    uint32_t n = s->cur.version + 1;
    if (s->cur.version == 0) /* no PkgLib INI: lost, or a first snapshot */
        n = cmh__snap_highest_datalib_version(&s->lib, s->pkgid) + 1;
    if (s->o->new_version) {
        if (s->o->new_version <= s->cur.version)
            return cmh__fail(ctx, CMH_E_INVALID,
                             "--version %u is not above the current "
                             "version %u of %s; give a larger number or "
                             "leave it out",
                             s->o->new_version, s->cur.version, s->pkgid);
        n = s->o->new_version;
    }
    if (n > 999999999u)
        return cmh__fail(ctx, CMH_E_LIBRARY,
                         "%s has used every version number (the highest is "
                         "999999999); snapshot the source as a new package "
                         "ID, and retire %s in ConfigMgr", s->pkgid,
                         s->pkgid);
    s->version = n;
    snprintf(s->cid, sizeof s->cid, "%s.%u", s->pkgid, n);
    memcpy(s->res->content_id, s->cid, sizeof s->cid);
    s->res->version = n;
    s->res->previous_version = s->cur.version;
    return CMH_OK;
}

/* Step 2: the parallel walk, name checks, the shrink guard. */
static cmh_status walk_source(snap *s)
{
    const cmh_snapshot_opts *o = s->o;
    unsigned threads = o->threads ? o->threads : cmh__online_cpus();
    if (cmh__pool_new(&s->pool, threads, cmh__snap_worker_make,
                     cmh__snap_worker_free, s))
        return cmh__fail(s->ctx, CMH_E_NOMEM, "cannot start %u threads",
                         threads);
    s->walk.root_path = o->source;
    s->walk.pool = s->pool;
    s->phase = "scan";
    cmh_status st = cmh__scan_walk(s->ctx, &s->walk, s->source,
                                   o->flags & CMH_SNAPSHOT_SKIP_LINKS, false,
                                   cmh__snap_tick, s);
    if (st != CMH_OK)
        return st;
    if ((st = cmh__scan_check_names(s->ctx, s->walk.root, s->cid, o->source,
                                    false)))
        return st;
    cmh__snap_warn_skipped(s);
    return cmh__snap_check_shrink(s, &s->cur);
}

/* Leftovers of crashed snapshots above the current version go before
 * anything of ours is placed: their references to files this version
 * may not have would otherwise dangle (library.h). Not fatal: at worst
 * they stay, as warnings for verify. */
static cmh_status clean_leftovers(snap *s)
{
    cmh_ctx *ctx = s->ctx;
    uint64_t stale_files = 0;
    if (cmh__retire_stale(ctx, &s->lib, s->pkgid, s->cur.version, s->do_fsync,
                         &stale_files) != CMH_OK)
        warn_and_clear(s, "cleaning up after a crashed snapshot");
    /* From here on we make temps. Temps of runs that died (kill -9, power
     * cut) are reclaimed: they would fill the disk. Not fatal. */
    cmh_status st = cmh__library_hold_run(ctx, &s->lib);
    if (st != CMH_OK)
        return st;
    uint64_t reclaimed = 0;
    if (cmh__reclaim_dead_temps(ctx, &s->lib, &reclaimed) != CMH_OK) {
        if (cmh__err_msg(ctx)[0])
            warn_and_clear(s, "leftovers of dead runs not removed");
        cmh__err_clear(ctx);
    }
    return CMH_OK;
}

/* Step 3: every file into SHA-256 + signature + a FileLib temp, its
 * mirror INI into a temp mirror; then the content's two hashes. */
static cmh_status hash_into_temps(snap *s)
{
    cmh_ctx *ctx = s->ctx;
    snprintf(s->mirror_tmp, sizeof s->mirror_tmp, CMH_TMP_PREFIX "%s-%s",
             cmh__tmp_token(), s->cid);
    if (mkdirat(s->lib.datalib_fd, s->mirror_tmp, 0755) != 0) {
        int e = errno;
        s->mirror_tmp[0] = 0;
        return cmh__fail_errno(ctx, cmh__status_for_write_errno(e), e,
                               "cannot write in %s/DataLib", s->lib.path);
    }
    int e = cmh__os_open_dir(s->lib.datalib_fd, s->mirror_tmp, &s->mirror_fd);
    if (e) /* cmh__snap_remove_temps() deletes the folder */
        return cmh__fail_errno(ctx, cmh__status_for_write_errno(e), e,
                               "cannot write in %s/DataLib", s->lib.path);
    if ((e = cmh__snap_make_mirror_dirs(s, s->walk.root, "")) != 0)
        return write_fail(s, e, "DataLib");
    cmh_status st = cmh__snap_hash_files(s);
    if (st != CMH_OK)
        return st;
    cmh__pause_point("snapshot-hashed");

    cmh_snapshot_result *res = s->res;
    uint8_t ch[CMH_SHA256_LEN], sh[CMH_SHA256_LEN];
    if (cmh__tree_hash(s->walk.root, false, ctx->sha256, ch) ||
        cmh__tree_hash(s->walk.root, true, ctx->sha256, sh))
        return cmh__fail(ctx, CMH_E_NOMEM, "out of memory");
    cmh_hex_upper(res->content_hash, ch, sizeof ch);
    cmh_hex_upper(res->signature_hash, sh, sizeof sh);
    res->files = s->walk.nfiles;
    res->folders = s->walk.ndirs;
    res->bytes = s->walk.total_bytes;
    res->skipped = s->walk.skipped;
    return canceled(s) ? cancel_fail(s) : CMH_OK;
}

/* --if-changed and the same content: nothing new is written (the temps
 * are removed by finish), but a retirement an earlier run could not
 * finish (I/O error, crash) is finished now. True when so. */
static bool keep_unchanged(snap *s)
{
    cmh_snapshot_result *res = s->res;
    if (!(s->o->flags & CMH_SNAPSHOT_IF_CHANGED) || !s->cur.version ||
        strcmp(s->cur.hash, res->content_hash))
        return false;
    res->unchanged = 1;
    res->version = s->cur.version;
    snprintf(res->content_id, sizeof res->content_id, "%s.%u", s->pkgid,
             s->cur.version);
    uint64_t retired = 0;
    if (cmh__retire_package(s->ctx, &s->lib, s->pkgid, res->content_id,
                            s->do_fsync, &retired) != CMH_OK &&
        s->o->warning.cb)
        warn_and_clear(s, "retiring old versions");
    res->retired_files = retired;
    return true;
}

/* Step 4: the content INI temp; barrier 1 (temps durable). */
static cmh_status write_content_temp(snap *s)
{
    cmh_buf b;
    cmh__buf_init(&b);
    cmh__snap_content_ini(s, &b, s->res->content_hash,
                          s->res->signature_hash);
    cmh__tmp_name(s->content_tmp, sizeof s->content_tmp, ".INI");
    int e = b.oom ? ENOMEM
                  : cmh__write_new(s->lib.datalib_fd, s->content_tmp, b.data,
                                  b.len, false);
    cmh__buf_free(&b);
    if (e) {
        s->content_tmp[0] = 0;
        return write_fail(s, e, "DataLib");
    }
    cmh__crash_point("temps");
    s->phase = "commit"; /* shown ("committing ...") by the next tick */
    if (canceled(s))
        return cancel_fail(s);
    if ((e = barrier(s)) != 0)
        return flush_fail(s, e);
    return CMH_OK;
}

static int node_sha_cmp(const void *a, const void *b)
{
    const cmh_node *x = *(cmh_node *const *)a, *y = *(cmh_node *const *)b;
    return memcmp(x->sha, y->sha, CMH_SHA256_LEN);
}

/* Step 5: distinct hashes -> placements (FileLib under the library lock:
 * reference INI temps, barrier, then renames of data, signatures and
 * INIs). From here on a failure undoes what is placed. */
static cmh_status place_filelib(snap *s)
{
    cmh_node **byhash = NULL;
    size_t nfiles = s->walk.nfiles;
    if (nfiles) {
        byhash = malloc(nfiles * sizeof *byhash);
        if (!byhash)
            return cmh__fail(s->ctx, CMH_E_NOMEM, "out of memory");
        memcpy(byhash, s->walk.files, nfiles * sizeof *byhash);
        qsort(byhash, nfiles, sizeof *byhash, node_sha_cmp);
    }
    for (size_t i = 0; i < nfiles; i++) {
        cmh_node *nd = byhash[i];
        file_state *fs = nd->aux;
        if (i > 0 && !memcmp(byhash[i - 1]->sha, nd->sha, CMH_SHA256_LEN))
            continue; /* same bytes elsewhere in this package */
        if (!cmh__placement_add(&s->pl, nd->sha, nd->size, fs->tmp,
                               fs->sigtmp)) {
            free(byhash);
            return cmh__fail(s->ctx, CMH_E_NOMEM, "out of memory");
        }
        s->pl.v[s->pl.n - 1].replace = fs->replace;
        fs->tmp[0] = fs->sigtmp[0] = 0; /* now owned by the placement */
    }
    free(byhash);
    /* Unused temps of in-package duplicates go now. */
    for (size_t i = 0; s->fs && i < nfiles; i++) {
        if (s->fs[i].tmp[0])
            unlinkat(s->lib.filelib_fd, s->fs[i].tmp, 0);
        if (s->fs[i].sigtmp[0])
            unlinkat(s->lib.filelib_fd, s->fs[i].sigtmp, 0);
        s->fs[i].tmp[0] = s->fs[i].sigtmp[0] = 0;
    }
    cmh_status st = cmh__placement_commit(s->ctx, &s->lib, &s->pl, s->cid,
                                         s->do_fsync, s->pool, canceled_cb, s);
    if (st != CMH_OK)
        return st;
    s->res->new_files = s->pl.new_files;
    s->res->new_bytes = s->pl.new_bytes;
    s->res->present_files = s->pl.n - s->pl.new_files;
    return CMH_OK;
}

/* Undo steps 5-6 (before the commit point). */
static void undo_install(snap *s)
{
    cmh__datalib_uninstall(&s->lib, s->cid);
    cmh__placement_rollback(&s->lib, &s->pl, s->cid);
}

/* Step 6: mirror and content INI into place; barrier 2. */
static cmh_status install_datalib(snap *s)
{
    close(s->mirror_fd);
    s->mirror_fd = -1;
    cmh_status st = cmh__datalib_install(s->ctx, &s->lib, s->cid,
                                        s->mirror_tmp, s->content_tmp);
    if (st != CMH_OK) {
        cmh__placement_rollback(&s->lib, &s->pl, s->cid);
        return st;
    }
    s->mirror_tmp[0] = 0;
    s->content_tmp[0] = 0;
    int e = barrier(s);
    if (e != 0 || canceled(s)) {
        undo_install(s);
        return e ? flush_fail(s, e) : cancel_fail(s);
    }
    return CMH_OK;
}

/* The PkgLib write failed. It can fail after its rename (the folder's
 * fsync): then the new version is what PkgLib shows, and undoing the
 * content it points at would break the package. Look before rolling
 * back. */
static cmh_status commit_failed(snap *s, cmh_status st)
{
    cmh_ctx *ctx = s->ctx;
    cmh_pkg_info now;
    cmh_err_saved err;
    cmh__err_capture(ctx, &err);
    if (cmh__pkglib_read(ctx, &s->lib, s->pkgid, &now) == CMH_OK &&
        !strcmp(now.cid, s->cid)) {
        s->flushed = false;
        if (s->o->warning.cb) {
            char line[2 * CMH_ERRMSG_SIZE + 256];
            snprintf(line, sizeof line,
                     "%s is committed but may not survive a power loss "
                     "(%s); older versions are kept until the next "
                     "snapshot", s->cid, err.msg);
            s->o->warning.cb(line, s->o->warning.payload);
        }
        cmh__err_discard(&err);
        cmh__err_clear(ctx);
        return CMH_OK;
    }
    cmh__err_restore(ctx, &err);
    undo_install(s);
    return st;
}

/* Step 7: the PkgLib INI replaced (temp + fsync + rename + fsync dir):
 * the commit point. */
static cmh_status commit_pkglib(snap *s)
{
    /* --keep: the newest previous complete versions stay, listed in the
     * new PkgLib INI so retirement, verify and gc leave them alone */
    char(*keep)[CMH_CID_SIZE] = NULL;
    size_t nkeep = 0;
    cmh_status st;
    if (s->o->keep &&
        (st = cmh__keep_select(s->ctx, &s->lib, s->pkgid, s->version,
                               s->o->keep, &keep, &nkeep)) != CMH_OK) {
        undo_install(s);
        return st;
    }
    /* the last moment a cancellation undoes the run */
    if (canceled(s)) {
        free(keep);
        undo_install(s);
        return cancel_fail(s);
    }
    /* the commit point */
    cmh__crash_point("commit");
    st = cmh__pkglib_write_keep(s->ctx, &s->lib, s->pkgid, s->version,
                               (const char(*)[CMH_CID_SIZE])keep, nkeep,
                               s->do_fsync);
    free(keep);
    s->flushed = true;
    if (st != CMH_OK && (st = commit_failed(s, st)) != CMH_OK)
        return st;
    cmh__crash_point("committed");
    cmh__pause_point("snapshot-committed");
    return CMH_OK;
}

/* Step 8: retire older versions. The new version is committed: a failure
 * here leaves old entries behind (verify: ORPHAN_CONTENT; the next
 * snapshot or gc removes them), it does not fail the snapshot. Not when
 * the commit may not be durable: after a power loss PkgLib could show the
 * old version again, which must then still be there. */
static void retire_old(snap *s)
{
    s->phase = "retire";
    (void)canceled(s); /* shows the phase; too late to cancel */
    uint64_t retired = 0;
    if (s->flushed &&
        cmh__retire_package(s->ctx, &s->lib, s->pkgid, s->cid, s->do_fsync,
                            &retired) != CMH_OK &&
        s->o->warning.cb)
        warn_and_clear(s, "retiring old versions");
    s->res->retired_files = retired;
}

/* Every temp of a failed or unchanged run goes; the library is closed. */
static cmh_status finish(snap *s, cmh_status st)
{
    if (st == CMH_E_IO)
        cmh__snap_inode_hint(s->ctx, s->lib.root_fd);
    if (s->content_tmp[0])
        unlinkat(s->lib.datalib_fd, s->content_tmp, 0);
    cmh__snap_remove_temps(s);
    cmh__placement_free(&s->lib, &s->pl);
    if (st != CMH_OK || s->res->unchanged)
        cmh__snap_remove_made_h4(s);
    cmh__pool_free(s->pool);
    cmh__walk_free(&s->walk);
    free(s->fs);
    cmh__library_close(&s->lib);
    pthread_mutex_destroy(&s->mu);
    s->res->seconds = cmh__now() - s->t0;
    return st;
}

cmh_status cmh_snapshot(cmh_snapshot_result *res, cmh_ctx *ctx,
                        const cmh_snapshot_opts *o)
{
    snap s;
    begin(&s, ctx, o, res);
    cmh_status st;
    if ((st = validate(&s)) || (st = open_and_lock(&s)) ||
        (st = pick_version(&s)) || (st = walk_source(&s)) ||
        (st = clean_leftovers(&s)) || (st = hash_into_temps(&s)))
        return finish(&s, st);
    if (keep_unchanged(&s))
        return finish(&s, CMH_OK);
    if ((st = write_content_temp(&s)) || (st = place_filelib(&s)) ||
        (st = install_datalib(&s)) || (st = commit_pkglib(&s)))
        return finish(&s, st);
    retire_old(&s);
    return finish(&s, CMH_OK);
}
