/* DataLib/<ContentID>.INI (contentlib.md section 3.2): the one reader and
 * the one writer of content INIs. */
#include "format.h"

#include <errno.h>

static int content_cb(void *payload, const char *section, const char *key,
                      const char *value, int lineno)
{
    cmh_contentini *p = payload;
    bool lower = false;
    if (!strcasecmp(section, "cmhash"))
        p->has_cmhash = true;
    if (!strcasecmp(section, "Info") && !strcasecmp(key, "Hash")) {
        if (!cmh__is_hex64(value, &lower)) {
            if (!p->bad[0])
                snprintf(p->bad, sizeof p->bad,
                         "line %d: Hash is not 64 hex digits", lineno);
            return 0;
        }
        p->have_hash = cmh__hex64_decode(value, p->hash);
        p->hash_lower = lower;
    } else if (!strcasecmp(section, "Info") &&
               !strcasecmp(key, "HashAlgorithm")) {
        snprintf(p->alg, sizeof p->alg, "%s", value);
        p->have_alg = true;
    } else if (!strcasecmp(section, "cmhash") &&
               !strcasecmp(key, "SignatureHash")) {
        if (!cmh__is_hex64(value, &lower)) {
            if (!p->bad[0])
                snprintf(p->bad, sizeof p->bad,
                         "line %d: SignatureHash is not 64 hex digits",
                         lineno);
            return 0;
        }
        p->have_sighash = cmh__hex64_decode(value, p->sighash);
        p->sighash_lower = lower;
    }
    return 0;
}

int cmh__contentini_parse(const char *data, size_t len, cmh_contentini *p,
                         char *why, size_t whylen)
{
    memset(p, 0, sizeof *p);
    if (!cmh__ini_parse(data, len, content_cb, p, why, whylen))
        return CMH_CONTENTINI_UNPARSABLE;
    if (p->bad[0]) {
        snprintf(why, whylen, "%s", p->bad);
        return CMH_CONTENTINI_BAD;
    }
    if (!p->have_hash) {
        snprintf(why, whylen, "no [Info] Hash");
        return CMH_CONTENTINI_NO_HASH;
    }
    if (p->have_alg && strcmp(p->alg, "32780")) {
        snprintf(why, whylen, "unknown HashAlgorithm %s (32780 = SHA-256 "
                 "is the only one)", p->alg);
        return CMH_CONTENTINI_BAD_ALG;
    }
    return CMH_CONTENTINI_OK;
}

int cmh__contentini_read(int datalib_fd, const char *cid, cmh_contentini *p,
                        char *why, size_t whylen)
{
    char name[80], *data;
    size_t len;
    memset(p, 0, sizeof *p);
    snprintf(name, sizeof name, "%s.INI", cid);
    int e = cmh__read_small_file(datalib_fd, name, CMH_INI_MAX_FILE, &data,
                                &len);
    if (e)
        return e;
    int r = cmh__contentini_parse(data, len, p, why, whylen);
    free(data);
    return r == CMH_CONTENTINI_OK ? 0 : EINVAL;
}

void cmh__contentini_write(cmh_buf *b, const cmh_contentini_facts *f)
{
    char hex[CMH_HEX_SIZE], sighex[CMH_HEX_SIZE];
    cmh_hex_upper(hex, f->hash, CMH_SHA256_LEN);
    cmh_hex_upper(sighex, f->sighash, CMH_SHA256_LEN);
    cmh__buf_addf(b, "[Info]\r\nHash=%s\r\nHashAlgorithm=32780\r\n", hex);
    cmh__buf_addf(b,
                 "[cmhash]\r\nSignatureHash=%s\r\nFiles=%llu\r\n"
                 "Folders=%llu\r\nBytes=%llu\r\n",
                 sighex, (unsigned long long)f->files,
                 (unsigned long long)f->folders,
                 (unsigned long long)f->bytes);
    /* libraries are often readable by every domain user: the source path
     * only when asked (--record-source) */
    if (f->source) {
        cmh__buf_adds(b, "Source=");
        cmh__percent_encode(b, f->source);
        cmh__buf_adds(b, "\r\n");
    }
    cmh__buf_addf(b, "Created=%lld\r\n", (long long)f->created);
}
