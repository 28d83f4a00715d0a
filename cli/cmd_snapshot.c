/* cmhash snapshot SOURCE PKGID */
#include "cli.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static const char snapshot_usage[] =
    "usage: cmhash snapshot SOURCE PKGID [options]\n"
    "Write the next version of package PKGID (e.g. MSC0000B) from the source\n"
    "folder SOURCE (a local path, or \\\\server\\share\\dir with --unc-root).\n"
    "\n"
    "  --lib DIR        content library (default $CMHASH_LIB, else\n"
    "                   ./SCCMContentLib; created if missing)\n"
    CLI_FILELIB_HELP
    "  --version N      version number to write (must be above current)\n"
    "  --if-changed     write nothing when the content hash is unchanged\n"
    "  --keep N         keep the N previous versions (for cmhash delta)\n"
    "                   instead of retiring them (default 0)\n"
    "  --threads N      worker threads (default: online CPUs)\n"
    "  --unc-root DIR   where \\\\server\\share is mounted as DIR/server/share\n"
    "                   (default $CMHASH_UNC_ROOT)\n"
    "  --skip-links     skip symbolic links instead of failing\n"
    "  --no-wait        fail (exit 6) if the package is locked\n"
    "  --no-fsync       no durability barriers (benchmarks only)\n"
    "  --record-source  write the source path into the content INI\n"
    "                   ([cmhash] Source=; off: libraries are widely readable)\n"
    "  --allow-foreign  write to a library Configuration Manager wrote\n"
    "  --json           print one JSON object instead of the log lines\n"
    "  --progress       always show progress on stderr\n"
    "  --quiet          never show progress\n"
    "\n"
    "Exit codes: 0 ok, 2 usage or bad package ID/--version, 3 source\n"
    "problem, 4 library problem, 5 I/O error (disk full...), 6 package\n"
    "locked (--no-wait), 7 interrupted.\n";

