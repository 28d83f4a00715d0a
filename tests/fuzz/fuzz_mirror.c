/* Fuzz target: the DataLib mirror readers fed crafted trees. The input is
 * a tiny tree description (below) materialised in a temp folder as the
 * mirror DataLib/FUZ00001.1 of a library - names with "..", control
 * characters and up to 255 bytes, symbolic links out of the library (to a
 * canary folder beside it, to "/", to /proc/self/fd/0), FIFOs, junk INIs
 * and a PkgLib INI whose content ID comes from the input. Then the strict
 * reader (cmh__mirror_load: extract/diff/ls/delta), cmh_extract into a
 * fresh DEST and cmh_verify (the package, then the whole library) run on
 * it. Asserts: nothing outside the library and DEST is read or written
 * (the canary's atimes, set far in the past, and its folder's mtime stay;
 * the temp root holds only what we made), DEST holds only files and
 * folders, and no call crashes (ASan) or hangs (libFuzzer -timeout).
 *
 * Description, one record after another (the input ends the tree):
 *   op byte: low 3 bits = kind, high bits = argument
 *   0 mkdir NAME           1 mirror file INI NAME (+".INI" if arg & 1)
 *   2 symlink NAME -> targets[arg % N]   3 FIFO NAME
 *   4 mkdir NAME and enter it (depth <= 8)   5 leave the folder
 *   6 file NAME with LEN raw bytes (LEN byte, then the bytes)
 *   7 PkgLib/FUZ00001.INI lists content ID NAME (may hold / and ..)
 *   NAME: a length byte (0..255) and the bytes; '/' and NUL become '_'
 *   (a name is one component: the materialiser itself never escapes). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmhash/cmhash.h>

#include "library.h"
#include "tree_io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char g_root[64];
static char g_canary[128], g_secret[160], g_csub[160];
static struct timespec g_old = {946684800, 0}; /* 2000-01-01 */
static struct stat g_canary_dir0;

static int rm_cb(const char *p, const struct stat *sb, int flag,
                 struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    if (remove(p) != 0 && errno != ENOENT) {
        /* a folder made read-only by extract (0444 files are fine) */
        chmod(p, 0755);
        remove(p);
    }
    return 0;
}

