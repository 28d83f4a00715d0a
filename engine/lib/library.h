/* The content library on disk: open/create, locks, PkgLib, FileLib
 * placement and DataLib installation. Internal. */
#ifndef CMHASH_LIBRARY_H
#define CMHASH_LIBRARY_H

#include "internal.h"
#include "format/format.h"

/* "H4/HASH.SIG" + NUL */
#define CMH_FILELIB_REL_SIZE (5 + 64 + 4 + 1)
/* cmhash's own state (locks) lives in <lib>/.cmhash/, never in PkgLib:
 * scripts that list PkgLib count every file there as a package
 * (contentlib.md 7.1). Earlier versions kept PkgLib/<P>.lock and this: */
#define CMH_LIB_LOCK ".cmhash-lib.lock"
#define CMH_STATE_DIR ".cmhash"
#define CMH_STATE_LIB_LOCK "lib.lock"
/* How long a --no-wait writer waits for the library-wide lock, which other
 * writers hold only while they place or retire one package's files: long
 * enough for that, short enough that --no-wait never hangs on a stuck
 * holder (issue 11, item 12). */
#define CMH_NO_WAIT_LIB_SECONDS 3.0

typedef struct cmh_library {
    char *path;
    int root_fd, pkglib_fd, datalib_fd, filelib_fd;
    int state_fd;    /* <lib>/.cmhash, -1 = not opened (yet) */
    int *xfd;        /* extra FileLib roots (spanned library) */
    char **xpath;    /* ... as given, for messages */
    size_t nx;
    int pkg_lock_fd; /* held package lock, -1 = none */
    int lib_lock_fd; /* open library lock file, -1 = none */
    int run_lock_fd; /* held run lock (.cmhash/run-<token>.lock), -1 */
    bool no_wait;    /* every lock: fail with CMH_E_BUSY, never hang */
} cmh_library;

void cmh__library_init(cmh_library *l);
/* Open @p path; with @p create, make it (and its three folders) when it is
 * missing or an empty folder. A folder that has some but not all of
 * PkgLib/DataLib/FileLib is refused, unless it holds nothing else and they
 * are empty (another process is creating the same library right now). */
cmh_status cmh__library_open(cmh_ctx *ctx, cmh_library *l, const char *path,
                            bool create);
void cmh__library_close(cmh_library *l);
/* Before this process writes a temp into the library: hold its run lock
 * .cmhash/run-<token>.lock (shared) until cmh__library_close, which deletes
 * it. While held, temps named with our token are a live run's; after a
 * crash they are a dead run's, and cmh__reclaim_dead_temps or gc delete
 * them (issue 11, item 11). cmh__library_lock takes it too. */
cmh_status cmh__library_hold_run(cmh_ctx *ctx, cmh_library *l);
/* contentlib.md section 11: CMH_E_LIBRARY with a one-line reason naming
 * the first content INI without [cmhash], or the MS-RDC .SIG
 * cmh__library_sig_rdc finds (a ConfigMgr-written library) -
 * @p cmd ("snapshot", "gc --apply") refuses it without --allow-foreign. */
cmh_status cmh__library_refuse_foreign(cmh_ctx *ctx, cmh_library *l,
                                      const char *cmd);
/* The up-front look at a library's signatures (contentlib.md 8, 11): the
 * first .SIG found (primary root, then the extra ones; at most 16 <H4>
 * folders each) starts with the MS-RDC header - the library's .SIG files
 * are Configuration Manager's. 1 (its path into @p where, may be NULL)
 * or 0 (librsync, or no .SIG at all). Reads one 24-byte header. */
int cmh__library_sig_rdc(const cmh_library *l, char *where, size_t wlen);
/* Package lock .cmhash/<P>.lock (created with .cmhash/ when missing). Without @p wait it fails with
 * CMH_E_BUSY only when a writer holds the lock: a reader's
 * probe (a shared lock held for an instant) is waited out (item 11.13). A
 * PkgLib/<P>.lock left by an earlier version is taken too, then deleted. */
cmh_status cmh__library_lock_package(cmh_ctx *ctx, cmh_library *l,
                                    const char *pkgid, bool wait);
/* Library-wide lock .cmhash/lib.lock around FileLib reference changes:
 * waits, or with l->no_wait up to CMH_NO_WAIT_LIB_SECONDS, then
 * CMH_E_BUSY. */
