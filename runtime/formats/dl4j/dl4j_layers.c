/* dl4j_layers.c: the layer configurations of a MultiLayerNetwork or of LayerVertices (0.x
 * type-name wrappers and 1.0 @class names) as surgery layers: types, sizes, activations, losses, weight inits, updaters,
 * regularisation, dropout, gradient normalisation, frozen wrappers. */
#include "runtime/formats/dl4j/dl4j_impl.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "runtime/base/limits.h"
#include "runtime/base/util.h"
#include "runtime/nn/layer.h"
#include "runtime/nn/layer_options.h"

void dl4j_problem(dl4j_map *mp, int index, const char *name, const char *type, const char *fmt, ...)
{
    char what[512], line[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    int n = mp->graph ? snprintf(line, sizeof line, "%svertex '%s' (%s): %s",
                                 mp->n_problems ? "; " : "", name ? name : "?", type ? type : "?",
                                 what)
                      : snprintf(line, sizeof line, "%slayer %d '%s' (%s): %s",
                                 mp->n_problems ? "; " : "", index, name ? name : "?",
                                 type ? type : "?", what);
    if (n < 0)
        return;
    size_t k = strlen(line);
    char *p = realloc(mp->problems, mp->problems_len + k + 1);
    if (!p)
        return;
    memcpy(p + mp->problems_len, line, k + 1);
    mp->problems = p;
    mp->problems_len += k;
    mp->n_problems++;
}

/* The class name after its package: "org.nd4j...ActivationTanH" -> "ActivationTanH". */
static const char *class_tail(const char *s)
{
    const char *dot = strrchr(s, '.');
    return dot ? dot + 1 : s;
}

bool dl4j_poly(json_t *v, const char *strip, char *name, size_t n, json_t **fields)
{
    const char *s = NULL;
    *fields = NULL;
    if (json_is_string(v)) {
        s = json_string_value(v);
    } else if (json_is_object(v) && json_is_string(json_object_get(v, "@class"))) {
        s = class_tail(json_string_value(json_object_get(v, "@class")));
        *fields = v;
    } else if (json_is_object(v) && json_object_size(v) == 1) {
        void *it = json_object_iter(v);
        if (!json_is_object(json_object_iter_value(it)))
            return false;
        s = json_object_iter_key(it);
        *fields = json_object_iter_value(it);
    } else {
        return false;
    }
    if (strip && !strncmp(s, strip, strlen(strip)) && s[strlen(strip)])
        s += strlen(strip);
    snprintf(name, n, "%s", s);
    return true;
}

static void lower(char *s)
{
    for (; *s; s++)
        *s = (char)tolower((unsigned char)*s);
}

static bool num(json_t *o, const char *key, double *out)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_number(v))
        return false;
    *out = json_number_value(v);
    return isfinite(*out);
}

typedef struct name_map {
    const char *dl4j;
    int ours;
} name_map;

static int lookup(const name_map *t, const char *s)
{
    for (; t->dl4j; t++)
        if (!strcmp(t->dl4j, s))
            return t->ours;
    return -1;
}

static const name_map activations[] = {
    {"identity", ACT_IDENTITY}, {"relu", ACT_RELU}, {"lrelu", ACT_LEAKYRELU},
    {"leakyrelu", ACT_LEAKYRELU}, {"elu", ACT_ELU}, {"tanh", ACT_TANH}, {"sigmoid", ACT_SIGMOID},
    {"hardsigmoid", ACT_HARDSIGMOID}, {"softmax", ACT_SOFTMAX}, {"softplus", ACT_SOFTPLUS},
    {"relu6", ACT_RELU6}, {"hardtanh", ACT_HARDTANH}, {"swish", ACT_SWISH},
    {"softsign", ACT_SOFTSIGN}, {"selu", ACT_SELU}, {"gelu", ACT_GELU}, {NULL, 0}};

static const name_map losses[] = {
    {"mcxent", LOSS_MCXENT}, {"negativeloglikelihood", LOSS_NLL}, {"mse", LOSS_MSE},
    {"squared_loss", LOSS_MSE}, {"l1", LOSS_L1}, {"xent", LOSS_XENT}, {"hinge", LOSS_HINGE},
    {"kld", LOSS_KL}, {"kl_divergence", LOSS_KL}, {"binaryxent", LOSS_XENT}, {"mae", LOSS_L1},
    {NULL, 0}};

