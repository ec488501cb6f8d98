/* fuzz_parser.c: libFuzzer entry point for the front end: any bytes are scanned, parsed,
 * lowered and checked without a crash, leak or undefined behaviour; parsed text formats to
 * text that parses again and formats to itself. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compiler/ast.h"
#include "runtime/base/diag.h"
#include "compiler/frontend.h"
#include "compiler/parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static FILE *sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!sink)
        sink = fopen("/dev/null", "w");
    diag_ctx *d = diag_new(sink, DIAG_COLOR_NEVER);
    int errors = 0;
    ast_file *f = parse_text("fuzz.surgery", (const char *)data, size, d, &errors);
    if (errors == 0) {
        script_file sf = {f, NULL};
        ir_script *s = NULL;
        if (lower_script(&sf, NULL, 0, d, &s) == FE_OK) {
            sema_check(s, d);
            ir_script_free(s);
        } else if (diag_error_count(d) == 0) {
            abort(); /* a failure must be explained */
        }
        char *once = format_ast(f);
        diag_ctx *d2 = diag_new(sink, DIAG_COLOR_NEVER);
        int again = 0;
        ast_file *g = parse_text("fuzz.surgery", once, strlen(once), d2, &again);
        if (again != 0)
            abort(); /* formatted text must parse */
        char *twice = format_ast(g);
        if (strcmp(once, twice) != 0)
            abort(); /* fmt must be idempotent */
        free(once);
        free(twice);
        ast_file_free(g);
        diag_free(d2);
    } else if (diag_error_count(d) == 0) {
        abort();
    }
    ast_file_free(f);
    diag_free(d);
    return 0;
}
