/* cmh_diff: two content trees compared path by path (diff.h). */
#include "tree_io.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmhash/diff.h>

typedef struct side {
    cmh_node *root;
    char hash[CMH_HEX_SIZE];
} side;

typedef struct dctx {
    cmh_ctx *ctx;
    const cmh_diff_opts *o;
    cmh_diff_result *r;
    bool canceled;
} dctx;

static cmh_status load_side(cmh_ctx *ctx, const char *text, const char *lib,
                            cmh_library *l, side *s, char *label,
                            size_t labelsize)
{
    struct stat sb;
    int se = stat(text, &sb) == 0 ? 0 : errno;
    if (!se && S_ISDIR(sb.st_mode)) {
        cmh_tree_counts c;
        snprintf(label, labelsize, "folder");
        cmh_status st = cmh__source_load(ctx, text, &s->root, &c);
        if (st)
            return st;
        uint8_t h[CMH_SHA256_LEN];
        if (cmh__tree_hash(s->root, false, ctx->sha256, h))
            return cmh__fail(ctx, CMH_E_NOMEM, "out of memory");
        cmh_hex_upper(s->hash, h, sizeof h);
        return CMH_OK;
    }
    char pk[CMH_PKGID_SIZE];
    bool is_id = cmh_pkgid_parse(pk, text) == CMH_OK ||
                 cmh_content_id_parse(NULL, NULL, text) != CMH_CONTENT_INVALID;
    if (!se && !is_id)
        return cmh__fail(ctx, CMH_E_SOURCE,
                         "%s is not a folder; give a source folder or a "
                         "content ID", text);
    if (!is_id)
        return cmh__fail(ctx, CMH_E_SOURCE,
                         "%s is neither a folder nor a content or package "
                         "ID (e.g. MSC0000B.2): %s; check the path", text,
                         strerror(se));
    if (!lib)
        return cmh__fail(ctx, CMH_E_INVALID,
                         "%s is a content ID but no library was given; "
                         "pass --lib", text);
    if (l->root_fd < 0) {
        cmh_status st = cmh__library_open(ctx, l, lib, false);
        if (st)
            return st;
    }
    char cid[CMH_CID_SIZE];
    cmh_status st = cmh__content_resolve(ctx, l, text, cid, s->hash);
    if (st)
        return st;
    snprintf(label, labelsize, "%s", cid);
    cmh_tree_counts c;
    return cmh__mirror_load(ctx, l, cid, &s->root, &c);
}

static int key_cmp(const cmh_node *a, const cmh_node *b)
{
    return cmh__utf16_cmp(a->key, a->key_len, b->key, b->key_len);
}

static void emit(dctx *d, cmh_diff_kind kind, const char *rel,
                 const cmh_node *a, const cmh_node *b)
{
    cmh_diff_result *r = d->r;
    const cmh_node *n = a ? a : b;
    if (n->is_dir) {
        if (kind == CMH_DIFF_ADDED)
            r->added_dirs++;
        else
            r->removed_dirs++;
    } else {
        switch (kind) {
        case CMH_DIFF_ADDED:
            r->added++;
            r->added_bytes += b->size;
            break;
        case CMH_DIFF_REMOVED:
            r->removed++;
            r->removed_bytes += a->size;
            break;
        case CMH_DIFF_CHANGED:
            r->changed++;
            r->changed_old_bytes += a->size;
            r->changed_new_bytes += b->size;
            break;
        case CMH_DIFF_METADATA:
            r->metadata++;
            break;
        }
    }
    if (!d->o->entry.cb || d->canceled)
        return;
    char ha[CMH_HEX_SIZE] = "", hb[CMH_HEX_SIZE] = "";
    cmh_diff_entry e;
    memset(&e, 0, sizeof e);
    e.kind = kind;
    e.path = rel;
    e.is_dir = n->is_dir;
    if (a && !a->is_dir) {
        e.old_size = a->size;
        e.old_time = cmh__filetime_from_ns(a->mtime_ns);
        e.old_attrs = a->attrs;
        cmh_hex_upper(ha, a->sha, CMH_SHA256_LEN);
    }
    if (b && !b->is_dir) {
        e.new_size = b->size;
        e.new_time = cmh__filetime_from_ns(b->mtime_ns);
        e.new_attrs = b->attrs;
        cmh_hex_upper(hb, b->sha, CMH_SHA256_LEN);
    }
    e.old_hash = ha;
    e.new_hash = hb;
    if (d->o->entry.cb(&e, d->o->entry.payload))
        d->canceled = true;
}

static cmh_status walk(dctx *d, const cmh_node *a, const cmh_node *b,
                       const char *rel);

