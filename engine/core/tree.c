/* The content tree and the content hash (contentlib.md section 5). */
#include "internal.h"
#include "grow.h"

#include <stdlib.h>
#include <string.h>

cmh_node *cmh__node_new(const char *name, size_t len, bool is_dir)
{
    cmh_node *n = calloc(1, sizeof *n);
    if (!n)
        return NULL;
    n->name = malloc(len + 1);
    if (!n->name)
        goto fail;
    memcpy(n->name, name, len);
    n->name[len] = 0;
    n->is_dir = is_dir;
    size_t klen = 0;
    if (!cmh__utf8_to_utf16(name, len, &n->key, &klen)) {
        /* Invalid UTF-8: keep a byte-wise key so the tree still sorts; the
         * snapshot refuses such names before hashing anything. */
        n->key = malloc((len + 1) * sizeof *n->key);
        if (!n->key)
            goto fail;
        for (size_t i = 0; i < len; i++)
            n->key[i] = (unsigned char)name[i];
        klen = len;
    }
    cmh__utf16_upper(n->key, klen);
    n->key_len = (uint32_t)klen;
    return n;
fail:
    free(n->name);
    free(n);
    return NULL;
}

static bool push(cmh_node ***arr, size_t *n, size_t *cap, cmh_node *c)
{
    if (!cmh__grow(arr, cap, *n + 1, sizeof **arr, 8))
        return false;
    (*arr)[(*n)++] = c;
    return true;
}

bool cmh__node_add(cmh_node *dir, cmh_node *child)
{
    child->parent = dir;
    if (child->is_dir)
        return push(&dir->dirs, &dir->ndirs, &dir->capdirs, child);
    return push(&dir->files, &dir->nfiles, &dir->capfiles, child);
}

void cmh__node_free(cmh_node *n)
{
    if (!n)
        return;
    /* Iterative over folders' children would avoid deep recursion; source
     * depth is bounded by the 32,000-unit path rule (at most 16,000 levels
     * of one-letter folders), and each frame here is small. */
    for (size_t i = 0; i < n->ndirs; i++)
        cmh__node_free(n->dirs[i]);
    for (size_t i = 0; i < n->nfiles; i++)
        cmh__node_free(n->files[i]);
    free(n->dirs);
    free(n->files);
    free(n->name);
    free(n->key);
    free(n);
}

static int node_cmp(const void *a, const void *b)
{
    const cmh_node *x = *(cmh_node *const *)a, *y = *(cmh_node *const *)b;
    int c = cmh__utf16_cmp(x->key, x->key_len, y->key, y->key_len);
    if (c)
        return c;
    /* Case-insensitive duplicates are refused by the snapshot; readers of
     * foreign libraries still need a total order: byte order of names. */
    return strcmp(x->name, y->name);
}

void cmh__tree_sort(cmh_node *root)
{
    if (root->ndirs > 1)
        qsort(root->dirs, root->ndirs, sizeof *root->dirs, node_cmp);
    if (root->nfiles > 1)
        qsort(root->files, root->nfiles, sizeof *root->files, node_cmp);
    for (size_t i = 0; i < root->ndirs; i++)
        cmh__tree_sort(root->dirs[i]);
}

bool cmh__path16_push(cmh_path16 *p, const char *s, size_t slen)
{
    uint16_t *name;
    size_t nlen;
    if (!cmh__utf8_to_utf16(s, slen, &name, &nlen)) {
        /* never reached for snapshot input (names are checked first) */
        nlen = slen;
        name = malloc((nlen + 1) * sizeof *name);
        if (!name)
            return false;
        for (size_t i = 0; i < nlen; i++)
            name[i] = (unsigned char)s[i];
    }
    cmh__utf16_lower(name, nlen);
    size_t need = p->len + 1 + nlen;
    if (!cmh__grow(&p->u, &p->cap, need, sizeof *p->u, 256)) {
        free(name);
        return false;
    }
    if (p->len)
        p->u[p->len++] = '\\';
    memcpy(p->u + p->len, name, nlen * sizeof *name);
    p->len += nlen;
    free(name);
    return true;
}

typedef cmh_path16 path16;

static bool path_push(path16 *p, const cmh_node *n, size_t *saved)
{
    *saved = p->len;
    return cmh__path16_push(p, n->name, strlen(n->name));
}

/* The hashed stream is a sequence of UTF-16LE strings; the emitter gets
 * each one (for hashing, or for tests that show the first differing one),
 * with the node it comes from. */
