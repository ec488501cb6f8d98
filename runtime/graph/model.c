/* model.c: the model graph: construction, queries, topological order, shape inference,
 * freezing and inference over the DAG. */
#include "runtime/graph/model.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "runtime/base/diag.h"
#include "runtime/base/util.h"

model *model_new(const char *name)
{
    model *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    if (name && !(m->name = str_dup(name))) {
        free(m);
        return NULL;
    }
    m->outputs_loc = loc_none();
    m->weight_init.kind = INIT_XAVIER;
    train_conf_defaults(&m->training);
    return m;
}

static void free_strings(char **s, int n)
{
    for (int i = 0; i < n; i++)
        free(s[i]);
    free(s);
}

void model_free(model *m)
{
    if (!m)
        return;
    for (int i = 0; i < m->n_layers; i++)
        layer_free(m->layers[i]);
    free(m->layers);
    for (int i = 0; i < m->n_inputs; i++)
        free(m->inputs[i].name);
    free(m->inputs);
    free_strings(m->outputs, m->n_outputs);
    free(m->norm.shift);
    free(m->norm.scale);
    free(m->weights_file);
    free(m->name);
    free(m->path);
    if (m->mapping) {
        munmap(m->mapping, m->mapping_len);
        if (m->mapping_fd >= 0)
            close(m->mapping_fd);
    }
    model_index_invalidate(m);
    free(m);
}

static float *dup_floats(const float *p, int64_t n)
{
    if (!p || n <= 0)
        return NULL;
    float *q = malloc((size_t)n * sizeof(float));
    if (q)
        memcpy(q, p, (size_t)n * sizeof(float));
    return q;
}

model *model_clone(const model *m, bool with_weights)
{
    if (!m)
        return NULL;
    model *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    *c = *m;
    c->name = NULL;
    c->path = NULL;
    c->inputs = NULL;
    c->n_inputs = 0;
    c->layers = NULL;
    c->n_layers = 0;
    c->outputs = NULL;
    c->n_outputs = 0;
    c->norm.shift = c->norm.scale = NULL;
    c->weights_file = NULL;
    c->mapping = NULL;
    c->mapping_len = 0;
    c->mapping_fd = -1;
    c->index = NULL;
    c->layers_mem = NULL;
    c->layers_cap = 0;

    bool ok = (!m->name || (c->name = str_dup(m->name))) && (!m->path || (c->path = str_dup(m->path)));
    if (ok && m->n_inputs > 0) {
        ok = (c->inputs = calloc((size_t)m->n_inputs, sizeof *c->inputs)) != NULL;
        for (int i = 0; ok && i < m->n_inputs; i++) {
            c->inputs[i] = m->inputs[i];
            c->inputs[i].name = str_dup(m->inputs[i].name);
            c->n_inputs = i + 1;
            ok = c->inputs[i].name != NULL;
        }
    }
    if (ok && m->n_layers > 0) {
        ok = (c->layers = calloc((size_t)m->n_layers, sizeof *c->layers)) != NULL;
        for (int i = 0; ok && i < m->n_layers; i++) {
            layer *L = layer_clone(m->layers[i]);
            ok = L != NULL;
            if (!ok)
                break;
            c->layers[c->n_layers++] = L;
            /* The clone does not share the original's mapping: own every parameter. */
            for (int k = 0; k < LAYER_MAX_PARAMS; k++) {
                if (!with_weights) {
                    tensor_release(&L->params[k]);
                    tensor_release(&L->grads[k]);
                    tensor_release(&L->upd_state[k][0]);
                    tensor_release(&L->upd_state[k][1]);
                } else if (tensor_make_owned(&L->params[k]) || tensor_make_owned(&L->grads[k]) ||
                           tensor_make_owned(&L->upd_state[k][0]) ||
                           tensor_make_owned(&L->upd_state[k][1])) {
                    ok = false;
                }
            }
        }
    }
    if (ok && m->n_outputs > 0) {
        ok = (c->outputs = calloc((size_t)m->n_outputs, sizeof *c->outputs)) != NULL;
        for (int i = 0; ok && i < m->n_outputs; i++) {
            c->n_outputs = i + 1;
            ok = (c->outputs[i] = str_dup(m->outputs[i])) != NULL;
        }
    }
    if (ok && m->norm.kind != NORM_NONE && m->norm.n > 0) {
        c->norm.shift = dup_floats(m->norm.shift, m->norm.n);
        c->norm.scale = dup_floats(m->norm.scale, m->norm.n);
        ok = (!m->norm.shift || c->norm.shift) && (!m->norm.scale || c->norm.scale);
    }
    if (ok && with_weights && m->weights_file)
        ok = (c->weights_file = str_dup(m->weights_file)) != NULL;
    if (!with_weights)
        c->weights_loaded = false;
    if (!ok) {
        model_free(c);
        return NULL;
    }
    return c;
}

/* ---- the name index ---- */

