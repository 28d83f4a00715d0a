/* cmhash verify [--lib DIR] [ID ...]: the integrity audit of a library.
 * Exit codes (docs/VERIFY.md): 0 clean, 1 findings, 2 usage, 3 partial,
 * 4 could not run. */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum {
    VEXIT_CLEAN = 0,
    VEXIT_FINDINGS = 1,
    VEXIT_USAGE = 2,
    VEXIT_PARTIAL = 3,
    VEXIT_CANNOT_RUN = 4,
};

static const char verify_usage[] =
    "usage: cmhash verify [options] [ID ...]\n"
    "Check a content library: every FileLib file hashed once, content and\n"
    "signature hashes recomputed, INIs, references, orphans, strays.\n"
    "With package or content IDs, only those (and the files they use).\n"
    "Never writes to the library.\n"
    "\n"
    "  --lib DIR          content library (default $CMHASH_LIB, else\n"
    "                     ./SCCMContentLib)\n"
    "  --filelib DIR      extra FileLib root of a spanned library\n"
    "                     (repeatable; DIR or DIR/FileLib)\n"
    "  --deep             also regenerate every signature and compare\n"
    "  --subset K/N       hash only slice K of N of FileLib (by hash)\n"
    "  --max-time DUR     stop cleanly after DUR (90m, 1h, 30s, 500ms)\n"
    "  --resume STATE     continue the cycle recorded in file STATE;\n"
    "                     STATE is rewritten (removed when complete)\n"
    "  --io-rate MB/s     limit read bandwidth (decimal MB/s)\n"
    "  --nice             idle I/O class and lowest CPU priority\n"
    "  --threads N        worker threads (default: online CPUs)\n"
    "  --json[=FILE]      JSON Lines (one object per finding, per content,\n"
    "                     and a summary) on stdout, or in FILE; the text\n"
    "                     summary then goes to stderr\n"
    "  --log FILE         the same in CMTrace format (appended)\n"
    "  --fail-on LEVEL    'warning' (default) or 'error': which findings\n"
    "                     make the exit code 1\n"
    "  --progress         always show progress on stderr\n"
    "  --quiet            no progress (findings and the summary still\n"
    "                     print, as with every --quiet)\n"
    "\n"
    "Exit codes: 0 clean (info findings allowed), 1 errors or warnings,\n"
    "2 usage, 3 partial run (time limit or interrupted, nothing worse\n"
    "found), 4 could not run (no library, unreadable root, an ID the\n"
    "library does not hold).\n";

typedef struct vout {
    progress pr;     /* progress_cb's payload */
    FILE *json;      /* NULL = no --json */
    FILE *human;     /* finding lines: stdout, or stderr with --json */
    /* Contents that did not validate, "ID (status)" a line, for the text
     * summary: written and read by the caller's thread (callbacks). */
    char *failed;
    size_t failed_len, nfailed;
} vout;

/* Remember a content that failed, for the summary. */
static void note_failed(vout *o, const char *id, const char *status)
{
    size_t add = strlen(id) + strlen(status) + 8;
    char *p = realloc(o->failed, o->failed_len + add);
    if (!p)
        return;
    o->failed = p;
    o->failed_len += (size_t)snprintf(p + o->failed_len, add, "%s (%s)\n",
                                      id, status);
    o->nfailed++;
}

static void json_kv_str(FILE *f, const char *k, const char *v)
{
    fprintf(f, ",\"%s\":", k);
    json_str(f, v);
}

