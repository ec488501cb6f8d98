/* test_conf.c: configuration values, name tables, option parsing and ranges, the value text
 * syntax. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/base/diag.h"
#include "runtime/base/conf.h"
#include "runtime/nn/layer.h"
#include "tests/unit/test_support.h"

static src_loc at_col(int col)
{
    src_loc l = {"t.surgery", 3, col, 1};
    return l;
}

/* Parses `text` as a value and applies it as training key `key`. */
static int set_text(train_conf *tc, const char *key, const char *text, diag_capture *c)
{
    conf_value *v = conf_parse_text(text, at_col(10), c->d);
    cr_assert(v, "value '%s' does not parse: %s", text, capture_text(c));
    int rc = train_conf_set(tc, key, at_col(1), v, c->d);
    conf_value_free(v);
    return rc;
}

Test(conf, name_tables_round_trip)
{
    for (int i = 0; i < ACT_COUNT; i++)
        cr_assert_eq(activation_from_name(activation_names[i]), i);
    for (int i = 0; i < LOSS_COUNT; i++)
        cr_assert_eq(loss_from_name(loss_names[i]), i);
    for (int i = 0; i < INIT_COUNT; i++)
        cr_assert_eq(init_from_name(init_names[i]), i);
    for (int i = 0; i < UPD_COUNT; i++)
        cr_assert_eq(updater_from_name(updater_names[i]), i);
    for (int i = 0; i < GN_COUNT; i++)
        cr_assert_eq(grad_norm_from_name(grad_norm_names[i]), i);
    cr_assert_str_eq(activation_names[ACT_LEAKYRELU], "leakyrelu");
    cr_assert_str_eq(loss_names[LOSS_NLL], "negative_log_likelihood");
    cr_assert_str_eq(init_names[INIT_RELU_UNIFORM], "relu_uniform");
}

Test(conf, synonyms_and_unknown_names)
{
    cr_assert_eq(loss_from_name("mae"), LOSS_L1);
    cr_assert_eq(loss_from_name("nll"), LOSS_NLL);
    cr_assert_eq(loss_from_name("MCXENT"), LOSS_MCXENT);
    cr_assert_eq(activation_from_name("linear"), ACT_IDENTITY);
    cr_assert_eq(activation_from_name("RELU"), ACT_RELU);
    cr_assert_eq(init_from_name("zero"), INIT_ZEROS);
    cr_assert_eq(updater_from_name("nesterov"), UPD_NESTEROVS);
    cr_assert_eq(activation_from_name("relux"), -1);
    cr_assert_eq(loss_from_name(""), -1);
    cr_assert_eq(init_from_name(NULL), -1);
}

Test(conf, updater_defaults_are_dl4j)
{
    updater_conf u;
    updater_conf_defaults(&u, UPD_SGD);
    cr_assert_eq(u.learning_rate, 1e-3);
    updater_conf_defaults(&u, UPD_NESTEROVS);
    cr_assert_eq(u.learning_rate, 0.1);
    cr_assert_eq(u.momentum, 0.9);
    updater_conf_defaults(&u, UPD_ADAM);
    cr_assert(u.learning_rate == 1e-3 && u.beta1 == 0.9 && u.beta2 == 0.999 && u.epsilon == 1e-8);
    cr_assert_eq(u.weight_decay, 0);
    updater_conf_defaults(&u, UPD_ADAMW);
    cr_assert(u.learning_rate == 1e-3 && u.beta2 == 0.999 && u.weight_decay == 0.01);
    updater_conf_defaults(&u, UPD_RMSPROP);
    cr_assert(u.learning_rate == 0.1 && u.rms_decay == 0.95 && u.epsilon == 1e-8);
    updater_conf_defaults(&u, UPD_ADAGRAD);
    cr_assert(u.learning_rate == 0.1 && u.epsilon == 1e-6);
    cr_assert_eq(u.schedule, SCHED_NONE);

    train_conf tc;
    train_conf_defaults(&tc);
    cr_assert_eq(tc.set_mask, 0);
    cr_assert_eq(tc.updater.kind, UPD_SGD);
    cr_assert_eq(tc.weight_init.kind, INIT_XAVIER);
    cr_assert_eq(tc.dropout, 0);
    cr_assert_eq(tc.grad_norm, GN_NONE);
    cr_assert_eq(tc.tbptt_forward, 0);
    cr_assert_eq(train_conf_learning_rate(&tc), 1e-3);
}

