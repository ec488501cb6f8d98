/* featurize.c: frozen-boundary features computed into a cache entry on disk (or found there),
 * and training and evaluation of the unfrozen sub-model from them. */
#include "runtime/featurize/featurize_impl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/base/atomic_file.h"
#include "runtime/graph/predict.h"
#include "runtime/nn/kernels/loss.h"
#include "runtime/tensor/npy.h"
#include "runtime/base/rng.h"

/* Examples the frozen part runs over at once: FEATURIZE_GROUP_EXAMPLES rounded down to whole
 * batches (larger products keep the matrix kernels busy), fewer when the activations would pass
 * FEATURIZE_GROUP_FLOATS, and a single batch when batches pad (their steps differ). */
static int64_t group_examples(const model *m, const bool *bottom, const dataset *ds)
{
    int64_t B = data_batch_size(ds), T = data_fixed_steps(ds);
    if (T <= 0)
        return B;
    /* floats per example step: the input, each frozen layer's output and, for layers with a
     * weight matrix, its columns (the gate pre-activations of recurrent layers) */
    double width = (double)data_features(ds);
    for (int i = 0; i < m->n_layers; i++) {
        if (!bottom[i])
            continue;
        const layer *L = m->layers[i];
        int64_t w = L->out_shape.size;
        if (L->n_params > 0 && L->params[0].ndim == 2 && L->params[0].shape[1] > w)
            w = L->params[0].shape[1];
        width += (double)w;
    }
    double by_floats = FEATURIZE_GROUP_FLOATS / ((double)B * (double)T * width);
    int64_t k = FEATURIZE_GROUP_EXAMPLES / B;
    if (by_floats < (double)k)
        k = (int64_t)by_floats;
    return (k > 1 ? k : 1) * B;
}

/* Runs the frozen part over the data in file order, a group of whole batches at a time (see
 * group_examples), while the previous group is being written as a shard. */
static int compute_entry(model *m, const bool *bottom, dataset *ds, feature_set *fs, const char *tmp,
                         diag_ctx *d, src_loc loc)
{
    /* A shuffling data set reads in data_reset's order for this seed; the manifest records it
     * so the reader can map positions back to examples. */
    fs->read_shuffled = data_shuffles(ds);
    fs->count = 0;
    fs->n_shards = 0;
    shard_writer w;
    if (data_reset(ds, FEATURIZE_READ_SEED) != 0 || writer_start(&w, fs, tmp) != 0) {
        diag_error(d, loc, "out of memory");
        return -1;
    }
    const int64_t per_pass = group_examples(m, bottom, ds);
    group_out g;
    memset(&g, 0, sizeof g);
    int rc = 0, got;
    char err[512] = "";
    const char *const *nodes = (const char *const *)fs->nodes;
    exec_plan *plan = NULL;   /* built with the first batch, reused by the others */
    while ((got = data_next_n(ds, per_pass, &g.b, d)) == 1) {
        const tensor *in[1] = {&g.b.x};
        const float *masks[1] = {g.b.mask.data};
        if ((!plan && exec_plan_for_nodes(&plan, m, nodes, fs->n_nodes, err, sizeof err) != 0) ||
            exec_predict(plan, in, masks, nodes, fs->n_nodes, g.outs, err, sizeof err) != 0) {
            diag_error(d, loc, "featurize: %s", err);
            rc = -1;
            break;
        }
        /* The inputs are no longer needed: only labels and masks go to the shards. */
        tensor_release(&g.b.x);
        if (writer_put(&w, &g) != 0)
            break;
    }
    exec_plan_free(plan);
    group_out_release(&g, fs->n_nodes);
    int wrc = writer_finish(&w);
    if (rc == 0 && got < 0)
        rc = -1;
    if (rc == 0 && wrc == -1)
        diag_error(d, loc, "out of memory");
    else if (rc == 0 && wrc == -2)
        diag_error(d, loc, "featurize: %s", w.err);
    if (rc == 0)
        rc = wrc;
    if (rc == 0 && (write_manifest(tmp, fs, w.shard_rows, err, sizeof err) != 0 ||
                    sync_folder(tmp, err, sizeof err) != 0)) {
        diag_error(d, loc, "featurize: %s", err);
        rc = -1;
    }
    free(w.shard_rows);
    return rc ? -1 : 0;
}