static int on_finding(const cmh_verify_finding *fd, void *payload)
{
    vout *o = payload;
    if (o->json) {
        fputs("{\"type\":\"finding\",\"code\":", o->json);
        json_str(o->json, fd->code_name);
        json_kv_str(o->json, "severity", cmh_severity_name(fd->severity));
        json_kv_str(o->json, "content_id", fd->content_id);
        json_kv_str(o->json, "path", fd->path);
        json_kv_str(o->json, "expected", fd->expected);
        json_kv_str(o->json, "actual", fd->actual);
        json_kv_str(o->json, "detail", fd->detail);
        if (fd->age_seconds >= 0)
            fprintf(o->json, ",\"age_seconds\":%.0f", fd->age_seconds);
        fputs("}\n", o->json);
    }
    char extra[512] = "";
    if (fd->expected[0] || fd->actual[0])
        snprintf(extra, sizeof extra, " (expected %s, found %s)",
                 fd->expected[0] ? fd->expected : "-",
                 fd->actual[0] ? fd->actual : "-");
    /* findings print under --quiet too: it silences progress only */
    progress_done(&o->pr);
    cli_printf_safe(o->human, "%-7s %-21s %s%s%s%s: %s%s\n",
                    cmh_severity_name(fd->severity), fd->code_name, fd->path,
                    fd->content_id[0] ? " [" : "", fd->content_id,
                    fd->content_id[0] ? "]" : "", fd->detail, extra);
    cli_log((int)fd->severity, "%s: %s%s%s: %s%s", fd->code_name, fd->path,
            fd->content_id[0] ? " content " : "", fd->content_id,
            fd->detail, extra);
    return cli_interrupted ? 1 : 0;
}

static int on_content(const cmh_verify_content *c, void *payload)
{
    vout *o = payload;
    if (o->json) {
        fputs("{\"type\":\"content\",\"content_id\":", o->json);
        json_str(o->json, c->content_id);
        json_kv_str(o->json, "package_id", c->package_id);
        json_kv_str(o->json, "status", c->status_name);
        if (c->status >= 2000)
            fprintf(o->json, ",\"status_id\":%d", (int)c->status);
        else
            fputs(",\"status_id\":null", o->json);
        json_kv_str(o->json, "message", c->message);
        fprintf(o->json,
                ",\"files\":%llu,\"files_hashed\":%llu,\"bytes\":%llu,"
                "\"errors\":%llu,\"warnings\":%llu}\n",
                (unsigned long long)c->files,
                (unsigned long long)c->files_hashed,
                (unsigned long long)c->bytes,
                (unsigned long long)c->errors,
                (unsigned long long)c->warnings);
    }
    int type = c->status == CMH_CSTATUS_VALIDATED ? 1
               : c->status >= 2000                ? 3
                                                  : 2;
    if (c->status != CMH_CSTATUS_VALIDATED && c->status >= 2000)
        note_failed(o, c->content_id, c->status_name);
    if (c->status >= 2000)
        cli_log(type, "%s (status message %d)", c->message, (int)c->status);
    else
        cli_log(type, "%s", c->message);
    return cli_interrupted ? 1 : 0;
}

/* "90m", "1h", "30s", "500ms", "1.5h" or plain seconds. */
static bool parse_duration(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno || v < 0 || isnan(v))
        return false;
    double mul = 1;
    if (!strcmp(end, "") || !strcmp(end, "s"))
        mul = 1;
    else if (!strcmp(end, "ms"))
        mul = 0.001;
    else if (!strcmp(end, "m") || !strcmp(end, "min"))
        mul = 60;
    else if (!strcmp(end, "h"))
        mul = 3600;
    else
        return false;
    *out = v * mul;
    return *out > 0;
}

static bool parse_subset(const char *s, unsigned *k, unsigned *n)
{
    char *end;
    unsigned long a = strtoul(s, &end, 10);
    if (end == s || *end != '/' || s[0] == '-')
        return false;
    const char *b = end + 1;
    unsigned long c = strtoul(b, &end, 10);
    if (end == b || *end || b[0] == '-' || c < 1 || c > 65536 || a < 1 ||
        a > c)
        return false;
    *k = (unsigned)a;
    *n = (unsigned)c;
    return true;
}

/* Whole small file into a malloc'd string; NULL + errno. Plain
 * descriptor calls only (no stdio on the descriptor): on Windows they go
 * through the engine's POSIX layer, whose descriptors the C runtime's
 * fdopen/fileno do not know. */