cmh_status cmh__library_lock(cmh_ctx *ctx, cmh_library *l);
/* The same, always waiting (undoing a placement must not give up). */
cmh_status cmh__library_lock_wait(cmh_ctx *ctx, cmh_library *l);
void cmh__library_unlock(cmh_library *l);
/* Is package @p pkgid being written now (its lock, or an earlier
 * version's PkgLib/<P>.lock, held)? Read-only: never creates a file. */
bool cmh__library_pkg_busy(cmh_library *l, const char *pkgid);
/* Is temp @p name (a ".cmhash-tmp-*" name) a leftover of a run that is
 * no longer alive: it carries a run token whose run lock nobody holds?
 * Names of earlier versions (no token) are never judged dead. */
bool cmh__tmp_is_dead(cmh_library *l, const char *name);
/* Delete the temp files every dead run left in PkgLib, DataLib and
 * FileLib (not temp mirrors: cmh__retire_stale needs them), then those
 * runs' lock files. Cheap when no run died: one listing of .cmhash/.
 * Takes the library lock for the sweep. @p removed counts deleted files. */
cmh_status cmh__reclaim_dead_temps(cmh_ctx *ctx, cmh_library *l,
                                  uint64_t *removed);

/* The extra FileLib roots of a spanned library (contentlib.md 10), into
 * l->xfd/xpath/nx after l->filelib_fd is open: @p paths in order
 * (--filelib, then $CMHASH_FILELIB), then the roots the system discovers
 * (cmh__os_filelib_drives: on Windows X:\SCCMContentLib\FileLib on the
 * other local fixed drives). Each path is a library root holding FileLib
 * or the FileLib folder itself. A folder already open (the primary
 * FileLib or an earlier root, same st_dev/st_ino) is skipped, so no entry
 * is seen twice through two names of one folder. A path given that cannot
 * be opened is an error; a discovered one is skipped. This order is the
 * lookup order of every command and verify's rule for the used copy. */
cmh_status cmh__filelib_roots_open(cmh_ctx *ctx, cmh_library *l,
                                  const char *const *paths, size_t npaths,
                                  bool noatime);
/* Find FileLib/<rel> (a regular file) on the primary root, else on the
 * extra roots in order. Returns the root's FileLib fd (not to be closed),
 * or -1 with errno ENOENT; @p sb may be NULL; @p where (may be NULL) gets
 * the root's display ("<lib>/FileLib" or "<dir>/FileLib"). */
int cmh__filelib_find(const cmh_library *l, const char *rel, struct stat *sb,
                     const char **where);
/* "H4/HASH<suffix>" */
void cmh__filelib_rel(char out[CMH_FILELIB_REL_SIZE],
                     const uint8_t sha[CMH_SHA256_LEN], const char *suffix);
void cmh__filelib_rel_hex(char out[CMH_FILELIB_REL_SIZE], const char *hex,
                         const char *suffix);

/* What PkgLib says about a package. version 0: no PkgLib INI. */
typedef struct cmh_pkg_info {
    uint32_t version;
    char cid[CMH_CID_SIZE];
    char hash[CMH_HEX_SIZE]; /* current content's [Info] Hash, or "" */
} cmh_pkg_info;
cmh_status cmh__pkglib_read(cmh_ctx *ctx, cmh_library *l, const char *pkgid,
                           cmh_pkg_info *out);
/* [Info] Hash of DataLib/<cid>.INI (upper-cased) into @p out. Returns 0,
 * ENOENT, EINVAL (damaged: @p why says how) or another errno. */
int cmh__content_ini_hash(cmh_library *l, const char *cid,
                         char out[CMH_HEX_SIZE], char *why, size_t whylen);
cmh_status cmh__pkglib_write(cmh_ctx *ctx, cmh_library *l, const char *pkgid,
                            uint32_t version, bool do_fsync);
/* Same, recording @p nkeep kept older contents (newest first) in
 * `[cmhash] Keep=` (docs/FORMAT.md "Kept versions"). */
cmh_status cmh__pkglib_write_keep(cmh_ctx *ctx, cmh_library *l,
                                 const char *pkgid, uint32_t version,
                                 const char (*keep)[CMH_CID_SIZE],
                                 size_t nkeep, bool do_fsync);
/* The kept contents PkgLib/<pkgid>.INI lists (only well-formed content IDs
 * of this package) added to @p out. No INI: nothing added, CMH_OK. */
cmh_status cmh__pkglib_kept(cmh_ctx *ctx, cmh_library *l, const char *pkgid,
                           cmh_reflist *out);