static const name_map inits[] = {
    {"xavier", INIT_XAVIER}, {"xavier_uniform", INIT_XAVIER_UNIFORM},
    {"xavieruniform", INIT_XAVIER_UNIFORM}, {"relu", INIT_RELU}, {"relu_uniform", INIT_RELU_UNIFORM},
    {"reluuniform", INIT_RELU_UNIFORM}, {"lecun_normal", INIT_LECUN_NORMAL},
    {"lecunnormal", INIT_LECUN_NORMAL}, {"zero", INIT_ZEROS}, {"ones", INIT_ONES},
    {"identity", INIT_IDENTITY}, {NULL, 0}};

static const name_map grad_norms[] = {
    {"None", GN_NONE}, {"ClipElementWiseAbsoluteValue", GN_CLIP_ELEMENT_WISE},
    {"ClipL2PerLayer", GN_CLIP_L2_PER_LAYER}, {"RenormalizeL2PerLayer", GN_RENORMALIZE_L2_PER_LAYER},
    {NULL, 0}};

/* The layer types: DL4J's 1.0 class names and 0.x wrapper names. */
static const struct {
    const char *cls, *wrapper;
    const layer_type *type;
} types[] = {
    {"DenseLayer", "dense", &layer_type_dense},
    {"OutputLayer", "output", &layer_type_output},
    {"LSTM", "LSTM", &layer_type_lstm},
    {"GravesLSTM", "gravesLSTM", &layer_type_graves_lstm},
    {"RnnOutputLayer", "rnnoutput", &layer_type_rnn_output},
    {"GravesBidirectionalLSTM", "gravesBidirectionalLSTM", &layer_type_bidirectional},
    {"EmbeddingLayer", "embedding", &layer_type_embedding},
    {"DropoutLayer", "dropout", &layer_type_dropout},
    {"ActivationLayer", "activation", &layer_type_activation},
    {"ConvolutionLayer", "convolution", &layer_type_conv2d},
    {"Convolution2D", "convolution2d", &layer_type_conv2d},
    {"SeparableConvolution2D", "separableConvolution2D", &layer_type_separable_conv2d},
    {"DepthwiseConvolution2D", "depthwiseConvolution2D", &layer_type_depthwise_conv2d},
    {"SubsamplingLayer", "subsampling", &layer_type_subsampling},
    {"BatchNormalization", "batchNormalization", &layer_type_batch_norm},
    {"ZeroPaddingLayer", "zeroPadding", &layer_type_zero_padding},
    {"Cropping2D", "cropping2D", &layer_type_cropping},
    {"Upsampling2D", "upsampling2D", &layer_type_upsampling},
    {"GlobalPoolingLayer", "GlobalPooling", &layer_type_global_pooling},
    /* The loss layers without parameters compute their activation: the loss is not kept. */
    {"CnnLossLayer", "CnnLossLayer", &layer_type_activation},
    {"LossLayer", "loss", &layer_type_activation},
};

typedef struct lctx {
    dl4j_map *mp;
    int index;
    const char *name, *type;
    layer *L;
} lctx;

#define PROBLEM(c, ...) dl4j_problem((c)->mp, (c)->index, (c)->name, (c)->type, __VA_ARGS__)

/* A named choice written under `key` (or the older `alt`) in either spelling, looked up in
 * table: its value, or -1 (absent, or reported as unsupported `what`). */
static int map_choice(lctx *c, json_t *f, const char *key, const char *alt, const char *strip,
                      const name_map *table, const char *what, char *s, size_t n, json_t **fields)
{
    json_t *v = json_object_get(f, key);
    if (!v || json_is_null(v))
        v = json_object_get(f, alt);
    if (!v || json_is_null(v))
        return -1;
    if (!dl4j_poly(v, strip, s, n, fields)) {
        PROBLEM(c, "%s of an unknown shape", key);
        return -1;
    }
    char low[128];
    snprintf(low, sizeof low, "%s", s);
    lower(low);
    int k = lookup(table, low);
    if (k < 0)
        PROBLEM(c, "%s %s", what, s);
    return k;
}

static void map_activation(lctx *c, json_t *f)
{
    char s[128];
    json_t *fields;
    int a = map_choice(c, f, "activationFn", "activationFunction", "Activation", activations,
                       "activation", s, sizeof s, &fields);
    if (a < 0)
        return;
    c->L->activation = (activation_kind)a;
    double alpha;
    if (fields && (a == ACT_LEAKYRELU || a == ACT_ELU) && num(fields, "alpha", &alpha) && alpha > 0)
        c->L->alpha = alpha;
}

