/* cli_common.c: option parsing shared by the subcommands: --color, --set, unknown options,
 * and the argument loop of the commands that take scripts. */
#include "cli/cli_common.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/commands.h"

int cli_readable_file(const char *cmd, const char *path)
{
    struct stat st;
    if (access(path, R_OK) != 0 || stat(path, &st) != 0) {
        fprintf(stderr, "surgery %s: error: %s: %s\n", cmd, path, strerror(errno));
        return -1;
    }
    if (S_ISDIR(st.st_mode)) {
        fprintf(stderr, "surgery %s: error: %s: %s\n", cmd, path, strerror(EISDIR));
        return -1;
    }
    return 0;
}

int cli_color_option(const char *arg, diag_color_mode *mode)
{
    if (strncmp(arg, "--color", 7) != 0 && strncmp(arg, "--colour", 8) != 0)
        return 0;
    const char *v = arg + (arg[7] == 'u' ? 8 : 7);
    if (*v == 0) {
        *mode = DIAG_COLOR_ALWAYS;
        return 1;
    }
    if (*v != '=')
        return 0;
    v++;
    if (!strcmp(v, "auto"))
        *mode = DIAG_COLOR_AUTO;
    else if (!strcmp(v, "always"))
        *mode = DIAG_COLOR_ALWAYS;
    else if (!strcmp(v, "never"))
        *mode = DIAG_COLOR_NEVER;
    else {
        fprintf(stderr, "surgery: error: --color takes auto, always or never, not '%s'\n", v);
        return -1;
    }
    return 1;
}

int cli_common_option(const char *arg, diag_color_mode *color, void (*usage)(FILE *))
{
    int c = cli_color_option(arg, color);
    if (c < 0)
        return EXIT_USAGE;
    if (c > 0)
        return CLI_TAKEN;
    if (!strcmp(arg, "-h") || !strcmp(arg, "--help")) {
        usage(stdout);
        return EXIT_OK;
    }
    return CLI_NOT_COMMON;
}

int cli_set_option(const char *cmd, int argc, char **argv, int *i, param_override *o)
{
    const char *a = argv[*i];
    const char *kv;
    if (!strcmp(a, "--set")) {
        if (*i + 1 >= argc) {
            fprintf(stderr, "surgery %s: error: --set needs NAME=VALUE\n", cmd);
            return -1;
        }
        kv = argv[++*i];
    } else if (!strncmp(a, "--set=", 6)) {
        kv = a + 6;
    } else {
        return 0;
    }
    const char *eq = strchr(kv, '=');
    if (!eq || eq == kv) {
        fprintf(stderr, "surgery %s: error: --set needs NAME=VALUE, got '%s'\n", cmd, kv);
        return -1;
    }
    size_t n = (size_t)(eq - kv);
    char *key = malloc(n + 1);
    if (!key) {
        fprintf(stderr, "surgery %s: error: out of memory\n", cmd);
        return -1;
    }
    memcpy(key, kv, n);
    key[n] = 0;
    o->key = key;
    o->value = eq + 1;
    return 1;
}

int cli_error_status(const diag_ctx *d)
{
    return d && diag_saw_oom(d) ? EXIT_RUNTIME : EXIT_SCRIPT_ERRORS;
}

int cli_unknown_option(const char *cmd, const char *arg, const char *const *known)
{
    int n = 0;
    while (known[n])
        n++;
    char opt[64];
    snprintf(opt, sizeof opt, "%.*s", (int)strcspn(arg, "="), arg);
    const char *hint = diag_suggest(opt, known, n);
    if (hint)
        fprintf(stderr, "surgery %s: error: unknown option '%s' (did you mean '%s'?)\n", cmd, arg, hint);
    else
        fprintf(stderr, "surgery %s: error: unknown option '%s'\n", cmd, arg);
    fprintf(stderr, "run 'surgery %s --help' for its options\n", cmd);
    return EXIT_USAGE;
}

/* Matches argv[*i] against a command option; returns 1 (consumed), 0 (not it), -1 (error). */
static int own_option(const char *cmd, int argc, char **argv, int *i, const cli_opt *o)
{
    const char *a = argv[*i];
    size_t n = strlen(o->name);
    bool exact = !strcmp(a, o->name) || (o->alias && !strcmp(a, o->alias));
    bool inline_value = o->value && !strncmp(a, o->name, n) && a[n] == '=';
    if (!exact && !inline_value)
        return 0;
    if (o->flag) {
        if (inline_value)
            return 0;
        *o->flag = true;
        return 1;
    }
    const char *v = inline_value ? a + n + 1 : (*i + 1 < argc ? argv[++*i] : NULL);
    if (!v || !*v) {
        fprintf(stderr, "surgery %s: error: %s needs a value\n", cmd, o->name);
        return -1;
    }
    *o->value = v;
    return 1;
}

int cli_parse_script_args(const char *cmd, int argc, char **argv, const cli_opt *opts,
                          int max_scripts, script_args *out)
{
    memset(out, 0, sizeof *out);
    out->color = DIAG_COLOR_AUTO;
    out->sets = calloc((size_t)argc + 1, sizeof *out->sets);
    out->scripts = calloc((size_t)argc + 1, sizeof *out->scripts);
    int n_opts = 0;
    while (opts && opts[n_opts].name)
        n_opts++;
    const char **known = calloc((size_t)n_opts + 5, sizeof *known);
    if (!out->sets || !out->scripts || !known) {
        free(known);
        fprintf(stderr, "surgery %s: error: out of memory\n", cmd);
        return EXIT_RUNTIME;
    }
    known[0] = "--set";
    known[1] = "--color";
    known[2] = "--help";
    for (int k = 0; k < n_opts; k++)
        known[3 + k] = opts[k].name;
    int status = CLI_PARSED;
    bool only_scripts = false;
    for (int i = 1; i < argc && status == CLI_PARSED; i++) {
        const char *a = argv[i];
        if (only_scripts || a[0] != '-' || !a[1]) {
            if (max_scripts && out->n_scripts == max_scripts) {
                fprintf(stderr, "surgery %s: error: one script at a time ('%s' and '%s')\n", cmd,
                        out->scripts[0], a);
                status = EXIT_USAGE;
            } else {
                out->scripts[out->n_scripts++] = a;
            }
            continue;
        }
        if (!strcmp(a, "--")) {
            only_scripts = true;
            continue;
        }
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            status = CLI_HELP;
            break;
        }
        int c = cli_color_option(a, &out->color);
        if (c == 0) {
            c = cli_set_option(cmd, argc, argv, &i, &out->sets[out->n_sets]);
            if (c > 0)
                out->n_sets++;
        }
        for (int k = 0; c == 0 && k < n_opts; k++)
            c = own_option(cmd, argc, argv, &i, &opts[k]);
        if (c < 0)
            status = EXIT_USAGE;
        else if (c == 0)
            status = cli_unknown_option(cmd, a, known);
    }
    if (status == CLI_PARSED && out->n_scripts == 0) {
        fprintf(stderr, "surgery %s: error: no script given\n", cmd);
        status = EXIT_USAGE;
    }
    free(known);
    return status;
}

void script_args_release(script_args *a)
{
    for (int i = 0; a->sets && i < a->n_sets; i++)
        free((char *)a->sets[i].key);
    free(a->sets);
    free(a->scripts);
    memset(a, 0, sizeof *a);
}
