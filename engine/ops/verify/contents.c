/* verify's content check (index pass, worker): the content INI, the
 * mirror walk with its file INIs, and the signature-hash plan. */
#include "vpriv.h"

#include "grow.h"

/* ---- content check (index pass, worker) ---- */

/* ---- signature-hash plan (see PLAN_*) ---- */

typedef struct plan_rec {
    vcontent *c;
    size_t cap, capdirs;
    bool bad;
} plan_rec;

static void plan_cb(cmh_stream_kind kind, const cmh_node *node,
                    const uint16_t *s, size_t n, void *arg)
{
    plan_rec *r = arg;
    vcontent *c = r->c;
    if (r->bad)
        return;
    uint32_t op;
    if (kind == CMH_STREAM_DIR) {
        if (c->ndirs16 > PLAN_MAX || n > UINT32_MAX ||
            !cmh__grow(&c->dirs16, &r->capdirs, c->ndirs16 + 2 + n,
                       sizeof *c->dirs16, 64)) {
            r->bad = true;
            return;
        }
        op = (uint32_t)PLAN_DIR << 30 | (uint32_t)c->ndirs16;
        c->dirs16[c->ndirs16++] = (uint16_t)(n & 0xFFFF);
        c->dirs16[c->ndirs16++] = (uint16_t)(n >> 16);
        memcpy(c->dirs16 + c->ndirs16, s, n * sizeof *s);
        c->ndirs16 += n;
    } else {
        uintptr_t k = (uintptr_t)node->aux;
        if (!k || k > c->nfiles || k - 1 > PLAN_MAX) {
            r->bad = true;
            return;
        }
        op = (uint32_t)(kind == CMH_STREAM_FILE ? PLAN_PATH : PLAN_HASH)
                 << 30 |
             (uint32_t)(k - 1);
    }
    if (!cmh__grow(&c->plan, &r->cap, c->nplan + 1, sizeof *c->plan, 64)) {
        r->bad = true;
        return;
    }
    c->plan[c->nplan++] = op;
}

static bool make_plan(vcontent *c)
{
    plan_rec r = {.c = c};
    if (cmh__tree_stream_nodes(c->root, false, plan_cb, &r) != CMH_OK ||
        r.bad)
        return false;
    /* exact size: plans live for the whole run */
    uint32_t *p = c->nplan ? realloc(c->plan, c->nplan * sizeof *p) : NULL;
    if (p)
        c->plan = p;
    uint16_t *d =
        c->ndirs16 ? realloc(c->dirs16, c->ndirs16 * sizeof *d) : NULL;
    if (d)
        c->dirs16 = d;
    return true;
}

/* Replay the plan: the content hash (sig false, the mirror's file hashes)
 * or the signature hash (the .SIG digests of the joined entries). */
cmh_status cmh__v_plan_hash(const vcontent *c, bool sig, EVP_MD *mdt,
                            uint8_t out[CMH_SHA256_LEN])
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    cmh_path16 p = {0};
    cmh_status st = CMH_E_NOMEM;
    if (!md || !EVP_DigestInit_ex(md, mdt, NULL))
        goto out;
    for (size_t i = 0; i < c->nplan; i++) {
        uint32_t a = PLAN_ARG(c->plan[i]);
        switch (PLAN_KIND(c->plan[i])) {
        case PLAN_DIR: {
            size_t n = c->dirs16[a] | (size_t)c->dirs16[a + 1] << 16;
            cmh__utf16le_digest(c->dirs16 + a + 2, n, md);
            break;
        }
        case PLAN_PATH: {
            /* the node's path: its INI's path without ".INI", as
             * cmh__tree_stream spells it */
            const char *rel = frel(c, &c->files[a]);
            size_t n = strlen(rel) - 4;
            p.len = 0;
            for (size_t s = 0; s < n;) {
                const char *sl = memchr(rel + s, '/', n - s);
                size_t e = sl ? (size_t)(sl - rel) : n;
                if (!cmh__path16_push(&p, rel + s, e - s))
                    goto out;
                s = e + 1;
            }
            cmh__utf16le_digest(p.u, p.len, md);
            break;
        }
        default: {
            const vfile *f = &c->files[a];
            const uint8_t *sha = f->sha;
            if (sig) {
                if (!f->entry)
                    goto out;
                sha = f->entry->sig_sha;
            }
            char hex[CMH_HEX_SIZE];
            uint16_t u[64];
            cmh_hex_upper(hex, sha, CMH_SHA256_LEN);
            for (size_t k = 0; k < 64; k++)
                u[k] = (uint16_t)hex[k];
            cmh__utf16le_digest(u, 64, md);
            break;
        }
        }
    }
    unsigned int len = 0;
    EVP_DigestFinal_ex(md, out, &len);
    st = CMH_OK;
