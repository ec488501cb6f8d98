/* featurize_impl.h: what the files of runtime/featurize share: the feature set's layout, the
 * frozen boundary, the cache key, the cache entry's files and the shard writer. */
#ifndef SURGERY_FEATURIZE_IMPL_H
#define SURGERY_FEATURIZE_IMPL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "runtime/featurize/featurize.h"

/* Ownership: as featurize.h for the feature set (its shards' mappings, node names, top model
 * and index). Strings returned by join are the caller's (free). A group_out owns its batch and
 * activations until it is handed to writer_put. The writer borrows its feature set and folder
 * and owns its row counts (shard_rows, freed by the caller after writer_finish) and scratch. */

#define FEATURIZE_FORMAT "surgery-features/1"
#define MAX_NODES 16
#define FEATURIZE_READ_SEED 0
/* Bounds of one forward pass of the frozen part (group_examples). */
#define FEATURIZE_GROUP_EXAMPLES 1024
#define FEATURIZE_GROUP_FLOATS (16.0 * 1024 * 1024)

/* One mapped .npy array of a shard. */
typedef struct mapped_array {
    void *base;
    size_t len;
    const float *data;
    int ndim;
    int64_t shape[4];
} mapped_array;

typedef struct shard {
    int64_t rows, steps;             /* examples; time steps (1 for feed-forward) */
    mapped_array x[MAX_NODES];       /* [rows, F] or batch-first [rows, T, F] */
    mapped_array y, mask, label_mask;
} shard;

struct feature_set {
    char *path;
    int64_t count;
    bool sequence, align_end, has_mask, has_label_mask;
    bool read_shuffled;              /* examples were read in data_reset(ds, 0)'s order */
    int n_nodes;
    char *nodes[MAX_NODES];
    int64_t node_size[MAX_NODES];
    int64_t outputs;
    int n_shards;
    shard *shards;
    int64_t *ex_shard, *ex_row;      /* example (file order) -> shard, row */
    model *top;                      /* the unfrozen layers, inputs at the boundary */
};

/* ---- boundary.c: the frozen boundary and the top model ---- */

/* bottom[i]: layer i and all its ancestors are frozen. */
int compute_bottom(const model *m, bool *bottom);
/* Boundary nodes: inputs and bottom layers that non-bottom layers consume, in definition
 * order of the consumers. Returns the count, or -1 when there are too many. */
int boundary_nodes(const model *m, const bool *bottom, char **names);
act_shape node_shape(const model *m, const char *name);
/* The sub-model of the non-bottom layers, fed by the boundary nodes. */
model *build_top(const model *m, const bool *bottom, char **nodes, int n_nodes, diag_ctx *d);

/* ---- cache_key.c ---- */

/* XXH3 hash of the frozen part (its architecture and weights), the boundary and the data.
 * Returns 0, or -1 when out of memory. */
int featurize_cache_key(const model *m, const bool *bottom, char **nodes, int n_nodes,
                        uint64_t data_hash, uint64_t *key);

/* ---- cache_files.c: the cache entry's folder, arrays and manifest ---- */

/* A growable float buffer for the batch-first copies of shards. */
typedef struct scratch {
    float *p;
    size_t cap;              /* floats */
} scratch;

int mkdir_p(const char *path);
void remove_tree(const char *dir);
char *join(const char *a, const char *b);
int save_array(const char *dir, int64_t shard_i, const char *what, const tensor *t, char *err,
               size_t err_len);
int shard_layout(const tensor *src, bool is_mask, scratch *sc, tensor *out);
int map_array(const char *dir, int64_t shard_i, const char *what, mapped_array *a, char *err,
              size_t err_len);
bool shard_has(const char *dir, int64_t shard_i, const char *what);
void unmap_array(mapped_array *a);
int write_manifest(const char *dir, const feature_set *fs, int64_t *shard_rows, char *err,
                   size_t err_len);
int open_entry(feature_set *fs, char *err, size_t err_len);
int sync_folder(const char *dir, char *err, size_t err_len);
bool dir_exists(const char *p);

/* ---- writer.c: the shard writer ---- */

/* One group's results on their way to the disk. */
typedef struct group_out {
    batch b;                         /* labels and masks of the group's examples */
    tensor outs[MAX_NODES];          /* the boundary nodes' activations */
} group_out;

/* The shard writer: writes each group as a shard, on a thread of its own when one can be
 * started, so that the next group is computed meanwhile. Groups are handed over one at a time.
 * mu guards full, busy, done, job and rc; yielding belongs to the computing thread; the fields
 * after job (the entry's counts in fs included) belong to the writing thread until
 * writer_finish returns. */
typedef struct shard_writer {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool threaded, full, busy, done;
    bool yielding;                   /* the thread runs at idle priority (writer_yield) */
    int rc;                          /* 0, -1 out of memory, -2 a write failed (err says) */
    group_out job;
    feature_set *fs;
    const char *dir;
    int64_t *shard_rows, cap;
    scratch sc;
    char err[512];
} shard_writer;

void group_out_release(group_out *g, int n_nodes);
int writer_start(shard_writer *w, feature_set *fs, const char *dir);
int writer_put(shard_writer *w, group_out *g);
int writer_finish(shard_writer *w);

#endif
