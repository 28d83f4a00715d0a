/* cmhash snapshot SOURCE PKGID */
#include "cli.h"

#include <dirent.h>
#include <fcntl.h>
#include <cmhash/ls.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

static const char snapshot_usage[] =
    "usage: cmhash snapshot SOURCE PKGID [options]\n"
    "Write the next version of package PKGID (e.g. MSC0000B) from the source\n"
    "folder SOURCE (a local path, or \\\\server\\share\\dir with --unc-root).\n"
    "\n"
    "  --lib DIR        content library (default $CMHASH_LIB, else\n"
    "                   ./SCCMContentLib); a missing one is created (its\n"
    "                   parent must exist), announced, and removed again\n"
    "                   if the snapshot fails; it may not be inside SOURCE\n"
    CLI_FILELIB_HELP
    "  --version N      version number to write (above the current one,\n"
    "                   at most 999999000)\n"
    "  --if-changed     write nothing when the content hash is unchanged\n"
    "  --keep N         keep the N previous versions (for cmhash delta)\n"
    "                   instead of retiring them (default 0)\n"
    "  --threads N      worker threads (default: online CPUs)\n"
    "  --unc-root DIR   where \\\\server\\share is mounted as DIR/server/share\n"
    "                   (default $CMHASH_UNC_ROOT)\n"
    "  --skip-links     skip symbolic links instead of failing\n"
    "  --allow-empty    write an empty version over one that has files\n"
    "                   (refused by default: an unmounted share is empty)\n"
    "  --allow-shrink   write a version with less than a tenth of the\n"
    "                   current version's files (refused by default)\n"
    "  --heal           re-read every large FileLib entry the source\n"
    "                   shares and replace one whose bytes are damaged\n"
    "                   (small files are always compared)\n"
    "  --no-wait        fail (exit 6) if the package or library is locked\n"
    "  --no-fsync       no durability barriers (benchmarks only)\n"
    "  --record-source  write the source path into the content INI\n"
    "                   ([cmhash] Source=; off: libraries are widely readable)\n"
    "  --allow-foreign  write to a library Configuration Manager wrote\n"
    "  --json[=FILE]    one JSON object on stdout instead of the log\n"
    "                   lines, or in FILE\n"
    "  --progress       always show progress on stderr\n"
    "  --quiet          never show progress\n"
    "  --log FILE       append CMTrace-format log lines to FILE (what\n"
    "                   distmgr.log shows: sizes, hashes, signatures)\n"
    "\n"
    "Exit codes: 0 ok, 2 usage or bad package ID/--version, 3 source\n"
    "problem, 4 library problem, 5 I/O error (disk full...), 6 package\n"
    "locked (--no-wait), 7 interrupted (nothing changed; an interrupt\n"
    "after the commit point finishes the run, says so, and exits 0).\n";

/* The highest --version accepted: 999,999,999 is the last number a
 * package can have (docs/FORMAT.md, "Versions"). */
#define CLI_VERSION_MAX_GIVEN 999999000u

/* path made absolute and normalised even when it does not exist yet
 * (realpath of the longest existing prefix + the rest); malloc'd. */
static char *abs_norm(const char *path)
{
    char *r = realpath(path, NULL);
    if (r)
        return r;
    char *a = cli_abs_path(path);
    if (!a)
        return NULL;
    char *slash = strrchr(a, '/');
    if (!slash || slash == a)
        return a;
    *slash = 0;
    char *parent = abs_norm(a);
    *slash = '/';
    if (!parent)
        return a;
    size_t n = strlen(parent) + strlen(slash) + 1;
    char *out = malloc(n);
    if (out)
        snprintf(out, n, "%s%s", strcmp(parent, "/") ? parent : "", slash);
    free(parent);
    free(a);
    return out;
}

/* Is a inside b (or equal)? Both absolute and normalised. */
static bool path_within(const char *a, const char *b)
{
    size_t n = strlen(b);
    return !strncmp(a, b, n) && (a[n] == 0 || a[n] == '/' || n == 1);
}

/* Refuse a library inside the source (it would snapshot itself) and a
 * source inside the library. */
static bool placement_ok(const char *source, const char *lib)
{
    char *s = abs_norm(source), *l = abs_norm(lib);
    bool ok = true;
    if (s && l && path_within(l, s)) {
        cli_error("library %s is inside the source %s: the snapshot would "
                  "store the library in itself; put --lib outside the "
                  "source", l, s);
        ok = false;
    } else if (s && l && path_within(s, l)) {
        cli_error("source %s is inside the library %s; snapshot a package "
                  "source folder, not library content", s, l);
        ok = false;
    }
    free(s);
    free(l);
    return ok;
}