Test(conf, value_constructors_clone_and_lookup)
{
    conf_value *call = conf_call("adam", at_col(1));
    conf_push_arg(call, NULL, loc_none(), conf_num(0.5, at_col(6)));
    conf_push_arg(call, "beta1", at_col(11), conf_num(0.8, at_col(19)));
    conf_push_arg(call, NULL, loc_none(), conf_str(CV_IDENT, "x", at_col(24)));
    cr_assert_eq(conf_arg_get(call, "beta1", -1)->num, 0.8);
    cr_assert_eq(conf_arg_get(call, "learning_rate", 0)->num, 0.5);
    cr_assert_str_eq(conf_arg_get(call, NULL, 1)->str, "x");
    cr_assert_null(conf_arg_get(call, "beta2", -1));
    cr_assert_null(conf_arg_get(call, NULL, 2));
    conf_value *copy = conf_value_clone(call);
    cr_assert(conf_value_equal(call, copy));
    copy->args[1].value->num = 0.7;
    cr_assert_not(conf_value_equal(call, copy));
    conf_value_free(copy);
    conf_value_free(call);
    conf_value_free(NULL);
    conf_args_free(NULL, 0);
}

Test(conf, shortest_number_formatting)
{
    char buf[40];
    cr_assert_str_eq(conf_format_num(0.1, buf, sizeof buf), "0.1");
    cr_assert_str_eq(conf_format_num(1e-3, buf, sizeof buf), "0.001");
    cr_assert_str_eq(conf_format_num(5e-5, buf, sizeof buf), "5e-05");
    cr_assert_str_eq(conf_format_num(256, buf, sizeof buf), "256");
    cr_assert_str_eq(conf_format_num(-2.5, buf, sizeof buf), "-2.5");
    cr_assert_str_eq(conf_format_num(INFINITY, buf, sizeof buf), "inf");
    double hard[] = {1.0 / 3, 0.1 + 0.2, 1e-300, 123456789.123456789, 2.2250738585072014e-308,
                     1.7976931348623157e308, 4.9e-324};
    for (size_t i = 0; i < sizeof hard / sizeof hard[0]; i++)
        cr_assert_eq(strtod(conf_format_num(hard[i], buf, sizeof buf), NULL), hard[i],
                     "%s does not round-trip", buf);
}

Test(conf, text_round_trip)
{
    static const char *const texts[] = {
        "relu", "\"data/a b.csv\"", "0.001", "-1", "true", "false", "[1, 2, 3]", "[]",
        "uniform(-0.1, 0.1)", "adam(learning_rate = 0.001, beta1 = 0.9)",
        "nesterovs(learning_rate = 5e-05, momentum = 0.9, schedule = step(decay_rate = 0.5, "
        "decay_steps = 100))",
        "\"quote \\\" backslash \\\\ newline \\n tab \\t\"", "f()", "[a, \"b\", [1.5, g(x = 1)]]"};
    diag_capture c;
    capture_open(&c);
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        conf_value *v = conf_parse_text(texts[i], at_col(1), c.d);
        cr_assert(v, "'%s' does not parse: %s", texts[i], capture_text(&c));
        char *out = conf_value_to_text(v);
        cr_assert_str_eq(out, texts[i]);
        conf_value *again = conf_parse_text(out, at_col(1), c.d);
        cr_assert(conf_value_equal(v, again));
        free(out);
        conf_value_free(v);
        conf_value_free(again);
    }
    cr_assert_eq(diag_error_count(c.d), 0);
    capture_close(&c);
}