static void map_loss(lctx *c, json_t *f)
{
    char s[128];
    json_t *fields;
    int l = map_choice(c, f, "lossFn", "lossFunction", "Loss", losses, "loss", s, sizeof s, &fields);
    if (l < 0)
        return;
    json_t *w = fields ? json_object_get(fields, "weights") : NULL;
    if (w && !json_is_null(w))
        PROBLEM(c, "loss %s with per-output weights", s);
    else
        c->L->loss = (loss_kind)l;
}

static void map_init(lctx *c, json_t *f)
{
    json_t *v = json_object_get(f, "weightInitFn");
    if (!v || json_is_null(v))
        v = json_object_get(f, "weightInit");
    char s[128];
    json_t *fields;
    if (!v || json_is_null(v) || !dl4j_poly(v, "WeightInit", s, sizeof s, &fields))
        return;
    lower(s);
    /* Initialisation only matters for parameters a later edit adds: an init surgery lacks
     * (a distribution, say) leaves its default. */
    int k = lookup(inits, s);
    init_spec w = {.kind = (init_kind)k};
    double value;
    json_t *dist = fields ? json_object_get(fields, "distribution") : NULL;
    char ds[128];
    json_t *df;
    /* 1.0's WeightInitConstant (0 or 1: zeros, ones) and WeightInitDistribution (uniform or
     * normal), as the writer makes them */
    if (!strcmp(s, "constant") && fields && num(fields, "value", &value) &&
        (value == 0 || value == 1)) {
        w.kind = value == 1 ? INIT_ONES : INIT_ZEROS;
        k = 0;
    } else if (!strcmp(s, "distribution") && dist && dl4j_poly(dist, NULL, ds, sizeof ds, &df) &&
               df) {
        if (!strcmp(ds, "UniformDistribution") && num(df, "lower", &w.a) && num(df, "upper", &w.b)) {
            w.kind = INIT_UNIFORM;
            k = 0;
        } else if (!strcmp(ds, "NormalDistribution") && num(df, "mean", &w.a) &&
                   num(df, "std", &w.b)) {
            w.kind = INIT_NORMAL;
            k = 0;
        }
    }
    if (k >= 0) {
        c->L->train.weight_init = w;
        c->L->train.set_mask |= TC_WEIGHT_INIT;
    }
    double bias;
    if (num(f, "biasInit", &bias) && bias != 0) {
        c->L->train.bias_init = bias;
        c->L->train.set_mask |= TC_BIAS_INIT;
    }
}

/* 1.0: "iupdater": {"@class": "...Adam", "learningRate": ...}; 0.x: "updater": "NESTEROVS" with
 * the rates on the layer. */
static void map_updater(lctx *c, json_t *f, const char *key, updater_conf *u, unsigned bit)
{
    json_t *v = json_object_get(f, key);
    char s[128];
    json_t *fields = NULL;
    bool old = false;
    if (!v || json_is_null(v)) {
        if (bit != TC_UPDATER || !json_is_string(json_object_get(f, "updater")))
            return;
        v = json_object_get(f, "updater");
        old = true;
    }
    if (!dl4j_poly(v, NULL, s, sizeof s, &fields)) {
        PROBLEM(c, "%s of an unknown shape", key);
        return;
    }
    if (old)
        fields = f;
    char low[128];
    snprintf(low, sizeof low, "%s", s);
    lower(low);
    static const name_map kinds[] = {
        {"sgd", UPD_SGD}, {"nesterovs", UPD_NESTEROVS}, {"adam", UPD_ADAM}, {"rmsprop", UPD_RMSPROP},
        {"adagrad", UPD_ADAGRAD}, {"noop", UPD_NONE}, {"none", UPD_NONE}, {NULL, 0}};
    int k = lookup(kinds, low);
    if (k < 0) {
        PROBLEM(c, "updater %s", s);
        return;
    }
    updater_conf_defaults(u, (updater_kind)k);
    double x;
    if (fields) {
        if (num(fields, "learningRate", &x))
            u->learning_rate = x;
        if (num(fields, "momentum", &x))
            u->momentum = x;
        if (num(fields, old ? "adamMeanDecay" : "beta1", &x))
            u->beta1 = x;
        if (num(fields, old ? "adamVarDecay" : "beta2", &x))
            u->beta2 = x;
        if (num(fields, "epsilon", &x))
            u->epsilon = x;
        if (num(fields, "rmsDecay", &x))
            u->rms_decay = x;
        json_t *sched = json_object_get(fields, old ? "learningRateSchedule" : "learningRateSchedule");
        json_t *policy = json_object_get(fields, "learningRatePolicy");
        if ((sched && !json_is_null(sched)) ||
            (json_is_string(policy) && strcmp(json_string_value(policy), "None")))
            PROBLEM(c, "a learning-rate schedule");
    }
    c->L->train.set_mask |= bit;
}

