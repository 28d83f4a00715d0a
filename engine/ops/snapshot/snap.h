/* cmh_snapshot's shared state and parts (internal to ops/snapshot/):
 *   snapshot.c  cmh_snapshot and its steps, in the order of their effects
 *   files.c     the per-file work of the hash step (workers)
 *   checks.c    the source and version checks and the INIs a step writes */
#ifndef CMHASH_SNAP_H
#define CMHASH_SNAP_H

#include "internal.h"
#include "library.h"
#include "scan.h"
#include "stream.h"
#include "walk.h"

#include <pthread.h>
#include <stdatomic.h>

#include <cmhash/snapshot.h>

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
    cmh_snapshot_result *res;
    cmh_library lib;
    bool do_fsync;
    const char *source;
    char pkgid[CMH_PKGID_SIZE];
    cmh_pkg_info cur;     /* what PkgLib said before this run */
    uint32_t version;     /* the new version's number */
    char cid[CMH_CID_SIZE];
    char mirror_tmp[128]; /* DataLib/<mirror_tmp> */
    int mirror_fd;
    char content_tmp[64]; /* DataLib/<content_tmp>, "" = none */
    cmh_placement pl;     /* the FileLib entries of this version */
    bool flushed;         /* the commit is durable (retire step) */
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

/* snapshot.c: the progress tick (also the cancellation channel). */
int cmh__snap_tick(void *arg);

/* files.c */
void *cmh__snap_worker_make(void *arg);
void cmh__snap_worker_free(void *st);
cmh_status cmh__snap_hash_files(snap *s);
int cmh__snap_make_mirror_dirs(snap *s, const cmh_node *d, const char *rel);
void cmh__snap_remove_temps(snap *s);
void cmh__snap_remove_made_h4(snap *s);

/* checks.c */
uint32_t cmh__snap_highest_datalib_version(cmh_library *l,
                                           const char *pkgid);
void cmh__snap_warn_skipped(snap *s);
cmh_status cmh__snap_check_shrink(snap *s, const cmh_pkg_info *cur);
void cmh__snap_content_ini(snap *s, cmh_buf *b, const char *hash,
                           const char *sighash);
void cmh__snap_inode_hint(cmh_ctx *ctx, int fd);

#endif
