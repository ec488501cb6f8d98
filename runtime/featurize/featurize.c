/* featurize.c: frozen-boundary features cached on disk as .npy shards, and training and
 * evaluation of the unfrozen sub-model from them. */
#define _GNU_SOURCE /* syncfs, sync_file_range, SCHED_IDLE: writing the cache entry */
#include "runtime/featurize/featurize.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>
#if defined(__x86_64__) && defined(__has_include)
#if __has_include(<xxh_x86dispatch.h>)
#include <xxh_x86dispatch.h>     /* XXH3 on the widest vector unit the processor has */
#endif
#endif

#include "runtime/base/atomic_file.h"
#include "runtime/nn/kernels/loss.h"
#include "runtime/tensor/npy.h"
#include "runtime/base/rng.h"

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

/* ---- the frozen boundary ---- */

/* bottom[i]: layer i and all its ancestors are frozen. */
static int compute_bottom(const model *m, bool *bottom)
{
    int n = m->n_layers;
    int *order = malloc((size_t)(n ? n : 1) * sizeof *order);
    if (!order || model_topo_order(m, order, NULL) != 0) {
        free(order);
        return -1;
    }
    for (int p = 0; p < n; p++) {
        int i = order[p];
        const layer *L = m->layers[i];
        bool b = L->frozen;
        for (int k = 0; k < L->n_inputs && b; k++) {
            int j = model_layer_index(m, L->inputs[k]);
            if (j >= 0 && !bottom[j])
                b = false;
        }
        bottom[i] = b;
    }
    free(order);
    return 0;
}

static bool has_name(char *const *names, int n, const char *s)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(names[i], s))
            return true;
    return false;
}

/* Boundary nodes: inputs and bottom layers that non-bottom layers consume, in definition
 * order of the consumers. Returns the count, or -1 when there are too many. */
static int boundary_nodes(const model *m, const bool *bottom, char **names)
{
    int n = 0;
    for (int i = 0; i < m->n_layers; i++) {
        if (bottom[i])
            continue;
        const layer *L = m->layers[i];
        for (int k = 0; k < L->n_inputs; k++) {
            const char *in = L->inputs[k];
            int j = model_layer_index(m, in);
            bool is_boundary = j >= 0 ? bottom[j] : model_input_index(m, in) >= 0;
            if (!is_boundary || has_name(names, n, in))
                continue;
            if (n == MAX_NODES)
                return -1;
            names[n++] = (char *)in;
        }
    }
    return n;
}

static act_shape node_shape(const model *m, const char *name)
{
    act_shape s = {0};
    int j = model_layer_index(m, name);
    if (j >= 0)
        return m->layers[j]->out_shape;
    int k = model_input_index(m, name);
    if (k >= 0) {
        s.kind = m->inputs[k].kind == INPUT_RECURRENT ? SHAPE_RNN : SHAPE_FF;
        s.size = m->inputs[k].size;
    }
    return s;
}

/* The sub-model of the non-bottom layers, fed by the boundary nodes. */
static model *build_top(const model *m, const bool *bottom, char **nodes, int n_nodes, diag_ctx *d)
{
    model *top = model_new(m->name);
    if (!top)
        return NULL;
    for (int k = 0; k < n_nodes; k++) {
        act_shape s = node_shape(m, nodes[k]);
        if (model_add_input(top, nodes[k], s.kind == SHAPE_RNN ? INPUT_RECURRENT : INPUT_FEED_FORWARD,
                            s.size, loc_none()) != 0)
            goto fail;
    }
    for (int i = 0; i < m->n_layers; i++) {
        if (bottom[i])
            continue;
        layer *c = layer_clone(m->layers[i]);
        if (!c)
            goto fail;
        model_add_layer(top, c);
    }
    model_set_outputs(top, (const char *const *)m->outputs, m->n_outputs);
    top->seed = m->seed;
    top->weight_init = m->weight_init;
    top->training = m->training;
    top->weights_loaded = true;
    if (model_infer_shapes(top, d) != 0)
        goto fail;
    return top;
fail:
    model_free(top);
    return NULL;
}

/* ---- the cache key ---- */

static void hash_str(XXH3_state_t *h, const char *s)
{
    XXH3_64bits_update(h, s, strlen(s) + 1);
}

/* XXH3 hash of the frozen part (its architecture and weights), the boundary and the data.
 * Returns 0, or -1 when out of memory. */
