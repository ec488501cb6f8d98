/* weights_store.h: a model's weights in a safetensors file: pairing the file with the
 * architecture (names, shapes, the architecture hash), the mapping the parameters borrow from
 * (owned by the model), its page policy (drop, prefetch, settle) and writing the file. */
#ifndef SURGERY_WEIGHTS_STORE_H
#define SURGERY_WEIGHTS_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include "runtime/base/atomic_file.h"
#include "runtime/formats/safetensors.h"
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

/* Drops from memory the pages of m's weights mapping that hold the bytes [from, to) of a
 * borrowed tensor whose data spans [begin, end): whole pages only, and none holding a byte
 * outside [begin, end), so that the neighbouring tensors keep theirs (a page that begins before
 * `from` but inside [begin, end) is dropped too: the caller is done with everything before
 * `from`). The data stays readable: the kernel reads it from the file again when it is touched
 * (the mapping is private and borrowed data is never written). For a tensor an edit replaced,
 * or one written out and not needed soon. Does nothing unless [begin, end) lies inside
 * m->mapping. */
void model_drop_mapped(const model *m, const void *begin, const void *end, const void *from,
                       const void *to);

/* Starts reading the pages of m's weights mapping under [begin, end) from the file into the
 * page cache ahead of use (MADV_WILLNEED: asynchronous, nothing is mapped into the process),
 * so that a file that is not cached is read in large requests while the caller works. Does
 * nothing unless [begin, end) lies inside m->mapping. */
void model_prefetch_mapped(const model *m, const void *begin, const void *end);

/* Assembles every pending parameter (tensor_settle: an edit's description of a widened tensor)
 * into owned memory, letting the mapped pages the kept values were read from go. Returns 0, or
 * -1 when memory runs out (parameters not yet assembled stay pending). */
int model_settle(model *m);

#endif
