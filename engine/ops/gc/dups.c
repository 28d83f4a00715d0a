/* gc, duplicates: copies of a FileLib entry on a second root of a
 * spanned library (verify's STRAY duplicate). */
#include "gcpriv.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmhash/gc.h>
#include <cmhash/verify.h>

/* FileLib root @p r of the library: 0 the primary, then the extra roots
 * in lookup order (cmh__filelib_roots_open). */
int cmh__gc_root_fd(gc_run *g, size_t r)
{
    return r ? g->lib.xfd[r - 1] : g->lib.filelib_fd;
}

/* The root commands use for entry @p hex: the first holding its data
 * (cmh__filelib_find's order, verify's rule); -1 when none does. */
static int used_root(gc_run *g, const char *hex)
{
    char rel[CMH_FILELIB_REL_SIZE];
    struct stat sb;
    cmh__filelib_rel_hex(rel, hex, "");
    for (size_t r = 0; r <= g->lib.nx; r++)
        if (fstatat(cmh__gc_root_fd(g, r), rel, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
            S_ISREG(sb.st_mode))
            return (int)r;
    return -1;
}

/* Is the data file of entry @p hex on root fd @p fl intact (its SHA-256
 * is its name)? Read only for a duplicate that would otherwise go (gc
 * reads no other file data), in the dry run too, so that it lists what
 * --apply removes: the one check that proves the used copy good. */
static bool data_intact(gc_run *g, int fl, const char *hex)
{
    char rel[CMH_FILELIB_REL_SIZE];
    cmh__filelib_rel_hex(rel, hex, "");
    int fd;
    if (cmh__os_open_read(fl, rel, &fd) != 0)
        return false;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char *buf = malloc(1 << 20);
    bool ok = md && buf && EVP_DigestInit_ex(md, g->ctx->sha256, NULL);
    ssize_t n;
    while (ok && (n = read(fd, buf, 1 << 20)) != 0)
        ok = n > 0 && EVP_DigestUpdate(md, buf, (size_t)n);
    uint8_t sha[EVP_MAX_MD_SIZE], want[CMH_SHA256_LEN];
    unsigned len = 0;
    ok = ok && EVP_DigestFinal_ex(md, sha, &len) && len == CMH_SHA256_LEN &&
         cmh__hex64_decode(hex, want) && !memcmp(sha, want, len);
    EVP_MD_CTX_free(md);
    free(buf);
    close(fd);
    return ok;
}

/* Why entry @p hex's copy on root fd @p dfd must stay, given the used copy
 * on root fd @p ufd; NULL when it may go: each of its files is a regular
 * file with the same name and size on the used root (the reference INI:
 * the same bytes, small), and verify found the used copy intact. Reads
 * no data file. */
static const char *dup_keep(gc_run *g, const char *hex, int dfd, int ufd)
{
    static const char *const sfx[3] = {"", ".SIG", ".INI"};
    for (size_t i = 0; i < g->nbad; i++)
        if (!strcmp(g->bad[i], hex))
            return "the used copy is damaged; run cmhash verify";
    for (int k = 0; k < 3; k++) {
        char rel[CMH_FILELIB_REL_SIZE];
        struct stat ds, us;
        cmh__filelib_rel_hex(rel, hex, sfx[k]);
        if (fstatat(dfd, rel, &ds, AT_SYMLINK_NOFOLLOW) != 0)
            continue;
        if (!S_ISREG(ds.st_mode))
            return "not a regular file; remove it by hand";
        if (fstatat(ufd, rel, &us, AT_SYMLINK_NOFOLLOW) != 0 ||
            !S_ISREG(us.st_mode))
            return k == 1 ? "the used copy has no .SIG; this one would be "
                            "lost"
                          : "the used copy has no reference INI; this one "
                            "would be lost";
        if (k < 2 && ds.st_size != us.st_size)
            return "the copies differ in size (one is damaged); run cmhash "
                   "verify, then remove the bad one by hand";
        if (k == 2) {
            char *a = NULL, *b = NULL;
            size_t na = 0, nb = 0;
            bool same =
                cmh__read_small_file(dfd, rel, CMH_INI_MAX_FILE, &a, &na) ==
                    0 &&
                cmh__read_small_file(ufd, rel, CMH_INI_MAX_FILE, &b, &nb) ==
                    0 &&
                na == nb && !memcmp(a, b, na);
            free(a);
            free(b);
            if (!same)
                return "its reference INI differs from the used copy's; "
                       "merge them by hand";
        }
    }
    return NULL;
}

/* Duplicates (verify's STRAY on a second root): one item per entry and
 * root that is not the used one, listed and, with --apply, removed under
 * the library lock after the re-check. */
cmh_status cmh__gc_duplicates(gc_run *g, bool apply, cmh_gc_result *res)
{
    static const char *const sfx[3] = {"", ".SIG", ".INI"};
    for (size_t i = 0; i < g->ndups; i++) {
        const char *hex = g->dups[i];
        int u = used_root(g, hex);
        for (size_t r = 0; r <= g->lib.nx; r++) {
            int dfd = cmh__gc_root_fd(g, r);
            if ((int)r == u || !cmh__gc_entry_present(dfd, hex))
                continue;
            char path[4096];
            snprintf(path, sizeof path, "%s/%.4s/%s",
                     r ? g->lib.xpath[r - 1] : "FileLib", hex, hex);
            gc_item *it = cmh__gc_item_new(g, CMH_GC_DUPLICATE, path);
            if (!it)
                return cmh__fail(g->ctx, CMH_E_NOMEM, "out of memory");
            snprintf(it->hash, sizeof it->hash, "%s", hex);
            it->bytes = cmh__gc_entry_bytes(dfd, hex);
            res->items++;
            res->bytes += it->bytes;
            const char *why = u < 0 ? "no root holds the entry's data; "
                                      "repair it first (cmhash verify)"
                                    : dup_keep(g, hex, dfd, cmh__gc_root_fd(g, (size_t)u));
            bool removed = false;
            if (!why && !data_intact(g, cmh__gc_root_fd(g, (size_t)u), hex))
                why = "the used copy is damaged (its bytes do not hash to "
                      "its name); run cmhash verify";
            if (apply && !why) {
                for (int k = 0; k < 3; k++) {
                    char rel[CMH_FILELIB_REL_SIZE];
                    cmh__filelib_rel_hex(rel, hex, sfx[k]);
                    if (unlinkat(dfd, rel, 0) != 0 && errno != ENOENT &&
                        !why)
                        why = "cannot delete it";
                }
                removed = !why;
            }
            if (cmh__gc_report(g, it, removed, why, res))
                return cmh__fail(g->ctx, CMH_E_CANCELED, "canceled");
        }
    }
    return CMH_OK;
}