/* A hash table (open addressing, FNV-1a) from every node name to the first layer and the first
 * input of that name, over its own copies of the names (so a name freed behind its back is
 * never read). Built on the first lookup; model_add_input, model_add_layer and model_move_layer
 * keep it current, model_remove_layer and model_index_invalidate drop it. Every hit is checked
 * against the live name at the position it gives, and the arrays it was built over are
 * compared on every lookup: an unannounced removal, reorder or replacement of the arrays
 * rebuilds it instead of answering wrongly. The consumer lists of model_consumers are built
 * on their first use (with slots for input names that are no node) and dropped by any change
 * to the edges the model is told about. */
typedef struct index_slot {
    uint64_t hash;
    const char *key;        /* NULL: empty slot */
    int layer, input;       /* -1: none of that name */
} index_slot;

typedef struct index_chunk {
    struct index_chunk *next;
    size_t used, cap;
    char text[];
} index_chunk;

struct model_index {
    size_t mask;            /* slot count - 1 (a power of two) */
    size_t used;
    index_slot *slots;
    index_chunk *chunks;    /* the key strings */
    layer **layers;         /* the arrays the index describes */
    int n_layers;
    model_input *inputs;
    int n_inputs;
    /* model_consumers: per slot, its consumers cons[cons_start[s] .. cons_start[s + 1]) */
    bool have_consumers;
    int *cons_start, *cons;
};

static uint64_t name_hash(const char *s)
{
    uint64_t h = 0xCBF29CE484222325ull;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        h = (h ^ *p) * 0x100000001B3ull;
    return h;
}

static void index_drop_consumers(struct model_index *ix)
{
    if (!ix->have_consumers && !ix->cons_start && !ix->cons)
        return;
    free(ix->cons_start);
    free(ix->cons);
    ix->cons_start = ix->cons = NULL;
    ix->have_consumers = false;
}

static void index_free(struct model_index *ix)
{
    if (!ix)
        return;
    index_drop_consumers(ix);
    for (index_chunk *c = ix->chunks, *next; c; c = next) {
        next = c->next;
        free(c);
    }
    free(ix->slots);
    free(ix);
}

void model_index_invalidate(model *m)
{
    if (!m)
        return;
    index_free(m->index);
    m->index = NULL;
}

void model_index_edges_changed(model *m)
{
    if (m && m->index)
        index_drop_consumers(m->index);
}

static const char *index_copy(struct model_index *ix, const char *s)
{
    size_t n = strlen(s) + 1;
    index_chunk *c = ix->chunks;
    if (!c || c->cap - c->used < n) {
        size_t cap = n > 4096 ? n : 4096;
        index_chunk *nc = malloc(sizeof *nc + cap);
        if (!nc)
            return NULL;
        nc->next = c;
        nc->used = 0;
        nc->cap = cap;
        ix->chunks = c = nc;
    }
    char *p = c->text + c->used;
    memcpy(p, s, n);
    c->used += n;
    return p;
}

static index_slot *index_probe(const struct model_index *ix, const char *name, uint64_t h)
{
    for (size_t i = h & ix->mask;; i = (i + 1) & ix->mask) {
        index_slot *sl = &ix->slots[i];
        if (!sl->key || (sl->hash == h && strcmp(sl->key, name) == 0))
            return sl;
    }
}

static int index_grow(struct model_index *ix)
{
    size_t cap = (ix->mask + 1) * 2;
    index_slot *ns = calloc(cap, sizeof *ns);
    if (!ns)
        return -1;
    index_slot *old = ix->slots;
    size_t old_cap = ix->mask + 1;
    ix->slots = ns;
    ix->mask = cap - 1;
    for (size_t i = 0; i < old_cap; i++)
        if (old[i].key)
            *index_probe(ix, old[i].key, old[i].hash) = old[i];
    free(old);
    return 0;
}

/* The slot of `name`, created (with no layer and no input) when missing; NULL when out of
 * memory. */
static index_slot *index_slot_for(struct model_index *ix, const char *name)
{
    uint64_t h = name_hash(name);
    index_slot *sl = index_probe(ix, name, h);
    if (sl->key)
        return sl;
    if (2 * (ix->used + 1) > ix->mask + 1) {
        if (index_grow(ix))
            return NULL;
        sl = index_probe(ix, name, h);
    }
    const char *key = index_copy(ix, name);
    if (!key)
        return NULL;
    *sl = (index_slot){.hash = h, .key = key, .layer = -1, .input = -1};
    ix->used++;
    return sl;
}

static int index_add_layer(struct model_index *ix, const layer *L, int i)
{
    index_slot *sl = index_slot_for(ix, L->name);
    if (!sl)
        return -1;
    if (sl->layer < 0)
        sl->layer = i;
    index_drop_consumers(ix);
    return 0;
}

