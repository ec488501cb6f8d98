/* pending.c: weak fallbacks so the driver links while commands are being brought up. */
#include <stdio.h>
#include "commands.h"
#define PENDING(fn) \
    __attribute__((weak)) int fn(int argc, char **argv) { (void)argc; fprintf(stderr, "surgery: %s is not built in yet\n", argv[0]); return EXIT_USAGE; }
PENDING(cmd_check) PENDING(cmd_plan) PENDING(cmd_run) PENDING(cmd_compile) PENDING(cmd_fmt)
PENDING(cmd_summary) PENDING(cmd_predict)
__attribute__((weak)) const char *diag_suggest(const char *w, const char *const *c, int n) { (void)w; (void)c; (void)n; return NULL; }