static int cache_key(const model *m, const bool *bottom, char **nodes, int n_nodes, uint64_t data_hash,
                     uint64_t *key)
{
    XXH3_state_t *h = XXH3_createState();
    if (!h || XXH3_64bits_reset(h) != XXH_OK) {
        XXH3_freeState(h);
        return -1;
    }
    hash_str(h, FEATURIZE_FORMAT);
    for (int k = 0; k < m->n_inputs; k++) {
        hash_str(h, m->inputs[k].name);
        XXH3_64bits_update(h, &m->inputs[k].size, sizeof m->inputs[k].size);
    }
    for (int i = 0; i < m->n_layers; i++) {
        if (!bottom[i])
            continue;
        const layer *L = m->layers[i];
        char desc[160];
        snprintf(desc, sizeof desc, "%s|%lld|%lld|%d|%.17g|%d", L->type->name, (long long)L->n_in,
                 (long long)L->n_out, (int)L->activation, L->alpha, (int)L->has_bias);
        hash_str(h, L->name);
        hash_str(h, desc);
        for (int k = 0; k < L->n_inputs; k++)
            hash_str(h, L->inputs[k]);
        for (int p = 0; p < L->n_params; p++)
            if (L->params[p].data)
                XXH3_64bits_update(h, L->params[p].data, (size_t)L->params[p].size * sizeof(float));
    }
    for (int k = 0; k < n_nodes; k++)
        hash_str(h, nodes[k]);
    if (m->norm.kind != NORM_NONE && m->norm.n > 0) {
        XXH3_64bits_update(h, m->norm.shift, (size_t)m->norm.n * sizeof(float));
        XXH3_64bits_update(h, m->norm.scale, (size_t)m->norm.n * sizeof(float));
    }
    XXH3_64bits_update(h, &data_hash, sizeof data_hash);
    *key = XXH3_64bits_digest(h);
    XXH3_freeState(h);
    return 0;
}

/* ---- files ---- */

static int mkdir_p(const char *path)
{
    char *p = strdup(path);
    if (!p)
        return -1;
    for (char *s = p + 1;; s++) {
        if (*s != '/' && *s != '\0')
            continue;
        char c = *s;
        *s = '\0';
        if (mkdir(p, 0755) != 0 && errno != EEXIST) {
            free(p);
            return -1;
        }
        *s = c;
        if (!c)
            break;
    }
    free(p);
    return 0;
}

static void remove_tree(const char *dir)
{
    DIR *dp = opendir(dir);
    if (dp) {
        struct dirent *e;
        while ((e = readdir(dp))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                continue;
            char p[4096];
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            unlink(p);
        }
        closedir(dp);
    }
    rmdir(dir);
}

static char *join(const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 2;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "%s/%s", a, b);
    return s;
}

static int save_array(const char *dir, int64_t shard_i, const char *what, const tensor *t, char *err,
                      size_t err_len)
{
    char name[64];
    snprintf(name, sizeof name, "%06lld.%s.npy", (long long)shard_i, what);
    char *p = join(dir, name);
    if (!p) {
        snprintf(err, err_len, "out of memory");
        return -1;
    }
    FILE *f = fopen(p, "wb");
    int rc = -1;
    if (!f) {
        snprintf(err, err_len, "%s: %s", p, strerror(errno));
    } else {
        /* Flushed to the kernel here, its write-back started at once (so that the disk works
         * while the next batches are computed); made durable for the whole entry by
         * sync_folder before the entry's folder is renamed into place. */
        rc = npy_write_float(f, t, err, err_len);
        if (fflush(f) != 0) {
            if (rc == 0)
                snprintf(err, err_len, "%s: write failed: %s", p, strerror(errno));
            rc = -1;
        }
        if (rc == 0)
            (void)sync_file_range(fileno(f), 0, 0, SYNC_FILE_RANGE_WRITE);
        if (fclose(f) != 0 && rc == 0) {
            snprintf(err, err_len, "%s: write failed: %s", p, strerror(errno));
            rc = -1;
        }
    }
    free(p);
    return rc;
}

/* A growable float buffer for the batch-first copies of shards. */
typedef struct scratch {
    float *p;
    size_t cap;              /* floats */
} scratch;

/* A group's array laid out as a shard: a time-major [T, G, F] array becomes batch-first
 * [G, T, F] and a [T, G] mask [G, T], both copied into sc; other arrays ([G, ...], already
 * batch-first) are shown as they are. Returns 0, or -1 when out of memory. */