Test(conf, text_parse_forms_and_locations)
{
    diag_capture c;
    capture_open(&c);
    conf_value *v = conf_parse_text("  adam( learning_rate=1e-3 ,beta1 =0.9 )  ", at_col(5), c.d);
    cr_assert(v);
    cr_assert_eq(v->kind, CV_CALL);
    cr_assert_str_eq(v->str, "adam");
    cr_assert_eq(v->loc.col, 7);
    cr_assert_eq(v->loc.len, 4);
    cr_assert_eq(v->n_args, 2);
    cr_assert_str_eq(v->args[0].name, "learning_rate");
    cr_assert_eq(v->args[0].name_loc.col, 5 + 8);
    cr_assert_eq(v->args[0].value->num, 1e-3);
    cr_assert_eq(v->args[1].value->num, 0.9);
    char *t = conf_value_to_text(v);
    cr_assert_str_eq(t, "adam(learning_rate = 0.001, beta1 = 0.9)");
    free(t);
    conf_value_free(v);

    v = conf_parse_text("true", at_col(1), c.d);
    cr_assert_eq(v->kind, CV_BOOL);
    cr_assert_eq(v->num, 1);
    conf_value_free(v);
    v = conf_parse_text("1.5E+3", at_col(1), c.d);
    cr_assert_eq(v->kind, CV_NUM);
    cr_assert_eq(v->num, 1500);
    conf_value_free(v);
    cr_assert_eq(diag_error_count(c.d), 0);
    capture_close(&c);
}

Test(conf, text_parse_errors)
{
    static const char *const bad[] = {"adam(", "adam(learning_rate = )", "[1, 2", "\"open",
                                      "1.2.3", "relu relu", "", "(1)", "1e", "\"bad \\q\"",
                                      "f(a = 1 b = 2)"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        diag_capture c;
        capture_open(&c);
        conf_value *v = conf_parse_text(bad[i], at_col(1), c.d);
        cr_assert_null(v, "'%s' parsed", bad[i]);
        cr_assert_eq(diag_error_count(c.d), 1, "'%s': %s", bad[i], capture_text(&c));
        cr_assert(strstr(capture_text(&c), "malformed value"), "%s", capture_text(&c));
        capture_close(&c);
    }
    diag_capture c;
    capture_open(&c);
    conf_value *v = conf_parse_text("adam(x = 1", at_col(20), c.d);
    cr_assert_null(v);
    cr_assert(strstr(capture_text(&c), "t.surgery:3:30: error: malformed value 'adam(x = 1': "
                                   "expected ',' or ')'"), "%s", capture_text(&c));
    capture_close(&c);
}