static int index_add_input(struct model_index *ix, const char *name, int k)
{
    index_slot *sl = index_slot_for(ix, name);
    if (!sl)
        return -1;
    if (sl->input < 0)
        sl->input = k;
    return 0;
}

static struct model_index *index_build(const model *m)
{
    struct model_index *ix = calloc(1, sizeof *ix);
    if (!ix)
        return NULL;
    size_t names = (size_t)m->n_inputs + (size_t)m->n_layers;
    size_t cap = 16;
    while (cap < 2 * names)
        cap *= 2;
    ix->slots = calloc(cap, sizeof *ix->slots);
    ix->mask = cap - 1;
    bool ok = ix->slots != NULL;
    for (int i = 0; ok && i < m->n_layers; i++)
        ok = index_add_layer(ix, m->layers[i], i) == 0;
    for (int k = 0; ok && k < m->n_inputs; k++)
        ok = index_add_input(ix, m->inputs[k].name, k) == 0;
    if (!ok) {
        index_free(ix);
        return NULL;
    }
    ix->layers = m->layers;
    ix->n_layers = m->n_layers;
    ix->inputs = m->inputs;
    ix->n_inputs = m->n_inputs;
    return ix;
}

/* The model's index, current as far as the model's arrays tell (rebuilt when they changed or
 * when `rebuild`); NULL when out of memory. Lookups run on const models: the index is a cache,
 * not part of the model's value. */
static struct model_index *index_get(const model *m, bool rebuild)
{
    model *mm = (model *)m;
    struct model_index *ix = mm->index;
    if (ix && !rebuild && ix->layers == m->layers && ix->n_layers == m->n_layers &&
        ix->inputs == m->inputs && ix->n_inputs == m->n_inputs)
        return ix;
    model_index_invalidate(mm);
    mm->index = index_build(m);
    return mm->index;
}

/* Whether the positions of slot sl still hold its name. */
static bool slot_live(const model *m, const index_slot *sl)
{
    return (sl->layer < 0 ||
            (sl->layer < m->n_layers && strcmp(m->layers[sl->layer]->name, sl->key) == 0)) &&
           (sl->input < 0 ||
            (sl->input < m->n_inputs && strcmp(m->inputs[sl->input].name, sl->key) == 0));
}

/* The first layer and input named `name` (-1: none) through the index; a linear search when
 * the index cannot be built (out of memory). */
static void index_find(const model *m, const char *name, int *layer_i, int *input_i)
{
    *layer_i = *input_i = -1;
    if (!name)
        return;
    for (int attempt = 0; attempt < 2; attempt++) {
        struct model_index *ix = index_get(m, attempt > 0);
        if (!ix)
            break;
        const index_slot *sl = index_probe(ix, name, name_hash(name));
        if (!sl->key)
            return;
        if (slot_live(m, sl)) {
            *layer_i = sl->layer;
            *input_i = sl->input;
            return;
        }
    }
    for (int i = 0; *layer_i < 0 && i < m->n_layers; i++)
        if (strcmp(m->layers[i]->name, name) == 0)
            *layer_i = i;
    for (int k = 0; *input_i < 0 && k < m->n_inputs; k++)
        if (strcmp(m->inputs[k].name, name) == 0)
            *input_i = k;
}

int model_add_input(model *m, const char *name, input_kind kind, int64_t size, src_loc loc)
{
    if (!name || model_has_node(m, name))
        return -1;
    struct model_index *ix = m->index;
    bool current = ix && ix->layers == m->layers && ix->n_layers == m->n_layers &&
                   ix->inputs == m->inputs && ix->n_inputs == m->n_inputs;
    model_input *p = realloc(m->inputs, (size_t)(m->n_inputs + 1) * sizeof *p);
    if (!p)
        return -1;
    m->inputs = p;
    model_input *in = &m->inputs[m->n_inputs];
    memset(in, 0, sizeof *in);
    if (!(in->name = str_dup(name)))
        return -1;
    in->kind = kind;
    in->size = size;
    in->loc = loc;
    m->n_inputs++;
    if (current && index_add_input(ix, name, m->n_inputs - 1) == 0) {
        ix->inputs = m->inputs;
        ix->n_inputs = m->n_inputs;
    } else {
        model_index_invalidate(m);
    }
    return 0;
}

/* On allocation failure the layer is freed and the model is unchanged. */
void model_add_layer(model *m, layer *L)
{
    if (!L)
        return;
    struct model_index *ix = m->index;
    bool current = ix && ix->layers == m->layers && ix->n_layers == m->n_layers &&
                   ix->inputs == m->inputs && ix->n_inputs == m->n_inputs;
    /* geometric growth: loading or building a large model copies the array O(log n) times */
    if (m->layers != m->layers_mem || m->layers_cap < m->n_layers + 1) {
        int cap = m->n_layers < 8 ? 16 : 2 * m->n_layers;
        layer **p = realloc(m->layers, (size_t)cap * sizeof *p);
        if (!p) {
            layer_free(L);
            return;
        }
        m->layers = m->layers_mem = p;
        m->layers_cap = cap;
    }
    m->layers[m->n_layers++] = L;
    if (current && index_add_layer(ix, L, m->n_layers - 1) == 0) {
        ix->layers = m->layers;
        ix->n_layers = m->n_layers;
    } else {
        model_index_invalidate(m);
    }
}

