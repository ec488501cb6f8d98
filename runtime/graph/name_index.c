/* name_index.c: the model's name index: lookups of layers and inputs by name, consumers of a
 * node, renames, and the index's upkeep as the layer list changes. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/base/util.h"
#include "runtime/graph/graph_impl.h"
#include "runtime/graph/model.h"

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
void index_find(const model *m, const char *name, int *layer_i, int *input_i)
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

bool model_index_current(const model *m)
{
    const struct model_index *ix = m->index;
    return ix && ix->layers == m->layers && ix->n_layers == m->n_layers &&
           ix->inputs == m->inputs && ix->n_inputs == m->n_inputs;
}

void model_index_added_input(model *m, bool was_current)
{
    struct model_index *ix = m->index;
    if (was_current && index_add_input(ix, m->inputs[m->n_inputs - 1].name, m->n_inputs - 1) == 0) {
        ix->inputs = m->inputs;
        ix->n_inputs = m->n_inputs;
    } else {
        model_index_invalidate(m);
    }
}

void model_index_added_layer(model *m, bool was_current)
{
    struct model_index *ix = m->index;
    if (was_current && index_add_layer(ix, m->layers[m->n_layers - 1], m->n_layers - 1) == 0) {
        ix->layers = m->layers;
        ix->n_layers = m->n_layers;
    } else {
        model_index_invalidate(m);
    }
}

void model_index_moved_layer(model *m, bool was_current, int from, int to)
{
    layer *L = m->layers[to];
    int lo = from < to ? from : to, hi = from < to ? to : from;
    struct model_index *ix = m->index;
    if (!was_current) {
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