Test(conf, training_keys_accept_valid_values)
{
    diag_capture c;
    capture_open(&c);
    train_conf tc;
    train_conf_defaults(&tc);
    cr_assert_eq(set_text(&tc, "updater", "nesterovs(learning_rate = 5e-5, momentum = 0.8)", &c),
                 0);
    cr_assert_eq(tc.updater.kind, UPD_NESTEROVS);
    cr_assert_eq(tc.updater.learning_rate, 5e-5);
    cr_assert_eq(tc.updater.momentum, 0.8);
    cr_assert_eq(set_text(&tc, "bias_updater", "adam", &c), 0);
    cr_assert_eq(tc.bias_updater.kind, UPD_ADAM);
    cr_assert_eq(tc.bias_updater.beta2, 0.999);
    cr_assert_eq(set_text(&tc, "updater", "rmsprop(0.01, 0.9)", &c), 0);
    cr_assert(tc.updater.learning_rate == 0.01 && tc.updater.rms_decay == 0.9);
    cr_assert_eq(set_text(&tc, "updater",
                          "adamw(weight_decay = 0.1, schedule = exponential(decay_rate = 0.99))",
                          &c), 0);
    cr_assert(tc.updater.kind == UPD_ADAMW && tc.updater.weight_decay == 0.1);
    cr_assert(tc.updater.schedule == SCHED_EXPONENTIAL && tc.updater.decay_rate == 0.99);
    cr_assert_eq(set_text(&tc, "seed", "12345", &c), 0);
    cr_assert_eq(tc.seed, 12345u);
    cr_assert_eq(set_text(&tc, "l2", "1e-4", &c), 0);
    cr_assert_eq(set_text(&tc, "l1", "0", &c), 0);
    cr_assert_eq(set_text(&tc, "dropout", "0.2", &c), 0);
    cr_assert_eq(tc.dropout, 0.2);
    cr_assert_eq(set_text(&tc, "weight_init", "normal(0, 0.01)", &c), 0);
    cr_assert(tc.weight_init.kind == INIT_NORMAL && tc.weight_init.b == 0.01);
    cr_assert_eq(set_text(&tc, "weight_init", "uniform(lower = -0.1, upper = 0.1)", &c), 0);
    cr_assert(tc.weight_init.kind == INIT_UNIFORM && tc.weight_init.a == -0.1);
    cr_assert_eq(set_text(&tc, "bias_init", "-0.5", &c), 0);
    cr_assert_eq(set_text(&tc, "gradient_normalization", "clip_element_wise(threshold = 0.5)",
                          &c), 0);
    cr_assert(tc.grad_norm == GN_CLIP_ELEMENT_WISE && tc.grad_norm_threshold == 0.5);
    cr_assert_eq(set_text(&tc, "backprop", "tbptt(forward = 50, backward = 20)", &c), 0);
    cr_assert(tc.tbptt_forward == 50 && tc.tbptt_backward == 20);
    cr_assert_eq(set_text(&tc, "learning_rate", "0.003", &c), 0);
    cr_assert_eq(train_conf_learning_rate(&tc), 0.003);
    cr_assert_eq(tc.set_mask, TC_UPDATER | TC_BIAS_UPDATER | TC_SEED | TC_L1 | TC_L2 |
                              TC_DROPOUT | TC_WEIGHT_INIT | TC_BIAS_INIT | TC_GRAD_NORM |
                              TC_BACKPROP | TC_LEARNING_RATE);
    cr_assert_eq(diag_error_count(c.d), 0, "%s", capture_text(&c));
    /* A YAML string holding a call is read in the script syntax. */
    conf_value *s = conf_str(CV_STR, "adam(learning_rate=0.002)", at_col(10));
    cr_assert_eq(train_conf_set(&tc, "updater", at_col(1), s, c.d), 0);
    cr_assert(tc.updater.kind == UPD_ADAM && tc.updater.learning_rate == 0.002);
    conf_value_free(s);
    cr_assert_eq(set_text(&tc, "n_out", "3", &c), 1);
    capture_close(&c);
}

