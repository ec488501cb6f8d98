/* cmd_fmt.c: `surgery fmt SCRIPT... [-w | --check]`: the canonical form of scripts, printed,
 * rewritten in place (atomically, only when it changes) or tested. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_common.h"
#include "cli/commands.h"
#include "compiler/frontend.h"
#include "compiler/parse.h"
#include "runtime/base/atomic_file.h"

static void fmt_usage(FILE *out)
{
    fprintf(out,
            "usage: surgery fmt SCRIPT... [-w | --check] [--color=WHEN]\n"
            "\n"
            "Prints each SCRIPT in canonical form: one statement per line, canonical spacing,\n"
            "short option blocks inline and long or multi-line ones one `key = value` per line,\n"
            "comments and single blank lines between groups kept, numbers as written. Formatting\n"
            "formatted text changes nothing. Included files are not followed.\n"
            "\n"
            "options:\n"
            "  -w, --write    rewrite each file whose formatting changes (atomically) instead of\n"
            "                 printing\n"
            "  --check        print nothing but the names of the files that are not formatted\n"
            "  --color=WHEN   colour diagnostics: auto (default), always, never\n"
            "  -h, --help     this help\n"
            "\n"
            "exit status: 0 success (with --check: every file is formatted), 1 a script has\n"
            "syntax errors (with --check: or is not formatted), 2 bad usage or an unreadable\n"
            "file, 4 a file could not be rewritten or out of memory.\n");
}

static const char *const fmt_options[] = {"--write", "--check", "--color", "--help", NULL};

/* Formats one file according to the mode; returns its exit status. */
static int fmt_one(const char *path, bool write, bool check, diag_ctx *d)
{
    char *text = NULL;
    int fe = format_script(path, d, &text);
    if (fe != FE_OK)
        return fe == FE_USAGE ? EXIT_USAGE : cli_error_status(d);
    int status = EXIT_OK;
    if (!write && !check) {
        fputs(text, stdout);
        free(text);
        return EXIT_OK;
    }
    size_t len;
    char *old = parse_read_file(path, &len);
    if (!old) {
        fprintf(stderr, "surgery fmt: error: cannot read '%s': %s\n", path, strerror(errno));
        free(text);
        return EXIT_USAGE;
    }
    bool same = len == strlen(text) && !memcmp(old, text, len);
    if (check && !same) {
        printf("%s\n", path);
        status = EXIT_SCRIPT_ERRORS;
    } else if (write && !same) {
        char err[512];
        if (atomic_write_file(path, text, strlen(text), err, sizeof err) != 0) {
            fprintf(stderr, "surgery fmt: error: cannot rewrite '%s': %s\n", path, err);
            status = EXIT_RUNTIME;
        }
    }
    free(old);
    free(text);
    return status;
}

int cmd_fmt(int argc, char **argv)
{
    diag_color_mode color = DIAG_COLOR_AUTO;
    bool write = false, check = false, no_more_options = false;
    const char **files = calloc((size_t)argc + 1, sizeof *files);
    int n_files = 0, status = EXIT_USAGE;
    if (!files) {
        fputs("surgery fmt: error: out of memory\n", stderr);
        return EXIT_RUNTIME;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (no_more_options || a[0] != '-' || !a[1]) {
            files[n_files++] = a;
            continue;
        }
        int c = cli_color_option(a, &color);
        if (c < 0)
            goto out;
        if (c > 0)
            continue;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fmt_usage(stdout);
            status = EXIT_OK;
            goto out;
        } else if (!strcmp(a, "-w") || !strcmp(a, "--write")) {
            write = true;
        } else if (!strcmp(a, "--check")) {
            check = true;
        } else if (!strcmp(a, "--")) {
            no_more_options = true;
        } else {
            status = cli_unknown_option("fmt", a, fmt_options);
            goto out;
        }
    }
    if (write && check) {
        fputs("surgery fmt: error: -w and --check exclude each other\n", stderr);
        goto out;
    }
    if (n_files == 0) {
        fputs("surgery fmt: error: no script given\n", stderr);
        fmt_usage(stderr);
        goto out;
    }
    diag_ctx *d = diag_new(stderr, color);
    status = EXIT_OK;
    for (int i = 0; i < n_files; i++) {
        int st = fmt_one(files[i], write, check, d);
        if (st > status)
            status = st;
    }
    diag_free(d);
out:
    free(files);
    return status;
}