void model_remove_layer(model *m, int i)
{
    assert(i >= 0 && i < m->n_layers);
    layer_free(m->layers[i]);
    memmove(&m->layers[i], &m->layers[i + 1], (size_t)(m->n_layers - i - 1) * sizeof *m->layers);
    m->n_layers--;
    model_index_invalidate(m);
}

void model_move_layer(model *m, int from, int to)
{
    assert(from >= 0 && from < m->n_layers && to >= 0 && to < m->n_layers);
    if (from == to)
        return;
    struct model_index *ix = m->index;
    bool current = ix && ix->layers == m->layers && ix->n_layers == m->n_layers &&
                   ix->inputs == m->inputs && ix->n_inputs == m->n_inputs;
    layer *L = m->layers[from];
    int lo = from < to ? from : to, hi = from < to ? to : from;
    if (to < from)
        memmove(&m->layers[to + 1], &m->layers[to], (size_t)(from - to) * sizeof *m->layers);
    else
        memmove(&m->layers[from], &m->layers[from + 1], (size_t)(to - from) * sizeof *m->layers);
    m->layers[to] = L;
    if (!current) {
        model_index_invalidate(m);
        return;
    }
    /* The layers in [lo, hi] moved by one (L by more) and their slots follow. First every
     * slot is checked to name the layer's old place: a layer that is not the first of its name
     * (a duplicate, whose order against the first may have changed) drops the index. */
    index_slot **slot = malloc((size_t)(hi - lo + 1) * sizeof *slot);
    for (int i = lo; slot && i <= hi; i++) {
        const char *name = m->layers[i]->name;
        index_slot *sl = index_probe(ix, name, name_hash(name));
        int was = m->layers[i] == L ? from : (from < to ? i + 1 : i - 1);
        if (!sl->key || sl->layer != was) {
            free(slot);
            slot = NULL;
        } else {
            slot[i - lo] = sl;
        }
    }
    if (!slot) {
        model_index_invalidate(m);
        return;
    }
    for (int i = lo; i <= hi; i++)
        slot[i - lo]->layer = i;
    free(slot);
    index_drop_consumers(ix);
}

/* After layer (is_layer) or input `at` lost the name `from`: the slot of `from` names the next
 * layer or input of that name, if any. */
static void index_forget_name(model *m, struct model_index *ix, const char *from, bool is_layer,
                              int at)
{
    index_slot *sl = index_probe(ix, from, name_hash(from));
    if (!sl->key)
        return;
    if (is_layer && sl->layer == at) {
        sl->layer = -1;
        for (int i = at + 1; i < m->n_layers && sl->layer < 0; i++)
            if (strcmp(m->layers[i]->name, from) == 0)
                sl->layer = i;
    } else if (!is_layer && sl->input == at) {
        sl->input = -1;
        for (int k = at + 1; k < m->n_inputs && sl->input < 0; k++)
            if (strcmp(m->inputs[k].name, from) == 0)
                sl->input = k;
    }
}

static int rename_node(model *m, bool is_layer, int at, const char *to)
{
    char *nn = str_dup(to);
    if (!nn)
        return -1;
    struct model_index *ix = index_get(m, false);
    char **name = is_layer ? &m->layers[at]->name : &m->inputs[at].name;
    char *old = *name;
    *name = nn;
    index_slot *sl = NULL;
    if (ix) {
        index_forget_name(m, ix, old, is_layer, at);
        sl = index_slot_for(ix, nn);
    }
    if (sl) {
        int *v = is_layer ? &sl->layer : &sl->input;
        if (*v < 0 || *v > at)
            *v = at;   /* the first of its name */
        index_drop_consumers(ix);
    } else {
        model_index_invalidate(m);
    }
    free(old);
    return 0;
}

int model_rename_layer(model *m, int i, const char *to)
{
    assert(i >= 0 && i < m->n_layers && to);
    return rename_node(m, true, i, to);
}

int model_rename_input(model *m, int k, const char *to)
{
    assert(k >= 0 && k < m->n_inputs && to);
    return rename_node(m, false, k, to);
}

int model_layer_index(const model *m, const char *name)
{
    int li, ii;
    index_find(m, name, &li, &ii);
    return li;
}

layer *model_find_layer(const model *m, const char *name)
{
    int i = model_layer_index(m, name);
    return i < 0 ? NULL : m->layers[i];
}

int model_input_index(const model *m, const char *name)
{
    int li, ii;
    index_find(m, name, &li, &ii);
    return ii;
}

