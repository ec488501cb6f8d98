/* native_yaml.h: the native reader's view of a YAML document: the reading context, locations
 * (line and byte column) of libyaml's nodes, and the typed readers of keys and values every
 * section of the model YAML uses. Private to native_read.c and native_yaml.c. */
#ifndef SURGERY_NATIVE_YAML_H
#define SURGERY_NATIVE_YAML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <yaml.h>

#include "runtime/base/conf.h"
#include "runtime/graph/builder.h"

/* Ownership: a yctx owns text, line_start, the document, broken and in_locs (yaml_read_text ..
 * yaml_read_done); m is the builder's model (b owns it). Strings returned by scalar,
 * expect_string and name_list point into the document. */

struct diag_ctx;

typedef struct yctx {
    const char *path;        /* for locations */
    const char *real_path;   /* as given, for opening files beside it */
    char *text;
    size_t len;
    size_t *line_start;
    int n_lines;
    bool ascii;              /* no byte >= 0x80: a mark's column is its byte column */
    yaml_document_t doc;
    struct diag_ctx *d;
    int errors;
    model_builder *b;
    model *m;                /* the builder's model */
    src_loc weights_loc;
    const char **broken;     /* names of layers dropped for errors (no cascading errors) */
    int n_broken;
    int dropped_inputs;      /* model inputs dropped for errors */
    src_loc **in_locs;       /* per layer (model index): where each of its inputs is named */
    int cap_in_locs;
} yctx;

/* Errors (counted in y->errors) and notes, through y->d when there is one. */
void yerr(yctx *y, src_loc loc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void ynote(yctx *y, src_loc loc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Locations of a libyaml mark and of a node (a one-line scalar spans its length). */
src_loc mark_loc(const yctx *y, yaml_mark_t mk);
src_loc node_loc(const yctx *y, const yaml_node_t *n);
yaml_node_t *node(yctx *y, int i);
/* A scalar node's text, or NULL for any other node. */
const char *scalar(const yaml_node_t *n);
/* "a scalar", "a list" or "a mapping". */
const char *node_kind(const yaml_node_t *n);

/* The keys of a mapping, checked against `allowed` (NULL-terminated): duplicate and unknown
 * keys are reported. vals[i] (and keys[i], when keys is not NULL) receive allowed[i]'s value
 * (and key) node, or NULL. */
void read_mapping(yctx *y, yaml_node_t *map, const char *what, const char *const *allowed,
                  yaml_node_t **vals, yaml_node_t **keys);
/* A non-empty name without NUL characters, or NULL (reported). */
const char *expect_string(yctx *y, yaml_node_t *n, const char *what);
/* A plain whole number in [lo, hi] into *out: 0, or -1 (reported). */
int expect_int(yctx *y, yaml_node_t *n, const char *what, int64_t lo, int64_t hi, int64_t *out);
/* A list of names: a sequence of scalars, or one scalar. Returns the count (-1 on error);
 * names/locs are malloc'd arrays of borrowed strings. */
int name_list(yctx *y, yaml_node_t *n, const char *what, const char ***names, src_loc **locs);
/* A YAML value as a conf_value (the caller's) for layer_set_option/train_conf_set, or NULL. */
conf_value *yaml_value(yctx *y, yaml_node_t *n, int depth);

/* Reads the file at path into y (text, its line starts for byte columns, registered with d),
 * y->path already set. Returns 0, or -1 with the problem reported. */
int yaml_read_text(yctx *y, const char *path);
/* Parses y->text as one YAML document into y->doc, reporting syntax errors, and calls
 * parse(y, root) on its root (NULL for an empty stream); a second document is reported when
 * parse reported nothing. */
void yaml_parse_text(yctx *y, void (*parse)(yctx *y, yaml_node_t *root));
/* Releases what yaml_read_text and the sections kept in y. */
void yaml_read_done(yctx *y);

#endif