/* A regularisation coefficient: a number or {"@class": "...FixedSchedule", "value": x}. */
static bool coefficient(lctx *c, json_t *v, double *out)
{
    if (json_is_number(v)) {
        *out = json_number_value(v);
        return true;
    }
    char s[64];
    json_t *fields;
    if (dl4j_poly(v, NULL, s, sizeof s, &fields) && !strcmp(s, "FixedSchedule") && fields &&
        num(fields, "value", out))
        return true;
    PROBLEM(c, "a regularisation schedule other than fixed");
    return false;
}

static void map_regularization(lctx *c, json_t *f, const char *key, bool bias)
{
    json_t *list = json_object_get(f, key);
    if (!json_is_array(list))
        return;
    size_t i;
    json_t *r;
    train_conf *t = &c->L->train;
    json_array_foreach(list, i, r) {
        char s[64];
        json_t *fields;
        double x;
        if (!dl4j_poly(r, NULL, s, sizeof s, &fields) || !fields) {
            PROBLEM(c, "%s of an unknown shape", key);
        } else if (!strcmp(s, "L1Regularization")) {
            if (coefficient(c, json_object_get(fields, "l1"), &x)) {
                *(bias ? &t->l1_bias : &t->l1) = x;
                t->set_mask |= bias ? TC_L1_BIAS : TC_L1;
            }
        } else if (!strcmp(s, "L2Regularization")) {
            if (coefficient(c, json_object_get(fields, "l2"), &x)) {
                *(bias ? &t->l2_bias : &t->l2) = x;
                t->set_mask |= bias ? TC_L2_BIAS : TC_L2;
            }
        } else if (!strcmp(s, "WeightDecay") && !bias) {
            if (coefficient(c, json_object_get(fields, "coeff"), &x)) {
                t->weight_decay = x;
                t->set_mask |= TC_WEIGHT_DECAY;
            }
        } else {
            PROBLEM(c, "regularization %s", s);
        }
    }
}

static void map_training(lctx *c, json_t *f)
{
    train_conf *t = &c->L->train;
    map_init(c, f);
    map_updater(c, f, "iupdater", &t->updater, TC_UPDATER);
    map_updater(c, f, "biasUpdater", &t->bias_updater, TC_BIAS_UPDATER);
    map_regularization(c, f, "regularization", false);
    map_regularization(c, f, "regularizationBias", true);
    static const char *const old_reg[] = {"l1", "l2", "l1Bias", "l2Bias"};
    static const unsigned bits[] = {TC_L1, TC_L2, TC_L1_BIAS, TC_L2_BIAS};
    double *slots[] = {&t->l1, &t->l2, &t->l1_bias, &t->l2_bias};
    for (int k = 0; k < 4; k++) {
        double x;
        if (num(f, old_reg[k], &x) && x != 0) {
            *slots[k] = x;
            t->set_mask |= bits[k];
        }
    }
    /* Dropout: DL4J's number is the probability of keeping an input; ours of dropping it. */
    double keep;
    json_t *id = json_object_get(f, "idropout");
    if (id && !json_is_null(id)) {
        char s[64];
        json_t *fields;
        if (!dl4j_poly(id, NULL, s, sizeof s, &fields) || strcmp(s, "Dropout") || !fields ||
            !num(fields, "p", &keep))
            PROBLEM(c, "dropout of kind %s", json_is_object(id) ? s : "?");
        else if (keep > 0 && keep < 1) {
            t->dropout = 1 - keep;
            t->set_mask |= TC_DROPOUT;
        }
    } else if (num(f, "dropOut", &keep) && keep > 0 && keep < 1) {
        t->dropout = 1 - keep;
        t->set_mask |= TC_DROPOUT;
    }
    json_t *gn = json_object_get(f, "gradientNormalization");
    if (json_is_string(gn)) {
        int k = lookup(grad_norms, json_string_value(gn));
        double th;
        if (k < 0) {
            PROBLEM(c, "gradient normalization %s", json_string_value(gn));
        } else if (k != GN_NONE) {
            t->grad_norm = (grad_norm_kind)k;
            if (num(f, "gradientNormalizationThreshold", &th))
                t->grad_norm_threshold = th;
            t->set_mask |= TC_GRAD_NORM;
        }
    }
    static const char *const refused[] = {"weightNoise", "constraints", NULL};
    for (int k = 0; refused[k]; k++) {
        json_t *v = json_object_get(f, refused[k]);
        if (v && !json_is_null(v) && !(json_is_array(v) && json_array_size(v) == 0))
            PROBLEM(c, "%s", refused[k]);
    }
    if (json_is_true(json_object_get(f, "useDropConnect")))
        PROBLEM(c, "useDropConnect");
}