/* Each case: key, value text, the expected message fragment. */
static const char *const bad_training[][3] = {
    {"dropout", "1", "'dropout' must be in [0, 1), got 1"},
    {"dropout", "-0.1", "'dropout' must be in [0, 1), got -0.1"},
    {"dropout", "\"half\"", "'dropout' takes a number, got a string"},
    {"l2", "-1e-4", "'l2' must be >= 0, got -0.0001"},
    {"learning_rate", "0", "'learning_rate' must be > 0, got 0"},
    {"seed", "1.5", "'seed' must be a whole number, got 1.5"},
    {"seed", "-3", "'seed' must be >= 0, got -3"},
    {"updater", "adamm", "unknown updater 'adamm' (did you mean 'adam'?)"},
    {"updater", "adam(lerning_rate = 1)", "unknown argument 'lerning_rate' of adam() (did you "
                                          "mean 'learning_rate'?)"},
    {"updater", "adam(learning_rate = -1)", "'learning_rate' must be > 0, got -1"},
    {"updater", "sgd(1, 2, 3)", "sgd() takes at most 2 arguments"},
    {"updater", "adam(0.1, learning_rate = 0.2)",
     "argument 'learning_rate' of adam() given twice"},
    {"updater", "nesterovs(momentum = 1)", "'momentum' must be in [0, 1), got 1"},
    {"updater", "sgd(schedule = step(decay_rate = 0.5))",
     "step() needs decay_rate and decay_steps"},
    {"updater", "3", "'updater' takes an updater such as adam(learning_rate = 1e-3), got a number"},
    {"updater", "none(1)", "none() takes no arguments"},
    {"weight_init", "xavierr", "unknown weight initialisation 'xavierr' (did you mean 'xavier'?)"},
    {"weight_init", "uniform", "uniform needs its parameters: uniform(lower, upper)"},
    {"weight_init", "uniform(0.1, -0.1)", "uniform(lower, upper) needs lower < upper"},
    {"weight_init", "normal(0, 0)", "'std' must be > 0, got 0"},
    {"weight_init", "normal(0)", "normal() needs 'std'"},
    {"gradient_normalization", "clip_element_wise(threshold = 0)", "'threshold' must be > 0"},
    {"gradient_normalization", "clip_elment_wise", "(did you mean 'clip_element_wise'?)"},
    {"backprop", "tbptt", "tbptt needs its segment lengths"},
    {"backprop", "tbptt(forward = 10, backward = 20)", "tbptt backward length 20 exceeds the "
                                                       "forward length 10"},
    {"backprop", "tbptt(forward = 0)", "'forward' must be >= 1, got 0"},
    {"backprop", "standrd", "unknown backprop 'standrd' (did you mean 'standard'?)"},
    {"bias_init", "[1]", "'bias_init' takes a number, got a list"},
};

Test(conf, training_keys_reject_bad_values)
{
    for (size_t i = 0; i < sizeof bad_training / sizeof bad_training[0]; i++) {
        diag_capture c;
        capture_open(&c);
        train_conf tc, before;
        train_conf_defaults(&tc);
        memcpy(&before, &tc, sizeof tc);
        int rc = set_text(&tc, bad_training[i][0], bad_training[i][1], &c);
        cr_assert_eq(rc, -1, "%s = %s accepted", bad_training[i][0], bad_training[i][1]);
        cr_assert_eq(diag_error_count(c.d), 1, "%s = %s: %s", bad_training[i][0],
                     bad_training[i][1], capture_text(&c));
        cr_assert(strstr(capture_text(&c), bad_training[i][2]), "%s = %s gave: %s",
                  bad_training[i][0], bad_training[i][1], capture_text(&c));
        cr_assert(memcmp(&tc, &before, sizeof tc) == 0, "rejected value changed the conf");
        capture_close(&c);
    }
}

Test(conf, value_errors_point_at_the_value)
{
    diag_capture c;
    capture_open(&c);
    train_conf tc;
    train_conf_defaults(&tc);
    cr_assert_eq(set_text(&tc, "dropout", "1.5", &c), -1);
    cr_assert(strstr(capture_text(&c), "t.surgery:3:10: error:"), "%s", capture_text(&c));
    capture_close(&c);
}

Test(conf, apply_copies_only_set_fields)
{
    diag_capture c;
    capture_open(&c);
    train_conf ft, layer;
    train_conf_defaults(&ft);
    train_conf_defaults(&layer);
    cr_assert_eq(set_text(&layer, "l2", "0.5", &c), 0);
    cr_assert_eq(set_text(&layer, "dropout", "0.3", &c), 0);
    cr_assert_eq(set_text(&ft, "l2", "0.01", &c), 0);
    cr_assert_eq(set_text(&ft, "updater", "adam", &c), 0);
    train_conf_apply(&layer, &ft);
    cr_assert_eq(layer.l2, 0.01);
    cr_assert_eq(layer.dropout, 0.3);
    cr_assert_eq(layer.updater.kind, UPD_ADAM);
    cr_assert_eq(layer.set_mask, TC_L2 | TC_DROPOUT | TC_UPDATER);
    capture_close(&c);
}

