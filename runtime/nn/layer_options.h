/* layer_options.h: the option table every layer type declares (name, value type, range,
 * default, how it is written, one line of documentation, how to read and write it on a layer),
 * the options several types share, and what derives from the tables: the keys of a type, the
 * written form of a value, the cache digest of a layer and the Markdown documentation. */
#ifndef SURGERY_LAYER_OPTIONS_H
#define SURGERY_LAYER_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "runtime/base/conf.h"
#include "runtime/nn/layer_option.h"

/* Ownership: option tables and their entries are static and never freed; layer_options_markdown
 * returns a malloc'd string owned by the caller. */

/* The options several types share, declared once. n_in and n_out come in two forms: written
 * in the model YAML (types with parameters, whose sizes they define) and inferred (types whose
 * sizes follow their inputs, accepted and checked but never written). */
extern const layer_option layer_opt_n_in, layer_opt_n_in_inferred;
extern const layer_option layer_opt_n_out, layer_opt_n_out_inferred;
extern const layer_option layer_opt_activation, layer_opt_loss, layer_opt_alpha,
    layer_opt_has_bias, layer_opt_forget_gate_bias, layer_opt_reverse,
    layer_opt_initial_state;

/* The shared options, NULL-terminated, in the order of "every key some type accepts". */
extern const layer_option *const layer_common_options[];

/* Whether layers of type t are given n_out (written in the model YAML, needed by `add`), rather
 * than have it set by shape inference (depthwise_conv2d: n_in * multiplier). */
bool layer_type_takes_n_out(const struct layer_type *t);
/* The option of type t (NULL: of any type) called key, or NULL. */
const layer_option *layer_option_find(const struct layer_type *t, const char *key);
/* The values of o on L (layer_option_width of them) into v; the default values for type t;
 * and replacing the values of o on L by v. */
void layer_option_get_values(const layer_option *o, const struct layer *L, double *v);
void layer_option_default_values(const layer_option *o, const struct layer_type *t, double *v);
void layer_option_set_values(const layer_option *o, struct layer *L, const double *v);
/* Whether o holds its default on L. */
bool layer_option_is_default(const layer_option *o, const struct layer *L);
/* Where the values of a stored option o start in L->opt_store for a layer of type t: the sum
 * of the widths of the stored options before it in t's table (0 for a NULL type: a scratch
 * layer that only checks values). */
int layer_option_slot(const struct layer_type *t, const layer_option *o);
/* The values v of o (layer_option_width of them) as the model YAML writes them: 100, 0.01,
 * true, relu, [3, 3], same, [1, 0, 1, 0]. Returns buf. */
const char *layer_option_format(const layer_option *o, const double *v, char *buf, size_t n);
/* Of the values v of o, the numbers the model YAML writes as a sequence into items (at most
 * LOPT_MAX_VALUES - 1 for padding, len for a list): their count, or 0 when the value is a
 * scalar (same, valid, every non-list kind). */
int layer_option_list_items(const layer_option *o, const double *v, int64_t *items);
/* Whether the model YAML writes o for layer L (see layer_option_write). */
bool layer_option_written(const layer_option *o, const struct layer *L);

/* The description of a layer the featurize cache key hashes: its type, n_in, n_out,
 * activation, alpha and has_bias as "dense|784|100|3|0|1", then "|name=value" for every other
 * option of its type that is not at its default. Returns the length it needs (as snprintf). */
int layer_options_digest(const struct layer *L, char *buf, size_t n);

/* The Markdown options table of type t, as docs/layers.md shows it under "Options by type". */
char *layer_options_markdown(const struct layer_type *t);

#endif