out:
    free(p.u);
    EVP_MD_CTX_free(md);
    return st;
}

/* Give back what the mirror walk over-allocated (doubling growth). */
static void shrink_content(vcontent *c)
{
    if (c->nfiles && c->nfiles < c->capfiles) {
        vfile *f = realloc(c->files, c->nfiles * sizeof *f);
        if (f) {
            c->files = f;
            c->capfiles = c->nfiles;
        }
    }
    if (c->names.data && c->names.len + 1 < c->names.cap) {
        char *d = realloc(c->names.data, c->names.len + 1);
        if (d) {
            c->names.data = d;
            c->names.cap = c->names.len + 1;
        }
    }
}

/* A small INI: one read into @p buf (SIG_CMP_BUF bytes, a worker's) when
 * it is short and not empty - no fstat: the listing saw a regular file,
 * and a non-empty read is of one; else (empty, 64 KiB or more, an error)
 * the read every command uses (cmh__read_small_file: fstat, size limit),
 * so those findings do not change. *owned: *data is malloc'd. */
int cmh__v_read_ini(unsigned char *buf, int dirfd, const char *name,
                    char **data, size_t *len, bool *owned)
{
    int fd;
    *owned = false;
    int err = cmh__os_open_read(dirfd, name, &fd);
    if (err)
        return err;
    ssize_t n;
    do
        n = read(fd, buf, SIG_CMP_BUF - 1);
    while (n < 0 && errno == EINTR);
    close(fd);
    if (n > 0 && (size_t)n < SIG_CMP_BUF - 1) {
        buf[n] = 0;
        *data = (char *)buf;
        *len = (size_t)n;
        return 0;
    }
    *owned = true;
    return cmh__read_small_file(dirfd, name, CMH_INI_MAX_FILE, data, len);
}

typedef struct mirror_walk {
    cmh_verify *v;
    vcontent *c;
    cmh_buf rel;  /* current folder, relative, with trailing '/' or "" */
    cmh_node **dirs; /* folder being read is dirs[n - 1] */
    size_t *rel_len; /* rel.len when dirs[i] was entered */
    size_t n, cap;
    unsigned char *buf; /* the worker's SIG_CMP_BUF bytes (cmh__v_read_ini) */
} mirror_walk;

static char *mirror_path(mirror_walk *m, const char *name)
{
    return xasprintf("DataLib/%s/%s%s", m->c->id, cmh__buf_str(&m->rel),
                     name);
}

/* A tree node in @p dir for the file whose INI is @p name (@p n bytes,
 * ".INI" included), and its vfile, zeroed, the node's plan index set
 * (*out_node: the node); NULL when out of memory (c->fnd.oom). */