/* The parameter keys in DL4J's order: the conf's `variables`, else the surgery type's. */
static int map_vars(lctx *c, json_t *conf)
{
    dl4j_map *mp = c->mp;
    json_t *vars = json_object_get(conf, "variables");
    int n = json_is_array(vars) ? (int)json_array_size(vars) : 0;
    char **keys = calloc((size_t)(n > 0 ? n : 1), sizeof *keys);
    if (!keys)
        return -1;
    for (int k = 0; k < n; k++) {
        json_t *s = json_array_get(vars, (size_t)k);
        keys[k] = str_dup(json_is_string(s) ? json_string_value(s) : "?");
        if (!keys[k])
            return -1;
    }
    int at = c->index;
    mp->vars[at] = keys;
    mp->n_vars[at] = json_is_array(vars) ? n : -1;
    return 0;
}

int dl4j_map_layer(dl4j_map *mp, json_t *conf, int index, const char *vname,
                   const char *const *inputs, int n_inputs)
{
    lctx c = {.mp = mp, .index = index};
    json_t *spec = json_is_object(conf) ? json_object_get(conf, "layer") : NULL;
    char tname[128];
    json_t *f;
    bool frozen = false;
    if (!spec || !dl4j_poly(spec, NULL, tname, sizeof tname, &f) || !f) {
        dl4j_problem(mp, index, NULL, NULL, "no \"layer\" object");
        return 0;
    }
    /* FrozenLayer / FrozenLayerWithBackprop wrap the real layer in "layer". */
    while (!strcmp(tname, "FrozenLayer") || !strcmp(tname, "FrozenLayerWithBackprop") ||
           !strcmp(tname, "frozen")) {
        frozen = true;
        json_t *inner = json_object_get(f, "layer");
        if (!inner || !dl4j_poly(inner, NULL, tname, sizeof tname, &f) || !f) {
            dl4j_problem(mp, index, NULL, "FrozenLayer", "no wrapped \"layer\"");
            return 0;
        }
    }
    json_t *ln = json_object_get(f, "layerName");
    char defname[32];
    snprintf(defname, sizeof defname, "layer%d", index);
    c.name = vname ? vname : json_is_string(ln) ? json_string_value(ln) : defname;
    c.type = tname;
    /* Bidirectional (1.0) wraps its layer in "fwd" (and a copy in "bwd"); surgery's
     * bidirectional takes the wrapped layer's settings. GravesBidirectionalLSTM adds the
     * directions of two GravesLSTMs. */
    double bi[2] = {-1, -1};   /* the bidirectional's layer and mode, when it is one */
    char outer[128];
    snprintf(outer, sizeof outer, "%s", tname);
    if (!strcmp(tname, "GravesBidirectionalLSTM") || !strcmp(tname, "gravesBidirectionalLSTM")) {
        bi[0] = 1, bi[1] = 1;
    } else if (!strcmp(tname, "Bidirectional")) {
        static const name_map modes[] = {{"CONCAT", 0}, {"ADD", 1}, {"MUL", 2}, {"AVERAGE", 3},
                                         {NULL, 0}};
        json_t *md = json_object_get(f, "mode");
        bi[1] = json_is_string(md) ? lookup(modes, json_string_value(md)) : 0;
        json_t *inner = json_object_get(f, "fwd");
        char cell[128];
        if (!inner || !dl4j_poly(inner, NULL, cell, sizeof cell, &f) || !f) {
            PROBLEM(&c, "no wrapped \"fwd\" layer");
            return 0;
        }
        bi[0] = !strcmp(cell, "LSTM") ? 0 : !strcmp(cell, "GravesLSTM") ? 1 : -1;
        if (bi[0] < 0 || bi[1] < 0) {
            PROBLEM(&c, bi[0] < 0 ? "around %s (surgery's bidirectional takes LSTM and GravesLSTM)"
                               : "mode %s", bi[0] < 0 ? cell : json_string_value(md));
            return 0;
        }
        snprintf(tname, sizeof tname, "GravesBidirectionalLSTM");
    }
    const layer_type *type = NULL;
    for (size_t k = 0; k < sizeof types / sizeof *types; k++)
        if (!strcasecmp(tname, types[k].cls) || !strcasecmp(tname, types[k].wrapper))
            type = types[k].type;
    c.type = outer;
    if (!type) {
        PROBLEM(&c, "layer type not supported");
        return 0;
    }
    layer *L = layer_new(type, c.name);
    if (!L)
        return -1;
    c.L = L;
    if (bi[0] >= 0) {
        layer_option_set_values(layer_option_find(type, "layer"), L, &bi[0]);
        layer_option_set_values(layer_option_find(type, "mode"), L, &bi[1]);
    }
    layer_set_inputs(L, inputs, n_inputs);
    double nin = 0, nout = 0;
    bool has_nin = num(f, "nin", &nin) && nin > 0, has_nout = num(f, "nout", &nout) && nout > 0;
    if (has_nin && mp->first_n_in == 0) {
        mp->first_n_in = type->flags & LT_INDEX_INPUT ? 1 : (int64_t)nin;
        mp->recurrent_input = type->flags & LT_RECURRENT || type == &layer_type_rnn_output;
        mp->cnn_input = type->flags & LT_CHANNELS_IN;
    }
    if (type_has_params(type)) {
        if (!has_nin || !has_nout || nin > (double)LIMIT_TENSOR_ELEMENTS ||
            nout > (double)LIMIT_TENSOR_ELEMENTS) {
            PROBLEM(&c, "no valid nin and nout");
        } else {
            L->n_in = (int64_t)nin;
            L->n_in_given = true;
            L->n_out = (int64_t)nout;
        }
    }
    if (json_is_false(json_object_get(f, "hasBias")))
        L->has_bias = false;
    if (type->flags & LT_HAS_ACTIVATION)
        map_activation(&c, f);
    /* a LossLayer or CnnLossLayer, read as an activation layer, keeps its loss so that it is
     * written as one again */
    if ((type->flags & LT_LOSS) || (type == &layer_type_activation &&
                                    json_object_get(f, "lossFn")))
        map_loss(&c, f);
    json_t *gate = json_object_get(f, "gateActivationFn");
    if (gate && !json_is_null(gate)) {
        char s[64];
        json_t *gf;
        if (!dl4j_poly(gate, "Activation", s, sizeof s, &gf) || (lower(s), strcmp(s, "sigmoid")))
            PROBLEM(&c, "a gate activation other than sigmoid");
    }
    double fgb;
    if (num(f, "forgetGateBiasInit", &fgb))
        L->forget_gate_bias = fgb;
    dl4j_map_conv(mp, index, c.name, tname, L, f);
    map_training(&c, f);
    model_builder_add_layer(mp->b, L);
    if (frozen)
        model_builder_freeze(mp->b, L->name);
    return map_vars(&c, conf);
}

