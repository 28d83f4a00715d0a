/* PkgLib: read and write a package's INI, kept versions, the foreign
 * library guard (library.h). */
#include "library.h"
#include "grow.h"

#include <dirent.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "os/os.h"

/* ---- PkgLib ---- */

/* [Info] Hash of DataLib/<cid>.INI, or "" */
static void content_hash_of(cmh_library *l, const char *cid,
                            char out[CMH_HEX_SIZE]);

cmh_status cmh__pkglib_read(cmh_ctx *ctx, cmh_library *l, const char *pkgid,
                           cmh_pkg_info *out)
{
    memset(out, 0, sizeof *out);
    char name[32];
    snprintf(name, sizeof name, "%s.INI", pkgid);
    char *data;
    size_t len;
    int e = cmh__read_small_file(l->pkglib_fd, name, CMH_INI_MAX_FILE, &data,
                                &len);
    if (e == ENOENT)
        return CMH_OK;
    if (e)
        return cmh__fail_errno(ctx, CMH_E_LIBRARY, e,
                               "cannot read %s/PkgLib/%s", l->path, name);
    char why[256];
    cmh_pkgini pi;
    bool ok = cmh__pkgini_parse(&pi, pkgid, data, len, why, sizeof why);
    free(data);
    if (ok && pi.nbad) {
        ok = false;
        snprintf(why, sizeof why, "%s", pi.bad[0].why);
    }
    if (ok)
        out->version = cmh__pkgini_current(&pi, out->cid);
    cmh__pkgini_free(&pi);
    if (!ok)
        return cmh__fail(ctx, CMH_E_LIBRARY,
                         "%s/PkgLib/%s is damaged (%s); run cmhash verify, "
                         "then restore or remove it", l->path, name, why);
    if (out->cid[0])
        content_hash_of(l, out->cid, out->hash);
    return CMH_OK;
}

int cmh__content_ini_hash(cmh_library *l, const char *cid,
                         char out[CMH_HEX_SIZE], char *why, size_t whylen)
{
    cmh_contentini ci;
    out[0] = 0;
    int e = cmh__contentini_read(l->datalib_fd, cid, &ci, why, whylen);
    if (e)
        return e;
    cmh_hex_upper(out, ci.hash, CMH_SHA256_LEN);
    return 0;
}

static void content_hash_of(cmh_library *l, const char *cid,
                            char out[CMH_HEX_SIZE])
{
    char why[128];
    (void)cmh__content_ini_hash(l, cid, out, why, sizeof why);
}

/* The first .SIG in FileLib folder @p fl (at most 16 <H4> folders looked
 * at): its "H4/NAME" into @p rel; 1 MS-RDC, 0 librsync, -1 none found. */
static int sig_sample(int fl, char rel[CMH_FILELIB_REL_SIZE])
{
    int fd = dup(fl);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    rewinddir(d);
    int kind = -1, looked = 0;
    struct dirent *de;
    while (kind < 0 && looked < 16 && (de = readdir(d)) != NULL) {
        const char *h4 = de->d_name;
        if (strlen(h4) != 4 || strspn(h4, "0123456789ABCDEFabcdef") != 4)
            continue;
        looked++;
        int sfd; /* (no atime change: verify and delta take this look) */
        if (cmh__os_open_dir_noatime(fl, h4, &sfd) != 0)
            continue;
        DIR *sd = fdopendir(sfd);
        if (!sd) {
            close(sfd);
            continue;
        }
        struct dirent *se;
        while (kind < 0 && (se = readdir(sd)) != NULL) {
            size_t n = strlen(se->d_name);
            if (n != 68 || strcasecmp(se->d_name + 64, ".SIG"))
                continue;
            memcpy(rel, h4, 4); /* "H4/" + the 68-byte name + NUL */
            rel[4] = '/';
            memcpy(rel + 5, se->d_name, 69);
            int in;
            if (cmh__os_open_read(fl, rel, &in) != 0)
                continue;
            unsigned char hdr[CMH_RDC_SIG_HEADER_LEN];
            ssize_t got = read(in, hdr, sizeof hdr);
            close(in);
            if (got > 0)
                kind = cmh__sig_is_rdc(hdr, (size_t)got) ? 1 : 0;
        }
        closedir(sd);
    }
    closedir(d);
    return kind;
}