bool model_has_node(const model *m, const char *name)
{
    int li, ii;
    index_find(m, name, &li, &ii);
    return li >= 0 || ii >= 0;
}

static bool takes_input(const layer *L, const char *name)
{
    for (int k = 0; k < L->n_inputs; k++)
        if (strcmp(L->inputs[k], name) == 0)
            return true;
    return false;
}

/* Whether input k of L repeats an earlier input of L. */
static bool repeated_input(const layer *L, int k)
{
    for (int j = 0; j < k; j++)
        if (strcmp(L->inputs[j], L->inputs[k]) == 0)
            return true;
    return false;
}

/* The consumer lists of every slot: the layers naming it as an input, in increasing order,
 * each once. */
static int index_consumers(const model *m, struct model_index *ix)
{
    size_t cap = ix->mask + 1;
    int total = 0;
    for (int i = 0; i < m->n_layers; i++)
        total += m->layers[i]->n_inputs;
    /* every input name gets a slot first (names given to a layer since the index was built),
     * so that the table no longer grows below */
    for (int i = 0; i < m->n_layers; i++)
        for (int k = 0; k < m->layers[i]->n_inputs; k++)
            if (!index_slot_for(ix, m->layers[i]->inputs[k]))
                return -1;
    cap = ix->mask + 1;
    ix->cons_start = calloc(cap + 1, sizeof *ix->cons_start);
    ix->cons = malloc((size_t)(total > 0 ? total : 1) * sizeof *ix->cons);
    int *fill = calloc(cap, sizeof *fill);
    if (!ix->cons_start || !ix->cons || !fill) {
        free(fill);
        index_drop_consumers(ix);
        return -1;
    }
    /* twice over the edges: count, then place */
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < m->n_layers; i++) {
            const layer *L = m->layers[i];
            for (int k = 0; k < L->n_inputs; k++) {
                if (repeated_input(L, k))
                    continue;
                const index_slot *sl = index_probe(ix, L->inputs[k], name_hash(L->inputs[k]));
                assert(sl->key);   /* every input name has a slot */
                size_t s = (size_t)(sl - ix->slots);
                if (pass == 0)
                    ix->cons_start[s + 1]++;
                else
                    ix->cons[ix->cons_start[s] + fill[s]++] = i;
            }
        }
        if (pass == 0)
            for (size_t s = 0; s < cap; s++)
                ix->cons_start[s + 1] += ix->cons_start[s];
    }
    free(fill);
    ix->have_consumers = true;
    return 0;
}

int model_consumers(const model *m, const char *name, int *idx, int max)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        struct model_index *ix = index_get(m, attempt > 0);
        if (!ix || (!ix->have_consumers && index_consumers(m, ix) != 0))
            break;
        const index_slot *sl = index_probe(ix, name, name_hash(name));
        if (!sl->key)
            return 0;
        size_t s = (size_t)(sl - ix->slots);
        int n = 0;
        bool stale = false;
        for (int c = ix->cons_start[s]; c < ix->cons_start[s + 1] && n < max && !stale; c++) {
            int i = ix->cons[c];
            /* an edge removed or a layer moved behind the index's back: rebuild */
            stale = i >= m->n_layers || !takes_input(m->layers[i], name);
            idx[n++] = i;
        }
        if (!stale)
            return n;
    }
    int n = 0;
    for (int i = 0; i < m->n_layers && n < max; i++)
        if (takes_input(m->layers[i], name))
            idx[n++] = i;
    return n;
}

void model_set_outputs(model *m, const char *const *names, int n)
{
    char **copy = n > 0 ? calloc((size_t)n, sizeof *copy) : NULL;
    int got = 0;
    if (copy)
        for (; got < n; got++)
            if (!(copy[got] = str_dup(names[got])))
                break;
    free_strings(m->outputs, m->n_outputs);
    m->outputs = copy;
    m->n_outputs = got;
}

int model_node_names(const model *m, const char **names, int max)
{
    int n = 0;
    for (int i = 0; i < m->n_inputs && n < max; i++)
        names[n++] = m->inputs[i].name;
    for (int i = 0; i < m->n_layers && n < max; i++)
        names[n++] = m->layers[i]->name;
    return n;
}

/* ---- graph structure ---- */

/* Where each layer input comes from: a layer index >= 0, a model input -(k + 1), or
 * NODE_UNDEFINED. */
#define NODE_UNDEFINED INT32_MIN

typedef struct graph {
    int n;
    int *src_start;     /* n + 1 offsets into src */
    int *src;           /* per layer input, in order */
} graph;

static void graph_free(graph *g)
{
    free(g->src_start);
    free(g->src);
}

/* Every edge resolved through the model's name index, so that building the graph is linear in
 * its size; a layer wins over an input of the same name, as in model_layer_index. */
