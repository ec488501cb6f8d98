/* summary.c: the model summary table, laid out like DL4J's MultiLayerNetwork/ComputationGraph
 * summary() with column widths fitted to the contents. */
#include "runtime/graph/summary.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

bool model_is_chain(const model *m)
{
    if (m->n_inputs != 1 || m->n_outputs != 1 || m->n_layers == 0)
        return false;
    for (int i = 0; i < m->n_layers; i++) {
        const layer *L = m->layers[i];
        const char *want = i == 0 ? m->inputs[0].name : m->layers[i - 1]->name;
        if (L->n_inputs != 1 || strcmp(L->inputs[0], want) != 0)
            return false;
    }
    return strcmp(m->outputs[0], m->layers[m->n_layers - 1]->name) == 0;
}

enum { COL_NAME, COL_IO, COL_TOTAL, COL_SHAPES, COL_INPUTS, N_COLS };

typedef struct row {
    char *cell[N_COLS];
} row;

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    int n = vsnprintf(NULL, 0, f, ap);
    va_end(ap);
    char *s = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (s) {
        va_start(ap, f);
        vsnprintf(s, (size_t)n + 1, f, ap);
        va_end(ap);
    }
    return s;
}

/* "W:{77,800}, RW:{200,803}, b:{800}", or "-" for a layer without parameters. */
static char *param_shapes(const layer *L)
{
    param_spec specs[LAYER_MAX_PARAMS];
    int n = L->type->param_specs ? L->type->param_specs(L, specs) : 0;
    if (n == 0)
        return strdup("-");
    size_t cap = 256, len = 0;
    char *s = malloc(cap);
    if (!s)
        return NULL;
    s[0] = 0;
    for (int p = 0; p < n; p++) {
        char part[128];
        int k = snprintf(part, sizeof part, "%s%s:{", p ? ", " : "", specs[p].key);
        for (int d = 0; d < specs[p].ndim; d++)
            k += snprintf(part + k, sizeof part - (size_t)k, d ? ",%" PRId64 : "%" PRId64,
                          specs[p].shape[d]);
        snprintf(part + k, sizeof part - (size_t)k, "}");
        size_t pl = strlen(part);
        if (len + pl + 1 > cap) {
            char *ns = realloc(s, cap = 2 * (len + pl + 1));
            if (!ns) {
                free(s);
                return NULL;
            }
            s = ns;
        }
        memcpy(s + len, part, pl + 1);
        len += pl;
    }
    return s;
}

static char *joined_inputs(const layer *L)
{
    size_t len = 3;
    for (int k = 0; k < L->n_inputs; k++)
        len += strlen(L->inputs[k]) + 2;
    char *s = malloc(len);
    if (!s)
        return NULL;
    strcpy(s, "[");
    for (int k = 0; k < L->n_inputs; k++) {
        if (k)
            strcat(s, ", ");
        strcat(s, L->inputs[k]);
    }
    strcat(s, "]");
    return s;
}

static int put_rule(FILE *fp, char c, size_t width)
{
    for (size_t i = 0; i < width; i++)
        if (fputc(c, fp) == EOF)
            return -1;
    return fputc('\n', fp) == EOF ? -1 : 0;
}

