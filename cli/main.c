/* cmhash: command-line tool over libcmhash. */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <string.h>

static const char main_usage[] =
    "usage: cmhash COMMAND [options] [args]\n"
    "\n"
    "ConfigMgr (SCCM) content library engine.\n"
    "\n"
    "Commands:\n"
    "  snapshot SOURCE PKGID   write the next version of a package\n"
    "  hash PATH...            SHA-256 of files, content hash of folders\n"
    "  verify [ID...]          audit a library (corruption, orphans...)\n"
    "  bench [--dir DIR]       measure CPU and storage; time snapshot and\n"
    "                          verify on a generated corpus\n"
    "  ls [PKGID...]           packages, sizes, dedup ratio (--long: files)\n"
    "  extract ID DEST         rebuild a content's source tree\n"
    "  diff A B                compare folders and/or contents\n"
    "  delta ID_OLD ID_NEW OUTDIR  binary delta between two versions\n"
    "  patch BASEDIR DELTADIR OUTDIR  apply a delta\n"
    "  gc [--apply]            remove orphans and old temporaries\n"
    "  status PKGID --lib L... Targeted/Installed over DP libraries\n"
    "  help COMMAND            help on a command\n"
    "\n"
    "Options: --version, --help; every command takes --log FILE (CMTrace\n"
    "format, appended). Manual: man cmhash.\n"
    "\n"
    "Exit codes: 0 ok, 1 findings/differences, 2 usage, 3 source problem,\n"
    "4 library problem, 5 I/O error, 6 busy (--no-wait), 7 interrupted.\n";

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
} command;

static const command commands[] = {
    {"snapshot", cmd_snapshot},
    {"hash", cmd_hash},
    {"bench", cmd_bench},
    {"extract", cmd_extract},
    {"diff", cmd_diff},
    {"ls", cmd_ls},
    {"delta", cmd_delta},
    {"patch", cmd_patch},
    {"gc", cmd_gc},
    {"status", cmd_status},
    {"verify", cmd_verify},
};

static const command *find(const char *name)
{
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        if (!strcmp(commands[i].name, name))
            return &commands[i];
    return NULL;
}

/* cmhash, cmhash --version, --help, help [COMMAND]: true with *rc set
 * when argv is one of these. */
static bool run_builtin(int argc, char **argv, int *rc)
{
    if (argc < 2) {
        fputs(main_usage, stderr);
        *rc = EXIT_USAGE;
        return true;
    }
    const char *cmd = argv[1];
    *rc = EXIT_OK;
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "version")) {
        printf("cmhash %s\n", cmh_version());
        return true;
    }
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
        fputs(main_usage, stdout);
        return true;
    }
    if (strcmp(cmd, "help"))
        return false;
    if (argc < 3) {
        fputs(main_usage, stdout);
        return true;
    }
    const command *c = find(argv[2]);
    if (!c) {
        cli_error("unknown command '%s'; see cmhash --help", argv[2]);
        *rc = EXIT_USAGE;
        return true;
    }
    char *args[] = {argv[2], "--help", NULL};
    *rc = c->run(2, args);
    return true;
}

/* --log FILE works on every command: taken out of the command's CARGV
 * here, so the commands never see it; the log starts with the whole
 * command line. -1 to go on, else the exit code. */
static int take_log(int argc, char **argv, int *cargc, char **cargv)
{
    char line[1024];
    size_t o = 0;
    line[0] = 0;
    for (int i = 0; i < argc && o + 2 < sizeof line; i++)
        o += (size_t)snprintf(line + o, sizeof line - o, "%s%s",
                              i ? " " : "", argv[i]);
    const char *lerr;
    int lrc = cli_log_take_option(cargc, cargv, &lerr);
    if (lrc == -1) {
        cli_error("%s", lerr);
        return EXIT_USAGE;
    }
    if (lrc == -2) {
        cli_error("cannot open log file %s; check the path and "
                  "permissions", lerr);
        return EXIT_IO;
    }
    cli_log(1, "Started: %s", line);
    return -1;
}

/* --json[=FILE], the same in every command: FILE becomes stdout and
 * the command sees a bare --json (before a "--" only). -1 to go on,
 * else the exit code. */
static int take_json(int cargc, char **cargv, const char *cmd)
{
    for (int i = 1; i < cargc; i++) {
        if (!strcmp(cargv[i], "--"))
            break;
        if (!strcmp(cargv[i], "--json")) {
            cli_json_wanted = true;
        } else if (!strncmp(cargv[i], "--json=", 7)) {
            const char *path = cargv[i] + 7;
            cli_json_wanted = true;
            cargv[i] = "--json";
            if (!*path) {
                cli_error("--json=FILE needs a FILE (bare --json prints to "
                          "stdout); see cmhash help %s", cmd);
                return EXIT_USAGE;
            }
            if (!freopen(path, "w", stdout)) {
                cli_error("cannot write the JSON file %s: %s; check the "
                          "path and permissions", path, strerror(errno));
                return EXIT_IO;
            }
        }
    }
    return -1;
}

/* After the command: the JSON error object a failure under --json always
 * ends with, the check that stdout was written, the log's last line. */
static int finish(const char *cmd, int rc)
{
    if (cli_json_wanted && rc >= EXIT_USAGE && !cli_json_error_done &&
        cli_last_error()[0]) {
        printf("{\"command\":");
        json_str(stdout, cmd);
        printf(",\"error\":");
        json_str(stdout, cli_last_error());
        printf(",\"exit_code\":%d}\n", rc);
    }
    if (fflush(stdout) != 0 && rc == EXIT_OK) {
        cli_error("cannot write the output: %s", strerror(errno));
        rc = EXIT_IO;
    }
    cli_log(rc ? 3 : 1, "%s finished with exit code %d", cmd, rc);
    cli_log_close();
    return rc;
}

int main(int argc, char **argv)
{
    int rc;
    if (run_builtin(argc, argv, &rc))
        return rc;
    const char *cmd = argv[1];
    const command *c = find(cmd);
    if (!c) {
        cli_error("unknown command '%s'; see cmhash --help", cmd);
        return EXIT_USAGE;
    }
    int cargc = argc - 1;
    char **cargv = argv + 1;
    if ((rc = take_log(argc, argv, &cargc, cargv)) >= 0)
        return rc;
    if ((rc = take_json(cargc, cargv, cmd)) >= 0)
        return rc;
    opterr = 0; /* the commands report option errors in one line */
    rc = c->run(cargc, cargv);
    return finish(cmd, rc);
}
