/* main.c: the surgery command-line driver: dispatches to one function per subcommand. */
#include <setjmp.h>
#include <stdio.h>
#include <string.h>

#include "runtime/base/blas_idle.h"
#include "runtime/base/util.h"
#include "cli/commands.h"
#include "cli/version.h"

static const command commands[] = {
    {"check", "validate scripts against their base models (no weights read)", cmd_check},
    {"plan", "show the before/after table of a script's edits", cmd_plan},
    {"run", "execute a script (or a compiled .ir.yaml)", cmd_run},
    {"compile", "write a script's validated IR as YAML", cmd_compile},
    {"fmt", "print a script in canonical form (-w rewrites, --check tests)", cmd_fmt},
    {"summary", "print a model's layer table and parameter counts", cmd_summary},
    {"predict", "run a model on .npy or .csv input", cmd_predict},
    {"convert", "write a model in another format (.yaml, .onnx, .zip)", cmd_convert},
};
static const int n_commands = (int)(sizeof commands / sizeof commands[0]);

static void usage(FILE *out)
{
    fprintf(out,
            "usage: surgery COMMAND [OPTIONS] ...\n"
            "\n"
            "Change the topology of trained neural networks with declarative .surgery scripts.\n"
            "\n"
            "commands:\n");
    for (int i = 0; i < n_commands; i++)
        fprintf(out, "  %-9s %s\n", commands[i].name, commands[i].summary);
    fprintf(out,
            "\n"
            "options:\n"
            "  -h, --help     this help; `surgery COMMAND --help` for a command's own\n"
            "  --version      print the version\n"
            "\n"
            "exit status: 0 success, 1 script errors, 2 bad usage, 3 an expect failed,\n"
            "4 a runtime failure (I/O, NaN loss, out of memory).\n");
}

/* Where an allocation that cannot fail fails (runtime/base/util.h): back to main, which
 * returns status 4 as for every other out of memory. */
static jmp_buf out_of_memory_exit;

static void out_of_memory(void)
{
    longjmp(out_of_memory_exit, 1);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    const char *name = argv[1];
    if (!strcmp(name, "-h") || !strcmp(name, "--help") || !strcmp(name, "help")) {
        usage(stdout);
        return EXIT_OK;
    }
    if (!strcmp(name, "--version") || !strcmp(name, "version")) {
        printf("surgery %s\n", SURGERY_VERSION);
        return EXIT_OK;
    }
    blas_idle_workers();
    if (setjmp(out_of_memory_exit))
        return EXIT_RUNTIME;
    set_out_of_memory_handler(out_of_memory);
    for (int i = 0; i < n_commands; i++)
        if (!strcmp(name, commands[i].name))
            return commands[i].run(argc - 1, argv + 1);
    const char *names[16];
    for (int i = 0; i < n_commands; i++)
        names[i] = commands[i].name;
    const char *hint = diag_suggest(name, names, n_commands);
    if (hint)
        fprintf(stderr, "surgery: error: unknown command '%s' (did you mean '%s'?)\n", name, hint);
    else
        fprintf(stderr, "surgery: error: unknown command '%s'\n", name);
    fprintf(stderr, "run 'surgery --help' for the list of commands\n");
    return EXIT_USAGE;
}