Test(conf, to_options_round_trips_through_train_conf_set)
{
    diag_capture c;
    capture_open(&c);
    train_conf tc;
    train_conf_defaults(&tc);
    set_text(&tc, "updater", "adam(learning_rate = 0.01, beta2 = 0.99, schedule = step(0.5, 10))",
             &c);
    set_text(&tc, "bias_updater", "sgd", &c);
    set_text(&tc, "seed", "42", &c);
    set_text(&tc, "l1_bias", "0.25", &c);
    set_text(&tc, "weight_decay", "0.001", &c);
    set_text(&tc, "weight_init", "uniform(-0.05, 0.05)", &c);
    set_text(&tc, "gradient_normalization", "renormalize_l2_per_layer", &c);
    set_text(&tc, "backprop", "tbptt(30, 10)", &c);
    set_text(&tc, "dropout", "0.1", &c);
    cr_assert_eq(diag_error_count(c.d), 0, "%s", capture_text(&c));

    conf_arg *opts;
    int n = train_conf_to_options(&tc, ~0u, &opts);
    cr_assert_eq(n, 9);
    cr_assert_str_eq(opts[0].name, "updater");
    char *t = conf_value_to_text(opts[0].value);
    cr_assert_str_eq(t, "adam(learning_rate = 0.01, beta2 = 0.99, "
                        "schedule = step(decay_rate = 0.5, decay_steps = 10))");
    free(t);
    train_conf back;
    train_conf_defaults(&back);
    for (int i = 0; i < n; i++) {
        /* through text, as a model writer would store them */
        char *text = conf_value_to_text(opts[i].value);
        cr_assert_eq(set_text(&back, opts[i].name, text, &c), 0, "%s", text);
        free(text);
    }
    cr_assert_eq(back.set_mask, tc.set_mask);
    cr_assert(back.updater.kind == UPD_ADAM && back.updater.learning_rate == 0.01 &&
              back.updater.beta2 == 0.99 && back.updater.beta1 == 0.9 &&
              back.updater.schedule == SCHED_STEP && back.updater.decay_rate == 0.5 &&
              back.updater.decay_steps == 10);
    cr_assert_eq(back.seed, 42u);
    cr_assert_eq(back.l1_bias, 0.25);
    cr_assert_eq(back.weight_init.a, -0.05);
    cr_assert_eq(back.grad_norm, GN_RENORMALIZE_L2_PER_LAYER);
    cr_assert_eq(back.tbptt_backward, 10);
    conf_args_free(opts, n);

    n = train_conf_to_options(&tc, TC_SEED | TC_L2, &opts);
    cr_assert_eq(n, 1);
    cr_assert_str_eq(opts[0].name, "seed");
    conf_args_free(opts, n);
    capture_close(&c);
}

/* ---- layer options ---- */

static int set_layer(layer *L, const char *key, const char *text, diag_capture *c)
{
    conf_value *v = conf_parse_text(text, at_col(10), c->d);
    cr_assert(v);
    int rc = layer_set_option(L, key, at_col(1), v, c->d);
    conf_value_free(v);
    return rc;
}