static void on_warning(const char *msg, void *payload)
{
    (void)payload;
    cli_warning("%s", msg);
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
                       const char *lib)
{
    printf("{\"command\":\"snapshot\",\"package\":");
    json_str(stdout, r->pkgid);
    printf(",\"content_id\":");
    json_str(stdout, r->content_id);
    printf(",\"version\":%u,\"previous_version\":%u,\"unchanged\":%s",
           r->version, r->previous_version, r->unchanged ? "true" : "false");
    printf(",\"source\":");
    json_str(stdout, display);
    printf(",\"library\":");
    json_str(stdout, lib);
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

int cmd_snapshot(int argc, char **argv)
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
        {"no-fsync", no_argument, NULL, 'F'},
        {"record-source", no_argument, NULL, 'R'},
        {"allow-foreign", no_argument, NULL, 'A'},
        {"json", no_argument, NULL, 'j'},
        {"progress", no_argument, NULL, 'p'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    cmh_snapshot_opts o = CMH_SNAPSHOT_OPTS_INIT;
    const char *lib = NULL, *unc_root = NULL;
    bool json = false, ok = true;
    int prog_mode = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'l': lib = optarg; break;
        case CLI_OPT_FILELIB:
            if (!cli_filelib_add(optarg))
                return EXIT_IO;
            break;
        case 'V':
            o.new_version = (uint32_t)parse_num(optarg, "--version", &ok);
            if (ok && (o.new_version == 0 ||
                       strtoul(optarg, NULL, 10) > 999999999ul)) {
                cli_error("--version must be from 1 to 999999999");
                ok = false;
            }
            break;
        case 'c': o.flags |= CMH_SNAPSHOT_IF_CHANGED; break;
        case 'K':
            if (!cli_parse_u32(optarg, "--keep", 999999999u, &o.keep))
                ok = false;
            break;
        case 't': {
            unsigned long t = parse_num(optarg, "--threads", &ok);
            if (ok && (t < 1 || t > 256)) {
                cli_error("--threads must be from 1 to 256");
                ok = false;
            }
            o.threads = (unsigned)t;
            break;
        }
        case 'u': unc_root = optarg; break;
        case 's': o.flags |= CMH_SNAPSHOT_SKIP_LINKS; break;
        case 'n': o.flags |= CMH_SNAPSHOT_NO_WAIT; break;
        case 'F': o.flags |= CMH_SNAPSHOT_NO_FSYNC; break;
        case 'R': o.flags |= CMH_SNAPSHOT_RECORD_SOURCE; break;
        case 'A': o.flags |= CMH_SNAPSHOT_ALLOW_FOREIGN; break;
        case 'j': json = true; break;
        case 'p': prog_mode = 1; break;
        case 'q': prog_mode = -1; break;
        case 'h': fputs(snapshot_usage, stdout); return EXIT_OK;
        default: ok = false;
        }
    }
    if (ok && argc - optind != 2) {
        cli_error("snapshot takes SOURCE and PKGID; see cmhash help "
                  "snapshot");
        ok = false;
    }
    if (!ok) {
        fputs(snapshot_usage, stderr);
        return EXIT_USAGE;
    }
    const char *display = argv[optind];
    char pkgid[CMH_PKGID_SIZE];
    if (cmh_pkgid_parse(pkgid, argv[optind + 1]) != CMH_OK) {
        cli_error("'%s' is not a package ID: expected a 3-character site "
                  "code and 5 hex digits, e.g. MSC0000B", argv[optind + 1]);
        return EXIT_USAGE;
    }
    const char *err;
    char *source = cli_map_unc(display, unc_root, &err);
    if (!source) {
        cli_error("%s %s", display, err);
        return EXIT_SOURCE;
    }
    o.lib = cli_lib_default(lib);
    o.source = source;
    o.source_display = display;
    o.pkgid = pkgid;
    o.warning = on_warning;
    progress pr;
    progress_init(&pr, prog_mode);
    o.progress = progress_cb;
    o.payload = &pr;
    cli_install_signals();

    cmh_ctx *ctx;
    if (cmh_ctx_new(&ctx) != CMH_OK) {
        free(source);
        cli_error("cannot initialise OpenSSL's SHA-256");
        return EXIT_IO;
    }
    if (!cli_filelib_apply(ctx)) {
        cmh_ctx_free(ctx);
        free(source);
        return EXIT_IO;
    }
    if (!json) {
        cli_say("Taking package snapshot for package %s from source %s\n",
               pkgid, display);
        fflush(stdout);
    }
    cmh_snapshot_result r;
    cmh_status st = cmh_snapshot(ctx, &o, &r);
    progress_done(&pr);
    int rc = cli_exit_for(st);
    if (st != CMH_OK) {
        cli_error("%s", cmh_ctx_last_error(ctx));
        if (json) {
            printf("{\"command\":\"snapshot\",\"package\":");
            json_str(stdout, pkgid);
            printf(",\"error\":");
            json_str(stdout, cmh_ctx_last_error(ctx));
            printf(",\"exit_code\":%d}\n", rc);
        }
    } else if (json) {
        print_json(&r, display, o.lib);
    } else if (r.unchanged) {
        cli_say("The hash for algorithm 32780 is %s\n", r.content_hash);
        cli_say("Package %s is unchanged since version %u; no new version "
               "written (--if-changed)\n", pkgid, r.version);
    } else {
        unsigned long long kb = (unsigned long long)((r.bytes + 1023) / 1024);
        cli_say("The size of package %s, version %u is %llu KBytes\n", pkgid,
               r.version, kb);
        cli_say("Successfully created RDC signatures for package %s version "
               "%u\n", pkgid, r.version);
        cli_say("Creating hash for algorithm 32780\n");
        cli_say("The hash for algorithm 32780 is %s\n", r.content_hash);
        cli_say("The RDC signature hash for algorithm 32780 is %s\n",
               r.signature_hash);
        cli_say("Adding these contents to the package %s version %u.\n",
               pkgid, r.version);
        cli_say("Summary: %s: %llu files, %llu folders, %llu bytes; FileLib: "
               "%llu new, %llu already present; %llu retired; %.2f s, "
               "%.1f MB/s\n",
               r.content_id, (unsigned long long)r.files,
               (unsigned long long)r.folders, (unsigned long long)r.bytes,
               (unsigned long long)r.new_files,
               (unsigned long long)r.present_files,
               (unsigned long long)r.retired_files, r.seconds,
               r.seconds > 0 ? (double)r.bytes / 1e6 / r.seconds : 0.0);
    }
    cmh_ctx_free(ctx);
    free(source);
    return rc;
}
