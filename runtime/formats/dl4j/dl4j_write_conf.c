/* dl4j_write_conf.c: a surgery model as the configuration.json of a DL4J 1.0
 * MultiLayerNetwork: the chain check, each layer with the fields DL4J 1.0.0-beta4 writes for its
 * class (convolutional ones: dl4j_write_conv.c), the frozen set as FrozenLayer wrappers and the
 * input preprocessors between recurrent, convolutional and feed-forward layers. */
#include "runtime/formats/dl4j/dl4j_write_impl.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/formats/dl4j/dl4j_impl.h"
#include "runtime/formats/dl4j/dl4j_names.h"
#include "runtime/nn/kernels/lstm_cell.h"
#include "runtime/nn/kernels/pool.h"
#include "runtime/nn/layer_options.h"

#define LAYERS "org.deeplearning4j.nn.conf.layers."
#define PRE "org.deeplearning4j.nn.conf.preprocessor."

/* What a DL4J layer class takes and gives: feed-forward [batch, features] or recurrent
 * [batch, features, time] activations, or either (passed on as they come). */
typedef enum { IO_FF, IO_RNN, IO_ANY, IO_CNN } dl4j_io;

/* The surgery layer types DL4J's MultiLayerNetwork holds, and their DL4J classes. */
static const struct {
    const layer_type *type;
    const char *cls;
    dl4j_io takes;
    bool base_layer;    /* a BaseLayer in DL4J: updater, init, regularisation, nin and nout */
} classes[] = {
    {&layer_type_dense, "DenseLayer", IO_FF, true},
    {&layer_type_output, "OutputLayer", IO_FF, true},
    {&layer_type_lstm, "LSTM", IO_RNN, true},
    {&layer_type_graves_lstm, "GravesLSTM", IO_RNN, true},
    {&layer_type_rnn_output, "RnnOutputLayer", IO_RNN, true},
    {&layer_type_embedding, "EmbeddingLayer", IO_FF, true},
    {&layer_type_dropout, "DropoutLayer", IO_ANY, true},
    {&layer_type_activation, "ActivationLayer", IO_ANY, false},
    {&layer_type_global_pooling, "GlobalPoolingLayer", IO_RNN, false},
    {&layer_type_conv2d, "ConvolutionLayer", IO_CNN, true},
    {&layer_type_separable_conv2d, "SeparableConvolution2D", IO_CNN, true},
    {&layer_type_depthwise_conv2d, "DepthwiseConvolution2D", IO_CNN, true},
    {&layer_type_subsampling, "SubsamplingLayer", IO_CNN, false},
    {&layer_type_zero_padding, "ZeroPaddingLayer", IO_CNN, false},
    {&layer_type_cropping, "convolutional.Cropping2D", IO_CNN, false},
    {&layer_type_upsampling, "Upsampling2D", IO_CNN, false},
    {&layer_type_bidirectional, "recurrent.Bidirectional", IO_RNN, false},
    {&layer_type_batch_norm, "BatchNormalization", IO_ANY, true},
};
#define N_CLASSES (int)(sizeof classes / sizeof *classes)

static int class_of(const layer_type *t)
{
    for (int k = 0; k < N_CLASSES; k++)
        if (classes[k].type == t)
            return k;
    return -1;
}