static void rm_rf(const char *p)
{
    nftw(p, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static void write_file(const char *path, const void *b, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, 0644);
    if (fd < 0)
        abort();
    if (write(fd, b, n) != (ssize_t)n)
        abort();
    close(fd);
}

static void old_atime(const char *p)
{
    struct timespec ts[2] = {g_old, {0, UTIME_OMIT}};
    if (utimensat(AT_FDCWD, p, ts, AT_SYMLINK_NOFOLLOW) != 0)
        abort();
}

static void cleanup(void)
{
    rm_rf(g_root);
}

static void setup(void)
{
    snprintf(g_root, sizeof g_root, "/tmp/cmhash-fuzz-mirror-XXXXXX");
    if (!mkdtemp(g_root))
        abort();
    atexit(cleanup);
    snprintf(g_canary, sizeof g_canary, "%s/canary", g_root);
    snprintf(g_secret, sizeof g_secret, "%s/secret", g_canary);
    snprintf(g_csub, sizeof g_csub, "%s/sub", g_canary);
    mkdir(g_canary, 0755);
    mkdir(g_csub, 0755);
    write_file(g_secret, "secret\n", 7);
    char p[256];
    snprintf(p, sizeof p, "%s/x.txt.INI", g_csub);
    write_file(p, "[File]\r\nAttributes=00000020\r\nSize=7\r\n", 37);
    old_atime(p);
    old_atime(g_secret);
    old_atime(g_csub);
    old_atime(g_canary);
    if (stat(g_canary, &g_canary_dir0) != 0)
        abort();
}

/* The canary was not read, listed or written. */
static void check_canary(void)
{
    const char *paths[] = {g_canary, g_csub, g_secret};
    for (size_t i = 0; i < 3; i++) {
        struct stat sb;
        if (lstat(paths[i], &sb) != 0 || sb.st_atim.tv_sec != g_old.tv_sec) {
            fprintf(stderr, "canary touched: %s\n", paths[i]);
            abort();
        }
    }
    struct stat sb;
    if (stat(g_canary, &sb) != 0 ||
        sb.st_mtim.tv_sec != g_canary_dir0.st_mtim.tv_sec ||
        sb.st_mtim.tv_nsec != g_canary_dir0.st_mtim.tv_nsec ||
        sb.st_nlink != g_canary_dir0.st_nlink)
        abort();
}

/* DEST holds only files and folders (no link, FIFO...). */
static int dest_cb(const char *p, const struct stat *sb, int flag,
                   struct FTW *ftw)
{
    (void)ftw;
    if (flag == FTW_SL || flag == FTW_SLN ||
        !(S_ISREG(sb->st_mode) || S_ISDIR(sb->st_mode))) {
        fprintf(stderr, "extract wrote a non-file: %s\n", p);
        abort();
    }
    return 0;
}

/* Only canary, lib and dest in the temp root. */
static void check_root(void)
{
    DIR *d = opendir(g_root);
    if (!d)
        abort();
    struct dirent *de;
    while ((de = readdir(d))) {
        const char *n = de->d_name;
        if (strcmp(n, ".") && strcmp(n, "..") && strcmp(n, "canary") &&
            strcmp(n, "lib") && strcmp(n, "dest")) {
            fprintf(stderr, "unexpected %s/%s\n", g_root, n);
            abort();
        }
    }
    closedir(d);
}

static void name_of(const uint8_t **p, const uint8_t *end, char *out)
{
    size_t n = *p < end ? **p : 0;
    if (*p < end)
        (*p)++;
    if ((size_t)(end - *p) < n)
        n = (size_t)(end - *p);
    for (size_t i = 0; i < n; i++)
        out[i] = ((*p)[i] == '/' || (*p)[i] == 0) ? '_' : (char)(*p)[i];
    out[n] = 0;
    *p += n;
}

static const char FILE_HASH[] =
    "5891B5B522D5DF086D0FF0B110FBD9D21BB4FC7163AF34D08286A2E846F6BE03";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!g_root[0])
        setup();
    if (size > 4096)
        return 0;
    char lib[128], dest[128], p[512];
    snprintf(lib, sizeof lib, "%s/lib", g_root);
    snprintf(dest, sizeof dest, "%s/dest", g_root);
    rm_rf(lib);
    rm_rf(dest);
    /* a valid one-file library around the fuzzed mirror: "hello\n" */
    const char *dirs[] = {"", "/PkgLib", "/DataLib", "/FileLib",
                          "/FileLib/5891", "/DataLib/FUZ00001.1"};
    for (size_t i = 0; i < sizeof dirs / sizeof *dirs; i++) {
        snprintf(p, sizeof p, "%s%s", lib, dirs[i]);
        if (mkdir(p, 0755) != 0)
            abort();
    }
    snprintf(p, sizeof p, "%s/FileLib/5891/%s", lib, FILE_HASH);
    write_file(p, "hello\n", 6);
    snprintf(p, sizeof p, "%s/FileLib/5891/%s.INI", lib, FILE_HASH);
    write_file(p, "[File]\r\nFUZ00001.1=\r\n", 21);
    static const char content_ini[] =
        "[Info]\r\nHash=0000000000000000000000000000000000000000000000000"
        "000000000000000\r\nHashAlgorithm=32780\r\n";
    snprintf(p, sizeof p, "%s/DataLib/FUZ00001.1.INI", lib);
    write_file(p, content_ini, sizeof content_ini - 1);
    char pkg[600] = "[Packages]\r\nFUZ00001.1=\r\n";
    char fini[256];
    int fn = snprintf(fini, sizeof fini,
                      "[File]\r\nAttributes=00000020\r\nSize=6\r\n"
                      "TimeModified=134397924223386218\r\nHash=%s\r\n",
                      FILE_HASH);

    /* materialise the description below DataLib/FUZ00001.1 */
    const char *targets[] = {g_canary, g_secret, g_csub, "../canary",
                             "../../canary", "../../../canary",
                             "../../../../canary/secret",
                             "../../../canary/sub", "/", "/proc/self/fd/0",
                             ".", "..", "../FUZ00001.1.INI"};
    const size_t ntargets = sizeof targets / sizeof *targets;
    char cwd[8][300];
    int depth = 0;
    snprintf(cwd[0], sizeof cwd[0], "%s/DataLib/FUZ00001.1", lib);
    const uint8_t *q = data, *end = data + size;
    int records = 0;
    while (q < end && records++ < 64) {
        uint8_t op = *q++;
        unsigned arg = op >> 3;
        char name[256], path[600];
        name_of(&q, end, name);
        snprintf(path, sizeof path, "%s/%s%s", cwd[depth], name,
                 (op & 7) == 1 && (arg & 1) ? ".INI" : "");
        switch (op & 7) {
        case 0: (void)mkdir(path, 0755); break;
        case 1: {
            int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW,
                          0644);
            if (fd >= 0) {
                if (write(fd, fini, (size_t)fn) != fn)
                    abort();
                close(fd);
            }
            break;
        }
        case 2: (void)symlink(targets[arg % ntargets], path); break;
        case 3: (void)mkfifo(path, 0644); break;
        case 4:
            if (depth < 7 && strlen(path) < sizeof cwd[0] &&
                (mkdir(path, 0755) == 0 || errno == EEXIST)) {
                struct stat sb;
                /* enter real folders only: never materialise via a link */
                if (lstat(path, &sb) == 0 && S_ISDIR(sb.st_mode) &&
                    strcmp(name, ".") && strcmp(name, "..") && name[0]) {
                    depth++;
                    memcpy(cwd[depth], path, strlen(path) + 1);
                }
            }
            break;
        case 5:
            if (depth > 0)
                depth--;
            break;
        case 6: {
            size_t n = q < end ? *q++ : 0;
            if ((size_t)(end - q) < n)
                n = (size_t)(end - q);
            int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW,
                          0644);
            if (fd >= 0) {
                if (write(fd, q, n) != (ssize_t)n)
                    abort();
                close(fd);
            }
            q += n;
            break;
        }
        case 7: {
            size_t l = strlen(pkg);
            snprintf(pkg + l, sizeof pkg - l, "%.200s=\r\n", name);
            break;
        }
        }
    }
    snprintf(p, sizeof p, "%s/PkgLib/FUZ00001.INI", lib);
    write_file(p, pkg, strlen(pkg));

    cmh_ctx *ctx = NULL;
    if (cmh_ctx_new(&ctx) != CMH_OK)
        abort();
    /* 1. the strict reader of extract, diff, ls and delta */
    cmh_library l;
    cmh__library_init(&l);
    if (cmh__library_open(ctx, &l, lib, false) == CMH_OK) {
        cmh_node *root = NULL;
        cmh_tree_counts c;
        if (cmh__mirror_load(ctx, &l, "FUZ00001.1", &root, &c) == CMH_OK)
            cmh__node_free(root);
    }
    cmh__library_close(&l);
    check_canary();
    /* 2. extract, by content and by package ID */
    const char *ids[] = {"FUZ00001.1", "FUZ00001"};
    for (size_t i = 0; i < 2; i++) {
        cmh_extract_opts xo = CMH_EXTRACT_OPTS_INIT;
        xo.lib = lib;
        xo.id = ids[i];
        xo.dest = dest;
        xo.flags = CMH_EXTRACT_FORCE;
        cmh_extract_result xr;
        (void)cmh_extract(&xr, ctx, &xo);
        nftw(dest, dest_cb, 16, FTW_PHYS);
        check_canary();
    }
    /* 3. verify: the package, then the whole library */
    for (size_t i = 0; i < 2; i++) {
        cmh_verify_opts vo = CMH_VERIFY_OPTS_INIT;
        vo.lib = lib;
        vo.ids = ids + 1;
        vo.nids = i == 0 ? 1 : 0;
        vo.threads = 1;
        cmh_verify *v = NULL;
        if (cmh_verify_new(&v, ctx, &vo) == CMH_OK)
            (void)cmh_verify_run(v);
        cmh_verify_free(v);
        check_canary();
    }
    cmh_ctx_free(ctx);
    check_root();
    return 0;
}