static vfile *file_add(mirror_walk *m, const char *name, size_t n,
                       cmh_node *dir, cmh_node **out_node)
{
    vcontent *c = m->c;
    cmh_node *node = cmh__node_new(name, n - 4, false);
    if (!node || !cmh__node_add(dir, node)) {
        cmh__node_free(node);
        c->fnd.oom = true;
        return NULL;
    }
    if (!cmh__grow(&c->files, &c->capfiles, c->nfiles + 1, sizeof *c->files,
                   16)) {
        c->fnd.oom = true;
        return NULL;
    }
    vfile *f = &c->files[c->nfiles++];
    memset(f, 0, sizeof *f);
    node->aux = (void *)(uintptr_t)c->nfiles; /* index + 1, for the plan */
    *out_node = node;
    return f;
}

/* The file's relative path (its folder's, then @p name of @p n bytes with
 * its NUL) in the content's names; false when there is no room (4 GiB of
 * names in one content) or no memory. */
static bool file_name(mirror_walk *m, vfile *f, const char *name, size_t n)
{
    vcontent *c = m->c;
    if (c->names.len >= UINT32_MAX - 2 * PATH_MAX || c->names.oom)
        return false;
    f->rel = (uint32_t)c->names.len;
    cmh__buf_add(&c->names, m->rel.data ? m->rel.data : "", m->rel.len);
    cmh__buf_add(&c->names, name, n + 1);
    return !c->names.oom;
}

/* Read and parse the file INI @p name into @p fi; false when it cannot be
 * read or parsed (reported, and the mirror is incomplete). Lower-case hex
 * is reported and accepted. */
static bool file_ini_read(mirror_walk *m, int dirfd, const char *name,
                          cmh_fileini *fi)
{
    vcontent *c = m->c;
    char *data = NULL;
    size_t len;
    bool owned;
    int e = cmh__v_read_ini(m->buf, dirfd, name, &data, &len, &owned);
    if (e) {
        c->mirror_complete = false;
        cmh__v_vfinds_add(
            &c->fnd, e == EFBIG ? CMH_VF_FILE_INI_BAD : CMH_VF_FILE_UNREADABLE,
            -1, "", "", mirror_path(m, name), "cannot read the file INI: %s",
            e == EFBIG ? "larger than 4 MiB" : strerror(e));
        return false;
    }
    char why[256];
    int r = cmh__fileini_parse(data, len, fi, why, sizeof why);
    if (owned)
        free(data);
    if (r != CMH_FILEINI_OK) {
        c->mirror_complete = false;
        if (r == CMH_FILEINI_UNPARSABLE)
            cmh__v_vfinds_add(&c->fnd, CMH_VF_FILE_INI_BAD, -1, "", "",
                              mirror_path(m, name), "unparsable file INI: %s",
                              why);
        else if (r == CMH_FILEINI_MISSING)
            cmh__v_vfinds_add(&c->fnd, CMH_VF_FILE_INI_BAD, -1, fi->missing,
                              "", mirror_path(m, name),
                              "file INI has no [File] %s", fi->missing);
        else
            cmh__v_vfinds_add(&c->fnd, CMH_VF_FILE_INI_BAD, -1, "",
                              fi->bad_value, mirror_path(m, name),
                              "file INI: %s", fi->bad);
        return false;
    }
    if (fi->lower_hash || fi->lower_attrs)
        cmh__v_vfinds_add(&c->fnd, CMH_VF_INI_NONCANONICAL, -1, "", "",
                          mirror_path(m, name),
                          "lower-case hex in %s (accepted; writers use upper "
                          "case)", fi->lower_hash ? "Hash" : "Attributes");
    return true;
}

/* One file INI of the mirror: a node in @p dir, a vfile with its path,
 * and its hash and size when the INI is good. */
