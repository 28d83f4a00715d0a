/* Streaming one source file: one read pass feeding SHA-256, the librsync
 * signature and (for snapshots) the temporary FileLib copy. */
#ifndef CMHASH_STREAM_H
#define CMHASH_STREAM_H

#include "internal.h"

/* Read size. Measured (issue 4, 2-vCPU VM, warm 256 MiB file, SHA-256
 * only, CPU time per byte): 64 KiB 0.751 ns, 256 KiB 0.750-0.773 ns,
 * 1 MiB 0.763 ns - flat, so the size only sets per-worker memory (one
 * buffer per worker, far below the 64 MiB target). mmap instead of read
 * measured 0.69-0.71 ns (7 % less) but turns a file truncated while it is
 * hashed into SIGBUS, so it is not used. */
#define CMH_READ_SIZE (256 * 1024)

/* Per-worker state: each worker owns its digests and buffers. */
typedef struct cmh_worker {
    EVP_MD_CTX *md;     /* file bytes */
    EVP_MD_CTX *sigmd;  /* signature bytes */
    EVP_MD *type;       /* SHA-256, borrowed from the context */
    unsigned char *buf; /* CMH_READ_SIZE bytes */
    cmh_buf scratch;    /* INI text */
    cmh_buf copy;       /* a small file's bytes (snapshot) */
    cmh_buf sigcopy;    /* a small file's signature (snapshot) */
    /* Large files (issue 14): a file of at least par_min bytes whose
     * signature sigsum.h can compute takes the chunked path
     * (stream_par.c) with sig_helpers extra threads for the signature
     * sums and the copy; 0 helpers = all on this thread. par_min and
     * par_chunk are CMH_PAR_MIN and CMH_PAR_CHUNK unless a test sets
     * them (0 = default). */
    unsigned sig_helpers;
    uint64_t par_min;
    size_t par_chunk;
} cmh_worker;

/* Files from this size take the chunked path. Below it today's path:
 * one 256 KiB buffer, librsync for the signature. */
#define CMH_PAR_MIN (8u << 20)
/* Chunk size, rounded up to whole signature blocks: 1 MiB is about 0.6 ms
 * of SHA-256 - long enough that the hand-over costs nothing measurable,
 * small enough that a ring of 2 x (threads) + 1 chunks stays a few MiB. */
#define CMH_PAR_CHUNK (1u << 20)

cmh_worker *cmh__worker_new(EVP_MD *md);
void cmh__worker_free(cmh_worker *w);

/* What to do with the bytes besides hashing them. */
typedef struct cmh_stream_out {
    int data_fd;  /* copy destination, -1 = none */
    int sig_fd;   /* signature destination, -1 = no signature */
} cmh_stream_out;

/* Extra consumers of one read pass (verify). Both run on the streaming
 * thread. */
typedef struct cmh_stream_hooks {
    /* Signature bytes as they are made (verify --deep compares them with
     * the stored .SIG); when set, a signature is made even without a
     * sig_fd. Nonzero fails the file with EIO. */
    cmh_sig_sink sig_sink;
    void *sig_payload;
    /* After each read, with its byte count (verify's --io-rate throttle);
     * may sleep. */
    void (*on_read)(size_t n, void *payload);
    void *read_payload;
    /* The file bytes of each read (snapshot keeps a small file in memory
     * until its hash says where it goes). Nonzero fails the file with the
     * errno it returns, as a write error. */
    int (*data_sink)(const void *data, size_t len, void *payload);
    void *data_payload;
    /* A library file (verify): no DOS attributes are read, and the read
     * ends at the size fstat gave - a change of size is still caught by
     * the fstat after the read - sparing one xattr and one read call per
     * file. A source is read to end of file (a share's cached size can be
     * stale; the bytes are what counts). */
    bool library_file;
} cmh_stream_hooks;

/* Outcome of streaming one file. */
typedef struct cmh_stream_res {
    uint64_t size;
    int64_t mtime_ns;
    uint32_t attrs;
    uint8_t sha[CMH_SHA256_LEN];
    uint8_t sig_sha[CMH_SHA256_LEN];
    int err;          /* errno of the failure, 0 on success */
    bool write_err;   /* err came from writing the copy/signature */
    bool changed;     /* file changed while read (size/mtime/type) */
} cmh_stream_res;

/* What the chunked path (stream_par.c) needs from cmh__stream_fileat. */
typedef struct cmh_stream_par_io {
    int data_fd;              /* copy destination (written with pwrite), -1 */
    /* Signature bytes in order (NULL = no signature); nonzero = fail. */
    int (*sig_emit)(const void *data, size_t len, void *payload);
    void *sig_payload;
    bool library_file;        /* end the read at the size fstat gave */
    const _Atomic bool *cancel;
    _Atomic uint_fast64_t *progress;
    void (*on_read)(size_t n, void *payload);
    void *read_payload;
} cmh_stream_par_io;

/* Read @p fd (of @p size bytes per fstat) once in chunks; SHA-256 into
 * w->md; signature to io->sig_emit; copy to io->data_fd. Sets *total to
 * the bytes read and *hole when a zero run was left unwritten (the caller
 * truncates the copy to its size). Returns 0 or an errno; sets
 * res->changed / res->write_err. */
int cmh__stream_par(cmh_worker *w, int fd, uint64_t size,
                    const cmh_stream_par_io *io, cmh_stream_res *res,
                    uint64_t *total, bool *hole);

/* Stream @p path. @p expect_size/@p expect_mtime_ns (from the walk; pass
 * UINT64_MAX / INT64_MIN to skip) must match what is read. @p progress, if
 * not NULL, is advanced as bytes are read. Returns 0 or an errno (also in
 * res->err). */
int cmh__stream_file(cmh_worker *w, const char *path, const char *name,
                    uint64_t expect_size, int64_t expect_mtime_ns,
                    const cmh_stream_out *out, cmh_stream_res *res,
                    _Atomic uint_fast64_t *progress,
                    const _Atomic bool *cancel);
/* The same with @p path relative to the folder @p dirfd (verify opens
 * library files relative to the library's folders, never by full path),
 * and optional @p hooks (may be NULL). */
int cmh__stream_fileat(cmh_worker *w, int dirfd, const char *path,
                      const char *name, uint64_t expect_size,
                      int64_t expect_mtime_ns, const cmh_stream_out *out,
                      const cmh_stream_hooks *hooks, cmh_stream_res *res,
                      _Atomic uint_fast64_t *progress,
                      const _Atomic bool *cancel);

#endif