Test(conf, layer_options_per_type)
{
    diag_capture c;
    capture_open(&c);
    layer *L = layer_new(&layer_type_dense, "fc");
    cr_assert_eq(set_layer(L, "n_out", "256", &c), 0);
    cr_assert_eq(L->n_out, 256);
    cr_assert_eq(set_layer(L, "n_in", "10", &c), 0);
    cr_assert(L->n_in == 10 && L->n_in_given);
    cr_assert_eq(set_layer(L, "activation", "relu", &c), 0);
    cr_assert_eq(L->activation, ACT_RELU);
    cr_assert_eq(set_layer(L, "activation", "\"tanh\"", &c), 0);
    cr_assert_eq(L->activation, ACT_TANH);
    cr_assert_eq(set_layer(L, "has_bias", "false", &c), 0);
    cr_assert_eq(L->has_bias, false);
    conf_value *yaml_bool = conf_str(CV_IDENT, "true", at_col(10));
    cr_assert_eq(layer_set_option(L, "has_bias", at_col(1), yaml_bool, c.d), 0);
    cr_assert_eq(L->has_bias, true);
    conf_value_free(yaml_bool);
    cr_assert_eq(set_layer(L, "dropout", "0.5", &c), 0);
    cr_assert(L->train.dropout == 0.5 && (L->train.set_mask & TC_DROPOUT));
    cr_assert_eq(set_layer(L, "updater", "adam(1e-4)", &c), 0);
    cr_assert_eq(L->train.updater.learning_rate, 1e-4);
    cr_assert_eq(diag_error_count(c.d), 0, "%s", capture_text(&c));

    cr_assert_eq(set_layer(L, "n_out", "0", &c), -1);
    cr_assert(strstr(capture_text(&c), "'n_out' must be >= 1, got 0"), "%s", capture_text(&c));
    cr_assert_eq(set_layer(L, "n_ot", "3", &c), -1);
    cr_assert(strstr(capture_text(&c), "unknown option 'n_ot' for a dense layer (did you mean "
                                   "'n_out'?)"), "%s", capture_text(&c));
    cr_assert_eq(set_layer(L, "loss", "mcxent", &c), -1);
    cr_assert(strstr(capture_text(&c), "option 'loss' does not apply to a dense layer"), "%s",
              capture_text(&c));
    cr_assert_eq(set_layer(L, "activation", "relux", &c), -1);
    cr_assert(strstr(capture_text(&c), "unknown activation 'relux' (did you mean 'relu'?)"), "%s",
              capture_text(&c));
    cr_assert_eq(set_layer(L, "has_bias", "1", &c), -1);
    cr_assert(strstr(capture_text(&c), "'has_bias' takes true or false, got a number"));
    cr_assert_eq(set_layer(L, "n_out", "2.5", &c), -1);
    cr_assert_eq(diag_error_count(c.d), 6);
    cr_assert_eq(L->n_out, 256);
    layer_free(L);

    L = layer_new(&layer_type_output, "out");
    cr_assert_eq(set_layer(L, "loss", "nll", &c), 0);
    cr_assert_eq(L->loss, LOSS_NLL);
    cr_assert_eq(set_layer(L, "loss", "mcxnt", &c), -1);
    cr_assert(strstr(capture_text(&c), "unknown loss 'mcxnt' (did you mean 'mcxent'?)"));
    layer_free(L);
    capture_close(&c);
}

Test(conf, layer_option_keys_lists_common_and_type_keys)
{
    const char *keys[64];
    int n = layer_option_keys(&layer_type_output, keys, 64);
    bool has_loss = false, has_n_out = false, has_updater = false;
    for (int i = 0; i < n; i++) {
        has_loss = has_loss || !strcmp(keys[i], "loss");
        has_n_out = has_n_out || !strcmp(keys[i], "n_out");
        has_updater = has_updater || !strcmp(keys[i], "updater");
        for (int j = 0; j < i; j++)
            cr_assert_str_neq(keys[i], keys[j], "key listed twice");
    }
    cr_assert(has_loss && has_n_out && has_updater);
    n = layer_option_keys(&layer_type_dense, keys, 64);
    for (int i = 0; i < n; i++)
        cr_assert_str_neq(keys[i], "loss");
    int all = layer_option_keys(NULL, keys, 64);
    cr_assert_gt(all, n);
    cr_assert_eq(layer_option_keys(NULL, keys, 3), 3);
}