static int graph_build(const model *m, graph *g)
{
    memset(g, 0, sizeof *g);
    g->n = m->n_layers;
    int total = 0;
    for (int i = 0; i < m->n_layers; i++)
        total += m->layers[i]->n_inputs;
    g->src_start = malloc((size_t)(m->n_layers + 1) * sizeof(int));
    g->src = malloc((size_t)(total > 0 ? total : 1) * sizeof(int));
    if (!g->src_start || !g->src) {
        graph_free(g);
        return -1;
    }
    int k = 0;
    for (int i = 0; i < m->n_layers; i++) {
        const layer *L = m->layers[i];
        g->src_start[i] = k;
        for (int j = 0; j < L->n_inputs; j++) {
            int li, ii;
            index_find(m, L->inputs[j], &li, &ii);
            g->src[k++] = li >= 0 ? li : ii >= 0 ? -(ii + 1) : NODE_UNDEFINED;
        }
    }
    g->src_start[m->n_layers] = k;
    return 0;
}

static void report_dangling(const model *m, const graph *g, struct diag_ctx *d, int *errors)
{
    for (int i = 0; i < m->n_layers; i++) {
        const layer *L = m->layers[i];
        for (int j = 0; j < L->n_inputs; j++) {
            if (g->src[g->src_start[i] + j] != NODE_UNDEFINED)
                continue;
            (*errors)++;
            if (!d)
                continue;
            int cap = m->n_inputs + m->n_layers;
            const char **names = malloc((size_t)(cap > 0 ? cap : 1) * sizeof *names);
            const char *sugg = NULL;
            if (names) {
                int n = model_node_names(m, names, cap);
                sugg = diag_suggest(L->inputs[j], names, n);
            }
            if (sugg)
                diag_error(d, L->loc, "layer '%s' takes input '%s', which is not defined; did you mean '%s'?",
                           L->name, L->inputs[j], sugg);
            else
                diag_error(d, L->loc, "layer '%s' takes input '%s', which is not defined", L->name,
                           L->inputs[j]);
            free(names);
        }
    }
}

/* Reports every cycle among the layers Kahn's algorithm could not order (done[i] false). */
static void report_cycles(const model *m, const graph *g, const bool *done, struct diag_ctx *d,
                          int *errors)
{
    int n = m->n_layers;
    int *state = calloc((size_t)n, sizeof *state);   /* 0 new, 1 on the walk, 2 finished */
    int *walk = malloc((size_t)n * sizeof *walk);
    if (!state || !walk) {
        (*errors)++;
        if (d)
            diag_error(d, loc_none(), "out of memory while checking the model graph for cycles");
        free(state);
        free(walk);
        return;
    }
    for (int start = 0; start < n; start++) {
        if (done[start] || state[start])
            continue;
        int len = 0, v = start;
        /* Walk backwards along inputs that are themselves unordered: every unordered layer has
         * one, so the walk ends on a layer already seen. */
        while (state[v] == 0) {
            state[v] = 1;
            walk[len++] = v;
            int next = -1;
            for (int k = g->src_start[v]; k < g->src_start[v + 1]; k++) {
                int s = g->src[k];
                if (s >= 0 && !done[s]) {
                    next = s;
                    break;
                }
            }
            assert(next >= 0);
            v = next;
        }
        if (state[v] == 1) {
            int first = 0;
            while (walk[first] != v)
                first++;
            /* walk[first..len) goes against the data flow; print it reversed, in flow order,
             * starting from the member defined first. */
            int cyc = len - first, lo = first;
            for (int k = first; k < len; k++)
                if (walk[k] < walk[lo])
                    lo = k;
            size_t cap = 64;
            for (int k = first; k < len; k++)
                cap += strlen(m->layers[walk[k]]->name) + 8;
            cap += strlen(m->layers[walk[lo]]->name) + 8;
            char *chain = malloc(cap);
            (*errors)++;
            if (chain && d) {
                size_t used = 0;
                chain[0] = '\0';
                for (int s = 0; s <= cyc && used < cap; s++) {
                    int k = first + ((lo - first) - s + cyc * 2) % cyc;
                    int w = snprintf(chain + used, cap - used, "%s'%s'", s ? " -> " : "",
                                     m->layers[walk[k]]->name);
                    if (w < 0)
                        break;
                    used += (size_t)w;
                }
                const layer *head = m->layers[walk[lo]];
                diag_error(d, head->loc, "the layers form a cycle: %s", chain);
                for (int s = 1; s < cyc; s++) {
                    int k = first + ((lo - first) - s + cyc * 2) % cyc;
                    const layer *L = m->layers[walk[k]];
                    if (L->loc.line > 0)
                        diag_note(d, L->loc, "'%s' is defined here", L->name);
                }
            } else if (d) {
                diag_error(d, m->layers[walk[lo]]->loc, "layer '%s' is part of a cycle",
                           m->layers[walk[lo]]->name);
            }
            free(chain);
        }
        for (int k = 0; k < len; k++)
            state[walk[k]] = 2;
    }
    free(state);
    free(walk);
}