static char *read_text(const char *path)
{
    /* O_NONBLOCK: a FIFO at the path must not hang the run; only a
     * regular file is a state (a folder or device: EINVAL, exit 2) */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return NULL;
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        int e = S_ISDIR(sb.st_mode) ? EISDIR : EINVAL;
        close(fd);
        errno = e;
        return NULL;
    }
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    int e = buf ? 0 : ENOMEM;
    while (buf) {
        ssize_t r = read(fd, buf + n, cap - n - 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            e = errno;
            free(buf);
            buf = NULL;
            break;
        }
        if (r == 0)
            break;
        n += (size_t)r;
        if (n + 1 == cap) {
            if (cap > (64u << 20)) {
                free(buf);
                buf = NULL;
                e = EFBIG;
                break;
            }
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                e = ENOMEM;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    close(fd);
    if (buf)
        buf[n] = 0;
    errno = e;
    return buf;
}

/* Replace @p path with @p text (temp + fsync + rename). Returns 0 or
 * errno. Descriptor calls only, as read_text. */
static int write_text(const char *path, const char *text)
{
    size_t n = strlen(path);
    char *tmp = malloc(n + 32);
    if (!tmp)
        return ENOMEM;
    snprintf(tmp, n + 32, "%s.tmp-%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
                  0644);
    if (fd < 0) {
        int e = errno;
        free(tmp);
        return e;
    }
    int e = 0;
    for (size_t off = 0, len = strlen(text); off < len && !e;) {
        ssize_t w = write(fd, text + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            e = w < 0 ? errno : EIO;
        else
            off += (size_t)w;
    }
    if (!e && fsync(fd) != 0)
        e = errno ? errno : EIO;
    if (close(fd) != 0 && !e)
        e = errno;
    if (!e && rename(tmp, path) != 0)
        e = errno;
    if (e)
        unlink(tmp);
    free(tmp);
    return e;
}

static void print_summary(FILE *f, const cmh_verify_summary *s,
                          const char *lib, const vout *o)
{
    /* which contents failed, not only how many (the first 20) */
    if (o->nfailed) {
        fprintf(f, "Not validated:");
        size_t shown = 0;
        for (const char *p = o->failed, *q; p && *p && shown < 20;
             p = q + 1, shown++) {
            q = strchr(p, '\n');
            char *item = strndup(p, (size_t)(q - p));
            fputs(shown ? ", " : " ", f);
            cli_put_safe(f, item ? item : "?");
            free(item);
        }
        if (o->nfailed > shown)
            fprintf(f, " and %zu more (--json or --log list all)",
                    o->nfailed - shown);
        fputc('\n', f);
    }
    char bytes[32], rate[32];
    double r = s->seconds > 0 ? (double)s->bytes_hashed / s->seconds : 0;
    cli_human_bytes(bytes, sizeof bytes, (double)s->bytes_hashed);
    cli_human_bytes(rate, sizeof rate, r);
    cli_printf_safe(f, "Verified %s: %llu contents (%llu validated, %llu hash "
            "invalid, %llu failed, %llu incomplete, %llu skipped), %llu "
            "packages\n",
            lib, (unsigned long long)s->contents,
            (unsigned long long)s->contents_validated,
            (unsigned long long)s->contents_hash_invalid,
            (unsigned long long)s->contents_failed,
            (unsigned long long)s->contents_incomplete,
            (unsigned long long)s->contents_skipped,
            (unsigned long long)s->packages);
    fprintf(f, "FileLib files: %llu hashed (%s) of %llu in subset %u/%u",
            (unsigned long long)s->files_hashed, bytes,
            (unsigned long long)s->files_total, s->subset_k, s->subset_n);
    if (s->files_previously)
        fprintf(f, ", %llu by earlier runs",
                (unsigned long long)s->files_previously);
    fprintf(f, "; %.2f s, %s/s\n", s->seconds, rate);
    fprintf(f, "Findings: %llu errors, %llu warnings, %llu info",
            (unsigned long long)s->errors, (unsigned long long)s->warnings,
            (unsigned long long)s->infos);
    for (int c = 0; c < CMH_VF_NCODES; c++)
        if (s->findings[c])
            fprintf(f, "%s %s=%llu", c ? "" : ":",
                    cmh_verify_code_name((cmh_verify_code)c),
                    (unsigned long long)s->findings[c]);
    fputc('\n', f);
    if (s->partial)
        fprintf(f, "Partial run (%s): not every file was hashed; the "
                "counts above are what was checked\n",
                cli_interrupted ? "interrupted" : s->stop_reason);
}

static void json_summary(FILE *f, const cmh_verify_summary *s,
                         const char *lib, int exit_code)
{
    fputs("{\"type\":\"summary\",\"library\":", f);
    json_path(f, lib);
    fprintf(f, ",\"complete\":%s,\"partial\":%s", s->partial ? "false"
                                                             : "true",
            s->partial ? "true" : "false");
    if (s->partial)
        json_kv_str(f, "stop_reason", s->stop_reason);
    else
        fputs(",\"stop_reason\":null", f);
    fprintf(f, ",\"subset\":\"%u/%u\",\"packages\":%llu,\"contents\":%llu,"
            "\"contents_validated\":%llu,\"contents_hash_invalid\":%llu,"
            "\"contents_failed\":%llu,\"contents_incomplete\":%llu,"
            "\"contents_skipped\":%llu,\"files_total\":%llu,"
            "\"files_hashed\":%llu,\"files_previously\":%llu,"
            "\"bytes\":%llu,\"seconds\":%.3f,\"mb_per_s\":%.1f,"
            "\"errors\":%llu,\"warnings\":%llu,\"infos\":%llu,\"counts\":{",
            s->subset_k, s->subset_n, (unsigned long long)s->packages,
            (unsigned long long)s->contents,
            (unsigned long long)s->contents_validated,
            (unsigned long long)s->contents_hash_invalid,
            (unsigned long long)s->contents_failed,
            (unsigned long long)s->contents_incomplete,
            (unsigned long long)s->contents_skipped,
            (unsigned long long)s->files_total,
            (unsigned long long)s->files_hashed,
            (unsigned long long)s->files_previously,
            (unsigned long long)s->bytes_hashed, s->seconds,
            s->seconds > 0 ? (double)s->bytes_hashed / 1e6 / s->seconds
                           : 0.0,
            (unsigned long long)s->errors, (unsigned long long)s->warnings,
            (unsigned long long)s->infos);
    bool first = true;
    for (int c = 0; c < CMH_VF_NCODES; c++)
        if (s->findings[c]) {
            fprintf(f, "%s\"%s\":%llu", first ? "" : ",",
                    cmh_verify_code_name((cmh_verify_code)c),
                    (unsigned long long)s->findings[c]);
            first = false;
        }
    fprintf(f, "},\"exit_code\":%d}\n", exit_code);
}

/* The parsed command line of verify. */
typedef struct verify_args {
    cmh_verify_opts o;
    const char *lib, *json_path, *resume;
    const char **filelibs; /* --filelib values (malloc'd array) */
    size_t nfilelibs;
    bool ok; /* false: a bad option value was reported */
    bool fail_on_error;
    int prog_mode;
} verify_args;

/* --io-rate MB/s into bytes per second; false after the message. */
static bool parse_io_rate(const char *s, double *out)
{
    char *end;
    double r = strtod(s, &end);
    *out = r * 1e6;
    if (end == s || *end || !(r > 0) || isinf(r)) {
        cli_error("--io-rate takes a positive number of MB/s, not '%s'", s);
        return false;
    }
    return true;
}

/* One option of getopt_long; -1 to go on, else the exit code. */
static int parse_option(verify_args *a, int c, char **argv)
{
    cmh_verify_opts *o = &a->o;
    switch (c) {
    case 'l': a->lib = optarg; break;
    case 'f': {
        const char **n = realloc(a->filelibs, (a->nfilelibs + 1) * sizeof *n);
        if (!n) {
            cli_error("out of memory");
            return VEXIT_CANNOT_RUN;
        }
        a->filelibs = n;
        a->filelibs[a->nfilelibs++] = optarg;
        break;
    }
    case 'd': o->flags |= CMH_VERIFY_DEEP; break;
    case 's':
        if (!parse_subset(optarg, &o->subset_k, &o->subset_n)) {
            cli_error("--subset takes K/N with 1 <= K <= N <= 65536, "
                      "e.g. 3/7, not '%s'", optarg);
            a->ok = false;
        }
        break;
    case 'm':
        if (!parse_duration(optarg, &o->max_seconds)) {
            cli_error("--max-time takes a duration such as 90m, 2h, "
                      "45s or 500ms, not '%s'", optarg);
            a->ok = false;
        }
        break;
    case 'r': a->resume = optarg; break;
    case 'i':
        if (!parse_io_rate(optarg, &o->io_rate))
            a->ok = false;
        break;
    case 'n': o->flags |= CMH_VERIFY_NICE; break;
    case 't': {
        uint32_t t = 0;
        if (!cli_parse_u32(optarg, "--threads", 256, &t)) {
            a->ok = false;
        } else if (t < 1) {
            cli_error("--threads must be from 1 to 256");
            a->ok = false;
        }
        o->threads = t;
        break;
    }
    case 'j': a->json_path = "-"; break; /* main: --json=FILE is stdout */
    case 'F':
        if (!strcmp(optarg, "error"))
            a->fail_on_error = true;
        else if (!strcmp(optarg, "warning"))
            a->fail_on_error = false;
        else {
            cli_error("--fail-on takes 'error' or 'warning', not '%s'",
                      optarg);
            a->ok = false;
        }
        break;
    case 'p': a->prog_mode = 1; break;
    case 'q': a->prog_mode = -1; break;
    case 'h': fputs(verify_usage, stdout); return VEXIT_CLEAN;
    default: return cli_bad_option("verify", argv);
    }
    return -1;
}

/* Fill A from the command line; -1 to go on, else the exit code. */
static int parse_args(verify_args *a, int argc, char **argv)
{
    static const struct option opts[] = {
        {"lib", required_argument, NULL, 'l'},
        {"filelib", required_argument, NULL, 'f'},
        {"deep", no_argument, NULL, 'd'},
        {"subset", required_argument, NULL, 's'},
        {"max-time", required_argument, NULL, 'm'},
        {"resume", required_argument, NULL, 'r'},
        {"io-rate", required_argument, NULL, 'i'},
        {"nice", no_argument, NULL, 'n'},
        {"threads", required_argument, NULL, 't'},
        CLI_OPT_JSON,
        {"fail-on", required_argument, NULL, 'F'},
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
    if (!a->ok)
        return VEXIT_USAGE;
    a->o.lib = cli_lib_default(a->lib);
    a->o.filelibs = a->filelibs;
    a->o.nfilelibs = a->nfilelibs;
    a->o.ids = (const char *const *)(argv + optind);
    a->o.nids = (size_t)(argc - optind);
    return -1;
}

/* Read --resume STATE into *state_text (NULL when it does not exist yet)
 * and check now, not after the whole run, that STATE can be written.
 * -1 to go on, else the exit code. */
static int load_resume(const char *resume, char **state_text)
{
    *state_text = read_text(resume);
    if (!*state_text && errno != ENOENT) {
        cli_error("cannot read resume state %s: %s", resume,
                  errno == EINVAL ? "not a regular file" : strerror(errno));
        return VEXIT_USAGE;
    }
    size_t n = strlen(resume) + 32;
    char *probe = malloc(n);
    FILE *pf = NULL;
    if (probe) {
        snprintf(probe, n, "%s.tmp-%ld", resume, (long)getpid());
        pf = fopen(probe, "w");
    }
    if (!pf) {
        cli_error("cannot write resume state %s: %s; check the folder "
                  "and its permissions", resume,
                  strerror(probe ? errno : ENOMEM));
        free(probe);
        return VEXIT_USAGE;
    }
    fclose(pf);
    unlink(probe);
    free(probe);
    return -1;
}

/* Where the JSON Lines and the finding lines go; false if FILE cannot be
 * opened. */
static bool open_json(vout *out, const char *json_path)
{
    if (!json_path)
        return true;
    if (!strcmp(json_path, "-")) {
        out->json = stdout;
        out->human = stderr;
    } else if (!(out->json = fopen(json_path, "w"))) {
        cli_error("cannot write %s: %s", json_path, strerror(errno));
        return false;
    }
    return true;
}

/* Write the state of the next run to STATE, or remove STATE when the cycle
 * is complete; a failure turns a clean exit into a partial one. */
static int save_resume(cmh_verify *v, const char *resume, int rc)
{
    const char *ns = cmh_verify_resume_state(v);
    int e = 0;
    if (ns)
        e = write_text(resume, ns);
    else if (unlink(resume) != 0 && errno != ENOENT)
        e = errno;
    if (e) {
        cli_error("cannot update resume state %s: %s", resume, strerror(e));
        if (rc == VEXIT_CLEAN)
            rc = VEXIT_PARTIAL;
    }
    return rc;
}

/* The text summary, the log line and the JSON summary of a finished run. */
static void report(const cmh_verify_summary *s, const char *lib, vout *out,
                   int rc)
{
    print_summary(out->json == stdout ? stderr : stdout, s, lib, out);
    if (cli_log_enabled()) {
        cli_log(s->errors ? 3 : s->warnings ? 2 : 1,
                "Verify of %s: %llu contents, %llu files hashed, %llu "
                "errors, %llu warnings, %llu info%s", lib,
                (unsigned long long)s->contents,
                (unsigned long long)s->files_hashed,
                (unsigned long long)s->errors,
                (unsigned long long)s->warnings,
                (unsigned long long)s->infos,
                s->partial ? " (partial run)" : "");
    }
    if (out->json)
        json_summary(out->json, s, lib, rc);
}

/* Open the verifier, run it, save the resume state and report. */
static int run(verify_args *a, vout *out)
{
    cmh_verify *v = NULL;
    int rc = VEXIT_CANNOT_RUN;
    cmh_ctx *ctx = cli_ctx_new();
    if (!ctx)
        return rc;
    cmh_status st = cmh_verify_new(&v, ctx, &a->o);
    if (st != CMH_OK) {
        cli_error("%s", cmh_ctx_last_error(ctx));
        rc = st == CMH_E_INVALID ? VEXIT_USAGE : VEXIT_CANNOT_RUN;
        goto out;
    }
    st = cmh_verify_run(v);
    progress_done(&out->pr);
    if (st != CMH_OK && st != CMH_E_CANCELED) {
        cli_error("%s", cmh_ctx_last_error(ctx));
        cli_log(3, "%s", cmh_ctx_last_error(ctx));
        rc = st == CMH_E_INVALID ? VEXIT_USAGE : VEXIT_CANNOT_RUN;
        goto out;
    }
    const cmh_verify_summary *s = cmh_verify_get_summary(v);
    if (s->errors || (!a->fail_on_error && s->warnings))
        rc = VEXIT_FINDINGS;
    else if (s->partial)
        rc = VEXIT_PARTIAL;
    else
        rc = VEXIT_CLEAN;
    if (a->resume)
        rc = save_resume(v, a->resume, rc);
    report(s, a->o.lib, out, rc);
out:
    cmh_verify_free(v);
    cmh_ctx_free(ctx);
    return rc;
}

int cmd_verify(int argc, char **argv)
{
    verify_args a = {.o = CMH_VERIFY_OPTS_INIT, .ok = true};
    vout out = {{0}, NULL, stdout, NULL, 0, 0};
    char *state_text = NULL;
    int rc = parse_args(&a, argc, argv);
    if (rc >= 0) {
        free(a.filelibs);
        return rc;
    }
    rc = VEXIT_CANNOT_RUN;
    if (a.resume) {
        if ((rc = load_resume(a.resume, &state_text)) >= 0)
            goto out;
        a.o.resume_state = state_text;
    }
    if (!open_json(&out, a.json_path)) {
        rc = VEXIT_CANNOT_RUN;
        goto out;
    }
    progress_init(&out.pr, a.prog_mode);
    a.o.finding = (cmh_verify_finding_hook){on_finding, &out};
    a.o.content = (cmh_verify_content_hook){on_content, &out};
    a.o.progress = (cmh_progress_hook){progress_cb, &out.pr};
    cli_install_signals();
    rc = run(&a, &out);
out:
    if (out.json && out.json != stdout && fclose(out.json) != 0) {
        cli_error("cannot write %s: %s", a.json_path, strerror(errno));
        if (rc == VEXIT_CLEAN)
            rc = VEXIT_CANNOT_RUN;
    }
    free(state_text);
    free(a.filelibs);
    free(out.failed);
    return rc;
}
