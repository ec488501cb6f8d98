/* test_support.h: what the unit tests share: diagnostics captured in memory, whole files read
 * and written, temporary folders made and removed. */
#ifndef SURGERY_TEST_SUPPORT_H
#define SURGERY_TEST_SUPPORT_H

/* Ownership: a diag_capture owns its context, its stream and the text buffer until
 * capture_close. test_read_file returns a malloc'd buffer the caller frees. The folder helpers
 * write into the caller's buffer. Every helper fails the running test (cr_assert) when the
 * system refuses what it asks. */

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "runtime/base/diag.h"

/* A diagnostics context writing into memory, so that a test can read what was reported. */
typedef struct diag_capture {
    char *buf;
    size_t len;
    FILE *fp;
    diag_ctx *d;
} diag_capture;

/* Opens c: c->d reports into c's buffer, without colour. */
void capture_open(diag_capture *c);
/* What was reported so far ("" when nothing); valid until the next report or capture_close. */
const char *capture_text(diag_capture *c);
void capture_close(diag_capture *c);

/* The whole file at path, NUL-terminated; its length in *len when len is not NULL. */
char *test_read_file(const char *path, size_t *len);
/* Writes text (without its NUL) to path, replacing the file. */
void test_write_file(const char *path, const char *text);

struct model;
/* The model at path, read with its weights through the format registry; the test fails with
 * the diagnostics when it cannot be read. The caller frees it (model_free). */
struct model *test_load_model(const char *path);
/* The diagnostics of reading the model at path, which must fail (the test fails when it
 * loads); malloc'd, the caller's. */
char *test_load_error(const char *path);
struct tensor;
/* Reads a text tensor, "d0 d1 ...\n" then the values, into t (allocated; the caller frees it);
 * false when the file is missing (the test fails when it is malformed). */
bool test_load_txt(const char *path, struct tensor *t);
/* Writes a version 1.0 .npy file of dtype `descr` ("<f4") and `shape` (a Python tuple, "(2, 3)")
 * whose data are the n bytes at data (zeros when data is NULL), replacing the file. */
void test_write_npy(const char *path, const char *descr, const char *shape, const void *data, size_t n);

/* Makes a fresh folder /tmp/surgery-TAG-XXXXXX and writes its path into dir[0..cap). */
void test_make_dir(char *dir, size_t cap, const char *tag);
/* Removes the folder dir with everything in it. */
void test_remove_dir(const char *dir);

#endif