/* The frozen part of m (bottom) and its boundary nodes; -1 (reported at loc) when m cannot
 * be featurized. */
static int frozen_part(const model *m, bool *bottom, char **nodes, src_loc loc, diag_ctx *d)
{
    if (m->n_inputs != 1) {
        diag_error(d, loc, "featurize needs a model with one input (this one has %d)", m->n_inputs);
        return -1;
    }
    if (compute_bottom(m, bottom) != 0) {
        diag_error(d, loc, "featurize: the model's graph is not valid");
        return -1;
    }
    int n_nodes = boundary_nodes(m, bottom, nodes);
    bool any_frozen = false;
    for (int i = 0; i < m->n_layers; i++)
        any_frozen |= bottom[i];
    if (!any_frozen) {
        diag_error(d, loc, "featurize needs a frozen part: no layer is frozen together with all of "
                   "its ancestors (use `freeze through \"LAYER\"`)");
        return -1;
    }
    if (n_nodes < 0) {
        diag_error(d, loc, "featurize: the frozen boundary has more than %d nodes", MAX_NODES);
        return -1;
    }
    return n_nodes;
}

int featurize_check_model(const model *m, src_loc loc, diag_ctx *d)
{
    bool *bottom = calloc((size_t)(m->n_layers ? m->n_layers : 1), sizeof *bottom);
    char *nodes[MAX_NODES];
    if (!bottom) {
        diag_error(d, loc, "out of memory");
        return -1;
    }
    int n_nodes = frozen_part(m, bottom, nodes, loc, d);
    free(bottom);
    return n_nodes < 0 ? -1 : 0;
}