int model_summary(const model *m, FILE *fp)
{
    bool graph = !model_is_chain(m);
    int n_cols = graph ? N_COLS : N_COLS - 1;
    int n_rows = (graph ? m->n_inputs : 0) + m->n_layers;
    row *rows = calloc((size_t)n_rows + 1, sizeof *rows);
    int *order = malloc((size_t)(m->n_layers > 0 ? m->n_layers : 1) * sizeof *order);
    int rc = -1;
    if (!rows || !order)
        goto done;
    if (model_topo_order(m, order, NULL) < 0)
        for (int i = 0; i < m->n_layers; i++)
            order[i] = i;
    row *hdr = &rows[0];
    hdr->cell[COL_NAME] = strdup(graph ? "VertexName (VertexType)" : "LayerName (LayerType)");
    hdr->cell[COL_IO] = strdup("nIn,nOut");
    hdr->cell[COL_TOTAL] = strdup("TotalParams");
    hdr->cell[COL_SHAPES] = strdup("ParamsShape");
    hdr->cell[COL_INPUTS] = strdup("Vertex Inputs");
    int r = 1;
    if (graph)
        for (int i = 0; i < m->n_inputs; i++, r++) {
            rows[r].cell[COL_NAME] = fmt("%s (input)", m->inputs[i].name);
            const model_input *in = &m->inputs[i];
            char shape[96];
            act_shape cnn = act_shape_cnn(in->c, in->h, in->w);
            rows[r].cell[COL_IO] = in->kind == INPUT_CONVOLUTIONAL
                                       ? fmt("-,%s", act_shape_text(&cnn, shape, sizeof shape))
                                       : fmt("-,%" PRId64, in->size);
            rows[r].cell[COL_TOTAL] = strdup("-");
            rows[r].cell[COL_SHAPES] = strdup("-");
            rows[r].cell[COL_INPUTS] = strdup("-");
        }
    int64_t total = 0, frozen = 0;
    for (int i = 0; i < m->n_layers; i++, r++) {
        const layer *L = m->layers[order[i]];
        int64_t count = layer_param_count(L);
        total += count;
        if (L->frozen)
            frozen += count;
        rows[r].cell[COL_NAME] = fmt("%s (%s%s)", L->name, L->frozen ? "frozen " : "", L->type->name);
        if (L->out_shape.kind == SHAPE_CNN) {   /* the output as C x H x W, as an input's */
            char shape[96];
            act_shape_text(&L->out_shape, shape, sizeof shape);
            rows[r].cell[COL_IO] = count > 0 ? fmt("%" PRId64 ",%s", L->n_in, shape)
                                             : fmt("-,%s", shape);
        } else {
            rows[r].cell[COL_IO] = count > 0 ? fmt("%" PRId64 ",%" PRId64, L->n_in, L->n_out)
                                             : strdup("-,-");
        }
        rows[r].cell[COL_TOTAL] = fmt("%" PRId64, count);
        rows[r].cell[COL_SHAPES] = param_shapes(L);
        rows[r].cell[COL_INPUTS] = joined_inputs(L);
    }
    size_t w[N_COLS] = {0};
    for (int i = 0; i < n_rows + 1; i++)
        for (int c = 0; c < n_cols; c++) {
            if (!rows[i].cell[c])
                goto done;
            size_t n = strlen(rows[i].cell[c]);
            if (n > w[c])
                w[c] = n;
        }
    size_t width = 0;
    for (int c = 0; c < n_cols; c++)
        width += w[c] + (c + 1 < n_cols ? 3 : 0);
    const char *labels[3] = {"Total Parameters:", "Trainable Parameters:", "Frozen Parameters:"};
    int64_t values[3] = {total, total - frozen, frozen};
    bool ok = fprintf(fp, "Model: %s\n", m->name ? m->name : "(unnamed)") >= 0 &&
              put_rule(fp, '=', width) == 0;
    for (int i = 0; ok && i < n_rows + 1; i++) {
        for (int c = 0; ok && c < n_cols; c++) {
            if (c + 1 < n_cols)
                ok = fprintf(fp, "%-*s   ", (int)w[c], rows[i].cell[c]) >= 0;
            else
                ok = fprintf(fp, "%s\n", rows[i].cell[c]) >= 0;
        }
        if (ok && i == 0)
            ok = put_rule(fp, '=', width) == 0;
    }
    ok = ok && put_rule(fp, '-', width) == 0;
    for (int i = 0; ok && i < 3; i++)
        ok = fprintf(fp, "%24s  %" PRId64 "\n", labels[i], values[i]) >= 0;
    ok = ok && put_rule(fp, '=', width) == 0;
    rc = ok ? 0 : -1;
done:
    if (rows)
        for (int i = 0; i < n_rows + 1; i++)
            for (int c = 0; c < N_COLS; c++)
                free(rows[i].cell[c]);
    free(rows);
    free(order);
    return rc;
}
