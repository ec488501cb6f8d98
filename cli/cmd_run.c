/* cmd_run.c: `surgery run SCRIPT [--set k=v]... [--log FILE] [--sync] [--resume] [-q]`:
 * check, then execute. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli_common.h"
#include "cli/commands.h"
#include "compiler/check.h"
#include "compiler/frontend.h"
#include "runtime/base/atomic_file.h"
#include "runtime/script/exec.h"

static void run_usage(FILE *out)
{
    fprintf(out,
            "usage: surgery run SCRIPT [--set NAME=VALUE]... [--log FILE] [--sync] [--resume]\n"
            "                  [-q] [--color=WHEN]\n"
            "\n"
            "Checks SCRIPT (a .surgery file, or an .ir.yaml written by `surgery compile`) exactly\n"
            "as `surgery check` does, then executes it: loads the base model with its weights,\n"
            "applies the edits to a copy, and runs data, featurize, fit, evaluate, expect and save\n"
            "in order. The base model's files are never written; outputs are written atomically\n"
            "(a failed or interrupted run leaves the previous files or none, never a torn one).\n"
            "\n"
            "options:\n"
            "  --set NAME=VALUE  override `param NAME` (repeatable; unknown names are an error)\n"
            "  --log FILE        write training and evaluation records as JSON lines to FILE\n"
            "  --sync            make every `save` durable: its files are on the disk before they\n"
            "                    take their names (large weights with direct I/O, the rest with\n"
            "                    fsync), so that not even a crash of the machine loses them;\n"
            "                    fit checkpoints are made durable the same way\n"
            "  --resume          continue from the last checkpoint a `fit ... { checkpoint = DIR }`\n"
            "                    wrote: the statements before that fit are skipped (edits are\n"
            "                    re-applied, data and featurize caches reopened) and the fit goes\n"
            "                    on from where it stopped, ending with the same files as a run\n"
            "                    that was never interrupted. A checkpoint of another script, base\n"
            "                    model or data is refused (status 4); with no checkpoint the run\n"
            "                    starts from the beginning. Without --resume checkpoints are\n"
            "                    ignored and overwritten\n"
            "  -q, --quiet       print errors only\n"
            "  --color=WHEN      colour diagnostics: auto (default), always, never\n"
            "\n"
            "exit status: 0 success, 1 script errors (nothing was run), 2 bad usage,\n"
            "3 an `expect` was not met, 4 a runtime failure (I/O, NaN loss, out of memory, a\n"
            "checkpoint that cannot be resumed).\n");
}

int cmd_run(int argc, char **argv)
{
    const char *log_path = NULL;
    bool quiet = false, sync = false, resume = false;
    const cli_opt opts[] = {{"--log", NULL, &log_path, NULL},
                            {"--quiet", "-q", NULL, &quiet},
                            {"--sync", NULL, NULL, &sync},
                            {"--resume", NULL, NULL, &resume},
                            {0}};
    script_args args;
    int status = cli_parse_script_args("run", argc, argv, opts, 1, &args);
    if (status == CLI_HELP) {
        run_usage(stdout);
        status = EXIT_OK;
        goto out;
    }
    if (status != CLI_PARSED)
        goto out;
    const char *script = args.scripts[0];

    diag_ctx *d = diag_new(stderr, args.color);
    ir_script *s = NULL;
    int fe = frontend_compile(script, args.sets, args.n_sets, d, &s);
    if (fe != FE_OK) {
        status = fe == FE_USAGE ? EXIT_USAGE : cli_error_status(d);
    } else if (check_script_model(s, d, NULL) != 0) {
        status = cli_error_status(d);
    } else {
        atomic_file log = {0};
        char err[512];
        if (log_path && atomic_open(&log, log_path, err, sizeof err) != 0) {
            fprintf(stderr, "surgery run: error: %s\n", err);
            status = EXIT_RUNTIME;
        } else {
            exec_options eo = {.out = stdout, .progress = stderr, .log = log.fp, .quiet = quiet,
                               .sync = sync, .resume = resume};
            status = exec_script(s, &eo, d);
            if (log_path) {
                /* The log is kept even when the run failed: it says how far training got. */
                if (atomic_commit(&log, err, sizeof err) != 0) {
                    fprintf(stderr, "surgery run: error: %s\n", err);
                    if (status == EXIT_OK)
                        status = EXIT_RUNTIME;
                }
            }
        }
    }
    ir_script_free(s);
    diag_free(d);
out:
    script_args_release(&args);
    return status;
}
