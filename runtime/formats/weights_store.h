/* weights_store.h: a model's weights in a safetensors file: pairing the file with the
 * architecture (names, shapes, the architecture hash), the mapping the parameters borrow from
 * (owned by the model), its page policy (drop, prefetch, settle) and writing the file. */
#ifndef SURGERY_WEIGHTS_STORE_H
#define SURGERY_WEIGHTS_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include "runtime/base/atomic_file.h"
#include "runtime/formats/safetensors.h"
#include "runtime/graph/mapping.h"
#include "runtime/graph/model.h"

/* Ownership: after weights_store_load the model owns the mapping (m->mapping, m->mapping_fd,
 * released by model_free) and its parameters borrow from it; the page functions only advise
 * the kernel about pages of that mapping. weights_store_write borrows everything. */

struct diag_ctx;

/* Maps the safetensors file at path and checks it against m's architecture (shapes inferred):
 * its `format` and `architecture_hash` metadata, then every tensor LAYER.KEY against the
 * parameters (missing, of another shape, or belonging to no layer), reported through d at `at`
 * and the layers' locations, naming the file as fname. Then every parameter takes its tensor,
 * borrowing from the mapping where it can. Returns the number of errors reported (0: loaded,
 * m->weights_loaded set); on error no parameter holds data. */
int weights_store_load(model *m, const char *path, const char *fname, src_loc at,
                       struct diag_ctx *d);

/* Writes the weights file's header and data into the temporary af: on a little-endian host
 * through weights_out (data still in m's weights file copied from it, pending tensors streamed
 * without being assembled; large files with direct I/O when af is durable), elsewhere through
 * st_write's byte-order conversion. Returns 0, or -1 with the reason in err. */
int weights_store_write(const model *m, atomic_file *af, const st_entry *entries, int n,
                        const char *const *meta, int n_meta, char *err, size_t err_len);

#endif