/* A failed snapshot that created the library removes it again: only
 * empty folders and the lock files nobody holds, so a library another
 * snapshot is filling at the same time stays (rmdir fails on it). */
static void remove_new_library(const char *lib, bool root_was_there)
{
    static const char *const dirs[] = {"PkgLib", ".cmhash"};
    char p[4096];
    for (size_t d = 0; d < 2; d++) {
        snprintf(p, sizeof p, "%s/%s", lib, dirs[d]);
        DIR *dir = opendir(p);
        struct dirent *de;
        while (dir && (de = readdir(dir)) != NULL) {
            size_t n = strlen(de->d_name);
            bool is_lock = n > 5 && !strcmp(de->d_name + n - 5, ".lock");
            if (!is_lock)
                continue;
            snprintf(p, sizeof p, "%s/%s/%s", lib, dirs[d], de->d_name);
            int fd = open(p, O_RDONLY | O_CLOEXEC);
            if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0)
                unlink(p);
            if (fd >= 0)
                close(fd);
        }
        if (dir)
            closedir(dir);
    }
    snprintf(p, sizeof p, "%s/FileLib", lib);
    DIR *dir = opendir(p);
    struct dirent *de;
    while (dir && (de = readdir(dir)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        snprintf(p, sizeof p, "%s/FileLib/%s", lib, de->d_name);
        rmdir(p);
    }
    if (dir)
        closedir(dir);
    const char *sub[] = {"FileLib", "DataLib", "PkgLib", ".cmhash"};
    for (size_t i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s/%s", lib, sub[i]);
        rmdir(p);
    }
    if (!root_was_there)
        rmdir(lib);
}

/* The kept versions of a package (snapshot --keep), one "ID\n" each, or
 * "" (no package, no library, nothing kept); malloc'd. */
static int kept_cb(const cmh_ls_package *p, void *payload)
{
    char **out = payload;
    for (size_t i = 0; i < p->nkept; i++) {
        size_t have = *out ? strlen(*out) : 0;
        size_t n = have + strlen(p->kept[i]) + 2;
        char *m = realloc(*out, n);
        if (!m)
            return 1;
        snprintf(m + have, n - have, "%s\n", p->kept[i]);
        *out = m;
    }
    return 0;
}

static char *kept_versions(cmh_ctx *ctx, const char *lib, const char *pkgid)
{
    char *out = NULL;
    cmh_ls_opts lo = CMH_LS_OPTS_INIT;
    const char *ids[1] = {pkgid};
    lo.lib = lib;
    lo.pkgids = ids;
    lo.npkgids = 1;
    lo.package = (cmh_ls_package_hook){kept_cb, &out};
    cmh_ls_result lr;
    if (cmh_ls(&lr, ctx, &lo) != CMH_OK) {
        free(out);
        return NULL;
    }
    return out;
}

static void on_warning(const char *msg, void *payload)
{
    (void)payload;
    cli_warning("%s", msg);
}

/* The progress display, plus one line when the commit phase starts and
 * when the version is committed: the commit phase is where an interrupt
 * stops being an undo (issue 11, item 1). */
typedef struct snap_ui {
    progress pr;
    const char *phase; /* last phase seen */
} snap_ui;

static int snap_progress(const cmh_progress *p, void *payload)
{
    snap_ui *u = payload;
    bool commit = !strcmp(p->phase, "commit"),
         retire = !strcmp(p->phase, "retire");
    if (!commit && !retire)
        return progress_cb(p, &u->pr);
    if (u->pr.enabled && (!u->phase || strcmp(u->phase, p->phase))) {
        progress_done(&u->pr);
        u->pr.width = 0;
        fputs(commit ? "committing ...\n"
                     : "committed; retiring older versions ...\n",
              stderr);
        fflush(stderr);
    }
    u->phase = p->phase;
    return cli_interrupted ? 1 : 0;
}

static unsigned long parse_num(const char *s, const char *what, bool *ok)
{
    char *end;
    unsigned long v = strtoul(s, &end, 10);
    if (!*s || *end || s[0] == '-') {
        cli_error("%s must be a positive number, not '%s'", what, s);
        *ok = false;
    }
    return v;
}