/* Appends "; " and the formatted text to err (as much as fits). */
static void add_reason(char *err, size_t err_len, int *count, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void add_reason(char *err, size_t err_len, int *count, const char *fmt, ...)
{
    size_t at = strlen(err);
    if (*count && at + 2 < err_len) {
        memcpy(err + at, "; ", 3);
        at += 2;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err + at, err_len - at, fmt, ap);
    va_end(ap);
    (*count)++;
}

/* What DL4J cannot hold of one layer (besides its place in the graph), as reasons. */
static void check_layer(const model *m, const layer *L, char *err, size_t err_len, int *count)
{
    if (class_of(L->type) < 0) {
        add_reason(err, err_len, count, "layer '%s' (%s): a layer type the DL4J writer does not "
                   "write", L->name, L->type->name);
        return;
    }
    train_conf tc;
    train_conf_defaults(&tc);
    train_conf_apply(&tc, &m->training);
    train_conf_apply(&tc, &L->train);
    if (!dl4j_updater_class(tc.updater.kind) ||
        ((tc.set_mask & TC_BIAS_UPDATER) && !dl4j_updater_class(tc.bias_updater.kind)))
        add_reason(err, err_len, count, "layer '%s' (%s): updater %s, which DL4J 1.0 does not "
                   "have", L->name, L->type->name, updater_names[UPD_ADAMW]);
    if ((L->type->flags & LT_HAS_ACTIVATION) && L->type != &layer_type_dropout &&
        !dl4j_activation_class(L->activation))
        add_reason(err, err_len, count, "layer '%s' (%s): activation %s, which DL4J 1.0 does not "
                   "have", L->name, L->type->name, activation_names[L->activation]);
    if ((L->type->flags & LT_LOSS) && !dl4j_loss_class(L->loss))
        add_reason(err, err_len, count, "layer '%s' (%s): no loss", L->name, L->type->name);
    if ((L->type == &layer_type_lstm || L->type == &layer_type_graves_lstm ||
         L->type == &layer_type_bidirectional) && !L->has_bias)
        add_reason(err, err_len, count, "layer '%s' (%s): no bias (DL4J's LSTMs always have one)",
                   L->name, L->type->name);
    if (lstm_reversed(L))
        add_reason(err, err_len, count, "layer '%s' (%s): reverse (DL4J's LSTMs read forward; "
                   "its Bidirectional wrapper holds a reverse pass)", L->name, L->type->name);
    if (lstm_initial_state(L))
        add_reason(err, err_len, count, "layer '%s' (%s): initial_state (DL4J's LSTMs start "
                   "from zeros)", L->name, L->type->name);
    char why[256];
    if (dl4j_conv_refusal(L, why, sizeof why))
        add_reason(err, err_len, count, "layer '%s' (%s): %s", L->name, L->type->name, why);
}

int dl4j_chain_of(const model *m, const layer **order, char *err, size_t err_len)
{
    int count = 0;
    err[0] = '\0';
    if (m->n_inputs != 1) {
        snprintf(err, err_len, "a DL4J MultiLayerNetwork has one input, the model has %d (DL4J's "
                 "ComputationGraph is not written yet)", m->n_inputs);
        return -1;
    }
    if (m->n_layers == 0) {
        snprintf(err, err_len, "a DL4J MultiLayerNetwork has at least one layer, the model none");
        return -1;
    }
    const char *cur = m->inputs[0].name;
    int n = 0;
    while (n < m->n_layers) {
        int idx[2];
        int k = model_consumers(m, cur, idx, 2);
        if (k != 1) {
            if (k > 1)
                snprintf(err, err_len, "'%s' feeds both '%s' and '%s': a DL4J MultiLayerNetwork is "
                         "a chain of layers (DL4J's ComputationGraph is not written yet)", cur,
                         m->layers[idx[0]]->name, m->layers[idx[1]]->name);
            else
                snprintf(err, err_len, "no layer takes '%s', but %d of the model's layers come "
                         "after it: a DL4J MultiLayerNetwork is a chain of layers (DL4J's "
                         "ComputationGraph is not written yet)", cur, m->n_layers - n);
            return -1;
        }
        const layer *L = m->layers[idx[0]];
        if (L->n_inputs != 1) {
            snprintf(err, err_len, "layer '%s' (%s) takes %d inputs: a DL4J MultiLayerNetwork is a "
                     "chain of layers (DL4J's ComputationGraph is not written yet)", L->name,
                     L->type->name, L->n_inputs);
            return -1;
        }
        order[n++] = L;
        cur = L->name;
    }
    if (m->n_outputs != 1 || strcmp(m->outputs[0], cur)) {
        snprintf(err, err_len, "a DL4J MultiLayerNetwork's output is its last layer ('%s'), the "
                 "model's outputs are %d other%s", cur, m->n_outputs, m->n_outputs == 1 ? "" : "s");
        return -1;
    }
    for (int i = 0; i < n; i++)
        check_layer(m, order[i], err, err_len, &count);
    return count ? -1 : 0;
}

/* ---- JSON ---- */

static json_t *with_class(const char *cls)
{
    json_t *o = json_object();
    json_object_set_new(o, "@class", json_string(cls));
    return o;
}

static void put(json_t *o, const char *key, json_t *v) { json_object_set_new(o, key, v); }

static json_t *schedule_json(const char *cls, double value)
{
    json_t *s = with_class(cls);
    put(s, "value", json_real(value));
    return s;
}

static json_t *updater_json(const updater_conf *u, double lr)
{
    json_t *o = with_class(dl4j_updater_class(u->kind));
    if (u->kind == UPD_NONE)
        return o;
    put(o, "learningRate", json_real(lr));
    if (u->kind == UPD_NESTEROVS)
        put(o, "momentum", json_real(u->momentum));
    if (u->kind == UPD_ADAM) {
        put(o, "beta1", json_real(u->beta1));
        put(o, "beta2", json_real(u->beta2));
    }
    if (u->kind == UPD_ADAM || u->kind == UPD_RMSPROP || u->kind == UPD_ADAGRAD)
        put(o, "epsilon", json_real(u->epsilon));
    if (u->kind == UPD_RMSPROP)
        put(o, "rmsDecay", json_real(u->rms_decay));
    if (u->schedule == SCHED_STEP) {
        json_t *s = with_class("org.nd4j.linalg.schedule.StepSchedule");
        put(s, "decayRate", json_real(u->decay_rate));
        put(s, "initialValue", json_real(lr));
        put(s, "scheduleType", json_string("ITERATION"));
        put(s, "step", json_real(u->decay_steps));
        put(o, "learningRateSchedule", s);
    } else if (u->schedule == SCHED_EXPONENTIAL) {
        json_t *s = with_class("org.nd4j.linalg.schedule.ExponentialSchedule");
        put(s, "gamma", json_real(u->decay_rate));
        put(s, "initialValue", json_real(lr));
        put(s, "scheduleType", json_string("ITERATION"));
        put(o, "learningRateSchedule", s);
    }
    return o;
}

static json_t *weight_init_json(const init_spec *w)
{
    const char *cls = dl4j_weight_init_class(w->kind);
    if (cls)
        return with_class(cls);
    if (w->kind == INIT_ZEROS || w->kind == INIT_ONES) {
        json_t *o = with_class("org.deeplearning4j.nn.weights.WeightInitConstant");
        put(o, "value", json_real(w->kind == INIT_ONES ? 1.0 : 0.0));
        return o;
    }
    bool uniform = w->kind == INIT_UNIFORM;
    json_t *d = with_class(uniform ? "org.deeplearning4j.nn.conf.distribution.UniformDistribution"
                           : "org.deeplearning4j.nn.conf.distribution.NormalDistribution");
    put(d, uniform ? "lower" : "mean", json_real(w->a));
    put(d, uniform ? "upper" : "std", json_real(w->b));
    json_t *o = with_class("org.deeplearning4j.nn.weights.WeightInitDistribution");
    put(o, "distribution", d);
    return o;
}

/* DL4J's regularisation list: L1, then L2 or weight decay (coefficients as fixed schedules). */
static json_t *regularization_json(double l1, double l2, double weight_decay)
{
    json_t *list = json_array();
    if (l1 > 0) {
        json_t *r = with_class("org.nd4j.linalg.learning.regularization.L1Regularization");
        put(r, "l1", schedule_json("org.nd4j.linalg.schedule.FixedSchedule", l1));
        json_array_append_new(list, r);
    }
    if (l2 > 0) {
        json_t *r = with_class("org.nd4j.linalg.learning.regularization.L2Regularization");
        put(r, "l2", schedule_json("org.nd4j.linalg.schedule.FixedSchedule", l2));
        json_array_append_new(list, r);
    }
    if (weight_decay > 0) {
        json_t *r = with_class("org.nd4j.linalg.learning.regularization.WeightDecay");
        put(r, "applyLR", json_true());
        put(r, "coeff", schedule_json("org.nd4j.linalg.schedule.FixedSchedule", weight_decay));
        json_array_append_new(list, r);
    }
    return list;
}

static json_t *activation_json(const layer *L, activation_kind a)
{
    json_t *o = with_class(dl4j_activation_class(a));
    if (a == ACT_LEAKYRELU || a == ACT_ELU)
        put(o, "alpha", json_real(L->alpha > 0 ? L->alpha : a == ACT_ELU ? 1.0 : 0.01));
    return o;
}

/* The fields of DL4J's BaseLayer and FeedForwardLayer. */
static void base_layer_fields(json_t *o, const model *m, const layer *L, const train_conf *tc)
{
    activation_kind act = L->type == &layer_type_dropout || L->type == &layer_type_batch_norm
                          ? ACT_IDENTITY : L->activation;
    put(o, "activationFn", activation_json(L, act));
    put(o, "biasInit", json_real((tc->set_mask & TC_BIAS_INIT) ? tc->bias_init : 0.0));
    put(o, "biasUpdater", (tc->set_mask & TC_BIAS_UPDATER)
        ? updater_json(&tc->bias_updater, tc->bias_updater.learning_rate) : json_null());
    put(o, "gainInit", json_real(1.0));
    grad_norm_kind gn = (tc->set_mask & TC_GRAD_NORM) ? tc->grad_norm : GN_NONE;
    put(o, "gradientNormalization", json_string(dl4j_grad_norm_name(gn)));
    put(o, "gradientNormalizationThreshold",
        json_real(gn != GN_NONE && tc->grad_norm_threshold > 0 ? tc->grad_norm_threshold : 1.0));
    put(o, "iupdater", updater_json(&tc->updater, train_conf_learning_rate(tc)));
    put(o, "regularization", regularization_json((tc->set_mask & TC_L1) ? tc->l1 : 0,
                                                 (tc->set_mask & TC_L2) ? tc->l2 : 0,
                                                 (tc->set_mask & TC_WEIGHT_DECAY) ? tc->weight_decay
                                                 : 0));
    put(o, "regularizationBias", regularization_json((tc->set_mask & TC_L1_BIAS) ? tc->l1_bias : 0,
                                                     (tc->set_mask & TC_L2_BIAS) ? tc->l2_bias : 0,
                                                     0));
    put(o, "weightInitFn", weight_init_json((tc->set_mask & TC_WEIGHT_INIT) ? &tc->weight_init
                                            : &m->weight_init));
    put(o, "weightNoise", json_null());
    put(o, "nin", json_integer(L->n_in));
    put(o, "nout", json_integer(L->n_out));
}

static json_t *layer_json(const model *m, const layer *L);

/* The option `name` of L as a whole number (0 when L's type has none). */
static int option_int(const layer *L, const char *name)
{
    double v = 0;
    const layer_option *opt = layer_option_find(L->type, name);
    if (opt)
        layer_option_get_values(opt, L, &v);
    return (int)v;
}

/* DL4J's Bidirectional wrapper: the cell (an LSTM or GravesLSTM with the layer's settings and
 * sizes) in "fwd" and again in "bwd", and the mode. */
static void bidirectional_fields(json_t *o, const model *m, const layer *L)
{
    layer cell = *L;
    cell.type = option_int(L, "layer") == 1 ? &layer_type_graves_lstm : &layer_type_lstm;
    cell.frozen = false;
    static const char *const modes[] = {"CONCAT", "ADD", "MUL", "AVERAGE"};
    int mode = option_int(L, "mode");
    put(o, "fwd", layer_json(m, &cell));
    put(o, "bwd", layer_json(m, &cell));
    put(o, "mode", json_string(modes[mode >= 0 && mode < 4 ? mode : 0]));
}

/* The DL4J name of a parameter key of L: the Bidirectional wrapper's fW, fRW, fb, bW, ... for
 * surgery's WF, RWF, bF, WB, ... */
static const char *dl4j_var_name(const layer *L, const char *key)
{
    static const char *const wrapped[6] = {"fW", "fRW", "fb", "bW", "bRW", "bb"};
    if (L->type == &layer_type_bidirectional)
        for (int k = 0; k < 6; k++)
            if (!strcmp(key, dl4j_param_key(L, wrapped[k])))
                return wrapped[k];
    return key;
}

/* DL4J's BatchNormalization: the running averages' decay, eps, gamma and beta (constants when
 * locked) and the variance itself as the parameter "var" (useLogStd false). */
static void batch_norm_fields(json_t *o, const layer *L)
{
    static const char *const names[] = {"decay", "eps", "gamma", "beta"};
    for (int k = 0; k < 4; k++) {
        double v = 0;
        layer_option_get_values(layer_option_find(L->type, names[k]), L, &v);
        put(o, names[k], json_real(v));
    }
    put(o, "cudnnAllowFallback", json_true());
    put(o, "isMinibatch", json_true());
    put(o, "lockGammaBeta", json_boolean(option_int(L, "lock_gamma_beta") != 0));
    put(o, "useLogStd", json_false());
}

static json_t *layer_json(const model *m, const layer *L)
{
    int k = class_of(L->type);
    char cls[128];
    /* an activation layer with a loss: DL4J's LossLayer or CnnLossLayer, as it was read */
    bool loss_layer = L->type == &layer_type_activation && dl4j_loss_class(L->loss);
    snprintf(cls, sizeof cls, LAYERS "%s", loss_layer ? (L->in_shape.kind == SHAPE_CNN
                                                         ? "CnnLossLayer" : "LossLayer")
                                                      : classes[k].cls);
    json_t *o = with_class(cls);
    train_conf tc;
    train_conf_defaults(&tc);
    train_conf_apply(&tc, &m->training);
    train_conf_apply(&tc, &L->train);
    put(o, "layerName", json_string(L->name));
    put(o, "constraints", json_null());
    /* DL4J's dropout number is the probability of keeping an input; ours of dropping it. */
    if ((tc.set_mask & TC_DROPOUT) && tc.dropout > 0) {
        json_t *d = with_class("org.deeplearning4j.nn.conf.dropout.Dropout");
        put(d, "p", json_real(1 - tc.dropout));
        put(d, "pSchedule", json_null());
        put(o, "idropout", d);
    } else {
        put(o, "idropout", json_null());
    }
    if (classes[k].base_layer || loss_layer)
        base_layer_fields(o, m, L, &tc);
    dl4j_conv_fields(o, L);
    const layer_type *t = L->type;
    if (t == &layer_type_dense) {
        put(o, "hasBias", json_boolean(L->has_bias));
        put(o, "hasLayerNorm", json_false());
    } else if (t->flags & LT_LOSS) {
        put(o, "hasBias", json_boolean(L->has_bias));
        json_t *loss = with_class(dl4j_loss_class(L->loss));
        if (L->loss == LOSS_MCXENT || L->loss == LOSS_NLL)
            put(loss, "softmaxClipEps", json_real(1e-10));
        put(o, "lossFn", loss);
    } else if (t == &layer_type_lstm || t == &layer_type_graves_lstm) {
        put(o, "forgetGateBiasInit", json_real(L->forget_gate_bias));
        put(o, "gateActivationFn", with_class(dl4j_activation_class(ACT_SIGMOID)));
        put(o, "weightInitFnRecurrent", json_null());
    } else if (t == &layer_type_bidirectional) {
        bidirectional_fields(o, m, L);
    } else if (t == &layer_type_embedding) {
        put(o, "hasBias", json_boolean(L->has_bias));
    } else if (t == &layer_type_activation && loss_layer) {
        put(o, "lossFn", with_class(dl4j_loss_class(L->loss)));
        put(o, "nin", json_integer(0));
        put(o, "nout", json_integer(0));
    } else if (t == &layer_type_activation) {
        put(o, "activationFn", activation_json(L, L->activation));
    } else if (t == &layer_type_batch_norm) {
        batch_norm_fields(o, L);
    } else if (t == &layer_type_global_pooling) {
        double v = POOL_MAX;
        const layer_option *opt = layer_option_find(t, "pooling");
        if (opt)
            layer_option_get_values(opt, L, &v);
        static const char *const pools[POOL_KIND_COUNT] = {"MAX", "AVG", "SUM"};
        put(o, "poolingType", json_string(pools[(int)v]));
        put(o, "collapseDimensions", json_true());
        put(o, "pnorm", json_integer(2));
        put(o, "poolingDimensions", json_null());
    }
    if (!L->frozen)
        return o;
    json_t *f = with_class(LAYERS "misc.FrozenLayer");
    put(f, "constraints", json_null());
    put(f, "idropout", json_null());
    put(f, "layer", o);
    put(f, "layerName", json_string(L->name));
    return f;
}

/* One element of "confs": DL4J's NeuralNetConfiguration around the layer. */
static json_t *conf_json(const model *m, const layer *L)
{
    json_t *c = json_object();
    put(c, "cacheMode", json_string("NONE"));
    put(c, "dataType", json_string("FLOAT"));
    put(c, "epochCount", json_integer(m->epoch_count));
    put(c, "iterationCount", json_integer(m->iteration_count));
    put(c, "layer", layer_json(m, L));
    put(c, "maxNumLineSearchIterations", json_integer(5));
    put(c, "miniBatch", json_true());
    put(c, "minimize", json_true());
    put(c, "optimizationAlgo", json_string("STOCHASTIC_GRADIENT_DESCENT"));
    put(c, "seed", json_integer((json_int_t)m->seed));
    put(c, "stepFunction", json_null());
    json_t *vars = json_array();
    param_spec specs[LAYER_MAX_PARAMS];
    int n = L->type->param_specs ? L->type->param_specs(L, specs) : 0;
    for (int p = 0; p < n; p++)
        json_array_append_new(vars, json_string(dl4j_var_name(L, specs[p].key)));
    put(c, "variables", vars);
    return c;
}

/* The truncated-BPTT lengths: the model's, else the first layer's that has them. */
static void tbptt_of(const model *m, int *fwd, int *back)
{
    const train_conf *tc = (m->training.set_mask & TC_BACKPROP) ? &m->training : NULL;
    for (int i = 0; !tc && i < m->n_layers; i++)
        if (m->layers[i]->train.set_mask & TC_BACKPROP)
            tc = &m->layers[i]->train;
    *fwd = tc && tc->tbptt_forward > 0 ? tc->tbptt_forward : 0;
    *back = *fwd ? (tc->tbptt_backward > 0 ? tc->tbptt_backward : *fwd) : 0;
}

char *dl4j_conf_text(const model *m, const layer *const *order)
{
    json_t *root = json_object();
    json_t *confs = json_array(), *pre = json_object();
    /* DL4J applies a feed-forward layer to [batch * time, features] behind a
     * RnnToFeedForwardPreProcessor and gives recurrent layers after it a FeedForwardToRnn one. */
    bool flat_time = false, recurrent = m->inputs[0].kind == INPUT_RECURRENT;
    bool cnn = m->inputs[0].kind == INPUT_CONVOLUTIONAL;
    for (int i = 0; i < m->n_layers; i++) {
        const layer *L = order[i];
        dl4j_io takes = classes[class_of(L->type)].takes;
        char key[16];
        snprintf(key, sizeof key, "%d", i);
        if (takes == IO_FF && cnn) {
            /* DL4J flattens [C, H, W] channels-major, as surgery's dense layers see it */
            json_t *p = with_class(PRE "CnnToFeedForwardPreProcessor");
            put(p, "inputHeight", json_integer(L->in_shape.h));
            put(p, "inputWidth", json_integer(L->in_shape.w));
            put(p, "numChannels", json_integer(L->in_shape.c));
            put(pre, key, p);
            cnn = false;
        } else if (takes == IO_FF && recurrent) {
            put(pre, key, with_class(PRE "RnnToFeedForwardPreProcessor"));
            recurrent = false;
            flat_time = true;
        } else if (takes == IO_RNN && flat_time) {
            put(pre, key, with_class(PRE "FeedForwardToRnnPreProcessor"));
            recurrent = true;
            flat_time = false;
        }
        if (takes == IO_RNN)
            recurrent = L->type != &layer_type_global_pooling;
        if (takes == IO_CNN)
            cnn = true;
        else if (L->type == &layer_type_global_pooling)
            cnn = false;
        json_array_append_new(confs, conf_json(m, L));
    }
    int fwd, back;
    tbptt_of(m, &fwd, &back);
    put(root, "backpropType", json_string(fwd ? "TruncatedBPTT" : "Standard"));
    put(root, "cacheMode", json_string("NONE"));
    put(root, "confs", confs);
    put(root, "dataType", json_string("FLOAT"));
    put(root, "epochCount", json_integer(m->epoch_count));
    put(root, "inferenceWorkspaceMode", json_string("ENABLED"));
    put(root, "inputPreProcessors", pre);
    put(root, "iterationCount", json_integer(m->iteration_count));
    put(root, "tbpttBackLength", json_integer(fwd ? back : 20));
    put(root, "tbpttFwdLength", json_integer(fwd ? fwd : 20));
    put(root, "trainingWorkspaceMode", json_string("ENABLED"));
    put(root, "validateOutputLayerConfig", json_true());
    char *text = json_dumps(root, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_REAL_PRECISION(15));
    json_decref(root);
    return text;
}
