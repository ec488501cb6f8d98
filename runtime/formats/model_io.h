/* model_io.h: the native model format: NAME.yaml (architecture, read and written with libyaml)
 * plus NAME.safetensors (weights, memory-mapped), and the architecture hash that pairs them. */
#ifndef SURGERY_MODEL_IO_H
#define SURGERY_MODEL_IO_H

#include <stdbool.h>
#include <stdint.h>
#include "runtime/graph/model.h"
#include "runtime/graph/mapping.h"

/* Ownership: model_load returns a model owned by the caller (model_free); its weights borrow
 * from the mapping the model owns. model_save borrows everything. Locations in the loaded
 * model (layer->loc, inputs' locs, outputs_loc) point at the YAML path interned in d (so they
 * outlive the model and its clones) or, without d, at model->path. */

struct diag_ctx;

#define MODEL_FORMAT "surgery-model/1"

/* Reads a model YAML: syntax (libyaml's line:col), keys (unknown keys with "did you mean"),
 * layer types and options (layer_set_option), required keys, duplicate names, `format:`, then
 * the graph (model_topo_order: cycles, dangling inputs) and shapes (model_infer_shapes). With
 * load_weights, the `weights:` file (relative to the YAML's folder) is mapped and every tensor
 * checked against the architecture (names, shapes, the architecture hash in its metadata);
 * without a `weights:` key the parameters are initialised (model_init_params). Every problem
 * is reported through d at the YAML's line:col; returns NULL when there was any. An `n_in`
 * written in the YAML is checked against the inferred one; afterwards layers carry
 * n_in_given = false (it follows the graph through later edits like an inferred n_in). */
model *model_load(const char *yaml_path, bool load_weights, struct diag_ctx *d);

/* Writes DIR/NAME.yaml (yaml_path, which must end in .yaml or .yml) and DIR/NAME.safetensors
 * beside it, both through temporaries renamed into place as a pair (atomic_commit_pair): a
 * failure leaves the previous files (or none), never a torn pair. Every parameter must hold
 * values; pending parameters are streamed into the file without being assembled in memory,
 * and tensors still in the base weights file are copied from it file to file. Returns 0, or -1
 * with the reason reported through d. */
int model_save(const model *m, const char *yaml_path, struct diag_ctx *d);

/* How far a save goes before it returns. SAVE_ATOMIC: the files take their names complete (a
 * reader, or a run that fails or is killed, sees the previous pair or the new one), and the
 * operating system writes them to the disk in its own time. SAVE_DURABLE: they are on the disk
 * first (large weights files with direct I/O, the rest flushed with fsync, the folder too), so
 * that a crash of the machine cannot lose or tear them either. model_save is SAVE_DURABLE. */
typedef enum save_mode { SAVE_ATOMIC, SAVE_DURABLE } save_mode;
int model_save_mode(const model *m, const char *yaml_path, save_mode mode, struct diag_ctx *d);

/* FNV-1a 64 of a canonical text of the architecture: the inputs (in order: name, kind, sizes),
 * the layers sorted by name (name, type, inputs in order, n_in, n_out, every parameter's key
 * and shape), the outputs in order. Not hashed: activations, losses, training settings, the
 * frozen set, the initialisation, the normaliser. Shapes must have been inferred. */
uint64_t model_arch_hash(const model *m);

/* The weights path that belongs to a YAML path: "d/x.yaml" -> "d/x.safetensors". Returns a
 * malloc'd string, or NULL when the path does not end in .yaml or .yml. */
char *model_weights_path(const char *yaml_path);

#endif