typedef struct emitter {
    cmh_stream_fn fn;
    void *arg;
} emitter;

static void emit_hex(const emitter *em, const cmh_node *f,
                     const uint8_t sha[CMH_SHA256_LEN])
{
    char hex[CMH_HEX_SIZE];
    uint16_t u[64];
    cmh_hex_upper(hex, sha, CMH_SHA256_LEN);
    for (size_t i = 0; i < 64; i++)
        u[i] = (uint16_t)hex[i];
    em->fn(CMH_STREAM_HASH, f, u, 64, em->arg);
}

static bool visit(const emitter *em, const cmh_node *f, path16 *p, bool sig)
{
    size_t saved;
    for (size_t i = 0; i < f->ndirs; i++) {
        if (!path_push(p, f->dirs[i], &saved))
            return false;
        em->fn(CMH_STREAM_DIR, f->dirs[i], p->u, p->len, em->arg);
        p->len = saved;
    }
    for (size_t i = 0; i < f->nfiles; i++) {
        if (!path_push(p, f->files[i], &saved))
            return false;
        em->fn(CMH_STREAM_FILE, f->files[i], p->u, p->len, em->arg);
        p->len = saved;
    }
    for (size_t i = 0; i < f->nfiles; i++)
        emit_hex(em, f->files[i],
                 sig ? f->files[i]->sig_sha : f->files[i]->sha);
    for (size_t i = 0; i < f->ndirs; i++) {
        if (!path_push(p, f->dirs[i], &saved))
            return false;
        bool ok = visit(em, f->dirs[i], p, sig);
        p->len = saved;
        if (!ok)
            return false;
    }
    return true;
}

cmh_status cmh__tree_stream_nodes(const cmh_node *root, bool sig,
                                 cmh_stream_fn fn, void *arg)
{
    path16 p = {0};
    emitter em = {fn, arg};
    bool ok = visit(&em, root, &p, sig);
    free(p.u);
    return ok ? CMH_OK : CMH_E_NOMEM;
}

typedef struct plain_fn {
    void (*fn)(const uint16_t *s, size_t n, void *arg);
    void *arg;
} plain_fn;

static void plain_emit(cmh_stream_kind kind, const cmh_node *node,
                       const uint16_t *s, size_t n, void *arg)
{
    const plain_fn *pf = arg;
    (void)kind;
    (void)node;
    pf->fn(s, n, pf->arg);
}

cmh_status cmh__tree_stream(const cmh_node *root, bool sig,
                           void (*fn)(const uint16_t *s, size_t n, void *arg),
                           void *arg)
{
    plain_fn pf = {fn, arg};
    return cmh__tree_stream_nodes(root, sig, plain_emit, &pf);
}

void cmh__utf16le_digest(const uint16_t *u, size_t n, void *arg)
{
    EVP_MD_CTX *md = arg;
    unsigned char buf[512];
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        buf[k++] = (unsigned char)(u[i] & 0xFF);
        buf[k++] = (unsigned char)(u[i] >> 8);
        if (k == sizeof buf) {
            EVP_DigestUpdate(md, buf, k);
            k = 0;
        }
    }
    if (k)
        EVP_DigestUpdate(md, buf, k);
}

cmh_status cmh__tree_hash(const cmh_node *root, bool sig, EVP_MD *mdt,
                         uint8_t out[CMH_SHA256_LEN])
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    cmh_status st = CMH_E_NOMEM;
    if (!md || !EVP_DigestInit_ex(md, mdt, NULL))
        goto out;
    st = cmh__tree_stream(root, sig, cmh__utf16le_digest, md);
    if (st == CMH_OK) {
        unsigned int len = 0;
        EVP_DigestFinal_ex(md, out, &len);
    }
out:
    EVP_MD_CTX_free(md);
    return st;
}

char *cmh__node_relpath(const cmh_node *n)
{
    size_t len = 0, count = 0;
    for (const cmh_node *x = n; x && x->parent; x = x->parent) {
        len += strlen(x->name);
        count++;
    }
    if (count > 1)
        len += count - 1; /* separators */
    char *p = malloc(len + 1);
    if (!p)
        return NULL;
    p[len] = 0;
    size_t pos = len;
    for (const cmh_node *x = n; x && x->parent; x = x->parent) {
        size_t l = strlen(x->name);
        pos -= l;
        memcpy(p + pos, x->name, l);
        if (pos > 0)
            p[--pos] = '/';
    }
    return p;
}
