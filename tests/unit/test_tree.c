/* Content hash (docs/FORMAT.md section 5) against tests/vectors and,
 * when present, ../shared/vectors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

typedef struct strvec {
    char **v;
    size_t n, cap;
} strvec;

static void sv_push(strvec *s, const char *x)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 16;
        s->v = realloc(s->v, s->cap * sizeof *s->v);
        assert_non_null(s->v);
    }
    s->v[s->n++] = cmh__strdup(x);
}

static void sv_free(strvec *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    memset(s, 0, sizeof *s);
}

static void mkdirs(const char *root, const char *rel, bool last_too)
{
    char *p = cmh__path_join(root, rel);
    size_t rl = strlen(root) + 1;
    for (char *q = p + rl; *q; q++)
        if (*q == '/') {
            *q = 0;
            mkdir(p, 0755);
            *q = '/';
        }
    if (last_too)
        mkdir(p, 0755);
    free(p);
}

static int hexval(char c)
{
    return c <= '9' ? c - '0' : (c | 32) - 'a' + 10;
}

static void write_file(const char *root, const char *rel, const char *spec)
{
    mkdirs(root, rel, false);
    char *p = cmh__path_join(root, rel);
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    if (!strncmp(spec, "repeat:", 7)) {
        unsigned byte = (unsigned)strtoul(spec + 7, NULL, 16);
        unsigned long n = strtoul(strchr(spec + 7, ':') + 1, NULL, 10);
        for (unsigned long i = 0; i < n; i++)
            fputc((int)byte, f);
    } else if (strcmp(spec, "-") != 0) {
        for (size_t i = 0; spec[i] && spec[i + 1]; i += 2)
            fputc(hexval(spec[i]) << 4 | hexval(spec[i + 1]), f);
    }
    fclose(f);
    free(p);
}

static void collect(const uint16_t *u, size_t n, void *arg)
{
    strvec *s = arg;
    /* UTF-16 -> UTF-8 for comparison with the vector's order lines */
    unsigned char *le = malloc(n * 2 + 1);
    for (size_t i = 0; i < n; i++) {
        le[2 * i] = (unsigned char)(u[i] & 0xFF);
        le[2 * i + 1] = (unsigned char)(u[i] >> 8);
    }
    size_t len;
    char *s8 = cmh__utf16le_to_utf8(le, n * 2, &len);
    sv_push(s, s8);
    free(s8);
    free(le);
}

static int run_vector(const char *path)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char tmpl[] = "/tmp/cmh-vec-XXXXXX";
    char *root = mkdtemp(tmpl);
    assert_non_null(root);
    strvec order = {0}, sha_paths = {0}, sha_vals = {0};
    char expect[CMH_HEX_SIZE] = "";
    char line[4096];
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        if (!line[0] || line[0] == '#')
            continue;
        char *sp = strchr(line, ' ');
        assert_non_null(sp);
        *sp = 0;
        char *arg = sp + 1;
        if (!strcmp(line, "dir")) {
            mkdirs(root, arg, true);
        } else if (!strcmp(line, "file")) {
            char *sp2 = strrchr(arg, ' ');
            *sp2 = 0;
            write_file(root, arg, sp2 + 1);
        } else if (!strcmp(line, "file-sha256")) {
            char *sp2 = strrchr(arg, ' ');
            *sp2 = 0;
            sv_push(&sha_paths, arg);
            sv_push(&sha_vals, sp2 + 1);
        } else if (!strcmp(line, "order")) {
            sv_push(&order, arg);
        } else if (!strcmp(line, "content-hash")) {
            snprintf(expect, sizeof expect, "%s", arg);
        } else {
            fail_msg("%s: unknown line kind '%s'", path, line);
        }
    }
    fclose(f);
    assert_int_equal(strlen(expect), 64);

    cmh_ctx *ctx;
    assert_int_equal(cmh_ctx_new(&ctx), CMH_OK);
    for (size_t i = 0; i < sha_paths.n; i++) {
        char *p = cmh__path_join(root, sha_paths.v[i]);
        char hex[CMH_HEX_SIZE];
        assert_int_equal(cmh_hash_file(hex, ctx, p), CMH_OK);
        if (strcmp(hex, sha_vals.v[i]))
            fail_msg("%s: SHA-256 of %s is %s, want %s", path,
                     sha_paths.v[i], hex, sha_vals.v[i]);
        free(p);
    }
    cmh_node *tree = NULL;
    assert_int_equal(cmh__hash_dir_tree(ctx, root, &tree), CMH_OK);
    strvec got = {0};
    assert_int_equal(cmh__tree_stream(tree, false, collect, &got), CMH_OK);
    for (size_t i = 0; i < order.n || i < got.n; i++) {
        const char *w = i < order.n ? order.v[i] : "(end)";
        const char *g = i < got.n ? got.v[i] : "(end)";
        if (strcmp(w, g))
            fail_msg("%s: stream string %zu is '%s', want '%s'", path, i, g,
                     w);
    }
    char hex[CMH_HEX_SIZE];
    assert_int_equal(cmh_hash_dir(hex, ctx, root), CMH_OK);
    if (strcmp(hex, expect))
        fail_msg("%s: content hash %s, want %s", path, hex, expect);
    cmh__node_free(tree);
    cmh_ctx_free(ctx);
    sv_free(&got);
    sv_free(&order);
    sv_free(&sha_paths);
    sv_free(&sha_vals);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    assert_int_equal(system(cmd), 0);
    return 1;
}