static void check_file_ini(mirror_walk *m, int dirfd, const char *name,
                           cmh_node *dir)
{
    vcontent *c = m->c;
    size_t n = strlen(name);
    cmh_node *node;
    vfile *f = file_add(m, name, n, dir, &node);
    if (!f)
        return;
    if (!file_name(m, f, name, n)) {
        /* No room for its name: the file is forgotten (its node stays,
         * with no plan index) and the run ends out of memory; nothing is
         * recomputed from this mirror. */
        c->nfiles--;
        node->aux = NULL;
        c->mirror_complete = false;
        c->fnd.oom = true;
        return;
    }
    cmh_fileini fi;
    if (!file_ini_read(m, dirfd, name, &fi))
        return;
    uint64_t size = fi.size;
    memcpy(f->sha, fi.sha, CMH_SHA256_LEN);
    memcpy(node->sha, f->sha, CMH_SHA256_LEN);
    node->size = f->size = size;
    f->ok = true;
}

static int mw_enter(void *arg, const char *nm, int depth)
{
    (void)depth;
    mirror_walk *m = arg;
    vcontent *c = m->c;
    if (m->n == m->cap) {
        size_t nc = m->cap * 2;
        cmh_node **nd = realloc(m->dirs, nc * sizeof *nd);
        if (nd)
            m->dirs = nd;
        size_t *nl = nd ? realloc(m->rel_len, nc * sizeof *nl) : NULL;
        if (!nl) {
            c->fnd.oom = true;
            return 1;
        }
        m->rel_len = nl;
        m->cap = nc;
    }
    cmh_node *sub = cmh__node_new(nm, strlen(nm), true);
    if (!sub || !cmh__node_add(m->dirs[m->n - 1], sub)) {
        cmh__node_free(sub);
        c->fnd.oom = true;
        return 1;
    }
    m->rel_len[m->n] = m->rel.len;
    m->dirs[m->n++] = sub;
    cmh__buf_adds(&m->rel, nm);
    cmh__buf_adds(&m->rel, "/");
    return 0;
}

static void mw_leave(void *arg)
{
    mirror_walk *m = arg;
    size_t saved = m->rel_len[--m->n];
    m->rel.len = saved;
    if (m->rel.data)
        m->rel.data[saved] = 0;
}

static int mw_entry(void *arg, int fd, const char *nm, const struct stat *sb)
{
    mirror_walk *m = arg;
    vcontent *c = m->c;
    size_t n = strlen(nm);
    if (S_ISREG(sb->st_mode) && n > 4 && ends_ci(nm, ".INI")) {
        check_file_ini(m, fd, nm, m->dirs[m->n - 1]);
    } else if (has_prefix(nm, CMH_TMP_PREFIX) && m->v->any_busy) {
        /* may belong to a running snapshot */
    } else {
        /* Not in the content hash: the mirror holds folders and file INIs
         * only. */
        double age = has_prefix(nm, CMH_TMP_PREFIX)
                         ? wall_now() - mtime_of(sb)
                         : -1;
        cmh__v_vfinds_add(
            &c->fnd, CMH_VF_STRAY, age, "", "", mirror_path(m, nm), "%s",
            S_ISLNK(sb->st_mode)   ? "symbolic link in a mirror (not "
                                     "followed)"
            : S_ISREG(sb->st_mode) ? "file in a mirror that is not a "
                                     "file INI"
                                   : "special file in a mirror");
    }
    return c->fnd.oom;
}

/* Read the mirror DataLib/<id> into c->root (cmh__mirror_walk: one depth
 * limit for every command, no descriptor per level). A folder that cannot
 * be read ends the walk: the mirror is incomplete and not recomputed. */
