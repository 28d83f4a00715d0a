/* verify's resume state: parse_state reads the previous run's, build_state
 * writes this run's (contentlib.md 9). */
#include "vpriv.h"

/* ---- resume state ---- */

bool cmh__v_in_set(const uint8_t *set, size_t n, const uint8_t *sha)
{
    return n && bsearch(sha, set, n, CMH_SHA256_LEN, sha_cmp) != NULL;
}

static bool set_add(uint8_t **set, size_t *n, const char *hex)
{
    uint8_t *s = realloc(*set, (*n + 1) * CMH_SHA256_LEN);
    if (!s)
        return false;
    *set = s;
    (void)cmh__hex64_decode(hex, s + *n * CMH_SHA256_LEN);
    (*n)++;
    return true;
}

/* The "check" line: SHA-256 of every byte before it, upper-case hex. */
static bool state_digest(cmh_ctx *ctx, const char *text, size_t len,
                         char out[CMH_HEX_SIZE])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (!EVP_Digest(text, len, md, &mdlen, ctx->sha256, NULL) ||
        mdlen != CMH_SHA256_LEN)
        return false;
    cmh_hex_upper(out, md, CMH_SHA256_LEN);
    return true;
}

/* Integrity first: nothing of a damaged state is believed. */
static cmh_status state_intact(cmh_ctx *ctx, const char *text)
{
    const char *chk = strstr(text, "\ncheck ");
    char want[CMH_HEX_SIZE];
    if (strncmp(text, STATE_MAGIC "\n", strlen(STATE_MAGIC) + 1) != 0)
        return cmh__fail(ctx, CMH_E_INVALID,
                         "resume state: not a cmhash verify state of this "
                         "version (first line must be '" STATE_MAGIC "'); "
                         "start a new state");
    if (!chk || !state_digest(ctx, text, (size_t)(chk - text) + 1, want) ||
        strncmp(chk + 7, want, CMH_HEX_SIZE - 1) != 0 ||
        strspn(chk + 7 + CMH_HEX_SIZE - 1, "\r\n") !=
            strlen(chk + 7 + CMH_HEX_SIZE - 1))
        return cmh__fail(ctx, CMH_E_INVALID,
                         "resume state is damaged or was edited (its check "
                         "line does not match); start a new state");
    return CMH_OK;
}

/* A "cursor", "done" or "bad" line of digest @p line. */
static cmh_status state_digest_line(cmh_verify *v, const char *line,
                                    int lineno)
{
    cmh_ctx *ctx = v->ctx;
    bool lower;
    const char *hex = NULL;
    int kind = -1;
    if (!strncmp(line, "cursor ", 7)) {
        hex = line + 7;
        kind = 0;
    } else if (!strncmp(line, "done ", 5)) {
        hex = line + 5;
        kind = 1;
    } else if (!strncmp(line, "bad ", 4)) {
        hex = line + 4;
        kind = 2;
    }
    if (!hex || !cmh__is_hex64(hex, &lower) || lower)
        return cmh__fail(ctx, CMH_E_INVALID,
                         "resume state: line %d is not understood",
                         lineno);
    bool ok = true;
    if (kind == 0) {
        (void)cmh__hex64_decode(hex, v->cursor);
        v->have_cursor = true;
    } else if (kind == 1) {
        ok = set_add(&v->prev_done, &v->nprev_done, hex);
    } else {
        ok = set_add(&v->prev_bad, &v->nprev_bad, hex);
    }
    if (!ok)
        return cmh__fail(ctx, CMH_E_NOMEM, "out of memory");
    return CMH_OK;
}

/* The state must be of this library, subset and mode. */
static cmh_status state_matches(cmh_verify *v, unsigned k, unsigned n,
                                int deep)
{
    cmh_ctx *ctx = v->ctx;
    struct stat lsb;
    if (!v->state_lib_set)
        return cmh__fail(ctx, CMH_E_INVALID,
                         "resume state names no library; start a new state");
    if (stat(v->o.lib, &lsb) == 0 &&
        ((unsigned long long)lsb.st_dev != v->state_dev ||
         (unsigned long long)lsb.st_ino != v->state_ino))
        return cmh__fail(ctx, CMH_E_INVALID,
                         "resume state was made for another library "
                         "(device %llu inode %llu), not %s; give this "
                         "library's state or start a new one",
                         v->state_dev, v->state_ino, v->o.lib);
    if (k != v->sum.subset_k || n != v->sum.subset_n)
        return cmh__fail(ctx, CMH_E_INVALID,
                         "resume state was made with --subset %u/%u, not "
                         "%u/%u; use the same subset or start a new state",
                         k, n, v->sum.subset_k, v->sum.subset_n);
    if (deep != ((v->o.flags & CMH_VERIFY_DEEP) != 0))
        return cmh__fail(ctx, CMH_E_INVALID,
                         "resume state was made %s --deep; use the same "
                         "mode or start a new state",
                         deep == 1 ? "with" : "without");
    return CMH_OK;
}