feature_set *featurize(model *m, dataset *ds, const char *cache_dir, src_loc loc, bool *reused, diag_ctx *d)
{
    *reused = false;
    bool *bottom = calloc((size_t)(m->n_layers ? m->n_layers : 1), sizeof *bottom);
    feature_set *fs = calloc(1, sizeof *fs);
    char *nodes[MAX_NODES];
    char *tmp = NULL;
    if (!bottom || !fs) {
        diag_error(d, loc, "out of memory");
        goto fail;
    }
    int n_nodes = frozen_part(m, bottom, nodes, loc, d);
    if (n_nodes < 0)
        goto fail;
    fs->n_nodes = n_nodes;
    for (int k = 0; k < n_nodes; k++) {
        fs->nodes[k] = strdup(nodes[k]);
        fs->node_size[k] = node_shape(m, nodes[k]).size;
        if (!fs->nodes[k]) {
            diag_error(d, loc, "out of memory");
            goto fail;
        }
    }
    fs->sequence = data_is_sequence(ds);
    fs->top = build_top(m, bottom, fs->nodes, n_nodes, d);
    if (!fs->top)
        goto fail;
    uint64_t data_hash;
    if (data_content_hash(ds, &data_hash, d) != 0)
        goto fail;
    uint64_t key;
    if (featurize_cache_key(m, bottom, fs->nodes, n_nodes, data_hash, &key) != 0) {
        diag_error(d, loc, "out of memory");
        goto fail;
    }
    char hex[17];
    data_hash_hex(key, hex);
    if (mkdir_p(cache_dir) != 0) {
        diag_error(d, loc, "featurize: cannot create the cache folder '%s': %s", cache_dir, strerror(errno));
        goto fail;
    }
    fs->path = join(cache_dir, hex);
    if (!fs->path) {
        diag_error(d, loc, "out of memory");
        goto fail;
    }
    char err[512];
    if (dir_exists(fs->path)) {
        if (open_entry(fs, err, sizeof err) == 0) {
            *reused = true;
            free(bottom);
            return fs;
        }
        diag_warning(d, loc, "featurize: ignoring a damaged cache entry (%s); computing it again", err);
        for (int s = 0; s < fs->n_shards; s++) {
            for (int k = 0; k < fs->n_nodes; k++)
                unmap_array(&fs->shards[s].x[k]);
            unmap_array(&fs->shards[s].y);
            unmap_array(&fs->shards[s].mask);
            unmap_array(&fs->shards[s].label_mask);
        }
        free(fs->shards);
        free(fs->ex_shard);
        free(fs->ex_row);
        fs->shards = NULL;
        fs->ex_shard = fs->ex_row = NULL;
        fs->n_shards = 0;
        remove_tree(fs->path);
    }
    size_t tl = strlen(fs->path) + 16;
    tmp = malloc(tl);
    if (!tmp) {
        diag_error(d, loc, "out of memory");
        goto fail;
    }
    snprintf(tmp, tl, "%s.tmp-XXXXXX", fs->path);
    if (!mkdtemp(tmp)) {
        diag_error(d, loc, "featurize: cannot create a folder in '%s': %s", cache_dir, strerror(errno));
        free(tmp);
        tmp = NULL;
        goto fail;
    }
    fs->align_end = data_aligns_end(ds);
    int computed = compute_entry(m, bottom, ds, fs, tmp, d, loc);
    fs->n_shards = 0;   /* the shards are written, none is mapped yet */
    if (computed != 0)
        goto fail;
    if (rename(tmp, fs->path) != 0) {
        diag_error(d, loc, "featurize: cannot move the cache entry into place: %s", strerror(errno));
        goto fail;
    }
    free(tmp);
    tmp = NULL;
    if (open_entry(fs, err, sizeof err) != 0) {
        diag_error(d, loc, "featurize: %s", err);
        goto fail;
    }
    free(bottom);
    return fs;
fail:
    if (tmp) {
        remove_tree(tmp);
        free(tmp);
    }
    free(bottom);
    feature_set_free(fs);
    return NULL;
}

/* ---- batches from the cache ---- */

typedef struct feat_source {
    feature_set *fs;
    dataset *ds;
    uint64_t seed;
    int64_t batch;
    int64_t *order;
    int64_t cursor;
    tensor x[MAX_NODES], y, mask, label_mask;
    const tensor *xp[MAX_NODES];
    const float *masks[MAX_NODES];
    const float *label_masks[1];
} feat_source;

/* Makes t an array of the given shape for the next batch: the previous batch's buffer when the
 * shape is the same (zeroed when `zero`), else a new zeroed one. Returns 0, or -1 when out of
 * memory. */
static int batch_array(tensor *t, int ndim, const int64_t *shape, bool zero)
{
    bool same = t->data && !t->borrowed && t->ndim == ndim;
    for (int k = 0; k < ndim && same; k++)
        same = t->shape[k] == shape[k];
    if (same) {
        if (zero)
            memset(t->data, 0, (size_t)t->size * sizeof(float));
        return 0;
    }
    tensor_release(t);
    return tensor_alloc(t, ndim, shape);
}