int cmh__library_sig_rdc(const cmh_library *l, char *where, size_t wlen)
{
    char rel[CMH_FILELIB_REL_SIZE];
    const char *root = l->path;
    int k = sig_sample(l->filelib_fd, rel);
    for (size_t i = 0; k < 0 && i < l->nx; i++)
        if ((k = sig_sample(l->xfd[i], rel)) >= 0)
            root = l->xpath[i];
    if (k > 0 && where)
        snprintf(where, wlen, "%s/FileLib/%s", root, rel);
    return k > 0;
}

cmh_status cmh__library_refuse_foreign(cmh_ctx *ctx, cmh_library *l,
                                      const char *cmd)
{
    int fd = dup(l->datalib_fd);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        if (fd >= 0)
            close(fd);
        return cmh__fail_errno(ctx, CMH_E_LIBRARY, errno,
                               "cannot list %s/DataLib", l->path);
    }
    rewinddir(d);
    struct dirent *de;
    cmh_status st = CMH_OK;
    while (!st && (de = readdir(d)) != NULL) {
        const char *nm = de->d_name;
        size_t n = strlen(nm);
        char cid[CMH_CID_SIZE], why[160];
        if (n < 5 || n - 4 >= sizeof cid || strcasecmp(nm + n - 4, ".INI"))
            continue;
        memcpy(cid, nm, n - 4);
        cid[n - 4] = 0;
        cmh_contentini ci;
        if (cmh_content_id_parse(NULL, NULL, cid) == CMH_CONTENT_INVALID ||
            cmh__contentini_read(l->datalib_fd, cid, &ci, why, sizeof why) ||
            ci.has_cmhash)
            continue; /* damaged ones are verify's to report */
        st = cmh__fail(ctx, CMH_E_LIBRARY,
                       "%s was written by Configuration Manager (%s/DataLib/"
                       "%s has no [cmhash] section); %s writes to it only "
                       "with --allow-foreign", l->path, l->path, nm, cmd);
    }
    closedir(d);
    char where[1200] = "";
    if (!st && cmh__library_sig_rdc(l, where, sizeof where))
        st = cmh__fail(ctx, CMH_E_LIBRARY,
                       "%s was written by Configuration Manager (%s is an "
                       "MS-RDC signature, not librsync); %s writes to it "
                       "only with --allow-foreign", l->path, where, cmd);
    return st;
}

cmh_status cmh__pkglib_write(cmh_ctx *ctx, cmh_library *l, const char *pkgid,
                            uint32_t version, bool do_fsync)
{
    return cmh__pkglib_write_keep(ctx, l, pkgid, version, NULL, 0, do_fsync);
}

cmh_status cmh__pkglib_write_keep(cmh_ctx *ctx, cmh_library *l,
                                 const char *pkgid, uint32_t version,
                                 const char (*keep)[CMH_CID_SIZE],
                                 size_t nkeep, bool do_fsync)
{
    char name[32];
    snprintf(name, sizeof name, "%s.INI", pkgid);
    cmh_buf b;
    cmh__buf_init(&b);
    cmh__pkgini_write(&b, pkgid, version, keep, nkeep);
    int e = b.oom ? ENOMEM
                  : cmh__write_atomic(l->pkglib_fd, name, b.data, b.len,
                                     do_fsync);
    cmh__buf_free(&b);
    if (e)
        return cmh__fail(ctx, cmh__status_for_write_errno(e),
                         "cannot write %s/PkgLib/%s: %s; %s", l->path, name,
                         strerror(e), cmh__write_hint(e));
    return CMH_OK;
}

/* ---- kept versions (snapshot --keep) ---- */