/* A whole subtree only on one side. */
static cmh_status one_sided(dctx *d, const cmh_node *n, bool added,
                            const char *rel)
{
    emit(d, added ? CMH_DIFF_ADDED : CMH_DIFF_REMOVED, rel,
         added ? NULL : n, added ? n : NULL);
    if (!n->is_dir)
        return CMH_OK;
    return added ? walk(d, NULL, n, rel) : walk(d, n, NULL, rel);
}

static char *join(const char *rel, const char *name)
{
    return rel[0] ? cmh__path_join(rel, name) : cmh__strdup(name);
}

/* Merge two sorted child arrays (either may be absent). */
static cmh_status merge(dctx *d, cmh_node *const *av, size_t an,
                        cmh_node *const *bv, size_t bn, const char *rel)
{
    size_t i = 0, j = 0;
    cmh_status st = CMH_OK;
    while (st == CMH_OK && !d->canceled && (i < an || j < bn)) {
        int c = i == an ? 1 : j == bn ? -1 : key_cmp(av[i], bv[j]);
        const cmh_node *x = c <= 0 ? av[i] : bv[j];
        char *sub = join(rel, c > 0 ? bv[j]->name : x->name);
        if (!sub)
            return cmh__fail(d->ctx, CMH_E_NOMEM, "out of memory");
        if (c < 0) {
            st = one_sided(d, av[i++], false, sub);
        } else if (c > 0) {
            st = one_sided(d, bv[j++], true, sub);
        } else {
            const cmh_node *na = av[i++], *nb = bv[j++];
            free(sub);
            sub = join(rel, nb->name);
            if (!sub)
                return cmh__fail(d->ctx, CMH_E_NOMEM, "out of memory");
            if (na->is_dir) {
                st = walk(d, na, nb, sub);
            } else if (na->size != nb->size ||
                       memcmp(na->sha, nb->sha, CMH_SHA256_LEN)) {
                emit(d, CMH_DIFF_CHANGED, sub, na, nb);
            } else if (cmh__filetime_from_ns(na->mtime_ns) !=
                           cmh__filetime_from_ns(nb->mtime_ns) ||
                       na->attrs != nb->attrs) {
                emit(d, CMH_DIFF_METADATA, sub, na, nb);
            } else {
                d->r->unchanged++;
            }
        }
        free(sub);
    }
    return st;
}

static cmh_status walk(dctx *d, const cmh_node *a, const cmh_node *b,
                       const char *rel)
{
    static cmh_node *const none[1] = {NULL};
    cmh_status st = merge(d, a ? a->files : none, a ? a->nfiles : 0,
                          b ? b->files : none, b ? b->nfiles : 0, rel);
    if (st == CMH_OK)
        st = merge(d, a ? a->dirs : none, a ? a->ndirs : 0,
                   b ? b->dirs : none, b ? b->ndirs : 0, rel);
    return st;
}

cmh_status cmh_diff(cmh_diff_result *r, cmh_ctx *ctx, const cmh_diff_opts *o)
{
    memset(r, 0, sizeof *r);
    cmh__err_clear(ctx);
    cmh_status vst = CMH__OPTS_CHECK(ctx, o, CMH_DIFF_OPTS_VERSION, "diff");
    if (vst)
        return vst;
    if (!o->a || !o->b)
        return cmh__fail(ctx, CMH_E_INVALID, "bad diff options");
    cmh_library l;
    cmh__library_init(&l);
    side a = {0}, b = {0};
    cmh_status st = load_side(ctx, o->a, o->lib, &l, &a, r->label_a,
                              sizeof r->label_a);
    if (st == CMH_OK)
        st = load_side(ctx, o->b, o->lib, &l, &b, r->label_b,
                       sizeof r->label_b);
    if (st == CMH_OK) {
        dctx d = {ctx, o, r, false};
        /* files and folders are merged separately: a name that is a file
         * in A and a folder in B is a removal plus an addition */
        st = walk(&d, a.root, b.root, "");
        if (st == CMH_OK && d.canceled)
            st = cmh__fail(ctx, CMH_E_CANCELED, "canceled");
    }
    if (st == CMH_OK) {
        memcpy(r->hash_a, a.hash, sizeof a.hash);
        memcpy(r->hash_b, b.hash, sizeof b.hash);
        r->hash_changed = strcmp(a.hash, b.hash) != 0;
        r->same = !r->hash_changed && !r->added && !r->removed &&
                  !r->changed && !r->metadata && !r->added_dirs &&
                  !r->removed_dirs;
    }
    cmh__node_free(a.root);
    cmh__node_free(b.root);
    cmh__library_close(&l);
    return st;
}