/* Gathers examples order[0..n) into time-major (or feed-forward) batch tensors. */
static int gather(feat_source *s, const int64_t *ids, int64_t n)
{
    feature_set *fs = s->fs;
    int64_t T = 1;
    for (int64_t i = 0; i < n; i++) {
        const shard *sh = &fs->shards[fs->ex_shard[ids[i]]];
        if (sh->steps > T)
            T = sh->steps;
    }
    /* Sequences may pad, so their arrays start from zeros; feed-forward rows are all copied. */
    const bool seq = fs->sequence;
    const int nd = seq ? 3 : 2;
    for (int k = 0; k < fs->n_nodes; k++) {
        int64_t F = fs->node_size[k];
        int64_t shape[3] = {seq ? T : n, seq ? n : F, F};
        if (batch_array(&s->x[k], nd, shape, seq) != 0)
            return -1;
    }
    int64_t K = fs->outputs;
    int64_t yshape[3] = {seq ? T : n, seq ? n : K, K}, mshape[2] = {T, n};
    if (batch_array(&s->y, nd, yshape, seq) != 0)
        return -1;
    if (seq && fs->has_mask && batch_array(&s->mask, 2, mshape, true) != 0)
        return -1;
    if (seq && fs->has_label_mask && batch_array(&s->label_mask, 2, mshape, true) != 0)
        return -1;
    for (int64_t i = 0; i < n; i++) {
        const shard *sh = &fs->shards[fs->ex_shard[ids[i]]];
        int64_t r = fs->ex_row[ids[i]], Ts = sh->steps;
        int64_t off = fs->align_end ? T - Ts : 0;
        if (!fs->sequence) {
            for (int k = 0; k < fs->n_nodes; k++)
                memcpy(s->x[k].data + i * fs->node_size[k], sh->x[k].data + r * fs->node_size[k],
                       (size_t)fs->node_size[k] * sizeof(float));
            memcpy(s->y.data + i * K, sh->y.data + r * K, (size_t)K * sizeof(float));
            continue;
        }
        for (int64_t t = 0; t < Ts; t++) {
            int64_t tt = t + off;
            for (int k = 0; k < fs->n_nodes; k++) {
                int64_t F = fs->node_size[k];
                memcpy(s->x[k].data + (tt * n + i) * F, sh->x[k].data + (r * Ts + t) * F,
                       (size_t)F * sizeof(float));
            }
            memcpy(s->y.data + (tt * n + i) * K, sh->y.data + (r * Ts + t) * K, (size_t)K * sizeof(float));
            if (s->mask.data)
                s->mask.data[tt * n + i] = sh->mask.data ? sh->mask.data[r * Ts + t] : 1.0f;
            if (s->label_mask.data)
                s->label_mask.data[tt * n + i] = sh->label_mask.data ? sh->label_mask.data[r * Ts + t] : 1.0f;
        }
    }
    for (int k = 0; k < fs->n_nodes; k++) {
        s->xp[k] = &s->x[k];
        s->masks[k] = s->mask.data;
    }
    s->label_masks[0] = s->label_mask.data;
    return 0;
}

static int fs_reset(void *ctx, int64_t epoch, diag_ctx *d)
{
    (void)d;
    feat_source *s = ctx;
    s->cursor = 0;
    for (int64_t i = 0; i < s->fs->count; i++)
        s->order[i] = i;
    if (epoch >= 0 && data_shuffles(s->ds)) {
        uint64_t seed = train_epoch_shuffle_seed(s->seed, epoch);
        rng r;
        rng_seed(&r, seed);
        rng_shuffle(&r, s->order, s->fs->count);
    }
    return 0;
}

static int fs_next(void *ctx, train_batch *tb, int64_t *examples, diag_ctx *d)
{
    feat_source *s = ctx;
    int64_t left = s->fs->count - s->cursor;
    if (left <= 0)
        return 0;
    int64_t n = left < s->batch ? left : s->batch;
    if (gather(s, s->order + s->cursor, n) != 0) {
        diag_error(d, data_loc(s->ds), "out of memory");
        return -1;
    }
    s->cursor += n;
    tb->inputs = s->xp;
    tb->labels = &s->y;
    tb->masks = s->masks;
    tb->label_masks = s->label_masks;
    *examples = n;
    return 1;
}

static void source_release(feat_source *s)
{
    for (int k = 0; k < MAX_NODES; k++)
        tensor_release(&s->x[k]);
    tensor_release(&s->y);
    tensor_release(&s->mask);
    tensor_release(&s->label_mask);
    free(s->order);
}