void dl4j_map_network(dl4j_map *mp, json_t *root)
{
    json_t *bt = json_object_get(root, "backpropType");
    double fwd = 0, back = 0;
    if (json_is_string(bt) && !strcmp(json_string_value(bt), "TruncatedBPTT") &&
        num(root, "tbpttFwdLength", &fwd) && num(root, "tbpttBackLength", &back) && fwd >= 1 &&
        back >= 1 && fwd < 1e9) {
        train_conf *t = model_builder_training(mp->b);
        t->tbptt_forward = (int)fwd;
        t->tbptt_backward = (int)(back <= fwd ? back : fwd);
        t->set_mask |= TC_BACKPROP;
    }
    json_t *confs = json_object_get(root, "confs");
    json_t *first = json_is_array(confs) ? json_array_get(confs, 0)
                                         : json_object_get(root, "defaultConfiguration");
    double seed;
    if (first && num(first, "seed", &seed) && seed >= 0 && seed < 1.8e19)
        model_builder_set_seed(mp->b, (uint64_t)seed);
}

void dl4j_map_free(dl4j_map *mp)
{
    for (int i = 0; i < mp->n_layers; i++) {
        for (int k = 0; mp->vars && mp->vars[i] && k < mp->n_vars[i]; k++)
            free(mp->vars[i][k]);
        if (mp->vars)
            free(mp->vars[i]);
    }
    free(mp->vars);
    free(mp->n_vars);
    free(mp->problems);
}