/* Run every vector of VEC/content-hash; returns how many passed. */
static int run_vector_dir(const char *vec)
{
    char *dir = cmh__path_join(vec, "content-hash");
    DIR *d = opendir(dir);
    if (!d)
        fail_msg("vector folder %s: cannot open", dir);
    struct dirent *de;
    int n = 0;
    while ((de = readdir(d)) != NULL) {
        size_t l = strlen(de->d_name);
        if (l < 5 || strcmp(de->d_name + l - 5, ".tree"))
            continue;
        char *p = cmh__path_join(dir, de->d_name);
        print_message("vector %s\n", p);
        n += run_vector(p);
        free(p);
    }
    closedir(d);
    free(dir);
    return n;
}

/* CMHASH_VECTORS: the project's own vectors (tests/vectors, required),
 * then optionally ':' and ../shared/vectors when that folder exists. */
static void test_vectors(void **state)
{
    (void)state;
    const char *env = getenv("CMHASH_VECTORS");
    assert_non_null(env);
    char *list = strdup(env);
    char *colon = strchr(list, ':');
    if (colon)
        *colon = 0;
    /* tests/vectors has 7 vectors; fewer means they were not found */
    assert_true(run_vector_dir(list) >= 7);
    /* ../shared/vectors has 8 when it is there */
    if (colon && colon[1])
        assert_true(run_vector_dir(colon + 1) >= 8);
    free(list);
}

/* Sorting: NTFS order is upper-case then UTF-16 ordinal, shorter first. */
static void test_ntfs_order(void **state)
{
    (void)state;
    const char *names[] = {"a~", "a_b", "Zdir", "ab", "A-B", "aZ", "_dir",
                           "\xF0\x9F\x98\x80", "\xEF\xBC\xA1", "a"};
    const char *want[] = {"a", "A-B", "ab", "aZ", "a_b", "a~", "Zdir",
                          "_dir", "\xF0\x9F\x98\x80", "\xEF\xBC\xA1"};
    cmh_node *root = cmh__node_new("", 0, true);
    for (size_t i = 0; i < 10; i++) {
        cmh_node *c = cmh__node_new(names[i], strlen(names[i]), false);
        assert_true(cmh__node_add(root, c));
    }
    cmh__tree_sort(root);
    for (size_t i = 0; i < 10; i++)
        assert_string_equal(root->files[i]->name, want[i]);
    cmh__node_free(root);
}

/* Empty tree: SHA-256 of nothing. */
static void test_empty(void **state)
{
    (void)state;
    cmh_ctx *ctx;
    assert_int_equal(cmh_ctx_new(&ctx), CMH_OK);
    cmh_node *root = cmh__node_new("", 0, true);
    uint8_t h[32];
    char hex[65];
    assert_int_equal(cmh__tree_hash(root, false, ctx->sha256, h), CMH_OK);
    cmh_hex_upper(hex, h, 32);
    assert_string_equal(hex, "E3B0C44298FC1C149AFBF4C8996FB92427AE41E464"
                             "9B934CA495991B7852B855");
    cmh__node_free(root);
    cmh_ctx_free(ctx);
}

static void test_relpath(void **state)
{
    (void)state;
    cmh_node *root = cmh__node_new("", 0, true);
    cmh_node *a = cmh__node_new("a", 1, true);
    cmh_node *b = cmh__node_new("bb", 2, true);
    cmh_node *c = cmh__node_new("c.txt", 5, false);
    cmh__node_add(root, a);
    cmh__node_add(a, b);
    cmh__node_add(b, c);
    char *p = cmh__node_relpath(c);
    assert_string_equal(p, "a/bb/c.txt");
    free(p);
    p = cmh__node_relpath(a);
    assert_string_equal(p, "a");
    free(p);
    p = cmh__node_relpath(root);
    assert_string_equal(p, "");
    free(p);
    cmh__node_free(root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors),
        cmocka_unit_test(test_ntfs_order),
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_relpath),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
