/* cli_common.c: option parsing shared by the subcommands: --color, --set, unknown options. */
#include "cli_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"

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