/* Copies parameters and updater state of the top model's layers from (to_top) or to m. */
static int sync_params(model *m, model *top, bool to_top)
{
    for (int i = 0; i < top->n_layers; i++) {
        layer *T = top->layers[i], *L = model_find_layer(m, T->name);
        if (!L)
            return -1;
        for (int p = 0; p < T->n_params && p < L->n_params; p++) {
            tensor *dst = to_top ? &T->params[p] : &L->params[p];
            const tensor *src = to_top ? &L->params[p] : &T->params[p];
            if (tensor_copy(dst, src) != 0)
                return -1;
            for (int k = 0; k < 2; k++) {
                tensor *ud = to_top ? &T->upd_state[p][k] : &L->upd_state[p][k];
                const tensor *us = to_top ? &L->upd_state[p][k] : &T->upd_state[p][k];
                if (us->data ? tensor_copy(ud, us) != 0 : (tensor_release(ud), 0))
                    return -1;
            }
        }
        T->train = L->train;
        T->frozen = L->frozen;
    }
    top->training = m->training;
    if (to_top) {
        top->epoch_count = m->epoch_count;
        top->iteration_count = m->iteration_count;
    } else {
        m->epoch_count = top->epoch_count;
        m->iteration_count = top->iteration_count;
    }
    return 0;
}

int featurized_fit(model *m, feature_set *fs, dataset *ds, train_options *o, train_result *r, diag_ctx *d)
{
    feat_source s = {.fs = fs, .ds = ds, .batch = data_batch_size(ds)};
    s.seed = train_options_seed(m, o);
    s.order = malloc((size_t)(fs->count ? fs->count : 1) * sizeof *s.order);
    if (!s.order || sync_params(m, fs->top, true) != 0) {
        free(s.order);
        diag_error(d, o->loc, "out of memory");
        return -1;
    }
    train_source src = {.ctx = &s, .reset = fs_reset, .next = fs_next, .examples_per_epoch = fs->count};
    const char *saved = o->data_name;
    if (!o->data_name)
        o->data_name = data_name(ds);
    int rc = train_fit(fs->top, &src, o, r, d);
    o->data_name = saved;
    source_release(&s);
    /* The trained parameters go back into the whole model (even after a NaN stop: train_fit
     * keeps the last good weights). */
    if (sync_params(m, fs->top, false) != 0) {
        diag_error(d, o->loc, "out of memory");
        rc = -1;
    }
    return rc;
}

int featurized_evaluate(model *m, feature_set *fs, dataset *ds, evaluation *e, diag_ctx *d)
{
    feat_source s = {.fs = fs, .ds = ds, .batch = data_batch_size(ds)};
    s.order = malloc((size_t)(fs->count ? fs->count : 1) * sizeof *s.order);
    if (!s.order || sync_params(m, fs->top, true) != 0) {
        free(s.order);
        diag_error(d, data_loc(ds), "out of memory");
        return -1;
    }
    fs_reset(&s, -1, d);
    train_batch tb;
    int64_t n;
    int got, rc = 0;
    const char *const *outputs = (const char *const *)fs->top->outputs;
    exec_plan *plan = NULL;   /* built with the first batch, reused by the others */
    while (rc == 0 && (got = fs_next(&s, &tb, &n, d)) == 1) {
        tensor out = {0};
        char err[256];
        if ((!plan && exec_plan_for_nodes(&plan, fs->top, outputs, 1, err, sizeof err) != 0) ||
            exec_predict(plan, tb.inputs, tb.masks, outputs, 1, &out, err, sizeof err) != 0 ||
            eval_add(e, &out, &s.y, s.label_mask.data ? &s.label_mask : NULL, err, sizeof err) != 0) {
            diag_error(d, data_loc(ds), "evaluate %s: %s", data_name(ds), err);
            rc = -1;
        }
        if (rc == 0) {
            const layer *L = model_find_layer(fs->top, fs->top->outputs[0]);
            if (loss_layer_has_score(L))
                eval_add_loss(e, loss_layer_score(L, &out, &s.y, s.label_mask.data), n);
        }
        tensor_release(&out);
    }
    exec_plan_free(plan);
    if (got < 0)
        rc = -1;
    source_release(&s);
    return rc;
}