static void print_json(const cmh_snapshot_result *r, const char *display,
                       const char *lib, bool created)
{
    printf("{\"command\":\"snapshot\",\"package_id\":");
    json_str(stdout, r->pkgid);
    printf(",\"content_id\":");
    json_str(stdout, r->content_id);
    printf(",\"version\":%u,\"previous_version\":%u,\"unchanged\":%s",
           r->version, r->previous_version, r->unchanged ? "true" : "false");
    printf(",\"source\":");
    json_path(stdout, display);
    printf(",\"library\":");
    json_path(stdout, lib);
    printf(",\"library_created\":%s", created ? "true" : "false");
    printf(",\"files\":%llu,\"folders\":%llu,\"bytes\":%llu,"
           "\"kbytes\":%llu,\"new_files\":%llu,\"new_bytes\":%llu,"
           "\"present_files\":%llu,\"retired_files\":%llu,\"skipped\":%llu",
           (unsigned long long)r->files, (unsigned long long)r->folders,
           (unsigned long long)r->bytes,
           (unsigned long long)((r->bytes + 1023) / 1024),
           (unsigned long long)r->new_files,
           (unsigned long long)r->new_bytes,
           (unsigned long long)r->present_files,
           (unsigned long long)r->retired_files,
           (unsigned long long)r->skipped);
    printf(",\"hash_algorithm\":32780,\"content_hash\":\"%s\","
           "\"signature_hash\":\"%s\",\"seconds\":%.3f,\"mb_per_s\":%.1f}\n",
           r->content_hash, r->signature_hash, r->seconds,
           r->seconds > 0 ? (double)r->bytes / 1e6 / r->seconds : 0.0);
}

/* The parsed command line of snapshot. */
typedef struct snap_args {
    cmh_snapshot_opts o;
    const char *lib, *unc_root;
    const char *display; /* SOURCE as given */
    char pkgid[CMH_PKGID_SIZE];
    bool json, ok; /* ok false: a bad option value was reported */
    int prog_mode;
} snap_args;

/* --version N into *out; *ok false after the message (the range is
 * checked only while *ok holds, so one message per bad command line). */
static void parse_version(const char *s, uint32_t *out, bool *ok)
{
    *out = (uint32_t)parse_num(s, "--version", ok);
    if (*ok && (*out == 0 || strtoul(s, NULL, 10) > 999999999ul)) {
        cli_error("--version must be from 1 to 999999999");
        *ok = false;
    } else if (*ok && *out > CLI_VERSION_MAX_GIVEN) {
        /* a package must keep numbers for later snapshots */
        cli_error("--version %u would leave the package fewer than "
                  "1000 version numbers (the highest is 999999999); "
                  "give at most %u", *out, CLI_VERSION_MAX_GIVEN);
        *ok = false;
    }
}

/* One option of getopt_long; -1 to go on, else the exit code. */
static int parse_option(snap_args *a, int c, char **argv)
{
    cmh_snapshot_opts *o = &a->o;
    switch (c) {
    case 'l': a->lib = optarg; break;
    case CLI_OPT_FILELIB:
        if (!cli_filelib_add(optarg))
            return EXIT_IO;
        break;
    case 'V': parse_version(optarg, &o->new_version, &a->ok); break;
    case 'c': o->flags |= CMH_SNAPSHOT_IF_CHANGED; break;
    case 'K':
        if (!cli_parse_u32(optarg, "--keep", 999999999u, &o->keep))
            a->ok = false;
        break;
    case 't': {
        unsigned long t = parse_num(optarg, "--threads", &a->ok);
        if (a->ok && (t < 1 || t > 256)) {
            cli_error("--threads must be from 1 to 256");
            a->ok = false;
        }
        o->threads = (unsigned)t;
        break;
    }
    case 'u': a->unc_root = optarg; break;
    case 's': o->flags |= CMH_SNAPSHOT_SKIP_LINKS; break;
    case 'n': o->flags |= CMH_SNAPSHOT_NO_WAIT; break;
    case 'E': o->flags |= CMH_SNAPSHOT_ALLOW_EMPTY; break;
    case 'S': o->flags |= CMH_SNAPSHOT_ALLOW_SHRINK; break;
    case 'H': o->flags |= CMH_SNAPSHOT_HEAL; break;
    case 'F': o->flags |= CMH_SNAPSHOT_NO_FSYNC; break;
    case 'R': o->flags |= CMH_SNAPSHOT_RECORD_SOURCE; break;
    case 'A': o->flags |= CMH_SNAPSHOT_ALLOW_FOREIGN; break;
    case 'j': a->json = true; break;
    case 'p': a->prog_mode = 1; break;
    case 'q': a->prog_mode = -1; break;
    case 'h': fputs(snapshot_usage, stdout); return EXIT_OK;
    default: return cli_bad_option("snapshot", argv);
    }
    return -1;
}

