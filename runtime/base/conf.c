/* conf.c: typed configuration values, the enum name tables, the script value syntax as text,
 * and the training-configuration defaults (DL4J's). */
#include "runtime/base/conf.h"

#include <assert.h>
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "runtime/base/diag.h"
#include "runtime/base/strbuf.h"
#include "runtime/base/util.h"

/* ---- values ---- */

static conf_value *value_new(cv_kind kind, src_loc loc)
{
    conf_value *v = xrealloc(NULL, sizeof *v);
    memset(v, 0, sizeof *v);
    v->kind = kind;
    v->loc = loc;
    return v;
}

conf_value *conf_num(double x, src_loc loc)
{
    conf_value *v = value_new(CV_NUM, loc);
    v->num = x;
    return v;
}

conf_value *conf_str(cv_kind kind, const char *s, src_loc loc)
{
    assert(kind == CV_STR || kind == CV_IDENT);
    conf_value *v = value_new(kind, loc);
    v->str = xstrdup(s ? s : "");
    return v;
}

conf_value *conf_bool(bool b, src_loc loc)
{
    conf_value *v = value_new(CV_BOOL, loc);
    v->num = b ? 1 : 0;
    return v;
}

conf_value *conf_call(const char *name, src_loc loc)
{
    conf_value *v = value_new(CV_CALL, loc);
    v->str = xstrdup(name ? name : "");
    return v;
}

conf_value *conf_list(src_loc loc)
{
    return value_new(CV_LIST, loc);
}

void conf_push_arg(conf_value *cl, const char *name, src_loc name_loc, conf_value *v)
{
    assert(cl && (cl->kind == CV_CALL || cl->kind == CV_LIST));
    cl->args = xrealloc(cl->args, (size_t)(cl->n_args + 1) * sizeof *cl->args);
    conf_arg *a = &cl->args[cl->n_args++];
    a->name = xstrdup(name);
    a->name_loc = name_loc;
    a->value = v;
}

src_loc conf_loc(const conf_value *v, src_loc fallback)
{
    return v && v->loc.line > 0 ? v->loc : fallback;
}

const char *conf_kind_desc(const conf_value *v)
{
    switch (v->kind) {
    case CV_NUM: return "a number";
    case CV_STR: return "a string";
    case CV_IDENT: return "a name";
    case CV_BOOL: return "true/false";
    case CV_CALL: return "a call";
    case CV_LIST: return "a list";
    }
    return "a value";
}

/* The argument called `name`, else the position-th unnamed argument (position < 0: by name
 * only). */
const conf_value *conf_arg_get(const conf_value *call, const char *name, int position)
{
    if (!call || (call->kind != CV_CALL && call->kind != CV_LIST))
        return NULL;
    if (name)
        for (int i = 0; i < call->n_args; i++)
            if (call->args[i].name && !strcmp(call->args[i].name, name))
                return call->args[i].value;
    if (position < 0)
        return NULL;
    int k = 0;
    for (int i = 0; i < call->n_args; i++)
        if (!call->args[i].name && k++ == position)
            return call->args[i].value;
    return NULL;
}

conf_value *conf_value_clone(const conf_value *v)
{
    if (!v)
        return NULL;
    conf_value *c = value_new(v->kind, v->loc);
    c->num = v->num;
    c->str = xstrdup(v->str);
    if (v->n_args) {
        c->args = xrealloc(NULL, (size_t)v->n_args * sizeof *c->args);
        for (int i = 0; i < v->n_args; i++) {
            c->args[i].name = xstrdup(v->args[i].name);
            c->args[i].name_loc = v->args[i].name_loc;
            c->args[i].value = conf_value_clone(v->args[i].value);
        }
        c->n_args = v->n_args;
    }
    return c;
}

void conf_args_free(conf_arg *args, int n)
{
    if (!args)
        return;
    for (int i = 0; i < n; i++) {
        free(args[i].name);
        conf_value_free(args[i].value);
    }
    free(args);
}

void conf_value_free(conf_value *v)
{
    if (!v)
        return;
    free(v->str);
    conf_args_free(v->args, v->n_args);
    free(v);
}