/* Up to @p max complete contents (DataLib folder and INI) of @p pkgid with
 * a version below @p below, newest first, into a malloc'd array. */
cmh_status cmh__keep_select(cmh_ctx *ctx, cmh_library *l, const char *pkgid,
                           uint32_t below, uint32_t max,
                           char (**ids)[CMH_CID_SIZE], size_t *n);

/* FileLib placement of one snapshot's distinct files. */
typedef struct cmh_place {
    uint8_t sha[CMH_SHA256_LEN];
    uint64_t size;
    char tmp[64], sigtmp[64]; /* our temps/pins, relative to FileLib */
    char initmp[48];          /* new reference INI temp in H4/ */
    bool data_new;            /* we put the data file in */
    bool sig_new;             /* we put the .SIG in */
    bool ini_new;             /* the INI did not exist before */
    bool replace;             /* the present entry is damaged (its bytes
                                 differ from ours): ours replaces it */
    bool done;                /* renames carried out */
    int xroot;                /* >= 0: the entry lives on extra FileLib
                                 root l->xfd[xroot]; its INI is edited
                                 there, nothing stored (section 10) */
} cmh_place;

typedef struct cmh_placement {
    cmh_place *v;
    size_t n, cap;
    uint64_t new_files, new_bytes;
    bool allow_foreign; /* edit ConfigMgr-written reference INIs */
} cmh_placement;

void cmh__placement_init(cmh_placement *p);
/* Takes over the temp names. */
bool cmh__placement_add(cmh_placement *p, const uint8_t sha[CMH_SHA256_LEN],
                       uint64_t size, const char *tmp, const char *sigtmp);
/* Under the library lock: write reference INI temps adding @p cid, make
 * them durable, then rename data, signatures and INIs into place; entries
 * in parallel on @p pool (NULL: on this thread). @p canceled (may be
 * NULL) is asked on this thread before the first rename: nonzero fails
 * the call with CMH_E_CANCELED and nothing visible changed. */
cmh_status cmh__placement_commit(cmh_ctx *ctx, cmh_library *l,
                                cmh_placement *p, const char *cid,
                                bool do_fsync, cmh_pool *pool,
                                int (*canceled)(void *), void *arg);
/* Drop @p cid from FileLib/<hex>.INI (filelib.c, used by retire.c; the
 * contract is written there). */
int cmh__drop_reference(cmh_library *l, const char *hex, const char *cid,
                        char tmp_out[48]);
/* Undo a committed placement (best effort, before the PkgLib commit). */
void cmh__placement_rollback(cmh_library *l, cmh_placement *p,
                            const char *cid);
/* Remove remaining temps and free. */
void cmh__placement_free(cmh_library *l, cmh_placement *p);

/* Rename the temp mirror and content INI to DataLib/<cid>[.INI], moving a
 * stale one (left by a crashed snapshot of the same version) aside. */
cmh_status cmh__datalib_install(cmh_ctx *ctx, cmh_library *l, const char *cid,
                               const char *mirror_tmp,
                               const char *content_tmp);
void cmh__datalib_uninstall(cmh_library *l, const char *cid);

/* Retire every content of @p pkgid other than @p keep_cid and the kept
 * contents the PkgLib INI lists (cmh__pkglib_kept): drop its
 * references, delete FileLib entries left unreferenced, delete its DataLib
 * entries. */
/* Before writing a version of @p pkgid above @p current: undo what crashed
 * snapshots of versions above @p current left - DataLib/<P>.<m> contents
 * and ".cmhash-tmp-<pid>-<P>.<m>" temp mirrors, m > current. Their <P>.<m>
 * references are dropped (entries left unreferenced deleted) and they are
 * deleted. Without this a re-run at the same version from a changed source
 * would keep the crashed run's references to files it no longer has
 * (REF_DANGLING, and those files never freed). Needs the package lock. */
cmh_status cmh__retire_stale(cmh_ctx *ctx, cmh_library *l, const char *pkgid,
                            uint32_t current, bool do_fsync,
                            uint64_t *retired_files);
cmh_status cmh__retire_package(cmh_ctx *ctx, cmh_library *l,
                              const char *pkgid, const char *keep_cid,
                              bool do_fsync, uint64_t *retired_files);

/* Collect the Hash= values of every file INI below DataLib/<cid> (upper-
 * cased, de-duplicated, sorted) into a malloc'd array of 32-byte digests. */
int cmh__mirror_hashes(cmh_library *l, const char *cid, uint8_t **out,
                      size_t *n);

#endif