static int shard_layout(const tensor *src, bool is_mask, scratch *sc, tensor *out)
{
    *out = *src;
    out->borrowed = true;
    if (!is_mask && src->ndim != 3)
        return 0;
    int64_t T = src->shape[0], G = src->ndim > 1 ? src->shape[1] : 1, F = is_mask ? 1 : src->shape[2];
    size_t need = (size_t)(G * T * F);
    if (need > sc->cap) {
        float *p = realloc(sc->p, (need ? need : 1) * sizeof(float));
        if (!p)
            return -1;
        sc->p = p;
        sc->cap = need;
    }
    for (int64_t i = 0; i < G; i++)
        for (int64_t t = 0; t < T; t++)
            memcpy(sc->p + (i * T + t) * F, src->data + (t * G + i) * F, (size_t)F * sizeof(float));
    out->data = sc->p;
    out->ndim = is_mask ? 2 : 3;
    out->shape[0] = G;
    out->shape[1] = T;
    out->shape[2] = F;
    out->size = (int64_t)need;
    return 0;
}

static int map_array(const char *dir, int64_t shard_i, const char *what, mapped_array *a, char *err,
                     size_t err_len)
{
    char name[64];
    snprintf(name, sizeof name, "%06lld.%s.npy", (long long)shard_i, what);
    char *p = join(dir, name);
    if (!p)
        return -1;
    int rc = -1;
    npy_file *nf = npy_open(p, err, err_len);
    if (nf) {
        if (nf->dtype != NPY_F4 || nf->ndim > 3) {
            snprintf(err, err_len, "%s: not a cached feature array", p);
        } else {
            int fd = open(p, O_RDONLY);
            struct stat sb;
            if (fd >= 0 && fstat(fd, &sb) == 0 && sb.st_size > 0) {
                void *base = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
                if (base != MAP_FAILED &&
                    (size_t)nf->data_offset + (size_t)nf->count * 4 <= (size_t)sb.st_size) {
                    a->base = base;
                    a->len = (size_t)sb.st_size;
                    a->data = (const float *)((const char *)base + nf->data_offset);
                    a->ndim = nf->ndim;
                    for (int k = 0; k < nf->ndim; k++)
                        a->shape[k] = nf->shape[k];
                    rc = 0;
                } else {
                    if (base != MAP_FAILED)
                        munmap(base, (size_t)sb.st_size);
                    snprintf(err, err_len, "%s: truncated cached feature array", p);
                }
            } else {
                snprintf(err, err_len, "%s: %s", p, strerror(errno));
            }
            if (fd >= 0)
                close(fd);
        }
        npy_close(nf);
    }
    free(p);
    return rc;
}

static bool shard_has(const char *dir, int64_t shard_i, const char *what)
{
    char name[64];
    snprintf(name, sizeof name, "%06lld.%s.npy", (long long)shard_i, what);
    char *p = join(dir, name);
    struct stat sb;
    bool ok = p && stat(p, &sb) == 0;
    free(p);
    return ok;
}

static void unmap_array(mapped_array *a)
{
    if (a->base)
        munmap(a->base, a->len);
    memset(a, 0, sizeof *a);
}

void feature_set_free(feature_set *fs)
{
    if (!fs)
        return;
    for (int s = 0; s < fs->n_shards; s++) {
        shard *sh = &fs->shards[s];
        for (int k = 0; k < fs->n_nodes; k++)
            unmap_array(&sh->x[k]);
        unmap_array(&sh->y);
        unmap_array(&sh->mask);
        unmap_array(&sh->label_mask);
    }
    for (int k = 0; k < fs->n_nodes; k++)
        free(fs->nodes[k]);
    free(fs->shards);
    free(fs->ex_shard);
    free(fs->ex_row);
    free(fs->path);
    model_free(fs->top);
    free(fs);
}

const char *feature_set_path(const feature_set *fs) { return fs->path; }
int64_t feature_set_count(const feature_set *fs) { return fs->count; }

