/* Parallel walk of a source folder into a content tree. */
#ifndef CMHASH_WALK_H
#define CMHASH_WALK_H

#include "internal.h"

#include <pthread.h>
#include <stdatomic.h>

typedef struct cmh_walk {
    /* Inputs */
    const char *root_path;
    bool skip_links;
    bool started;         /* set by cmh__walk_run */
    cmh_pool *pool;
    /* Results (valid after cmh__walk_run). */
    cmh_node *root;
    cmh_node **files;     /* every file node, largest first */
    size_t nfiles;
    uint64_t ndirs;       /* folders below the root */
    uint64_t total_bytes;
    uint64_t skipped;     /* specials and (with skip_links) links */
    /* Shared between walk tasks, protected by mu. */
    pthread_mutex_t mu;
    /* Names in these lists are percent-encoded (cmh__percent_encode). */
    cmh_buf links;        /* "rel\n" lines of symbolic links */
    cmh_buf specials;     /* "rel (fifo)\n" lines */
    size_t nlinks;
    int err;              /* first error (errno) */
    char *err_path;       /* its relative path (malloc'd) */
    /* Progress: written by tasks, read by the caller's tick. */
    atomic_uint_fast64_t seen_files, seen_dirs;
} cmh_walk;

/* Walk w->root_path with w->pool. Returns 0 or the first errno (with
 * w->err_path). Symbolic links and specials are listed, never followed or
 * opened. */
int cmh__walk_run(cmh_walk *w, int (*tick)(void *), void *arg);
void cmh__walk_free(cmh_walk *w);

/* Check every name against contentlib.md section 4; lists problems (one
 * "rel: why" line each, rel percent-encoded) into @p out. @p cid is the
 * content ID used to measure mirror path lengths. Returns the number of
 * problems. */
size_t cmh__walk_check_names(const cmh_node *root, const char *cid,
                            cmh_buf *out);

#endif
