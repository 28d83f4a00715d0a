/* SHA-256 and librsync signature cores: buffers in, digests/bytes out. */
#include "internal.h"
#include "format/format.h"

#include <librsync.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct cmh_sha256 {
    EVP_MD_CTX *md;
    bool ok; /* false once an init or update failed (no memory) */
};

static EVP_MD *g_sha256;
static pthread_once_t g_sha256_once = PTHREAD_ONCE_INIT;

static void sha256_fetch(void)
{
    g_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
}

cmh_status cmh_sha256_new(cmh_sha256 **out)
{
    *out = NULL;
    pthread_once(&g_sha256_once, sha256_fetch);
    if (!g_sha256)
        return CMH_E_IO;
    cmh_sha256 *h = calloc(1, sizeof *h);
    if (!h)
        return CMH_E_NOMEM;
    h->md = EVP_MD_CTX_new();
    if (!h->md || !EVP_DigestInit_ex(h->md, g_sha256, NULL)) {
        cmh_sha256_free(h);
        return CMH_E_NOMEM;
    }
    h->ok = true;
    *out = h;
    return CMH_OK;
}

void cmh_sha256_update(cmh_sha256 *h, const void *data, size_t len)
{
    if (len && h->ok && !EVP_DigestUpdate(h->md, data, len))
        h->ok = false;
}

cmh_status cmh_sha256_final(uint8_t out[CMH_SHA256_LEN], cmh_sha256 *h)
{
    unsigned int n = 0;
    bool ok = h->ok && EVP_DigestFinal_ex(h->md, out, &n);
    if (!ok)
        memset(out, 0, CMH_SHA256_LEN);
    /* Re-init with the already fetched digest (no provider lookup); if
     * that fails the next final reports it instead of hashing garbage. */
    h->ok = EVP_DigestInit_ex(h->md, g_sha256, NULL) == 1;
    return ok ? CMH_OK : CMH_E_NOMEM;
}

void cmh_sha256_free(cmh_sha256 *h)
{
    if (!h)
        return;
    EVP_MD_CTX_free(h->md);
    free(h);
}

void cmh_sig_params(uint32_t *magic, uint32_t *block_len, uint32_t *strong_len,
                    uint64_t size)
{
    rs_magic_number m = 0;
    size_t bl = 0, sl = 0;
    rs_sig_args((rs_long_t)size, &m, &bl, &sl);
    *magic = (uint32_t)m;
    *block_len = (uint32_t)bl;
    *strong_len = (uint32_t)sl;
}

uint64_t cmh_sig_size(uint64_t size)
{
    uint32_t magic, bl, sl;
    cmh_sig_params(&magic, &bl, &sl, size);
    return cmh__sig_expected_len(bl, sl, size); /* format/sig.c */
}

/* Output is collected here and handed to the sink in large chunks. */
#define SIG_OUT_SIZE (64 * 1024)

struct cmh_sig {
    rs_job_t *job;
    size_t out_len;
    char out[SIG_OUT_SIZE];
};

cmh_status cmh_sig_new(cmh_sig **out, uint64_t size)
{
    *out = NULL;
    uint32_t magic, bl, sl;
    cmh_sig_params(&magic, &bl, &sl, size);
    cmh_sig *s = malloc(sizeof *s);
    if (!s)
        return CMH_E_NOMEM;
    s->out_len = 0;
    s->job = rs_sig_begin(bl, sl, (rs_magic_number)magic);
    if (!s->job) {
        free(s);
        return CMH_E_NOMEM;
    }
    *out = s;
    return CMH_OK;
}

static cmh_status sig_run(cmh_sig *s, const void *data, size_t len, int eof,
                          cmh_sig_sink sink, void *payload)
{
    rs_buffers_t b;
    b.next_in = (char *)data;
    b.avail_in = len;
    b.eof_in = eof;
    for (;;) {
        b.next_out = s->out + s->out_len;
        b.avail_out = SIG_OUT_SIZE - s->out_len;
        rs_result r = rs_job_iter(s->job, &b);
        s->out_len = SIG_OUT_SIZE - b.avail_out;
        if (r != RS_DONE && r != RS_BLOCKED)
            return CMH_E_IO;
        bool full = b.avail_out < 4096;
        if ((full || r == RS_DONE) && s->out_len) {
            if (sink(s->out, s->out_len, payload))
                return CMH_E_IO;
            s->out_len = 0;
        }
        if (r == RS_DONE)
            return CMH_OK;
        if (b.avail_in == 0 && !full && !eof)
            return CMH_OK;
    }
}

cmh_status cmh_sig_update(cmh_sig *s, const void *data, size_t len,
                          cmh_sig_sink sink, void *payload)
{
    if (!len)
        return CMH_OK;
    return sig_run(s, data, len, 0, sink, payload);
}

cmh_status cmh_sig_final(cmh_sig *s, cmh_sig_sink sink, void *payload)
{
    return sig_run(s, NULL, 0, 1, sink, payload);
}

void cmh_sig_free(cmh_sig *s)
{
    if (!s)
        return;
    if (s->job)
        rs_job_free(s->job);
    free(s);
}