cmh_status cmh__pkglib_kept(cmh_ctx *ctx, cmh_library *l, const char *pkgid,
                           cmh_reflist *out)
{
    char why[256];
    cmh_pkgini pi;
    int e = cmh__pkgini_read(l->pkglib_fd, pkgid, &pi, why, sizeof why);
    if (e == ENOENT)
        return CMH_OK;
    if (e == ENOMEM)
        return cmh__fail(ctx, CMH_E_NOMEM, "out of memory");
    if (e == EINVAL)
        return cmh__fail(ctx, CMH_E_LIBRARY,
                         "%s/PkgLib/%s.INI is damaged (%s); run cmhash "
                         "verify", l->path, pkgid, why);
    if (e)
        return cmh__fail_errno(ctx, CMH_E_LIBRARY, e,
                               "cannot read %s/PkgLib/%s.INI", l->path,
                               pkgid);
    /* only this package's well-formed IDs are kept (verify reports the
     * others) */
    bool oom = false;
    for (size_t i = 0; i < pi.nkeep; i++)
        if (!cmh__reflist_add(out, pi.keep[i]))
            oom = true;
    cmh__pkgini_free(&pi);
    if (oom)
        return cmh__fail(ctx, CMH_E_NOMEM, "out of memory");
    return CMH_OK;
}

typedef struct kept_cand {
    uint32_t version;
    char cid[CMH_CID_SIZE];
} kept_cand;

static int cand_newest_first(const void *a, const void *b)
{
    uint32_t x = ((const kept_cand *)a)->version,
             y = ((const kept_cand *)b)->version;
    return x < y ? 1 : x > y ? -1 : 0;
}

cmh_status cmh__keep_select(cmh_ctx *ctx, cmh_library *l, const char *pkgid,
                           uint32_t below, uint32_t max,
                           char (**ids)[CMH_CID_SIZE], size_t *n)
{
    *ids = NULL;
    *n = 0;
    if (!max)
        return CMH_OK;
    int dup_fd = dup(l->datalib_fd);
    DIR *d = dup_fd >= 0 ? fdopendir(dup_fd) : NULL;
    if (!d) {
        if (dup_fd >= 0)
            close(dup_fd);
        return cmh__fail_errno(ctx, CMH_E_IO, errno,
                               "cannot list %s/DataLib", l->path);
    }
    rewinddir(d);
    kept_cand *v = NULL;
    size_t nv = 0, cap = 0;
    struct dirent *de;
    cmh_status st = CMH_OK;
    while ((de = readdir(d)) != NULL) {
        char id[CMH_PKGID_SIZE];
        uint32_t ver;
        struct stat sb;
        char ini[CMH_CID_SIZE + 8];
        size_t dl = strlen(de->d_name);
        if (dl >= CMH_CID_SIZE ||
            cmh_content_id_parse(id, &ver, de->d_name) != CMH_CONTENT_PACKAGE ||
            strcmp(id, pkgid) || ver >= below)
            continue;
        /* only complete contents: folder and content INI */
        memcpy(ini, de->d_name, dl);
        memcpy(ini + dl, ".INI", 5);
        if (fstatat(l->datalib_fd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) ||
            !S_ISDIR(sb.st_mode) ||
            fstatat(l->datalib_fd, ini, &sb, AT_SYMLINK_NOFOLLOW) ||
            !S_ISREG(sb.st_mode))
            continue;
        if (!cmh__grow(&v, &cap, nv + 1, sizeof *v, 8)) {
            st = cmh__fail(ctx, CMH_E_NOMEM, "out of memory");
            break;
        }
        v[nv].version = ver;
        memcpy(v[nv].cid, de->d_name, dl + 1);
        nv++;
    }
    closedir(d);
    if (st == CMH_OK && nv) {
        qsort(v, nv, sizeof *v, cand_newest_first);
        size_t k = nv < max ? nv : max;
        *ids = malloc(k * sizeof **ids);
        if (!*ids) {
            st = cmh__fail(ctx, CMH_E_NOMEM, "out of memory");
        } else {
            for (size_t i = 0; i < k; i++)
                memcpy((*ids)[i], v[i].cid, CMH_CID_SIZE);
            *n = k;
        }
    }
    free(v);
    return st;
}