/* Kahn's algorithm over a built graph; ties go to definition order. Returns the number of
 * errors (reported through d when given). */
static int topo_with_graph(const model *m, const graph *g, int *order, struct diag_ctx *d)
{
    int errors = 0;
    report_dangling(m, g, d, &errors);
    if (errors)
        return errors;
    int n = m->n_layers;
    if (n == 0)
        return 0;
    int *indeg = calloc((size_t)n, sizeof *indeg);
    int *cons_start = calloc((size_t)n + 1, sizeof *cons_start);
    int *cons = malloc((size_t)(g->src_start[n] > 0 ? g->src_start[n] : 1) * sizeof *cons);
    bool *done = calloc((size_t)n, sizeof *done);
    /* ready layers as a min-heap of indices */
    int *heap = malloc((size_t)n * sizeof *heap);
    if (!indeg || !cons_start || !cons || !done || !heap) {
        if (d)
            diag_error(d, loc_none(), "out of memory while ordering the model graph");
        errors = 1;
        goto out;
    }
    for (int i = 0; i < n; i++)
        for (int k = g->src_start[i]; k < g->src_start[i + 1]; k++)
            if (g->src[k] >= 0) {
                indeg[i]++;
                cons_start[g->src[k] + 1]++;
            }
    for (int i = 0; i < n; i++)
        cons_start[i + 1] += cons_start[i];
    {
        int *fill = calloc((size_t)n, sizeof *fill);
        if (!fill) {
            if (d)
                diag_error(d, loc_none(), "out of memory while ordering the model graph");
            errors = 1;
            goto out;
        }
        for (int i = 0; i < n; i++)
            for (int k = g->src_start[i]; k < g->src_start[i + 1]; k++)
                if (g->src[k] >= 0) {
                    int s = g->src[k];
                    cons[cons_start[s] + fill[s]++] = i;
                }
        free(fill);
    }
    int hn = 0, emitted = 0;
    for (int i = 0; i < n; i++) {
        if (indeg[i] == 0)
            heap[hn++] = i;     /* ascending: already a valid min-heap */
    }
    while (hn > 0) {
        int u = heap[0];
        /* pop */
        heap[0] = heap[--hn];
        for (int p = 0;;) {
            int l = 2 * p + 1, r = l + 1, s = p;
            if (l < hn && heap[l] < heap[s])
                s = l;
            if (r < hn && heap[r] < heap[s])
                s = r;
            if (s == p)
                break;
            int t = heap[p];
            heap[p] = heap[s];
            heap[s] = t;
            p = s;
        }
        order[emitted++] = u;
        done[u] = true;
        for (int k = cons_start[u]; k < cons_start[u + 1]; k++) {
            int v = cons[k];
            if (--indeg[v] == 0) {
                /* push */
                int p = hn++;
                heap[p] = v;
                while (p > 0 && heap[(p - 1) / 2] > heap[p]) {
                    int t = heap[p];
                    heap[p] = heap[(p - 1) / 2];
                    heap[(p - 1) / 2] = t;
                    p = (p - 1) / 2;
                }
            }
        }
    }
    if (emitted < n)
        report_cycles(m, g, done, d, &errors);
out:
    free(indeg);
    free(cons_start);
    free(cons);
    free(done);
    free(heap);
    return errors;
}

int model_topo_order(const model *m, int *order, struct diag_ctx *d)
{
    graph g;
    if (graph_build(m, &g)) {
        if (d)
            diag_error(d, loc_none(), "out of memory while ordering the model graph");
        return -1;
    }
    int errors = topo_with_graph(m, &g, order, d);
    graph_free(&g);
    return errors ? -1 : 0;
}

/* ---- shape inference ---- */

static act_shape input_shape(const model_input *in)
{
    act_shape s = {0};
    switch (in->kind) {
    case INPUT_FEED_FORWARD:
        s.kind = SHAPE_FF;
        s.size = in->size;
        break;
    case INPUT_RECURRENT:
        s.kind = SHAPE_RNN;
        s.size = in->size;
        break;
    case INPUT_CONVOLUTIONAL:
        s.kind = SHAPE_CNN;
        s.h = in->h;
        s.w = in->w;
        s.c = in->c;
        s.size = in->h * in->w * in->c;
        break;
    }
    return s;
}

