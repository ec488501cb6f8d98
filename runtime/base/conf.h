/* conf.h: typed configuration values and the enums (activations, losses, inits, updaters) that
 * model files, scripts and the runtime share, each kept in step with its name table. */
#ifndef SURGERY_CONF_H
#define SURGERY_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "runtime/base/loc.h"

/* Ownership: a conf_value owns its string and its args (recursively); conf_value_free releases
 * them (NULL is a no-op); conf_value_clone makes a deep copy. */

typedef enum { CV_NUM, CV_STR, CV_IDENT, CV_BOOL, CV_CALL, CV_LIST } cv_kind;

typedef struct conf_value conf_value;
typedef struct conf_arg {
    char *name;          /* NULL for positional call arguments and list items */
    src_loc name_loc;
    conf_value *value;
} conf_arg;

struct conf_value {
    cv_kind kind;
    src_loc loc;
    double num;          /* CV_NUM; CV_BOOL as 0/1 */
    char *str;           /* CV_STR, CV_IDENT, and the callee name of CV_CALL */
    conf_arg *args;      /* CV_CALL arguments, CV_LIST items */
    int n_args;
};

conf_value *conf_num(double v, src_loc loc);
conf_value *conf_str(cv_kind kind, const char *s, src_loc loc); /* CV_STR or CV_IDENT */
conf_value *conf_bool(bool b, src_loc loc);
conf_value *conf_call(const char *name, src_loc loc);          /* add args with conf_push_arg */
conf_value *conf_list(src_loc loc);
void conf_push_arg(conf_value *call_or_list, const char *name, src_loc name_loc, conf_value *v);
/* Where to point at a value: its own place, else the fallback's (its key's, say). */
src_loc conf_loc(const conf_value *v, src_loc fallback);
/* What kind of value v is, for messages: "a number", "a string", "a name", "true/false",
 * "a call", "a list". */
const char *conf_kind_desc(const conf_value *v);
const conf_value *conf_arg_get(const conf_value *call, const char *name, int position);
conf_value *conf_value_clone(const conf_value *v);
void conf_value_free(conf_value *v);
/* Frees an array of n arguments (names and values) and the array itself; NULL is a no-op. */
void conf_args_free(conf_arg *args, int n);
/* Structural equality, ignoring locations (numbers compare exactly). */
bool conf_value_equal(const conf_value *a, const conf_value *b);

/* The script's value syntax as text, so model YAML can hold values written exactly as in a
 * script: `relu`, `"a.csv"`, `0.001`, `true`, `[1, 2]`, `uniform(-0.1, 0.1)`,
 * `adam(learning_rate = 0.001, beta1 = 0.9)`. conf_parse_text reports a syntax error through d
 * at `loc` (columns offset into the text) and returns NULL; locations of the parts are `loc`
 * shifted by their byte offset. conf_value_to_text returns a malloc'd canonical rendering
 * (numbers in their shortest round-trip form, `name = value` separated by ", "), which
 * conf_parse_text reads back to an equal value. */
struct diag_ctx;
conf_value *conf_parse_text(const char *text, src_loc loc, struct diag_ctx *d);
char *conf_value_to_text(const conf_value *v);
/* The shortest "%.{1..17}g" rendering of v that strtod reads back to exactly v; whole numbers
 * below 1e15 in plain digits ("100"); "inf", "-inf", "nan" for the non-finite values. buf
 * needs at least 32 bytes. Returns buf. */
char *conf_format_num(double v, char *buf, size_t n);

/* ---- enums with name tables (X-macros keep enum and names in step) ---- */

#define ACTIVATIONS(X) \
    X(ACT_IDENTITY, "identity") X(ACT_RELU, "relu") X(ACT_LEAKYRELU, "leakyrelu") \
    X(ACT_ELU, "elu") X(ACT_TANH, "tanh") X(ACT_SIGMOID, "sigmoid") \
    X(ACT_HARDSIGMOID, "hardsigmoid") X(ACT_SOFTMAX, "softmax") X(ACT_SOFTPLUS, "softplus") \
    X(ACT_GELU, "gelu") X(ACT_RELU6, "relu6") X(ACT_HARDTANH, "hardtanh") X(ACT_SWISH, "swish") \
    X(ACT_CLIP, "clip") \
    X(ACT_SOFTSIGN, "softsign") X(ACT_SELU, "selu") X(ACT_LOG_SOFTMAX, "log_softmax")

#define LOSSES(X) \
    X(LOSS_NONE, "none") X(LOSS_MCXENT, "mcxent") X(LOSS_NLL, "negative_log_likelihood") \
    X(LOSS_MSE, "mse") X(LOSS_L1, "l1") X(LOSS_XENT, "xent") X(LOSS_HINGE, "hinge") \
    X(LOSS_KL, "kl_divergence")

#define WEIGHT_INITS(X) \
    X(INIT_XAVIER, "xavier") X(INIT_XAVIER_UNIFORM, "xavier_uniform") X(INIT_RELU, "relu") \
    X(INIT_RELU_UNIFORM, "relu_uniform") X(INIT_LECUN_NORMAL, "lecun_normal") \
    X(INIT_ZEROS, "zeros") X(INIT_ONES, "ones") X(INIT_UNIFORM, "uniform") \
    X(INIT_NORMAL, "normal") X(INIT_IDENTITY, "identity")

#define UPDATERS(X) \
    X(UPD_SGD, "sgd") X(UPD_NESTEROVS, "nesterovs") X(UPD_ADAM, "adam") X(UPD_ADAMW, "adamw") \
    X(UPD_RMSPROP, "rmsprop") X(UPD_ADAGRAD, "adagrad") X(UPD_NONE, "none")

