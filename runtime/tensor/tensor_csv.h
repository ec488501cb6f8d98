/* tensor_csv.h: numeric CSV to and from float32 tensors (for predict's input and output). */
#ifndef SURGERY_TENSOR_CSV_H
#define SURGERY_TENSOR_CSV_H

#include <stdio.h>
#include "runtime/tensor/tensor.h"

/* Ownership: the tensor filled by tensor_csv_read belongs to the caller; the writers borrow
 * fp and the tensor. */

struct diag_ctx;

/* Reads a CSV of numbers into out = [rows, columns]: header_lines lines are skipped, blank lines
 * ignored, fields separated by `delim` (spaces around a field and double quotes around it are
 * allowed), every row must have as many fields as the first, every field a finite number.
 * Problems are reported through d at path:line:col; returns 0, or -1. out is released first. */
int tensor_csv_read(const char *path, int header_lines, char delim, tensor *out,
                    struct diag_ctx *d);

/* Writes a 2-D tensor [rows, columns] as rows of `delim`-separated numbers (each float in its
 * shortest round-trip form); a 1-D tensor is written one value per line. Returns 0, or -1 with
 * errno set on a write error. */
int tensor_csv_write(FILE *fp, const tensor *t, char delim);

/* Writes a batch-first sequence tensor [batch, time, features] as batch*time rows
 * `b,t,v0,v1,...` (example index, step index, then the features), examples in order and steps
 * in order within each. Returns 0, or -1 on a write error. */
int tensor_csv_write_seq(FILE *fp, const tensor *t, char delim);

/* The shortest "%.{1..9}g" text of f that reads back as exactly f. Returns buf (n >= 24). */
char *tensor_csv_format_float(float f, char *buf, size_t n);

#endif