bool conf_value_equal(const conf_value *a, const conf_value *b)
{
    if (!a || !b)
        return a == b;
    if (a->kind != b->kind || a->n_args != b->n_args)
        return false;
    switch (a->kind) {
    case CV_NUM:
        if (isnan(a->num) && isnan(b->num))
            return true;
        return a->num == b->num && signbit(a->num) == signbit(b->num);
    case CV_BOOL:
        return (a->num != 0) == (b->num != 0);
    case CV_STR:
    case CV_IDENT:
        return !strcmp(a->str, b->str);
    case CV_CALL:
        if (strcmp(a->str, b->str))
            return false;
        break;
    case CV_LIST:
        break;
    }
    for (int i = 0; i < a->n_args; i++) {
        const char *na = a->args[i].name, *nb = b->args[i].name;
        if ((na == NULL) != (nb == NULL) || (na && strcmp(na, nb)))
            return false;
        if (!conf_value_equal(a->args[i].value, b->args[i].value))
            return false;
    }
    return true;
}

/* ---- name tables ---- */

#define NAME_ITEM(e, s) s,
const char *const activation_names[ACT_COUNT] = {ACTIVATIONS(NAME_ITEM)};
const char *const loss_names[LOSS_COUNT] = {LOSSES(NAME_ITEM)};
const char *const init_names[INIT_COUNT] = {WEIGHT_INITS(NAME_ITEM)};
const char *const updater_names[UPD_COUNT] = {UPDATERS(NAME_ITEM)};
const char *const grad_norm_names[GN_COUNT] = {GRAD_NORMS(NAME_ITEM)};
#undef NAME_ITEM

typedef struct synonym {
    const char *name;
    int value;
} synonym;

/* Other spellings accepted on input (DL4J's enum names among them); output always uses the
 * canonical names. Matching ignores case, so DL4J's RELU or MCXENT work as written. */
static const synonym activation_synonyms[] = {
    {"linear", ACT_IDENTITY}, {"leaky_relu", ACT_LEAKYRELU}, {"hard_sigmoid", ACT_HARDSIGMOID},
    {"hard_tanh", ACT_HARDTANH}, {"silu", ACT_SWISH}, {"logsoftmax", ACT_LOG_SOFTMAX}, {NULL, 0}};
static const synonym loss_synonyms[] = {
    {"mae", LOSS_L1}, {"nll", LOSS_NLL}, {"negativeloglikelihood", LOSS_NLL},
    {"mean_absolute_error", LOSS_L1}, {"squared_loss", LOSS_MSE}, {"kl", LOSS_KL},
    {"kl_div", LOSS_KL}, {NULL, 0}};
static const synonym init_synonyms[] = {
    {"zero", INIT_ZEROS}, {"one", INIT_ONES}, {"xavier_normal", INIT_XAVIER},
    {"he", INIT_RELU}, {"he_uniform", INIT_RELU_UNIFORM}, {NULL, 0}};
static const synonym updater_synonyms[] = {
    {"nesterov", UPD_NESTEROVS}, {"rms_prop", UPD_RMSPROP}, {"noop", UPD_NONE}, {NULL, 0}};
static const synonym grad_norm_synonyms[] = {
    {"clip_elementwise_absolute_value", GN_CLIP_ELEMENT_WISE},
    {"clip_l2_per_param_type", GN_CLIP_L2_PER_LAYER},
    {"renormalize_l2_per_param_type", GN_RENORMALIZE_L2_PER_LAYER}, {NULL, 0}};

static int lookup(const char *s, const char *const *names, int n, const synonym *syn)
{
    if (!s)
        return -1;
    for (int i = 0; i < n; i++)
        if (!strcasecmp(s, names[i]))
            return i;
    for (; syn->name; syn++)
        if (!strcasecmp(s, syn->name))
            return syn->value;
    return -1;
}

int activation_from_name(const char *s)
{
    return lookup(s, activation_names, ACT_COUNT, activation_synonyms);
}
int loss_from_name(const char *s) { return lookup(s, loss_names, LOSS_COUNT, loss_synonyms); }
int init_from_name(const char *s) { return lookup(s, init_names, INIT_COUNT, init_synonyms); }
int updater_from_name(const char *s)
{
    return lookup(s, updater_names, UPD_COUNT, updater_synonyms);
}
int grad_norm_from_name(const char *s)
{
    return lookup(s, grad_norm_names, GN_COUNT, grad_norm_synonyms);
}

/* ---- numbers as text ---- */

