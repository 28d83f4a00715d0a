/**
 * @file hash.h
 * @brief SHA-256, librsync signatures and the content hash.
 *
 * The streaming objects here consume buffers and do no I/O (the file and
 * folder helpers at the end sit on top of them). Each object is owned by one
 * thread at a time.
 */
#ifndef CMHASH_HASH_H
#define CMHASH_HASH_H

#include <cmhash/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/* CMH_SHA256_LEN, CMH_HEX_SIZE: common.h */

/** Write @p n bytes of @p bin as upper-case hex plus NUL into @p out
 *  (2n+1 bytes). */
CMH_EXTERN
void cmh_hex_upper(char *out, const uint8_t *bin, size_t n);

/** Streaming SHA-256 (OpenSSL EVP). */
typedef struct cmh_sha256 cmh_sha256;

/** Create a digest; free with cmh_sha256_free. */
CMH_EXTERN
cmh_status cmh_sha256_new(cmh_sha256 **out);
/** Feed bytes. @p len may be 0. */
CMH_EXTERN
void cmh_sha256_update(cmh_sha256 *h, const void *data, size_t len);
/** Finish into @p out and reset @p h for reuse. CMH_E_NOMEM (and @p out
 * zeroed) when OpenSSL ran out of memory since the last final. */
CMH_EXTERN
cmh_status cmh_sha256_final(uint8_t out[CMH_SHA256_LEN], cmh_sha256 *h);
/** Free; NULL is a no-op. */
CMH_EXTERN
void cmh_sha256_free(cmh_sha256 *h);

/** librsync signature parameters for a file of @p size bytes: what
 *  rs_sig_args() returns with magic, block and strong length all 0
 *  (RS_RK_BLAKE2_SIG_MAGIC, recommended block length, strong length 32). */
CMH_EXTERN
void cmh_sig_params(uint32_t *magic, uint32_t *block_len, uint32_t *strong_len,
                    uint64_t size);

/** Exact size in bytes of the signature of a @p size byte file. */
CMH_EXTERN
uint64_t cmh_sig_size(uint64_t size);

/**
 * Receives signature bytes as they are produced. Returns 0 to go on,
 * nonzero to fail the signature with CMH_E_IO.
 */
typedef int (*cmh_sig_sink)(const void *data, size_t len, void *payload);

/** Streaming signature generator (librsync job). */
typedef struct cmh_sig cmh_sig;

/** Start a signature for a file that will be exactly @p size bytes long. */
CMH_EXTERN
cmh_status cmh_sig_new(cmh_sig **out, uint64_t size);
/** Feed file bytes; complete output chunks go to @p sink. */
CMH_EXTERN
cmh_status cmh_sig_update(cmh_sig *s, const void *data, size_t len,
                          cmh_sig_sink sink, void *payload);
/** Finish: flush the last block's sums to @p sink. The object can then
 *  only be freed. */
CMH_EXTERN
cmh_status cmh_sig_final(cmh_sig *s, cmh_sig_sink sink, void *payload);
/** Free; NULL is a no-op. */
CMH_EXTERN
void cmh_sig_free(cmh_sig *s);

/**
 * SHA-256 of the regular file at @p path, as upper-case hex in @p out.
 * Refuses anything that is not a regular file (never opens FIFOs).
 */
CMH_EXTERN
cmh_status cmh_hash_file(char out[CMH_HEX_SIZE], cmh_ctx *ctx,
                         const char *path);

/**
 * Write the librsync signature of the file at @p path to @p out_path
 * (temp + rename). Byte-identical to `rdiff signature`.
 */
CMH_EXTERN
cmh_status cmh_sig_file(cmh_ctx *ctx, const char *path, const char *out_path);

/**
 * Content hash (contentlib.md section 5) of the folder @p path: the DataLib
 * `[Info] Hash` a snapshot of it would get. Uses the context's threads.
 */
CMH_EXTERN
cmh_status cmh_hash_dir(char out[CMH_HEX_SIZE], cmh_ctx *ctx, const char *path);

#ifdef __cplusplus
}
#endif
#endif
