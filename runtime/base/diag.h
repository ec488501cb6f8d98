/* diag.h: compiler-style diagnostics (path:line:col: error: message, source line, caret, notes). */
#ifndef SURGERY_DIAG_H
#define SURGERY_DIAG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include "runtime/base/loc.h"

/* Ownership: a diag_ctx owns its source registry (the texts of every file it has printed a line
 * of, plus the paths interned with diag_intern_path). diag_free(NULL) is a no-op. Locations
 * handed to diag_* functions are borrowed only for the duration of the call. */

typedef enum { DIAG_COLOR_AUTO, DIAG_COLOR_ALWAYS, DIAG_COLOR_NEVER } diag_color_mode;

typedef struct diag_ctx diag_ctx;

diag_ctx *diag_new(FILE *out, diag_color_mode color);
void diag_free(diag_ctx *d);

/* Interns a path so that src_loc.file can point at it for the life of the context. */
const char *diag_intern_path(diag_ctx *d, const char *path);
/* Registers in-memory text for a path (used for scripts: the printed line is what was parsed). */
void diag_set_text(diag_ctx *d, const char *path, const char *text, size_t len);

/* Emit an error, a warning, or a note attached to the preceding error/warning.
 * A loc with line 0 prints "surgery: error: message" (or "path: error:" when file is set). */
void diag_error(diag_ctx *d, src_loc loc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void diag_warning(diag_ctx *d, src_loc loc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void diag_note(diag_ctx *d, src_loc loc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The same with the arguments in a va_list, for the reporting helpers of the readers and
 * checkers (the caller va_ends ap). */
void diag_verror(diag_ctx *d, src_loc loc, const char *fmt, va_list ap) __attribute__((format(printf, 3, 0)));
void diag_vwarning(diag_ctx *d, src_loc loc, const char *fmt, va_list ap) __attribute__((format(printf, 3, 0)));
void diag_vnote(diag_ctx *d, src_loc loc, const char *fmt, va_list ap) __attribute__((format(printf, 3, 0)));

/* Formats a message into buf[0..n) (nothing when buf is NULL or n is 0), for the functions
 * that report failure through a caller's buffer. Returns -1, so that such a function can end
 * with `return diag_format(err, err_len, ...)`. */
int diag_format(char *buf, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Limits that keep a flood of errors readable: only the first DIAG_MAX_ERRORS errors (and the
 * warnings and notes before the limit) are printed, the rest are counted; a quoted source line
 * longer than DIAG_LINE_WIDTH bytes is shown as DIAG_LINE_WIDTH bytes around the caret, with
 * "..." where it was cut. */
#define DIAG_MAX_ERRORS 50
#define DIAG_LINE_WIDTH 200

/* The errors counted but not printed, and one line "surgery: N more errors not shown" for
 * them (printed once per count; diag_free prints it when still due). */
int diag_hidden_count(const diag_ctx *d);
void diag_report_hidden(diag_ctx *d);

/* Every error reported, printed or not. */
int diag_error_count(const diag_ctx *d);
/* Whether an error said "out of memory": the machine, not the input, failed (exit status 4). */
bool diag_saw_oom(const diag_ctx *d);
int diag_warning_count(const diag_ctx *d);

/* "did you mean" support: the candidate with the smallest edit distance to `word`, or NULL when
 * none is close enough (distance <= max(1, strlen(word)/3)). */
const char *diag_suggest(const char *word, const char *const *candidates, int n_candidates);
int diag_edit_distance(const char *a, const char *b);

#endif