static void walk_mirror(mirror_walk *m)
{
    static const cmh_mirror_cb cb = {mw_enter, mw_leave, mw_entry, false};
    vcontent *c = m->c;
    m->cap = 64;
    m->n = 1;
    m->dirs = malloc(m->cap * sizeof *m->dirs);
    m->rel_len = malloc(m->cap * sizeof *m->rel_len);
    if (!m->dirs || !m->rel_len) {
        c->fnd.oom = true;
        return;
    }
    m->dirs[0] = c->root;
    m->rel_len[0] = 0;
    char *where = NULL;
    int e = cmh__mirror_walk(m->v->lib.datalib_fd, c->id, &cb, m, &where);
    if (e && !c->fnd.oom && where && !where[0] &&
        (e == ENOENT || e == ENOTDIR || e == ELOOP || e == EACCES)) {
        /* the mirror folder itself could not be opened */
        c->mirror_read = false;
        cmh__v_vfinds_add(&c->fnd, CMH_VF_FILE_UNREADABLE, -1, "", "",
                          xasprintf("DataLib/%s", c->id),
                          "cannot open the mirror: %s", strerror(e));
    } else if (e && !c->fnd.oom) {
        c->mirror_complete = false;
        if (where)
            cmh__path_abbrev(where);
        char *path = xasprintf("DataLib/%s%s%s", c->id,
                               where && where[0] ? "/" : "",
                               where ? where : "");
        if (e == ELOOP)
            cmh__v_vfinds_add(&c->fnd, CMH_VF_FILE_UNREADABLE, -1, "", "", path,
                              "mirror deeper than %d folders; not checked",
                              CMH_MIRROR_MAX_DEPTH);
        else
            cmh__v_vfinds_add(&c->fnd, CMH_VF_FILE_UNREADABLE, -1, "", "", path,
                              "cannot read the mirror folder: %s", strerror(e));
    }
    free(where);
}

/* The content INI: its hash, signature hash and whether cmhash wrote it
 * (findings into c->fnd). */
static void content_ini(cmh_verify *v, vcontent *c, const char *name)
{
    char *data = NULL;
    size_t len;
    int e = cmh__read_small_file(v->lib.datalib_fd, name, CMH_INI_MAX_FILE,
                                 &data, &len);
    /* cmh__v_vfinds_add takes over the path it is given */
    char *path = xasprintf("DataLib/%s", name);
    cmh_contentini p;
    char why[256];
    int r = e ? -1 : cmh__contentini_parse(data, len, &p, why, sizeof why);
    if (e) {
        cmh__v_vfinds_add(&c->fnd,
                          e == EFBIG ? CMH_VF_CONTENT_INI_BAD
                                     : CMH_VF_FILE_UNREADABLE,
                          -1, "", "", path, "cannot read the content INI: %s",
                          e == EFBIG ? "larger than 4 MiB" : strerror(e));
    } else if (r == CMH_CONTENTINI_UNPARSABLE) {
        cmh__v_vfinds_add(&c->fnd, CMH_VF_CONTENT_INI_BAD, -1, "", "", path,
                          "unparsable content INI: %s", why);
    } else if (r == CMH_CONTENTINI_BAD) {
        cmh__v_vfinds_add(&c->fnd, CMH_VF_CONTENT_INI_BAD, -1, "", "", path,
                          "content INI: %s", why);
    } else if (r == CMH_CONTENTINI_NO_HASH) {
        cmh__v_vfinds_add(&c->fnd, CMH_VF_CONTENT_INI_BAD, -1, "Hash", "", path,
                          "content INI has no [Info] Hash");
    } else if (r == CMH_CONTENTINI_BAD_ALG) {
        cmh__v_vfinds_add(&c->fnd, CMH_VF_CONTENT_INI_BAD, -1, "32780", p.alg,
                          path,
                          "unknown HashAlgorithm (32780 = SHA-256 is "
                          "the only one)");
    } else {
        c->ini_ok = true;
        c->foreign = !p.has_cmhash;
        memcpy(c->hash, p.hash, CMH_SHA256_LEN);
        if (p.have_sighash) {
            c->has_sighash = true;
            memcpy(c->sighash, p.sighash, CMH_SHA256_LEN);
        }
        if (p.hash_lower || p.sighash_lower)
            cmh__v_vfinds_add(&c->fnd, CMH_VF_INI_NONCANONICAL, -1, "", "",
                              path,
                              "lower-case hex in %s (accepted; writers use "
                              "upper case)",
                              p.hash_lower ? "Hash" : "SignatureHash");
        else
            free(path);
    }
    free(data);
}

