/* dropout.c: inverted dropout: in training each unit is dropped with probability
 * `dropout` and the survivors scaled by 1 / (1 - dropout); identity at inference. */
#include <stdlib.h>
#include <string.h>

#include "runtime/nn/layer.h"
#include "runtime/nn/kernels/layer_util.h"
#include "runtime/nn/layer_options.h"

static const layer_option *const dropout_options[] = {
    &layer_opt_n_in_inferred, &layer_opt_n_out, NULL};

typedef struct dropout_state {
    tensor mask;     /* 0 or 1 / (1 - p) per element of the last training forward */
    bool applied;
} dropout_state;

static int dropout_infer(layer *L, const act_shape *in, int n_in, act_shape *out, char *msg,
                         size_t msg_len)
{
    if (n_in != 1)
        return layer_msg(msg, msg_len, "dropout takes one input, got %d", n_in);
    L->n_in = in[0].size;
    L->n_out = in[0].size;
    *out = in[0];
    return 0;
}

static void dropout_free_state(layer *L)
{
    dropout_state *s = L->state;
    if (!s)
        return;
    tensor_release(&s->mask);
    free(s);
    L->state = NULL;
}

static int dropout_forward(layer *L, const fwd_ctx *c)
{
    const tensor *in = c->in[0];
    double p = L->train.dropout;
    if (!c->training || p <= 0.0) {
        memcpy(c->out->data, in->data, (size_t)in->size * sizeof(float));
        if (L->state)
            ((dropout_state *)L->state)->applied = false;
        return 0;
    }
    if (!L->state && !(L->state = calloc(1, sizeof(dropout_state))))
        return -1;
    dropout_state *s = L->state;
    if (scratch2(&s->mask, in->size, 1))
        return -1;
    dropout_fill(c->rng, p, in->data, c->out->data, s->mask.data, in->size);
    s->applied = true;
    return 0;
}

static int dropout_backward(layer *L, const bwd_ctx *c)
{
    if (!c->din || !c->din[0])
        return 0;
    dropout_state *s = L->state;
    float *din = c->din[0]->data;
    const float *dy = c->dout->data;
    int64_t n = c->dout->size;
    if (s && s->applied) {
        const float *m = s->mask.data;
        for (int64_t i = 0; i < n; i++)
            din[i] += dy[i] * m[i];
    } else {
        for (int64_t i = 0; i < n; i++)
            din[i] += dy[i];
    }
    return 0;
}

const layer_type layer_type_dropout = {
    .name = "dropout",
    .flags = LT_PASS_THROUGH | LT_STOCHASTIC,
    .options = dropout_options,
    .infer = dropout_infer,
    .param_specs = NULL,
    .forward = dropout_forward,
    .backward = dropout_backward,
    .free_state = dropout_free_state,
};