/* The manifest: what the cache entry holds, written last. */
static int write_manifest(const char *dir, const feature_set *fs, int64_t *shard_rows, char *err,
                          size_t err_len)
{
    char *p = join(dir, "manifest.txt");
    if (!p)
        return -1;
    FILE *f = fopen(p, "w");
    if (!f) {
        snprintf(err, err_len, "%s: %s", p, strerror(errno));
        free(p);
        return -1;
    }
    fprintf(f, "format %s\ncount %lld\nsequence %d\nalign_end %d\nmask %d\nlabel_mask %d\n"
               "outputs %lld\nshuffled %d\nnodes %d\n", FEATURIZE_FORMAT, (long long)fs->count,
            fs->sequence, fs->align_end, fs->has_mask, fs->has_label_mask, (long long)fs->outputs,
            fs->read_shuffled, fs->n_nodes);
    for (int k = 0; k < fs->n_nodes; k++)
        fprintf(f, "node %s %lld\n", fs->nodes[k], (long long)fs->node_size[k]);
    fprintf(f, "shards %d\n", fs->n_shards);
    for (int s = 0; s < fs->n_shards; s++)
        fprintf(f, "shard %lld\n", (long long)shard_rows[s]);
    int rc = 0;
    if (fflush(f) != 0)
        rc = -1;
    if (fclose(f) != 0)
        rc = -1;
    if (rc)
        snprintf(err, err_len, "%s: write failed: %s", p, strerror(errno));
    free(p);
    return rc;
}

/* Opens a complete cache entry: reads the manifest, maps every shard, builds the index. */
static int open_entry(feature_set *fs, char *err, size_t err_len)
{
    char *p = join(fs->path, "manifest.txt");
    FILE *f = p ? fopen(p, "r") : NULL;
    free(p);
    if (!f) {
        snprintf(err, err_len, "%s: no manifest", fs->path);
        return -1;
    }
    char fmt[64];
    int seq, aend, hm, hlm, shuf, nn, ns;
    int64_t *read_order = NULL;
    long long count, outputs;
    int rc = -1;
    if (fscanf(f, "format %63s count %lld sequence %d align_end %d mask %d label_mask %d outputs %lld "
                  "shuffled %d nodes %d",
               fmt, &count, &seq, &aend, &hm, &hlm, &outputs, &shuf, &nn) != 9 ||
        strcmp(fmt, FEATURIZE_FORMAT) != 0 || nn != fs->n_nodes || count < 0) {
        snprintf(err, err_len, "%s: unreadable manifest", fs->path);
        goto out;
    }
    for (int k = 0; k < nn; k++) {
        char name[256];
        long long size;
        if (fscanf(f, " node %255s %lld", name, &size) != 2 || strcmp(name, fs->nodes[k]) != 0) {
            snprintf(err, err_len, "%s: manifest names other boundary nodes", fs->path);
            goto out;
        }
    }
    if (fscanf(f, " shards %d", &ns) != 1 || ns < 0) {
        snprintf(err, err_len, "%s: unreadable manifest", fs->path);
        goto out;
    }
    fs->count = count;
    fs->sequence = seq;
    fs->align_end = aend;
    fs->has_mask = hm;
    fs->has_label_mask = hlm;
    fs->outputs = outputs;
    fs->read_shuffled = shuf;
    fs->shards = calloc((size_t)(ns ? ns : 1), sizeof *fs->shards);
    fs->ex_shard = malloc((size_t)(count ? count : 1) * sizeof *fs->ex_shard);
    fs->ex_row = malloc((size_t)(count ? count : 1) * sizeof *fs->ex_row);
    read_order = malloc((size_t)(count ? count : 1) * sizeof *read_order);
    if (!fs->shards || !fs->ex_shard || !fs->ex_row || !read_order) {
        snprintf(err, err_len, "out of memory");
        goto out;
    }
    for (int64_t i = 0; i < count; i++)
        read_order[i] = i;
    if (shuf) {
        rng r;
        rng_seed(&r, FEATURIZE_READ_SEED);
        rng_shuffle(&r, read_order, count);
    }
    int64_t next = 0;
    for (int s = 0; s < ns; s++) {
        long long rows;
        if (fscanf(f, " shard %lld", &rows) != 1 || rows < 0 || next + rows > count) {
            snprintf(err, err_len, "%s: unreadable manifest", fs->path);
            goto out;
        }
        fs->n_shards = s + 1;
        shard *sh = &fs->shards[s];
        sh->rows = rows;
        for (int k = 0; k < nn; k++)
        {
            char what[16];
            snprintf(what, sizeof what, "x%02d", k);
            if (map_array(fs->path, s, what, &sh->x[k], err, err_len) != 0)
                goto out;
        }
        if (map_array(fs->path, s, "y", &sh->y, err, err_len) != 0)
            goto out;
        if (hm && shard_has(fs->path, s, "mask") &&
            map_array(fs->path, s, "mask", &sh->mask, err, err_len) != 0)
            goto out;
        if (hlm && shard_has(fs->path, s, "label_mask") &&
            map_array(fs->path, s, "label_mask", &sh->label_mask, err, err_len) != 0)
            goto out;
        sh->steps = seq ? sh->x[0].shape[1] : 1;
        if (sh->x[0].shape[0] != rows || sh->y.shape[0] != rows) {
            snprintf(err, err_len, "%s: shard %d does not match the manifest", fs->path, s);
            goto out;
        }
        /* Position next + r of the reading order holds example read_order[next + r]. */
        for (int64_t r = 0; r < rows; r++) {
            fs->ex_shard[read_order[next + r]] = s;
            fs->ex_row[read_order[next + r]] = r;
        }
        next += rows;
    }
    if (next != count) {
        snprintf(err, err_len, "%s: the shards hold %lld examples, the manifest says %lld", fs->path,
                 (long long)next, count);
        goto out;
    }
    rc = 0;
out:
    free(read_order);
    fclose(f);
    return rc;
}

