/* cmh_delta / cmh_patch's shared parts (internal to ops/delta/): the
 * librsync job driver and the manifest's text fields (job.c); delta.c
 * writes a delta, patch.c applies one. */
#ifndef CMHASH_DELTA_JOB_H
#define CMHASH_DELTA_JOB_H

#include "tree_io.h"

#include <librsync.h>

/* 256 KiB, the snapshot's read size (stream.h). */
#define DELTA_BUF_SIZE (256 * 1024)
/* A manifest is one line per file and folder; 256 MiB is millions of
 * entries, far beyond any package, and bounds a crafted one. */
#define MANIFEST_MAX (256u << 20)
#define MANIFEST_MAGIC "cmhash-delta 1"

/* ---- job driver ---- */

typedef struct job_io {
    int in_fd;          /* job input */
    int out_fd;         /* job output, -1 = none */
    EVP_MD_CTX *md;     /* hashes the output when not NULL */
    unsigned char *inbuf, *outbuf;
    uint64_t out_bytes;
    int err;            /* errno of a read/write failure */
    bool write_err;
    /* Most output bytes allowed, 0 = no bound: a patch stops as soon as
     * it would write more than the manifest declares (a few bytes of
     * COPY commands could otherwise write gigabytes first; 11.8). */
    uint64_t limit;
    bool over;          /* stopped at limit */
} job_io;

/* The digest context and the two job buffers (DELTA_BUF_SIZE) a delta or
 * patch run uses; CMH_E_NOMEM (the caller frees what was made). */
cmh_status cmh__delta_bufs(cmh_ctx *ctx, EVP_MD_CTX **md,
                           unsigned char **inbuf, unsigned char **outbuf);
/* Run @p job to completion. Returns the librsync result (RS_DONE on
 * success); io->err is set for I/O failures. */
rs_result cmh__delta_drive(rs_job_t *job, job_io *io);
/* rs_copy_cb over a base file descriptor (@p arg: an int *) */
rs_result cmh__delta_base_copy(void *arg, rs_long_t pos, size_t *len,
                               void **buf);
/* Bytes <= 0x20, 0x7F and '%' become %XX so fields split on spaces. */
void cmh__delta_put_field(cmh_buf *b, const char *s);
/* Decode in place; false on a bad escape or an embedded NUL. */
bool cmh__delta_decode_field(char *s);
/* A relative '/'-separated path of safe components (no "", ".", "..",
 * backslashes, absolute paths). */
bool cmh__delta_safe_path(const char *p);

#endif