/* The mirror walked into c->root and its file table; false: no memory
 * for the tree's root. */
static bool content_mirror(cmh_verify *v, vworker *w, vcontent *c)
{
    c->root = cmh__node_new("", 0, true);
    if (!c->root) {
        c->fnd.oom = true;
        return false;
    }
    mirror_walk m;
    memset(&m, 0, sizeof m);
    m.v = v;
    m.c = c;
    m.buf = w->buf;
    cmh__buf_init(&m.rel);
    c->mirror_complete = true;
    c->mirror_read = true;
    walk_mirror(&m);
    cmh__buf_free(&m.rel);
    free(m.dirs);
    free(m.rel_len);
    if (m.rel.oom)
        c->fnd.oom = true;
    /* Out of memory part-way: the tree and the file table may be
     * incomplete (a file counted whose name was never stored), so
     * nothing is recomputed from them; the run reports the failure. */
    if (c->fnd.oom)
        c->mirror_complete = false;
    cmh__tree_sort(c->root);
    shrink_content(c);
    return true;
}

/* The content hash recomputed from the mirror, compared with the INI's;
 * the tree traded for the signature-hash plan when it stands in for it. */
static void content_hash(cmh_verify *v, vcontent *c, const char *name)
{
    uint8_t h[CMH_SHA256_LEN];
    bool have_h = false;
    if (c->mirror_complete) {
        if (cmh__tree_hash(c->root, false, v->ctx->sha256, h) != CMH_OK)
            c->fnd.oom = true;
        else
            have_h = true;
    }
    /* The tree is the bulk of a content's memory; only the signature
     * hash needs it later, and the plan stands in for it (checked: it
     * must give the same content hash). Kept only if that fails. */
    if (have_h && c->has_sighash) {
        uint8_t hp[CMH_SHA256_LEN];
        if (make_plan(c) &&
            cmh__v_plan_hash(c, false, v->ctx->sha256, hp) == CMH_OK &&
            !memcmp(hp, h, CMH_SHA256_LEN)) {
            cmh__node_free(c->root);
            c->root = NULL;
        } else {
            free(c->plan);
            free(c->dirs16);
            c->plan = NULL;
            c->dirs16 = NULL;
            c->nplan = c->ndirs16 = 0;
        }
    } else {
        cmh__node_free(c->root);
        c->root = NULL;
    }
    if (have_h && c->ini_ok) {
        if (memcmp(h, c->hash, CMH_SHA256_LEN)) {
            char exp[CMH_HEX_SIZE], act[CMH_HEX_SIZE];
            cmh_hex_upper(exp, c->hash, CMH_SHA256_LEN);
            cmh_hex_upper(act, h, CMH_SHA256_LEN);
            cmh__v_vfinds_add(
                &c->fnd, CMH_VF_CONTENT_HASH_MISMATCH, -1, exp, act,
                xasprintf("DataLib/%s", name),
                "the content hash recomputed from the mirror's "
                "file INIs differs from [Info] Hash");
        }
    }
}

/* One content, on a worker: its INI, its mirror, its content hash. */
void cmh__v_content_task(void *tk, void *state, void *arg)
{
    vcontent *c = tk;
    cmh_verify *v = arg;
    vworker *w = state;
    if (atomic_load_explicit(&v->stop, memory_order_relaxed))
        return;
    char name[CMH_CID_SIZE + 8];
    snprintf(name, sizeof name, "%s%s", c->id,
             c->ini_suffix[0] ? c->ini_suffix : ".INI");
    if (c->has_ini)
        content_ini(v, c, name);
    if (c->has_dir && content_mirror(v, w, c))
        content_hash(v, c, name);
    atomic_fetch_add(&v->items_done, 1);
}