/* Infers shapes in the given order; ok[i] tells whether layer i's shape is known. */
static int infer_in_order(model *m, const graph *g, const int *order, bool *ok, struct diag_ctx *d)
{
    int errors = 0;
    act_shape *shapes = NULL;
    int cap = 0;
    for (int p = 0; p < m->n_layers; p++) {
        int i = order[p];
        layer *L = m->layers[i];
        ok[i] = false;
        int n = L->n_inputs;
        if (n > cap) {
            act_shape *s = realloc(shapes, (size_t)n * sizeof *s);
            if (!s) {
                errors++;
                if (d)
                    diag_error(d, L->loc, "out of memory while inferring shapes");
                break;
            }
            shapes = s;
            cap = n;
        }
        bool inputs_ok = true;
        for (int k = 0; k < n; k++) {
            int s = g->src[g->src_start[i] + k];
            if (s >= 0) {
                inputs_ok = inputs_ok && ok[s];
                shapes[k] = m->layers[s]->out_shape;
            } else {
                shapes[k] = input_shape(&m->inputs[-s - 1]);
            }
        }
        if (!inputs_ok)
            continue;   /* the error upstream was already reported */
        if (n == 0) {
            errors++;
            if (d)
                diag_error(d, L->loc, "layer '%s' has no inputs", L->name);
            continue;
        }
        if (n > 1 && !(L->type->flags & LT_MULTI_INPUT)) {
            errors++;
            if (d)
                diag_error(d, L->loc, "layer '%s' (%s) takes one input, got %d", L->name,
                           L->type->name, n);
            continue;
        }
        int64_t given = L->n_in;
        char msg[256] = "";
        act_shape out = {0};
        if (L->type->infer(L, shapes, n, &out, msg, sizeof msg) != 0) {
            errors++;
            if (d) {
                if (n > 1) {
                    char list[256];
                    size_t used = 0;
                    list[0] = '\0';
                    for (int k = 0; k < n && used < sizeof list; k++) {
                        int w = snprintf(list + used, sizeof list - used, "%s'%s' (size %lld)",
                                         k ? ", " : "", L->inputs[k], (long long)shapes[k].size);
                        if (w < 0)
                            break;
                        used += (size_t)w;
                    }
                    diag_error(d, L->loc, "layer '%s': %s; inputs: %s", L->name, msg, list);
                } else {
                    diag_error(d, L->loc, "layer '%s': %s", L->name, msg);
                }
            }
            continue;
        }
        if (L->n_in_given && given != L->n_in) {
            int64_t inferred = L->n_in;
            L->n_in = given;
            errors++;
            if (d)
                diag_error(d, L->loc,
                           "layer '%s' has n_in = %lld, but its input '%s' gives %lld features",
                           L->name, (long long)given, L->inputs[0], (long long)inferred);
            continue;
        }
        L->in_shape = shapes[0];
        L->out_shape = out;
        ok[i] = true;
    }
    free(shapes);
    return errors;
}

static int infer_all(model *m, const graph *g, int *order, struct diag_ctx *d)
{
    int errors = topo_with_graph(m, g, order, d);
    if (errors)
        return errors;
    bool *ok = calloc((size_t)(m->n_layers > 0 ? m->n_layers : 1), sizeof *ok);
    if (!ok) {
        if (d)
            diag_error(d, loc_none(), "out of memory while inferring shapes");
        return 1;
    }
    errors = infer_in_order(m, g, order, ok, d);
    free(ok);
    return errors;
}

int model_infer_shapes(model *m, struct diag_ctx *d)
{
    graph g;
    int *order = malloc((size_t)(m->n_layers > 0 ? m->n_layers : 1) * sizeof *order);
    if (!order || graph_build(m, &g)) {
        free(order);
        if (d)
            diag_error(d, loc_none(), "out of memory while inferring shapes");
        return 1;
    }
    int errors = infer_all(m, &g, order, d);
    graph_free(&g);
    free(order);
    return errors;
}

/* ---- totals and freezing ---- */

int64_t model_param_count(const model *m)
{
    int64_t n = 0;
    for (int i = 0; i < m->n_layers; i++)
        n += layer_param_count(m->layers[i]);
    return n;
}

int64_t model_frozen_param_count(const model *m)
{
    int64_t n = 0;
    for (int i = 0; i < m->n_layers; i++)
        if (m->layers[i]->frozen)
            n += layer_param_count(m->layers[i]);
    return n;
}

int model_freeze_through(model *m, const char *name)
{
    int start = model_layer_index(m, name);
    if (start < 0)
        return model_input_index(m, name) >= 0 ? 0 : -1;   /* an input has nothing to freeze */
    int n = m->n_layers;
    graph g;
    if (graph_build(m, &g))
        return -1;
    int *stack = malloc((size_t)n * sizeof *stack);
    bool *seen = calloc((size_t)n, sizeof *seen);
    if (!stack || !seen) {
        free(stack);
        free(seen);
        graph_free(&g);
        return -1;
    }
    int sp = 0;
    stack[sp++] = start;
    seen[start] = true;
    while (sp > 0) {
        int i = stack[--sp];
        m->layers[i]->frozen = true;
        for (int k = g.src_start[i]; k < g.src_start[i + 1]; k++) {
            int j = g.src[k];
            if (j >= 0 && !seen[j]) {
                seen[j] = true;
                stack[sp++] = j;
            }
        }
    }
    free(stack);
    free(seen);
    graph_free(&g);
    return 0;
}
