/* The cmhash tool: shared declarations of the command files. */
#ifndef CMHASH_CLI_H
#define CMHASH_CLI_H

#include <cmhash/cmhash.h>

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* Exit codes shared by the commands (README "Exit codes"). verify uses its
 * own documented set: 0 clean, 1 findings, 2 usage, 3 partial, 4 could not
 * run. */
enum {
    EXIT_OK = 0,
    EXIT_FINDINGS = 1,    /* verify/diff: problems or differences */
    EXIT_USAGE = 2,       /* bad command line, package ID or --version */
    EXIT_SOURCE = 3,      /* the source cannot be snapshotted */
    EXIT_LIBRARY = 4,     /* the library is missing, damaged or read-only */
    EXIT_IO = 5,          /* I/O error: read/write failure, disk full */
    EXIT_BUSY = 6,        /* package locked and --no-wait */
    EXIT_INTERRUPTED = 7, /* interrupted (SIGINT/SIGTERM) */
};

int cli_exit_for(cmh_status st);

/* One option grammar for every command (README "Options"): `--json`
 * prints the report as JSON on stdout; `--json=FILE` writes the same JSON
 * to FILE (main() opens FILE as stdout and hands the command a bare
 * "--json"). Command option tables use CLI_OPT_JSON. */
#define CLI_OPT_JSON {"json", no_argument, NULL, 'j'}
/* Set by main(): the command line asked for JSON. */
extern bool cli_json_wanted;
/* Set once a command printed its JSON error object (cli_fail): main()
 * prints one for any other failure (exit >= 2) under --json. */
extern bool cli_json_error_done;
/* The last cli_error() message (for the JSON error object). */
const char *cli_last_error(void);
/* Usage error: one line "MESSAGE; see cmhash help CMD", exit 2. */
int cli_usage(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The getopt_long error of argv (unknown option, missing or extra
 * value) as a one-line usage error (exit 2). main() sets opterr = 0. */
int cli_bad_option(const char *cmd, char **argv);
/* Terminal-safe text: control characters (ESC, CR, LF, tab, DEL, C1) and
 * invalid UTF-8 bytes of S written as \xHH, backslash as \\. Every human
 * output of a name (stdout, stderr, the CMTrace log) goes through this. */
void cli_put_safe(FILE *f, const char *s);
/* vsprintf into a malloc'd string (NULL on no memory). */
char *cli_vformat(const char *fmt, va_list ap)
    __attribute__((format(printf, 1, 0)));
/* printf to f with the result escaped as cli_put_safe does, except a
 * final line break. */
void cli_printf_safe(FILE *f, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Same, into a malloc'd string (NULL on no memory). */
char *cli_safe_dup(const char *s);
/* An absolute form of PATH for reports (realpath when it exists, else
 * cwd + PATH); malloc'd, or a copy of PATH on failure. */
char *cli_abs_path(const char *path);
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void cli_warning(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* JSON string with quotes, escaped (control characters, quotes,
 * backslashes; invalid UTF-8 bytes become \u00XX of the byte). */
void json_str(FILE *f, const char *s);
/* A path as a JSON string, made absolute (cli_abs_path): every path in
 * the JSON reports is absolute. A UNC path is written as given. */
void json_path(FILE *f, const char *path);

/* Progress line on stderr. */
typedef struct progress {
    bool enabled;
    double last;
    int width;
} progress;
void progress_init(progress *p, int mode /* -1 quiet, 0 auto, 1 force */);
int progress_cb(const cmh_progress *pr, void *payload);
void progress_done(progress *p);
/* Width of the terminal on stderr (else $COLUMNS, else 80). */
int cli_terminal_columns(void);

/* Set by SIGINT/SIGTERM; progress_cb cancels when set. */
extern volatile int cli_interrupted;
void cli_install_signals(void);

const char *cli_lib_default(const char *opt);
/* Map a UNC path to the local mount (see README); returns malloc'd path
 * or NULL with *err set to a message. Non-UNC paths are returned as is. */
char *cli_map_unc(const char *src, const char *unc_root, const char **err);

/* --log FILE (log.c): CMTrace lines. type 1 info, 2 warning, 3 error. */
int cli_log_open(const char *path);
void cli_log_close(void);
bool cli_log_enabled(void);
void cli_log(int type, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void cli_log_v(int type, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
/* printf to stdout, and the same line to the log. */
void cli_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Remove --log FILE / --log=FILE from argv (before a "--") and open the
 * log. Returns 0, -1 (usage: *err says why) or -2 (cannot open *err). */
int cli_log_take_option(int *argc, char **argv, const char **err);

/* Parse a non-negative decimal option value (strict); false + message. */
bool cli_parse_u32(const char *s, const char *what, uint32_t max,
                   uint32_t *out);
/* Exit code of a failed call, after printing its one-line error (and,
 * with json, {"command":..., "error":..., "exit_code":...}). */
int cli_fail(cmh_ctx *ctx, cmh_status st, const char *command, bool json);
/* The context's error as one line on stderr; the whole list behind it
 * (cmh_ctx_last_detail), if any, goes to the log. */
void cli_error_ctx(cmh_ctx *ctx);
/* ,"details":[...] with the whole list behind the error, if any. */
void cli_json_details(cmh_ctx *ctx);
/* Open a context or print why not; NULL on failure (exit EXIT_IO). */
cmh_ctx *cli_ctx_new(void);
/* --filelib DIR (every command that reads or writes FileLib): remember an
 * extra FileLib root; cli_ctx_new adds them, then $CMHASH_FILELIB's. */
bool cli_filelib_add(const char *dir);
bool cli_filelib_apply(cmh_ctx *ctx);
#define CLI_OPT_FILELIB 1001
#define CLI_FILELIB_OPT {"filelib", required_argument, NULL, CLI_OPT_FILELIB}
#define CLI_FILELIB_HELP                                                      \
    "  --filelib DIR    extra FileLib root of a spanned library (repeatable;\n" \
    "                   also $CMHASH_FILELIB, separated as in PATH)\n"
/* JSON items gathered while an engine call runs, printed inside the
 * report once the call succeeded (diff, gc, ls). */
typedef struct cli_membuf {
    FILE *f;    /* the stream the callbacks write; NULL without --json */
    char *text; /* what was written, once closed */
    size_t len;
} cli_membuf;
/* Open M's stream if WANT; false after printing "out of memory". */
bool cli_membuf_open(cli_membuf *m, bool want);
/* Close the stream, if open: the text is then complete. */
void cli_membuf_close(cli_membuf *m);
/* The text written ("" if none). */
const char *cli_membuf_text(const cli_membuf *m);
/* Close if still open and free the text. */
void cli_membuf_free(cli_membuf *m);
/* The command line of a command whose only options are --lib DIR,
 * --filelib DIR and --json (diff, delta): *lib and *json set, --help
 * prints USAGE. -1 to go on (operands from optind), else the exit code. */
int cli_parse_lib_json(int argc, char **argv, const char *cmd,
                       const char *usage, const char **lib, bool *json);
/* Human byte count ("1.2 MB") into buf. */
void cli_human_bytes(char *buf, size_t n, double bytes);

int cmd_snapshot(int argc, char **argv);
int cmd_extract(int argc, char **argv);
int cmd_diff(int argc, char **argv);
int cmd_ls(int argc, char **argv);
int cmd_delta(int argc, char **argv);
int cmd_patch(int argc, char **argv);
int cmd_gc(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_hash(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_verify(int argc, char **argv);

#endif
