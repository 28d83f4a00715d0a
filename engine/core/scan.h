/* Scan: walk a source folder and hash its files (no library). The checks
 * a snapshot and `cmhash hash` share live here, so an op never reaches
 * into another op's file: snapshot, diff, extract and delta all hash a
 * folder through this module (cmh_hash_dir, cmh__hash_dir_tree). */
#ifndef CMHASH_SCAN_H
#define CMHASH_SCAN_H

#include "internal.h"
#include "stream.h"
#include "walk.h"

/* Room for the head of a list failure (the source path, cut). */
#define CMH_PATH_HEAD 1024

/* @p src exists and is a folder; else CMH_E_SOURCE with the fix. */
cmh_status cmh__scan_check_source(cmh_ctx *ctx, const char *src);

/* Run @p w (root_path, pool and skip_links set by the caller) and turn its
 * failures into one error naming @p source. Symbolic links found while
 * @p allow_links is false fail the scan, listed; @p hash_only picks the
 * hint (`hash` refuses what a snapshot would refuse). */
cmh_status cmh__scan_walk(cmh_ctx *ctx, cmh_walk *w, const char *source,
                          bool allow_links, bool hash_only,
                          int (*tick)(void *), void *arg);

/* Section 4's name rules over the walked tree: one failure listing the
 * offending names (cmh__fail_list). @p cid sizes the mirror paths. */
cmh_status cmh__scan_check_names(cmh_ctx *ctx, const cmh_node *root,
                                 const char *cid, const char *source,
                                 bool hash_only);

/* Run @p task(file node, worker state, @p arg) on every file of @p w with
 * @p pool and wait, ticking @p tick(@p arg) (NULL: none). The first worker
 * failure (*@p wst and @p werr, read once the pool is idle) wins, then a
 * cancellation. */
cmh_status cmh__scan_run(cmh_ctx *ctx, cmh_pool *pool, const cmh_walk *w,
                         cmh_task_fn task, void *arg, int (*tick)(void *),
                         const cmh_status *wst, const char *werr,
                         const char *source);

/* The status and message (into @p msg) for a source file @p path that
 * cmh__stream_fileat failed to read with errno @p e; @p libpath names the
 * library when @p r says the write side failed. */
cmh_status cmh__scan_read_error(int e, const cmh_stream_res *r,
                                const char *path, const char *libpath,
                                char *msg, size_t msz);

#endif
