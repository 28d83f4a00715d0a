/* audit: the library API in one page.
 *
 *   audit LIB SOURCE PKGID
 *
 * takes a snapshot of SOURCE as the next version of PKGID in the content
 * library LIB (created if missing), verifies the whole library, then lists
 * what gc would remove (a dry run). It shows the API's conventions
 * (cmhash/common.h): out-parameters first, options from CMH_<OP>_OPTS_INIT
 * with zero meaning "default", and one {cb, payload} pair per callback.
 *
 * Build against an installed libcmhash:
 *   cc -std=c11 audit.c $(pkg-config --cflags --libs --static cmhash)
 */
#include <cmhash/cmhash.h>
#include <stdio.h>

typedef struct tally {
    unsigned long findings, errors;
} tally;

static void on_warning(const char *msg, void *payload)
{
    (void)payload;
    fprintf(stderr, "warning: %s\n", msg);
}

static int on_finding(const cmh_verify_finding *f, void *payload)
{
    tally *t = payload;
    t->findings++;
    if (f->severity == CMH_SEV_ERROR)
        t->errors++;
    printf("finding %s %s %s\n", cmh_severity_name(f->severity),
           f->code_name, f->path);
    return 0; /* nonzero would stop the run */
}

static int on_content(const cmh_verify_content *c, void *payload)
{
    (void)payload;
    printf("content %s %s\n", c->content_id, c->status_name);
    return 0;
}

static int on_item(const cmh_gc_item *it, void *payload)
{
    unsigned long *n = payload;
    ++*n;
    printf("gc would remove %s %s (%llu bytes)\n", it->what, it->path,
           (unsigned long long)it->bytes);
    return 0;
}

static int fail(cmh_ctx *ctx, const char *what)
{
    fprintf(stderr, "%s: %s\n", what, cmh_ctx_last_error(ctx));
    cmh_ctx_free(ctx);
    return 1;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: audit LIB SOURCE PKGID\n");
        return 2;
    }
    cmh_ctx *ctx;
    if (cmh_ctx_new(&ctx) != CMH_OK)
        return 1;

    /* 1. snapshot: zero members are defaults (threads = online CPUs,
     *    version = current + 1, fsync on) */
    cmh_snapshot_opts so = CMH_SNAPSHOT_OPTS_INIT;
    so.lib = argv[1];
    so.source = argv[2];
    so.pkgid = argv[3];
    so.warning = (cmh_warning_hook){on_warning, NULL};
    cmh_snapshot_result sr;
    if (cmh_snapshot(&sr, ctx, &so) != CMH_OK)
        return fail(ctx, "snapshot");
    printf("snapshot %s: %llu files, content hash %s\n", sr.content_id,
           (unsigned long long)sr.files, sr.content_hash);

    /* 2. verify the whole library: findings and contents each get their
     *    own payload */
    tally t = {0, 0};
    cmh_verify_opts vo = CMH_VERIFY_OPTS_INIT;
    vo.lib = argv[1];
    vo.finding = (cmh_verify_finding_hook){on_finding, &t};
    vo.content = (cmh_verify_content_hook){on_content, NULL};
    cmh_verify *v;
    if (cmh_verify_new(&v, ctx, &vo) != CMH_OK)
        return fail(ctx, "verify");
    cmh_status st = cmh_verify_run(v);
    const cmh_verify_summary *sum = cmh_verify_get_summary(v);
    printf("verify: %llu contents validated, %lu findings, %lu errors\n",
           (unsigned long long)sum->contents_validated, t.findings,
           t.errors);
    /* the typed orphans of that run */
    cmh_verify_orphan o;
    size_t pos = 0;
    while (cmh_verify_next_orphan(&o, v, &pos))
        printf("orphan %d %s\n", (int)o.kind, o.path);
    cmh_verify_free(v);
    if (st != CMH_OK)
        return fail(ctx, "verify");

    /* 3. gc as a dry run (CMH_GC_APPLY not set); min_age 0 = one day */
    unsigned long items = 0;
    cmh_gc_opts go = CMH_GC_OPTS_INIT;
    go.lib = argv[1];
    go.item = (cmh_gc_item_hook){on_item, &items};
    cmh_gc_result gr;
    if (cmh_gc(&gr, ctx, &go) != CMH_OK)
        return fail(ctx, "gc");
    printf("gc: %lu items, %llu bytes to free\n", items,
           (unsigned long long)gr.bytes);
    cmh_ctx_free(ctx);
    return t.errors ? 1 : 0;
}
