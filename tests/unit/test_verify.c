/* Unit tests of cmh_verify (engine/verify.c) and of the stream hooks it
 * uses (cmh__stream_fileat with a signature sink and a read hook). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "stream.h"

#include <cmhash/verify.h>

/* ---- fixture: a small library made with cmh_snapshot ---- */

static char g_dir[256];     /* temp root */
static char g_lib[300];     /* library */
static char g_bad[400];     /* a FileLib data file of package 1 */

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static void fill(unsigned char *p, size_t n, unsigned seed)
{
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        x = x * 1103515245u + 12345u;
        p[i] = (unsigned char)(x >> 16);
    }
}

static void snap(cmh_ctx *ctx, const char *src, const char *pkg)
{
    cmh_snapshot_opts o = CMH_SNAPSHOT_OPTS_INIT;
    o.lib = g_lib;
    o.source = src;
    o.pkgid = pkg;
    o.flags = CMH_SNAPSHOT_NO_FSYNC;
    cmh_snapshot_result r;
    assert_int_equal(cmh_snapshot(&r, ctx, &o), CMH_OK);
}

static int setup(void **state)
{
    (void)state;
    snprintf(g_dir, sizeof g_dir, "%s/cmh-verify-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(g_dir))
        return -1;
    snprintf(g_lib, sizeof g_lib, "%s/lib", g_dir);
    char p[400];
    static unsigned char buf[300000];
    cmh_ctx *ctx;
    if (cmh_ctx_new(&ctx) != CMH_OK)
        return -1;
    for (int pk = 1; pk <= 2; pk++) {
        snprintf(p, sizeof p, "%s/src%d", g_dir, pk);
        mkdir(p, 0755);
        for (int i = 0; i < 5; i++) {
            char f[450];
            size_t n = (size_t)(i * 40000 + pk * 7);
            fill(buf, n, (unsigned)(pk * 10 + i));
            snprintf(f, sizeof f, "%s/f%d.bin", p, i);
            write_file(f, buf, n);
        }
        fill(buf, 5000, 99);
        char f[450];
        snprintf(f, sizeof f, "%s/shared.bin", p);
        write_file(f, buf, 5000);
        char id[16];
        snprintf(id, sizeof id, "MSC0000%d", pk);
        snap(ctx, p, id);
    }
    /* the file f2.bin of package 1 (80007 bytes) */
    fill(buf, 80007, 12);
    char hex[CMH_HEX_SIZE];
    snprintf(p, sizeof p, "%s/src1/f2.bin", g_dir);
    assert_int_equal(cmh_hash_file(hex, ctx, p), CMH_OK);
    snprintf(g_bad, sizeof g_bad, "%s/FileLib/%.4s/%s", g_lib, hex, hex);
    cmh_ctx_free(ctx);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void flip_byte(const char *path, long off)
{
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    unsigned char c;
    assert_int_equal(pread(fd, &c, 1, off), 1);
    c ^= 0x40;
    assert_int_equal(pwrite(fd, &c, 1, off), 1);
    close(fd);
}

/* ---- collecting callbacks ---- */

typedef struct collect {
    pthread_t main;
    int wrong_thread;
    int nfind, ncontent;
    int codes[CMH_VF_NCODES];
    int validated, invalid;
    int cancel_after; /* 0 = never */
    int after_cancel; /* callbacks seen after asking to stop */
    bool canceled;
} collect;

static int on_find(const cmh_verify_finding *f, void *payload)
{
    collect *c = payload;
    if (!pthread_equal(pthread_self(), c->main))
        c->wrong_thread++;
    if (c->canceled)
        c->after_cancel++;
    assert_string_equal(f->code_name, cmh_verify_code_name(f->code));
    assert_int_equal(f->severity, cmh_verify_code_severity(f->code));
    c->nfind++;
    c->codes[f->code]++;
    if (c->cancel_after && c->nfind >= c->cancel_after) {
        c->canceled = true;
        return 1;
    }
    return 0;
}

static int on_content(const cmh_verify_content *s, void *payload)
{
    collect *c = payload;
    if (!pthread_equal(pthread_self(), c->main))
        c->wrong_thread++;
    if (c->canceled)
        c->after_cancel++;
    c->ncontent++;
    if (s->status == CMH_CSTATUS_VALIDATED) {
        c->validated++;
        assert_string_equal(s->status_name, "validated");
        assert_int_equal(s->files, 6);
        assert_int_equal(s->files_hashed, 6);
    }
    if (s->status == CMH_CSTATUS_HASH_INVALID)
        c->invalid++;
    return 0;
}

static cmh_status run(cmh_verify_opts *o, collect *c,
                      cmh_verify_summary *sum, char **state_out)
{
    cmh_ctx *ctx;
    assert_int_equal(cmh_ctx_new(&ctx), CMH_OK);
    memset(c->codes, 0, sizeof c->codes);
    c->main = pthread_self();
    o->lib = g_lib;
    o->finding = (cmh_verify_finding_hook){on_find, c};
    o->content = (cmh_verify_content_hook){on_content, c};
    cmh_verify *v;
    cmh_status st = cmh_verify_new(&v, ctx, o);
    if (st == CMH_OK) {
        st = cmh_verify_run(v);
        *sum = *cmh_verify_get_summary(v);
        if (state_out) {
            const char *s = cmh_verify_resume_state(v);
            *state_out = s ? strdup(s) : NULL;
        }
    }
    cmh_verify_free(v);
    cmh_ctx_free(ctx);
    return st;
}

/* ---- tests ---- */

static void test_codes(void **state)
{
    (void)state;
    /* contentlib.md section 8, in order */
    static const struct {
        const char *name;
        cmh_severity sev;
    } want[] = {
        {"LIB_LAYOUT", CMH_SEV_ERROR},
        {"PKG_INI_BAD", CMH_SEV_ERROR},
        {"PKG_CONTENT_MISSING", CMH_SEV_ERROR},
        {"CONTENT_INI_BAD", CMH_SEV_ERROR},
        {"CONTENT_HASH_MISMATCH", CMH_SEV_ERROR},
        {"FILE_INI_BAD", CMH_SEV_ERROR},
        {"FILE_MISSING", CMH_SEV_ERROR},
        {"FILE_SIZE_MISMATCH", CMH_SEV_ERROR},
        {"FILE_HASH_MISMATCH", CMH_SEV_ERROR},
        {"FILE_UNREADABLE", CMH_SEV_ERROR},
        {"REF_MISSING", CMH_SEV_ERROR},
        {"REF_DANGLING", CMH_SEV_WARNING},
        {"SIG_MISSING", CMH_SEV_WARNING},
        {"SIG_BAD", CMH_SEV_ERROR},
        {"SIG_FOREIGN", CMH_SEV_INFO},
        {"SIG_HASH_MISMATCH", CMH_SEV_ERROR},
        {"ORPHAN_FILE", CMH_SEV_WARNING},
        {"ORPHAN_CONTENT", CMH_SEV_WARNING},
        {"STRAY", CMH_SEV_WARNING},
        {"BUSY", CMH_SEV_INFO},
        {"INI_NONCANONICAL", CMH_SEV_WARNING},
    };
    assert_int_equal(sizeof want / sizeof *want, CMH_VF_NCODES);
    for (int i = 0; i < CMH_VF_NCODES; i++) {
        assert_string_equal(cmh_verify_code_name((cmh_verify_code)i),
                            want[i].name);
        assert_int_equal(cmh_verify_code_severity((cmh_verify_code)i),
                         want[i].sev);
    }
    assert_string_equal(cmh_verify_code_name(CMH_VF_NCODES), "?");
    assert_string_equal(cmh_severity_name(CMH_SEV_WARNING), "warning");
    assert_int_equal(CMH_CSTATUS_VALIDATED, 2384);
    assert_int_equal(CMH_CSTATUS_HASH_INVALID, 2382);
    assert_int_equal(CMH_CSTATUS_FAILED, 2383);
}

static void test_bad_options(void **state)
{
    (void)state;
    cmh_ctx *ctx;
    assert_int_equal(cmh_ctx_new(&ctx), CMH_OK);
    cmh_verify *v = (cmh_verify *)1;
    cmh_verify_opts o = CMH_VERIFY_OPTS_INIT;
    assert_int_equal(cmh_verify_new(&v, ctx, &o), CMH_E_INVALID);
    assert_null(v);
    o.lib = g_lib;
    o.version = 99;
    assert_int_equal(cmh_verify_new(&v, ctx, &o), CMH_E_INVALID);
    o.version = CMH_VERIFY_OPTS_VERSION;
    o.subset_k = 3;
    o.subset_n = 2;
    assert_int_equal(cmh_verify_new(&v, ctx, &o), CMH_E_INVALID);
    o.subset_k = o.subset_n = 0;
    o.max_seconds = -1;
    assert_int_equal(cmh_verify_new(&v, ctx, &o), CMH_E_INVALID);
    o.max_seconds = 0;
    const char *bad_states[] = {
        "garbage\n",
        "cmhash-verify-state 1\nsubset 1/1\ndeep 0\ncursor xyz\n",
        "cmhash-verify-state 1\nsubset 1/2\ndeep 0\n",
        "cmhash-verify-state 1\nsubset 1/1\ndeep 1\n",
    };
    for (size_t i = 0; i < sizeof bad_states / sizeof *bad_states; i++) {
        o.resume_state = bad_states[i];
        assert_int_equal(cmh_verify_new(&v, ctx, &o), CMH_E_INVALID);
        assert_true(strlen(cmh_ctx_last_error(ctx)) > 0);
    }
    o.resume_state = NULL;
    const char *ids[] = {"../etc/MSC00001.1"};
    o.ids = ids;
    o.nids = 1;
    assert_int_equal(cmh_verify_new(&v, ctx, &o), CMH_OK);
    assert_int_equal(cmh_verify_run(v), CMH_E_INVALID);
    cmh_verify_free(v);
    cmh_verify_free(NULL);
    o.nids = 0;
    o.lib = "/nonexistent/cmhash/lib";
    assert_int_equal(cmh_verify_new(&v, ctx, &o), CMH_OK);
    assert_int_equal(cmh_verify_run(v), CMH_E_LIBRARY);
    cmh_verify_free(v);
    cmh_ctx_free(ctx);
}

/* Clean, then corrupted, with several thread counts: same results, every
 * callback on the caller's thread. */
static void test_threads_sweep(void **state)
{
    (void)state;
    static const unsigned threads[] = {1, 2, 3, 8};
    for (int bad = 0; bad < 2; bad++) {
        if (bad)
            flip_byte(g_bad, 40000);
        for (size_t i = 0; i < sizeof threads / sizeof *threads; i++) {
            cmh_verify_opts o = CMH_VERIFY_OPTS_INIT;
            o.threads = threads[i];
            o.flags = i % 2 ? CMH_VERIFY_DEEP : 0;
            collect c = {0};
            cmh_verify_summary s;
            assert_int_equal(run(&o, &c, &s, NULL), CMH_OK);
            assert_int_equal(c.wrong_thread, 0);
            assert_int_equal(c.ncontent, 2);
            /* 2 x 5 distinct files + 1 shared */
            assert_int_equal(s.files_total, 11);
            assert_int_equal(s.files_hashed, 11);
            assert_int_equal(s.contents, 2);
            assert_int_equal(s.partial, 0);
            if (!bad) {
                assert_int_equal(c.nfind, 0);
                assert_int_equal(c.validated, 2);
                assert_int_equal(s.errors + s.warnings + s.infos, 0);
            } else {
                assert_int_equal(c.nfind, 1);
                assert_int_equal(c.codes[CMH_VF_FILE_HASH_MISMATCH], 1);
                assert_int_equal(s.findings[CMH_VF_FILE_HASH_MISMATCH], 1);
                assert_int_equal(c.validated, 1);
                assert_int_equal(c.invalid, 1);
                assert_int_equal(s.errors, 1);
            }
        }
    }
    flip_byte(g_bad, 40000); /* repaired */
}

static void test_cancel(void **state)
{
    (void)state;
    char extra[450];
    snprintf(extra, sizeof extra, "%s/FileLib/junk1", g_lib);
    write_file(extra, "x", 1);
    snprintf(extra, sizeof extra, "%s/FileLib/junk2", g_lib);
    write_file(extra, "x", 1);
    cmh_verify_opts o = CMH_VERIFY_OPTS_INIT;
    collect c = {0};
    c.cancel_after = 1;
    cmh_verify_summary s;
    assert_int_equal(run(&o, &c, &s, NULL), CMH_E_CANCELED);
    assert_int_equal(c.nfind, 1);
    assert_int_equal(c.after_cancel, 0);
    assert_int_equal(s.partial, 1);
    assert_string_equal(s.stop_reason, "canceled");
    unlink(extra);
    snprintf(extra, sizeof extra, "%s/FileLib/junk1", g_lib);
    unlink(extra);
}

/* Time-limited runs with a slow read rate finish the cycle through the
 * resume state, each file hashed once. */
static void test_resume_cycle(void **state)
{
    (void)state;
    char *st = NULL;
    uint64_t hashed = 0;
    int runs = 0, partial = 0;
    do {
        cmh_verify_opts o = CMH_VERIFY_OPTS_INIT;
        o.threads = 2;
        o.max_seconds = 0.25;
        o.io_rate = 1.2e6; /* ~1 MB in total: about 4 runs */
        o.resume_state = st;
        collect c = {0};
        cmh_verify_summary s = {0};
        char *next = NULL;
        assert_int_equal(run(&o, &c, &s, &next), CMH_OK);
        assert_int_equal(c.nfind, 0);
        hashed += s.files_hashed;
        partial += s.partial;
        if (s.partial) {
            assert_non_null(next);
            assert_string_equal(s.stop_reason, "time limit");
            assert_true(c.validated < 2 || s.files_previously > 0);
        } else {
            assert_null(next);
            assert_int_equal(s.files_previously + s.files_hashed, 11);
        }
        free(st);
        st = next;
        runs++;
    } while (st && runs < 40);
    assert_null(st);
    assert_true(partial >= 2);
    assert_int_equal(hashed, 11);
}

/* subset slices partition the files */
static void test_subsets(void **state)
{
    (void)state;
    for (unsigned n = 1; n <= 5; n++) {
        uint64_t total = 0, hashed = 0;
        for (unsigned k = 1; k <= n; k++) {
            cmh_verify_opts o = CMH_VERIFY_OPTS_INIT;
            o.subset_k = k;
            o.subset_n = n;
            collect c = {0};
            cmh_verify_summary s;
            assert_int_equal(run(&o, &c, &s, NULL), CMH_OK);
            assert_int_equal(s.subset_k, k);
            assert_int_equal(s.subset_n, n);
            assert_int_equal(s.files_total, s.files_hashed);
            total += s.files_total;
            hashed += s.files_hashed;
        }
        assert_int_equal(total, 11);
        assert_int_equal(hashed, 11);
    }
}

/* ---- stream hooks ---- */

typedef struct sink_buf {
    unsigned char *p;
    size_t n, cap;
    size_t reads;
    uint64_t read_bytes;
} sink_buf;

static int to_buf(const void *data, size_t len, void *payload)
{
    sink_buf *b = payload;
    if (b->n + len > b->cap) {
        b->cap = (b->n + len) * 2;
        b->p = realloc(b->p, b->cap);
        assert_non_null(b->p);
    }
    memcpy(b->p + b->n, data, len);
    b->n += len;
    return 0;
}

static void on_read(size_t n, void *payload)
{
    sink_buf *b = payload;
    b->reads++;
    b->read_bytes += n;
}

/* cmh__stream_fileat's signature sink yields what cmh_sig_file writes, for
 * the buffer sizes of STYLE.md. */
static void test_stream_hooks(void **state)
{
    (void)state;
    static const size_t sizes[] = {0, 1, 2, 3, 7, 15, 100, 10000, 200000,
                                   600000};
    cmh_ctx *ctx;
    assert_int_equal(cmh_ctx_new(&ctx), CMH_OK);
    cmh_worker *w = cmh__worker_new(ctx->sha256);
    assert_non_null(w);
    unsigned char *data = malloc(600000);
    assert_non_null(data);
    int dfd = open(g_dir, O_RDONLY | O_DIRECTORY);
    assert_true(dfd >= 0);
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        char path[400], sigpath[400];
        fill(data, sizes[i], (unsigned)i + 500);
        snprintf(path, sizeof path, "%s/s.bin", g_dir);
        snprintf(sigpath, sizeof sigpath, "%s/s.sig", g_dir);
        write_file(path, data, sizes[i]);
        assert_int_equal(cmh_sig_file(ctx, path, sigpath), CMH_OK);
        sink_buf b = {0};
        cmh_stream_out so = {-1, -1};
        cmh_stream_hooks hk = {.sig_sink = to_buf, .sig_payload = &b,
                               .on_read = on_read, .read_payload = &b};
        cmh_stream_res r;
        assert_int_equal(cmh__stream_fileat(w, dfd, "s.bin", "s.bin",
                                           UINT64_MAX, INT64_MIN, &so, &hk,
                                           &r, NULL, NULL),
                         0);
        assert_int_equal(r.size, sizes[i]);
        assert_int_equal(b.read_bytes, sizes[i]);
        assert_int_equal(b.reads, (sizes[i] + CMH_READ_SIZE - 1) /
                                      CMH_READ_SIZE);
        FILE *f = fopen(sigpath, "rb");
        assert_non_null(f);
        unsigned char *want = malloc(b.n + 16);
        size_t got = fread(want, 1, b.n + 16, f);
        fclose(f);
        assert_int_equal(got, b.n);
        assert_int_equal(b.n, cmh_sig_size(sizes[i]));
        assert_memory_equal(want, b.p, b.n);
        /* the data hash is the plain SHA-256 */
        char hex[CMH_HEX_SIZE], hex2[CMH_HEX_SIZE];
        assert_int_equal(cmh_hash_file(hex, ctx, path), CMH_OK);
        cmh_hex_upper(hex2, r.sha, CMH_SHA256_LEN);
        assert_string_equal(hex, hex2);
        free(want);
        free(b.p);
    }
    /* relative to the folder, no symlink is followed */
    char lnk[400];
    snprintf(lnk, sizeof lnk, "%s/lnk", g_dir);
    assert_int_equal(symlink("s.bin", lnk), 0);
    cmh_stream_res r;
    assert_int_equal(cmh__stream_fileat(w, dfd, "lnk", "lnk", UINT64_MAX,
                                       INT64_MIN, NULL, NULL, &r, NULL,
                                       NULL),
                     ELOOP);
    close(dfd);
    free(data);
    cmh__worker_free(w);
    cmh_ctx_free(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_codes),
        cmocka_unit_test(test_bad_options),
        cmocka_unit_test(test_threads_sweep),
        cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_subsets),
        cmocka_unit_test(test_resume_cycle),
        cmocka_unit_test(test_stream_hooks),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