/* Makes every file written into dir durable (one syncfs for the file system) and the folder
 * itself; write errors that only show up on the flush (a full disk) are reported here. */
static int sync_folder(const char *dir, char *err, size_t err_len)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0 || syncfs(fd) != 0 || fsync(fd) != 0) {
        snprintf(err, err_len, "%s: cannot write the cache entry: %s", dir, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    return 0;
}

static bool dir_exists(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

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

/* One group's results on their way to the disk. */
typedef struct group_out {
    batch b;                         /* labels and masks of the group's examples */
    tensor outs[MAX_NODES];          /* the boundary nodes' activations */
} group_out;

static void group_out_release(group_out *g, int n_nodes)
{
    batch_release(&g->b);
    for (int k = 0; k < n_nodes; k++)
        tensor_release(&g->outs[k]);
}

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

/* Writes a group as the next shard. Returns 0, or the value for the writer's rc. */
static int write_group(shard_writer *w, group_out *g)
{
    feature_set *fs = w->fs;
    const batch *b = &g->b;
    int64_t s = fs->n_shards;
    struct {
        const tensor *t;
        const char *what;
        bool is_mask;
    } arrays[MAX_NODES + 3];
    char names[MAX_NODES][16];
    int na = 0;
    for (int k = 0; k < fs->n_nodes; k++) {
        snprintf(names[k], sizeof names[k], "x%02d", k);
        arrays[na].t = &g->outs[k];
        arrays[na].what = names[k];
        arrays[na++].is_mask = false;
    }
    arrays[na].t = &b->y;
    arrays[na].what = "y";
    arrays[na++].is_mask = false;
    if (b->mask.data) {
        arrays[na].t = &b->mask;
        arrays[na].what = "mask";
        arrays[na++].is_mask = true;
    }
    if (b->label_mask.data) {
        arrays[na].t = &b->label_mask;
        arrays[na].what = "label_mask";
        arrays[na++].is_mask = true;
    }
    for (int a = 0; a < na; a++) {
        tensor t;
        if (shard_layout(arrays[a].t, arrays[a].is_mask, &w->sc, &t) != 0) {
            snprintf(w->err, sizeof w->err, "out of memory");
            return -2;
        }
        if (save_array(w->dir, s, arrays[a].what, &t, w->err, sizeof w->err) != 0)
            return -2;
    }
    if (s == 0) {
        fs->has_mask = b->mask.data != NULL;
        fs->has_label_mask = b->label_mask.data != NULL;
        fs->outputs = b->y.shape[b->y.ndim - 1];
    } else {
        /* A shard without a mask has every step valid; readers take a missing mask file as
         * all ones. */
        fs->has_mask = fs->has_mask || b->mask.data;
        fs->has_label_mask = fs->has_label_mask || b->label_mask.data;
    }
    if (s == w->cap) {
        int64_t *rows = realloc(w->shard_rows, (size_t)w->cap * 2 * sizeof *rows);
        if (!rows)
            return -1;
        w->shard_rows = rows;
        w->cap *= 2;
    }
    w->shard_rows[s] = b->n;
    fs->n_shards++;
    fs->count += b->n;
    return 0;
}

static void *writer_main(void *arg)
{
    shard_writer *w = arg;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->full && !w->done)
            pthread_cond_wait(&w->cv, &w->mu);
        if (!w->full)
            break;
        group_out g = w->job;
        w->full = false;
        w->busy = true;
        pthread_mutex_unlock(&w->mu);
        int rc = write_group(w, &g);
        group_out_release(&g, w->fs->n_nodes);
        pthread_mutex_lock(&w->mu);
        w->busy = false;
        if (rc != 0 && w->rc == 0)
            w->rc = rc;
        pthread_cond_broadcast(&w->cv);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

/* While the frozen part runs, the writer takes only processor time the computation leaves
 * (the matrix threads wait for each other, or for the reading and the element-wise work):
 * writing does not slow the computation down. Whenever the computation waits for the writer,
 * the writer runs at normal priority again, so it is never starved for long. */
static void writer_yield(shard_writer *w, bool yield)
{
#ifdef SCHED_IDLE
    if (w->threaded && w->yielding != yield) {
        struct sched_param sp = {0};
        if (pthread_setschedparam(w->thread, yield ? SCHED_IDLE : SCHED_OTHER, &sp) == 0)
            w->yielding = yield;
    }
#else
    (void)w;
    (void)yield;
#endif
}

static int writer_start(shard_writer *w, feature_set *fs, const char *dir)
{
    memset(w, 0, sizeof *w);
    w->fs = fs;
    w->dir = dir;
    w->cap = 64;
    w->shard_rows = malloc((size_t)w->cap * sizeof *w->shard_rows);
    if (!w->shard_rows)
        return -1;
    /* Without a thread the groups are written in place, one after the other. */
    if (pthread_mutex_init(&w->mu, NULL) != 0)
        return 0;
    if (pthread_cond_init(&w->cv, NULL) != 0) {
        pthread_mutex_destroy(&w->mu);
        return 0;
    }
    w->threaded = pthread_create(&w->thread, NULL, writer_main, w) == 0;
    if (!w->threaded) {
        pthread_cond_destroy(&w->cv);
        pthread_mutex_destroy(&w->mu);
    }
    writer_yield(w, true);
    return 0;
}

/* Hands a group to the writer (which releases it), once the previous one is written. Returns
 * the writer's rc: 0, or an earlier group's failure (g is then released here). */
static int writer_put(shard_writer *w, group_out *g)
{
    if (!w->threaded) {
        int rc = w->rc ? w->rc : (w->rc = write_group(w, g));
        group_out_release(g, w->fs->n_nodes);
        return rc;
    }
    pthread_mutex_lock(&w->mu);
    if ((w->full || w->busy) && w->rc == 0) {
        writer_yield(w, false);
        while ((w->full || w->busy) && w->rc == 0)
            pthread_cond_wait(&w->cv, &w->mu);
    }
    int rc = w->rc;
    if (rc == 0) {
        w->job = *g;
        memset(g, 0, sizeof *g);
        w->full = true;
        pthread_cond_broadcast(&w->cv);
    }
    pthread_mutex_unlock(&w->mu);
    if (rc != 0)
        group_out_release(g, w->fs->n_nodes);
    else
        writer_yield(w, true);
    return rc;
}

/* Waits for every group to be written and stops the thread. Returns the writer's rc. */
static int writer_finish(shard_writer *w)
{
    if (w->threaded) {
        writer_yield(w, false);
        pthread_mutex_lock(&w->mu);
        w->done = true;
        pthread_cond_broadcast(&w->cv);
        pthread_mutex_unlock(&w->mu);
        pthread_join(w->thread, NULL);
        pthread_cond_destroy(&w->cv);
        pthread_mutex_destroy(&w->mu);
        w->threaded = false;
    }
    free(w->sc.p);
    w->sc.p = NULL;
    return w->rc;
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
    while ((got = data_next_n(ds, per_pass, &g.b, d)) == 1) {
        const tensor *in[1] = {&g.b.x};
        const float *masks[1] = {g.b.mask.data};
        if (model_predict_nodes(m, in, masks, (const char *const *)fs->nodes, fs->n_nodes, g.outs, err,
                                sizeof err) != 0) {
            diag_error(d, loc, "featurize: %s", err);
            rc = -1;
            break;
        }
        /* The inputs are no longer needed: only labels and masks go to the shards. */
        tensor_release(&g.b.x);
        if (writer_put(&w, &g) != 0)
            break;
    }
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
    if (cache_key(m, bottom, fs->nodes, n_nodes, data_hash, &key) != 0) {
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
    while (rc == 0 && (got = fs_next(&s, &tb, &n, d)) == 1) {
        tensor out = {0};
        char err[256];
        if (model_predict_nodes(fs->top, tb.inputs, tb.masks, (const char *const *)fs->top->outputs, 1, &out,
                                err, sizeof err) != 0 ||
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
    if (got < 0)
        rc = -1;
    source_release(&s);
    return rc;
}
