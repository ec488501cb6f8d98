/* limits.h: the limits every reader enforces before it allocates or parses: file sizes, nesting
 * depths, counts and lengths. docs/format.md and docs/language.md ("Limits") list them. */
#ifndef SURGERY_LIMITS_H
#define SURGERY_LIMITS_H

#include <stdint.h>

/* Ownership: constants only. */

/* ---- YAML files: the model architecture and the IR ---- */

/* Bytes of a model YAML or an IR YAML file. */
#define LIMIT_YAML_BYTES (64 * 1024 * 1024)
/* Nesting of lists and mappings in a YAML file (the model format needs 5, the IR 8 plus the
 * nesting of its values). */
#define LIMIT_YAML_DEPTH 64
/* Bytes of one YAML scalar: a name, a path, a number, a value. */
#define LIMIT_YAML_SCALAR_BYTES (64 * 1024)
/* Nodes (scalars, lists and mappings) of one YAML document. */
#define LIMIT_YAML_NODES 4000000
/* Layers of a model and statements of a script (after includes). */
#define LIMIT_MODEL_LAYERS 100000

/* ---- tensors and layers ---- */

/* Elements of one tensor: a parameter of a layer, a data set's feature matrix row block, an
 * .npy array. 2^31 float32 values are 8 GiB. */
#define LIMIT_TENSOR_ELEMENTS ((int64_t)1 << 31)

/* ---- weights and tensor files ---- */

/* Bytes of a safetensors file's JSON header. */
#define LIMIT_SAFETENSORS_HEADER_BYTES (100u * 1000u * 1000u)
/* Bytes of an .npy file's header. */
#define LIMIT_NPY_HEADER_BYTES (1u << 24)

/* ---- data files ---- */

/* Bytes of one line of a CSV, CSV sequence or numeric CSV file. */
#define LIMIT_CSV_LINE_BYTES (64 * 1024 * 1024)
/* Fields of one CSV record (features plus labels). */
#define LIMIT_CSV_FIELDS (1 << 20)

/* ---- DL4J model files (zip archives) ---- */

/* Entries of a DL4J model zip. */
#define LIMIT_ZIP_ENTRIES 10000
/* Bytes of one entry, once uncompressed (as declared, and as really read). */
#define LIMIT_ZIP_ENTRY_BYTES ((int64_t)16 << 30)
/* Bytes of all the entries read from one zip, once uncompressed. */
#define LIMIT_ZIP_TOTAL_BYTES ((int64_t)32 << 30)
/* Ratio of an entry's uncompressed size to its compressed size (a zip bomb has more); entries
 * below LIMIT_ZIP_RATIO_FREE_BYTES are not held to it. */
#define LIMIT_ZIP_RATIO 1000
#define LIMIT_ZIP_RATIO_FREE_BYTES ((int64_t)1 << 20)
/* Bytes of a DL4J configuration.json. */
#define LIMIT_DL4J_JSON_BYTES (64 * 1024 * 1024)
/* Dimensions of an Nd4j array. */
#define LIMIT_ND4J_RANK 32

/* ---- scripts ---- */

/* Bytes of a .surgery file. */
#define LIMIT_SCRIPT_BYTES (16 * 1024 * 1024)
/* Nesting of an expression (brackets, calls, lists, operators). */
#define LIMIT_EXPR_DEPTH 64
/* Files included by one script, counted along every path (a file included twice counts
 * twice), and the length of a chain of includes. */
#define LIMIT_INCLUDED_FILES 1000
#define LIMIT_INCLUDE_DEPTH 32

#endif