#define GRAD_NORMS(X) \
    X(GN_NONE, "none") X(GN_CLIP_ELEMENT_WISE, "clip_element_wise") \
    X(GN_CLIP_L2_PER_LAYER, "clip_l2_per_layer") X(GN_RENORMALIZE_L2_PER_LAYER, "renormalize_l2_per_layer")

#define ENUM_ITEM(e, s) e,
typedef enum { ACTIVATIONS(ENUM_ITEM) ACT_COUNT } activation_kind;
typedef enum { LOSSES(ENUM_ITEM) LOSS_COUNT } loss_kind;
typedef enum { WEIGHT_INITS(ENUM_ITEM) INIT_COUNT } init_kind;
typedef enum { UPDATERS(ENUM_ITEM) UPD_COUNT } updater_kind;
typedef enum { GRAD_NORMS(ENUM_ITEM) GN_COUNT } grad_norm_kind;
#undef ENUM_ITEM

extern const char *const activation_names[ACT_COUNT];
extern const char *const loss_names[LOSS_COUNT];
extern const char *const init_names[INIT_COUNT];
extern const char *const updater_names[UPD_COUNT];
extern const char *const grad_norm_names[GN_COUNT];

/* Name -> enum; -1 when unknown. Synonyms accepted: "mae" for l1, "nll" for
 * negative_log_likelihood, "linear" for identity, "hard_tanh" for hardtanh, "silu" for swish. */
int activation_from_name(const char *s);
int loss_from_name(const char *s);
int init_from_name(const char *s);
int updater_from_name(const char *s);
int grad_norm_from_name(const char *s);

/* A weight initialisation: kind plus the parameters of uniform(a, b) / normal(mean, std). */
typedef struct init_spec {
    init_kind kind;
    double a, b;
} init_spec;

/* Learning-rate schedule attached to an updater. */
typedef enum { SCHED_NONE, SCHED_STEP, SCHED_EXPONENTIAL } schedule_kind;

typedef struct updater_conf {
    updater_kind kind;
    double learning_rate;
    double momentum;        /* nesterovs (DL4J default 0.9) */
    double beta1, beta2;    /* adam, adamw */
    double epsilon;         /* adam, adamw, rmsprop, adagrad */
    double rms_decay;       /* rmsprop (DL4J default 0.95) */
    double weight_decay;    /* adamw decoupled decay */
    schedule_kind schedule;
    double decay_rate;      /* step: multiply by decay_rate every decay_steps; exponential: lr*rate^iter */
    double decay_steps;
} updater_conf;

/* Fields of a training configuration; a bit each in train_conf.set_mask. */
typedef enum {
    TC_UPDATER = 1u << 0, TC_BIAS_UPDATER = 1u << 1, TC_SEED = 1u << 2, TC_L1 = 1u << 3,
    TC_L2 = 1u << 4, TC_WEIGHT_DECAY = 1u << 5, TC_DROPOUT = 1u << 6, TC_WEIGHT_INIT = 1u << 7,
    TC_BIAS_INIT = 1u << 8, TC_GRAD_NORM = 1u << 9, TC_BACKPROP = 1u << 10,
    TC_LEARNING_RATE = 1u << 11, TC_L1_BIAS = 1u << 12, TC_L2_BIAS = 1u << 13
} train_field;

/* Per-layer (or global fine-tune) training settings. Only fields whose bit is in set_mask were
 * given explicitly; the rest are defaults. fine_tune overrides set fields on every trainable
 * layer; `set "x" {...}` and options on `add` win over fine_tune. */
typedef struct train_conf {
    unsigned set_mask;
    updater_conf updater;
    updater_conf bias_updater;     /* used for biases when TC_BIAS_UPDATER is set */
    uint64_t seed;
    double l1, l2, l1_bias, l2_bias, weight_decay;
    double dropout;                /* probability of DROPPING an input unit, in [0, 1) */
    init_spec weight_init;
    double bias_init;
    grad_norm_kind grad_norm;
    double grad_norm_threshold;
    int tbptt_forward, tbptt_backward;   /* 0 = standard backprop */
    double learning_rate;          /* shorthand: overrides updater.learning_rate when set */
} train_conf;

/* Defaults (DL4J's; the table is in docs/options.md): updater sgd(learning_rate 1e-3), no
 * regularisation, dropout 0, weight_init xavier, bias_init 0, no gradient normalization
 * (threshold 1.0 when one is chosen without a threshold), standard backprop, seed 0, empty
 * set_mask. Updater defaults per kind: sgd lr 1e-3; nesterovs lr 0.1, momentum 0.9; adam lr
 * 1e-3, beta1 0.9, beta2 0.999, epsilon 1e-8; adamw as adam plus decoupled weight_decay 0.01;
 * rmsprop lr 0.1, rms_decay 0.95, epsilon 1e-8; adagrad lr 0.1, epsilon 1e-6; none lr 0. */
void train_conf_defaults(train_conf *tc);
void updater_conf_defaults(updater_conf *u, updater_kind kind);
/* Copies every field set in `src` onto `dst` (and marks it set there). */
void train_conf_apply(train_conf *dst, const train_conf *src);
/* The learning rate in effect: `learning_rate` when set, else the updater's. */
double train_conf_learning_rate(const train_conf *tc);
/* The fields of tc that are set and in `mask` as training options (keys and values exactly as
 * train_conf_set accepts them, in a fixed order), for writers of model YAML. *opts receives a
 * malloc'd array (free with conf_args_free). Returns the count. */
int train_conf_to_options(const train_conf *tc, unsigned mask, conf_arg **opts);

#endif