char *conf_format_num(double v, char *buf, size_t n)
{
    assert(n >= 32);
    if (isnan(v)) {
        snprintf(buf, n, "nan");
        return buf;
    }
    if (isinf(v)) {
        snprintf(buf, n, v < 0 ? "-inf" : "inf");
        return buf;
    }
    if (v == floor(v) && fabs(v) < 1e15) {   /* whole numbers as written: 100, not 1e+02 */
        snprintf(buf, n, "%.0f", v);
        return buf;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, n, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    return buf;
}

/* ---- the value syntax: parsing ---- */

typedef struct text_parser {
    const char *text;
    const char *p;
    src_loc loc;
    struct diag_ctx *d;
    bool failed;
} text_parser;

static src_loc at(const text_parser *tp, const char *start, const char *end)
{
    src_loc l = tp->loc;
    if (l.line > 0) {
        l.col += (int)(start - tp->text);
        l.len = (int)(end - start);
    }
    return l;
}

static void syntax_error(text_parser *tp, const char *where, const char *what)
{
    if (!tp->failed && tp->d) {
        const char *end = *where ? where + 1 : where;
        diag_error(tp->d, at(tp, where, end), "malformed value '%s': %s", tp->text, what);
    }
    tp->failed = true;
}

static void skip_space(text_parser *tp)
{
    while (*tp->p == ' ' || *tp->p == '\t' || *tp->p == '\n' || *tp->p == '\r')
        tp->p++;
}

static bool ident_start(char c) { return isalpha((unsigned char)c) || c == '_'; }
static bool ident_char(char c) { return isalnum((unsigned char)c) || c == '_'; }

static conf_value *parse_value(text_parser *tp, int depth);

/* Arguments of a call or items of a list up to `close`; names only in calls. */
static void parse_args(text_parser *tp, conf_value *v, char close, int depth)
{
    skip_space(tp);
    if (*tp->p == close) {
        tp->p++;
        return;
    }
    for (;;) {
        skip_space(tp);
        char *name = NULL;
        src_loc name_loc = loc_none();
        if (v->kind == CV_CALL && ident_start(*tp->p)) {
            const char *s = tp->p, *e = s;
            while (ident_char(*e))
                e++;
            const char *q = e;
            while (*q == ' ' || *q == '\t')
                q++;
            if (*q == '=') {
                name = xstrndup(s, (size_t)(e - s));
                name_loc = at(tp, s, e);
                tp->p = q + 1;
            }
        }
        conf_value *item = parse_value(tp, depth + 1);
        if (!item) {
            free(name);
            return;
        }
        conf_push_arg(v, name, name_loc, item);
        free(name);
        skip_space(tp);
        if (*tp->p == ',') {
            tp->p++;
            continue;
        }
        if (*tp->p == close) {
            tp->p++;
            return;
        }
        syntax_error(tp, tp->p, close == ')' ? "expected ',' or ')'" : "expected ',' or ']'");
        return;
    }
}

static conf_value *parse_string(text_parser *tp)
{
    const char *start = tp->p++;
    size_t cap = 16, n = 0;
    char *buf = xrealloc(NULL, cap);
    for (;;) {
        char c = *tp->p;
        if (!c) {
            free(buf);
            syntax_error(tp, start, "unterminated string");
            return NULL;
        }
        tp->p++;
        if (c == '"')
            break;
        if (c == '\\') {
            char e = *tp->p;
            switch (e) {
            case '"': c = '"'; break;
            case '\\': c = '\\'; break;
            case 'n': c = '\n'; break;
            case 't': c = '\t'; break;
            default:
                free(buf);
                syntax_error(tp, tp->p - 1, "unknown escape (use \\\" \\\\ \\n \\t)");
                return NULL;
            }
            tp->p++;
        }
        if (n + 2 > cap)
            buf = xrealloc(buf, cap *= 2);
        buf[n++] = c;
    }
    buf[n] = 0;
    conf_value *v = conf_str(CV_STR, buf, at(tp, start, tp->p));
    free(buf);
    return v;
}

static conf_value *parse_number(text_parser *tp)
{
    const char *s = tp->p, *e = s;
    if (*e == '-' || *e == '+')
        e++;
    const char *digits = e;
    while (isdigit((unsigned char)*e))
        e++;
    if (*e == '.') {
        e++;
        while (isdigit((unsigned char)*e))
            e++;
    }
    if (e == digits || (e == digits + 1 && *digits == '.')) {
        syntax_error(tp, s, "expected a number");
        return NULL;
    }
    if (*e == 'e' || *e == 'E') {
        const char *x = e + 1;
        if (*x == '-' || *x == '+')
            x++;
        if (!isdigit((unsigned char)*x)) {
            syntax_error(tp, e, "expected the exponent's digits");
            return NULL;
        }
        while (isdigit((unsigned char)*x))
            x++;
        e = x;
    }
    if (ident_char(*e)) {
        syntax_error(tp, e, "unexpected character after a number");
        return NULL;
    }
    char *num = xstrndup(s, (size_t)(e - s));
    double x = strtod(num, NULL);
    free(num);
    tp->p = e;
    return conf_num(x, at(tp, s, e));
}

static conf_value *parse_value(text_parser *tp, int depth)
{
    skip_space(tp);
    if (depth > 64) {
        syntax_error(tp, tp->p, "nested too deeply");
        return NULL;
    }
    const char *s = tp->p;
    char c = *s;
    if (c == '"')
        return parse_string(tp);
    if (c == '[') {
        tp->p++;
        conf_value *v = conf_list(at(tp, s, s + 1));
        parse_args(tp, v, ']', depth);
        if (tp->failed) {
            conf_value_free(v);
            return NULL;
        }
        v->loc = at(tp, s, tp->p);
        return v;
    }
    if (c == '-' || c == '+' || c == '.' || isdigit((unsigned char)c))
        return parse_number(tp);
    if (ident_start(c)) {
        const char *e = s;
        while (ident_char(*e))
            e++;
        char *word = xstrndup(s, (size_t)(e - s));
        tp->p = e;
        const char *q = e;
        while (*q == ' ' || *q == '\t')
            q++;
        conf_value *v;
        if (*q == '(') {
            tp->p = q + 1;
            v = conf_call(word, at(tp, s, e));
            parse_args(tp, v, ')', depth);
            if (tp->failed) {
                conf_value_free(v);
                v = NULL;
            }
        } else if (!strcmp(word, "true") || !strcmp(word, "false")) {
            v = conf_bool(word[0] == 't', at(tp, s, e));
        } else {
            v = conf_str(CV_IDENT, word, at(tp, s, e));
        }
        free(word);
        return v;
    }
    syntax_error(tp, s, c ? "expected a value (number, \"string\", name, call or [list])"
                          : "expected a value");
    return NULL;
}

conf_value *conf_parse_text(const char *text, src_loc loc, struct diag_ctx *d)
{
    text_parser tp = {text, text, loc, d, false};
    conf_value *v = parse_value(&tp, 0);
    if (v) {
        skip_space(&tp);
        if (*tp.p) {
            syntax_error(&tp, tp.p, "unexpected text after the value");
            conf_value_free(v);
            v = NULL;
        }
    }
    return v;
}

/* ---- the value syntax: printing ---- */

static void print_value(strbuf *b, const conf_value *v)
{
    char num[40];
    switch (v->kind) {
    case CV_NUM:
        strbuf_puts(b, conf_format_num(v->num, num, sizeof num));
        return;
    case CV_BOOL:
        strbuf_puts(b, v->num != 0 ? "true" : "false");
        return;
    case CV_IDENT:
        strbuf_puts(b, v->str);
        return;
    case CV_STR:
        strbuf_puts(b, "\"");
        for (const char *p = v->str; *p; p++) {
            switch (*p) {
            case '"': strbuf_puts(b, "\\\""); break;
            case '\\': strbuf_puts(b, "\\\\"); break;
            case '\n': strbuf_puts(b, "\\n"); break;
            case '\t': strbuf_puts(b, "\\t"); break;
            default: strbuf_add(b, p, 1);
            }
        }
        strbuf_puts(b, "\"");
        return;
    case CV_CALL:
    case CV_LIST:
        if (v->kind == CV_CALL) {
            strbuf_puts(b, v->str);
            strbuf_puts(b, "(");
        } else {
            strbuf_puts(b, "[");
        }
        for (int i = 0; i < v->n_args; i++) {
            if (i)
                strbuf_puts(b, ", ");
            if (v->args[i].name) {
                strbuf_puts(b, v->args[i].name);
                strbuf_puts(b, " = ");
            }
            print_value(b, v->args[i].value);
        }
        strbuf_puts(b, v->kind == CV_CALL ? ")" : "]");
        return;
    }
}

char *conf_value_to_text(const conf_value *v)
{
    strbuf b = {.abort_on_oom = true};
    strbuf_puts(&b, "");
    if (v)
        print_value(&b, v);
    return b.s;
}

/* ---- training configuration ---- */

void updater_conf_defaults(updater_conf *u, updater_kind kind)
{
    memset(u, 0, sizeof *u);
    u->kind = kind;
    u->schedule = SCHED_NONE;
    switch (kind) {
    case UPD_SGD:
        u->learning_rate = 1e-3;
        break;
    case UPD_NESTEROVS:
        u->learning_rate = 0.1;
        u->momentum = 0.9;
        break;
    case UPD_ADAM:
    case UPD_ADAMW:
        u->learning_rate = 1e-3;
        u->beta1 = 0.9;
        u->beta2 = 0.999;
        u->epsilon = 1e-8;
        if (kind == UPD_ADAMW)
            u->weight_decay = 0.01;
        break;
    case UPD_RMSPROP:
        u->learning_rate = 0.1;
        u->rms_decay = 0.95;
        u->epsilon = 1e-8;
        break;
    case UPD_ADAGRAD:
        u->learning_rate = 0.1;
        u->epsilon = 1e-6;
        break;
    case UPD_NONE:
    case UPD_COUNT:
        break;
    }
}

void train_conf_defaults(train_conf *tc)
{
    memset(tc, 0, sizeof *tc);
    updater_conf_defaults(&tc->updater, UPD_SGD);
    updater_conf_defaults(&tc->bias_updater, UPD_SGD);
    tc->weight_init.kind = INIT_XAVIER;
    tc->grad_norm = GN_NONE;
    tc->grad_norm_threshold = 1.0;
    tc->learning_rate = tc->updater.learning_rate;
}

void train_conf_apply(train_conf *dst, const train_conf *src)
{
    unsigned m = src->set_mask;
    if (m & TC_UPDATER)
        dst->updater = src->updater;
    if (m & TC_BIAS_UPDATER)
        dst->bias_updater = src->bias_updater;
    if (m & TC_SEED)
        dst->seed = src->seed;
    if (m & TC_L1)
        dst->l1 = src->l1;
    if (m & TC_L2)
        dst->l2 = src->l2;
    if (m & TC_L1_BIAS)
        dst->l1_bias = src->l1_bias;
    if (m & TC_L2_BIAS)
        dst->l2_bias = src->l2_bias;
    if (m & TC_WEIGHT_DECAY)
        dst->weight_decay = src->weight_decay;
    if (m & TC_DROPOUT)
        dst->dropout = src->dropout;
    if (m & TC_WEIGHT_INIT)
        dst->weight_init = src->weight_init;
    if (m & TC_BIAS_INIT)
        dst->bias_init = src->bias_init;
    if (m & TC_GRAD_NORM) {
        dst->grad_norm = src->grad_norm;
        dst->grad_norm_threshold = src->grad_norm_threshold;
    }
    if (m & TC_BACKPROP) {
        dst->tbptt_forward = src->tbptt_forward;
        dst->tbptt_backward = src->tbptt_backward;
    }
    if (m & TC_LEARNING_RATE)
        dst->learning_rate = src->learning_rate;
    dst->set_mask |= m;
}

double train_conf_learning_rate(const train_conf *tc)
{
    return (tc->set_mask & TC_LEARNING_RATE) ? tc->learning_rate : tc->updater.learning_rate;
}

static void push_num(conf_value *call, const char *name, double x)
{
    conf_push_arg(call, name, loc_none(), conf_num(x, loc_none()));
}

/* An updater as `name` when everything is default, else `name(learning_rate = .., ...)` with
 * the learning rate and every argument that differs from the kind's default. */
static conf_value *updater_value(const updater_conf *u)
{
    updater_conf def;
    updater_conf_defaults(&def, u->kind);
    const char *name = updater_names[u->kind];
    bool differs = u->learning_rate != def.learning_rate || u->momentum != def.momentum ||
                   u->beta1 != def.beta1 || u->beta2 != def.beta2 ||
                   u->epsilon != def.epsilon || u->rms_decay != def.rms_decay ||
                   u->weight_decay != def.weight_decay || u->schedule != SCHED_NONE;
    if (!differs || u->kind == UPD_NONE)
        return conf_str(CV_IDENT, name, loc_none());
    conf_value *c = conf_call(name, loc_none());
    push_num(c, "learning_rate", u->learning_rate);
    if (u->kind == UPD_NESTEROVS && u->momentum != def.momentum)
        push_num(c, "momentum", u->momentum);
    if ((u->kind == UPD_ADAM || u->kind == UPD_ADAMW) && u->beta1 != def.beta1)
        push_num(c, "beta1", u->beta1);
    if ((u->kind == UPD_ADAM || u->kind == UPD_ADAMW) && u->beta2 != def.beta2)
        push_num(c, "beta2", u->beta2);
    if (u->kind == UPD_RMSPROP && u->rms_decay != def.rms_decay)
        push_num(c, "rms_decay", u->rms_decay);
    if (u->kind != UPD_SGD && u->kind != UPD_NESTEROVS && u->epsilon != def.epsilon)
        push_num(c, "epsilon", u->epsilon);
    if (u->kind == UPD_ADAMW && u->weight_decay != def.weight_decay)
        push_num(c, "weight_decay", u->weight_decay);
    if (u->schedule == SCHED_STEP) {
        conf_value *s = conf_call("step", loc_none());
        push_num(s, "decay_rate", u->decay_rate);
        push_num(s, "decay_steps", u->decay_steps);
        conf_push_arg(c, "schedule", loc_none(), s);
    } else if (u->schedule == SCHED_EXPONENTIAL) {
        conf_value *s = conf_call("exponential", loc_none());
        push_num(s, "decay_rate", u->decay_rate);
        conf_push_arg(c, "schedule", loc_none(), s);
    }
    return c;
}

static conf_value *init_value(const init_spec *w)
{
    if (w->kind != INIT_UNIFORM && w->kind != INIT_NORMAL)
        return conf_str(CV_IDENT, init_names[w->kind], loc_none());
    conf_value *c = conf_call(init_names[w->kind], loc_none());
    push_num(c, NULL, w->a);
    push_num(c, NULL, w->b);
    return c;
}

int train_conf_to_options(const train_conf *tc, unsigned mask, conf_arg **opts)
{
    unsigned m = tc->set_mask & mask;
    conf_value *list = conf_list(loc_none());
    if (m & TC_UPDATER)
        conf_push_arg(list, "updater", loc_none(), updater_value(&tc->updater));
    if (m & TC_BIAS_UPDATER)
        conf_push_arg(list, "bias_updater", loc_none(), updater_value(&tc->bias_updater));
    if (m & TC_LEARNING_RATE)
        push_num(list, "learning_rate", tc->learning_rate);
    if (m & TC_SEED)
        push_num(list, "seed", (double)tc->seed);
    if (m & TC_L1)
        push_num(list, "l1", tc->l1);
    if (m & TC_L2)
        push_num(list, "l2", tc->l2);
    if (m & TC_L1_BIAS)
        push_num(list, "l1_bias", tc->l1_bias);
    if (m & TC_L2_BIAS)
        push_num(list, "l2_bias", tc->l2_bias);
    if (m & TC_WEIGHT_DECAY)
        push_num(list, "weight_decay", tc->weight_decay);
    if (m & TC_DROPOUT)
        push_num(list, "dropout", tc->dropout);
    if (m & TC_WEIGHT_INIT)
        conf_push_arg(list, "weight_init", loc_none(), init_value(&tc->weight_init));
    if (m & TC_BIAS_INIT)
        push_num(list, "bias_init", tc->bias_init);
    if (m & TC_GRAD_NORM) {
        conf_value *g;
        if (tc->grad_norm == GN_CLIP_ELEMENT_WISE || tc->grad_norm == GN_CLIP_L2_PER_LAYER) {
            g = conf_call(grad_norm_names[tc->grad_norm], loc_none());
            push_num(g, "threshold", tc->grad_norm_threshold);
        } else {
            g = conf_str(CV_IDENT, grad_norm_names[tc->grad_norm], loc_none());
        }
        conf_push_arg(list, "gradient_normalization", loc_none(), g);
    }
    if (m & TC_BACKPROP) {
        conf_value *b;
        if (tc->tbptt_forward > 0) {
            b = conf_call("tbptt", loc_none());
            push_num(b, "forward", tc->tbptt_forward);
            push_num(b, "backward", tc->tbptt_backward);
        } else {
            b = conf_str(CV_IDENT, "standard", loc_none());
        }
        conf_push_arg(list, "backprop", loc_none(), b);
    }
    int n = list->n_args;
    *opts = list->args;
    list->args = NULL;
    list->n_args = 0;
    conf_value_free(list);
    return n;
}
