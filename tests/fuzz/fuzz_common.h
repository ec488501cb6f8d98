/* fuzz_common.h: what the libFuzzer targets share: a private folder for the files a reader
 * takes by path, a sink for diagnostics, splitting one input into several files, and running
 * a data reader over a spec written in the script's value syntax, loading a model file. */
#ifndef SURGERY_FUZZ_COMMON_H
#define SURGERY_FUZZ_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Ownership: the folder, its path and the sink are the process's, made on first use and
 * removed at exit; paths returned by fuzz_path point into a static buffer overwritten by the
 * next call. Everything passed in is borrowed. */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The process's private folder, made once on a tmpfs when there is one (see fuzz_common.c). */
const char *fuzz_dir(void);
/* DIR/name in a static buffer. */
const char *fuzz_path(const char *name);
/* Writes n bytes to DIR/name (replacing it) and returns its path (as fuzz_path). */
const char *fuzz_write(const char *name, const void *bytes, size_t n);
/* Makes DIR/alias a second name (a hard link) of DIR/name, once: every later fuzz_write of
 * name changes both, so an input that two files share is written once. */
void fuzz_alias(const char *alias, const char *name);
/* Where diagnostics go: /dev/null. */
FILE *fuzz_sink(void);

/* Splits [data, data + size) at the first occurrence of sep: *first_len bytes before it, the
 * rest after it in *rest / *rest_len (empty when sep does not occur). */
void fuzz_split(const uint8_t *data, size_t size, const char *sep, size_t *first_len,
                const uint8_t **rest, size_t *rest_len);

/* Opens the data statement `source { opts... }` (source and each option value in the
 * script's value syntax, options as "key = value", NULL-terminated) with paths beside
 * DIR/fuzz.surgery, probes it, reads one whole epoch and hashes it. Aborts when a failure is
 * not reported as an error. */
void fuzz_data(const char *source, const char *const *opts);

/* Loads the model file at path through the format registry (the architecture alone, or with
 * its weights) and frees it. Aborts when a refusal is not reported as an error. */
void fuzz_model(const char *path, bool weights);

#endif