/* The previous run's resume state (--resume) into v: cursor, done, bad. */
cmh_status cmh__v_parse_state(cmh_verify *v, const char *text)
{
    cmh_ctx *ctx = v->ctx;
    cmh_status st = state_intact(ctx, text);
    if (st != CMH_OK)
        return st;
    const char *p = text;
    unsigned k = 0, n = 0;
    int deep = -1;
    bool magic = false;
    int lineno = 0;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        char line[128];
        lineno++;
        if (len >= sizeof line)
            return cmh__fail(ctx, CMH_E_INVALID,
                             "resume state: line %d is too long", lineno);
        memcpy(line, p, len);
        line[len] = 0;
        if (len && line[len - 1] == '\r')
            line[--len] = 0;
        p = nl ? nl + 1 : p + len;
        if (!len)
            continue;
        if (!magic) {
            if (strcmp(line, STATE_MAGIC))
                return cmh__fail(ctx, CMH_E_INVALID,
                                 "resume state: not a cmhash verify state "
                                 "(first line must be '" STATE_MAGIC "')");
            magic = true;
            continue;
        }
        if (sscanf(line, "subset %u/%u", &k, &n) == 2)
            continue;
        if (!strncmp(line, "deep ", 5)) {
            deep = line[5] == '1';
            continue;
        }
        if (sscanf(line, "library %llu %llu", &v->state_dev,
                   &v->state_ino) == 2) {
            v->state_lib_set = true;
            continue;
        }
        if (!strncmp(line, "check ", 6))
            break; /* checked above; nothing follows it */
        if ((st = state_digest_line(v, line, lineno)) != CMH_OK)
            return st;
    }
    if (!magic)
        return cmh__fail(ctx, CMH_E_INVALID, "resume state is empty");
    if ((st = state_matches(v, k, n, deep)) != CMH_OK)
        return st;
    if (v->nprev_done > 1)
        qsort(v->prev_done, v->nprev_done, CMH_SHA256_LEN, sha_cmp);
    if (v->nprev_bad > 1)
        qsort(v->prev_bad, v->nprev_bad, CMH_SHA256_LEN, sha_cmp);
    return CMH_OK;
}

/* After a run: the state to resume from, or NULL when the cycle is done. */
void cmh__v_build_state(cmh_verify *v)
{
    free(v->state_out);
    v->state_out = NULL;
    const ventry *first = NULL;
    for (size_t i = 0; i < v->nentries; i++) {
        const ventry *e = v->entries[i];
        if (e->scope && !e->prev_done && !e->hashed) {
            first = e;
            break;
        }
    }
    if (!first)
        return; /* cycle complete */
    cmh_buf b;
    cmh__buf_init(&b);
    cmh__buf_addf(&b, STATE_MAGIC "\nsubset %u/%u\ndeep %d\n",
                 v->sum.subset_k, v->sum.subset_n,
                 (v->o.flags & CMH_VERIFY_DEEP) ? 1 : 0);
    struct stat lsb;
    if (fstat(v->lib.root_fd, &lsb) == 0)
        cmh__buf_addf(&b, "library %llu %llu\n",
                     (unsigned long long)lsb.st_dev,
                     (unsigned long long)lsb.st_ino);
    cmh__buf_addf(&b, "cursor %s\n", EHEX(first));
    for (size_t i = 0; i < v->nentries; i++) {
        const ventry *e = v->entries[i];
        if (e->scope && memcmp(e->sha, first->sha, CMH_SHA256_LEN) > 0 &&
            (e->prev_done || e->hashed))
            cmh__buf_addf(&b, "done %s\n", EHEX(e));
        if (e->prev_bad || e->bad)
            cmh__buf_addf(&b, "bad %s\n", EHEX(e));
    }
    char dg[CMH_HEX_SIZE];
    if (!b.oom && state_digest(v->ctx, b.data, b.len, dg))
        cmh__buf_addf(&b, "check %s\n", dg);
    else
        b.oom = true;
    if (b.oom) {
        cmh__buf_free(&b);
        v->oom = true;
        return;
    }
    v->state_out = b.data; /* taken over */
}