/* Fill A from the command line; -1 to go on, else the exit code. */
static int parse_args(snap_args *a, int argc, char **argv)
{
    static const struct option opts[] = {
        {"lib", required_argument, NULL, 'l'},
        CLI_FILELIB_OPT,
        {"version", required_argument, NULL, 'V'},
        {"if-changed", no_argument, NULL, 'c'},
        {"keep", required_argument, NULL, 'K'},
        {"threads", required_argument, NULL, 't'},
        {"unc-root", required_argument, NULL, 'u'},
        {"skip-links", no_argument, NULL, 's'},
        {"no-wait", no_argument, NULL, 'n'},
        {"allow-empty", no_argument, NULL, 'E'},
        {"allow-shrink", no_argument, NULL, 'S'},
        {"heal", no_argument, NULL, 'H'},
        {"no-fsync", no_argument, NULL, 'F'},
        {"record-source", no_argument, NULL, 'R'},
        {"allow-foreign", no_argument, NULL, 'A'},
        {"json", no_argument, NULL, 'j'},
        {"progress", no_argument, NULL, 'p'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c, rc;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1)
        if ((rc = parse_option(a, c, argv)) >= 0)
            return rc;
    if (a->ok && argc - optind != 2)
        return cli_usage("snapshot", "snapshot takes SOURCE and PKGID");
    if (!a->ok)
        return EXIT_USAGE;
    a->display = argv[optind];
    if (cmh_pkgid_parse(a->pkgid, argv[optind + 1]) != CMH_OK) {
        cli_error("'%s' is not a package ID: expected a 3-character site "
                  "code and 5 hex digits, e.g. MSC0000B", argv[optind + 1]);
        return EXIT_USAGE;
    }
    a->o.lib = cli_lib_default(a->lib);
    return -1;
}

/* Warn about the kept versions (KEPT_BEFORE, one a line; consumed) that
 * the run retired. */
static void warn_retired(const cmh_snapshot_opts *o, const char *pkgid,
                         char *kept_before)
{
    cmh_ctx *c2 = cli_ctx_new();
    char *kept_after = c2 ? kept_versions(c2, o->lib, pkgid) : NULL;
    cmh_ctx_free(c2);
    char gone[1024] = "";
    size_t ngone = 0;
    for (char *p = kept_before, *q; *p; p = q + 1) {
        q = strchr(p, '\n');
        *q = 0;
        char probe[64];
        snprintf(probe, sizeof probe, "%s\n", p);
        if (!kept_after || !strstr(kept_after, probe)) {
            size_t l = strlen(gone);
            snprintf(gone + l, sizeof gone - l, "%s%s", ngone ? ", " : "", p);
            ngone++;
        }
    }
    if (ngone)
        cli_warning("retired %zu previously kept version(s) of %s: %s "
                    "(this run has --keep %u; pass --keep N to keep "
                    "them)", ngone, pkgid, gone, o->keep);
    free(kept_after);
}

/* The JSON error object of a failed snapshot. */
static void json_error(cmh_ctx *ctx, const char *pkgid, int rc)
{
    cli_json_error_done = true;
    printf("{\"command\":\"snapshot\",\"package_id\":");
    json_str(stdout, pkgid);
    printf(",\"error\":");
    json_str(stdout, cmh_ctx_last_error(ctx));
    cli_json_details(ctx);
    printf(",\"exit_code\":%d}\n", rc);
}

/* The text report of a successful snapshot (ConfigMgr's wording). */
static void print_text(const cmh_snapshot_result *r, const char *pkgid)
{
    if (r->unchanged) {
        cli_say("The hash for algorithm 32780 is %s\n", r->content_hash);
        cli_say("Package %s is unchanged since version %u; no new version "
               "written (--if-changed)\n", pkgid, r->version);
        return;
    }
    unsigned long long kb = (unsigned long long)((r->bytes + 1023) / 1024);
    cli_say("The size of package %s, version %u is %llu KBytes\n", pkgid,
           r->version, kb);
    cli_say("Successfully created RDC signatures for package %s version "
           "%u\n", pkgid, r->version);
    cli_say("Creating hash for algorithm 32780\n");
    cli_say("The hash for algorithm 32780 is %s\n", r->content_hash);
    cli_say("The RDC signature hash for algorithm 32780 is %s\n",
           r->signature_hash);
    cli_say("Adding these contents to the package %s version %u.\n",
           pkgid, r->version);
    cli_say("Summary: %s: %llu files, %llu folders, %llu bytes; FileLib: "
           "%llu new, %llu already present; %llu retired; %.2f s, "
           "%.1f MB/s\n",
           r->content_id, (unsigned long long)r->files,
           (unsigned long long)r->folders, (unsigned long long)r->bytes,
           (unsigned long long)r->new_files,
           (unsigned long long)r->present_files,
           (unsigned long long)r->retired_files, r->seconds,
           r->seconds > 0 ? (double)r->bytes / 1e6 / r->seconds : 0.0);
}

/* Open a context with the --filelib roots; NULL after the message. */
static cmh_ctx *open_ctx(void)
{
    cmh_ctx *ctx;
    if (cmh_ctx_new(&ctx) != CMH_OK) {
        cli_error("cannot initialise OpenSSL's SHA-256");
        return NULL;
    }
    if (!cli_filelib_apply(ctx)) {
        cmh_ctx_free(ctx);
        return NULL;
    }
    return ctx;
}

/* Run the snapshot and report it; the exit code. A library the run
 * created is announced, or removed again if the run failed. */
static int run(snap_args *a, snap_ui *ui, cmh_ctx *ctx)
{
    const cmh_snapshot_opts *o = &a->o;
    struct stat lsb;
    char pkglib_path[4096];
    snprintf(pkglib_path, sizeof pkglib_path, "%s/PkgLib", o->lib);
    bool root_was_there = stat(o->lib, &lsb) == 0;
    bool lib_was_there = stat(pkglib_path, &lsb) == 0;
    if (!a->json) {
        cli_say("Taking package snapshot for package %s from source %s\n",
               a->pkgid, a->display);
        fflush(stdout);
    }
    /* kept versions this run will retire are announced after it */
    char *kept_before = lib_was_there ? kept_versions(ctx, o->lib, a->pkgid)
                                      : NULL;
    cmh_snapshot_result r;
    cmh_status st = cmh_snapshot(&r, ctx, o);
    progress_done(&ui->pr);
    int rc = cli_exit_for(st);
    if (st == CMH_OK && cli_interrupted && !r.unchanged)
        cli_warning("interrupted after the commit point: %s is committed "
                    "and the older versions were retired; exit 0",
                    r.content_id);
    bool created = !lib_was_there && stat(pkglib_path, &lsb) == 0;
    if (st == CMH_OK && kept_before && !r.unchanged)
        warn_retired(o, a->pkgid, kept_before);
    free(kept_before);
    if (st != CMH_OK && created)
        remove_new_library(o->lib, root_was_there);
    else if (created && !a->json) {
        char *abs = cli_abs_path(o->lib);
        cli_say("Created new library at %s\n", abs ? abs : o->lib);
        free(abs);
    }
    if (st != CMH_OK) {
        cli_error_ctx(ctx);
        if (a->json)
            json_error(ctx, a->pkgid, rc);
    } else if (a->json) {
        print_json(&r, a->display, o->lib, created);
    } else {
        print_text(&r, a->pkgid);
    }
    return rc;
}

int cmd_snapshot(int argc, char **argv)
{
    snap_args a = {.o = CMH_SNAPSHOT_OPTS_INIT, .ok = true};
    int rc = parse_args(&a, argc, argv);
    if (rc >= 0)
        return rc;
    const char *err;
    char *source = cli_map_unc(a.display, a.unc_root, &err);
    if (!source) {
        cli_error("%s %s", a.display, err);
        return EXIT_SOURCE;
    }
    if (!placement_ok(source, a.o.lib)) {
        free(source);
        return EXIT_USAGE;
    }
    a.o.source = source;
    a.o.source_display = a.display;
    a.o.pkgid = a.pkgid;
    a.o.warning = (cmh_warning_hook){on_warning, NULL};
    snap_ui ui = {.phase = NULL};
    progress_init(&ui.pr, a.prog_mode);
    a.o.progress = (cmh_progress_hook){snap_progress, &ui};
    cli_install_signals();
    cmh_ctx *ctx = open_ctx();
    if (!ctx) {
        free(source);
        return EXIT_IO;
    }
    rc = run(&a, &ui, ctx);
    cmh_ctx_free(ctx);
    free(source);
    return rc;
}
