/* test_eval.c: classification and regression metrics against hand-computed values, masks,
 * the text report and the JSON output. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/train/eval.h"
#include "runtime/tensor/tensor.h"

static void near(double a, double b)
{
    cr_assert(fabs(a - b) < 1e-9, "%.12g != %.12g", a, b);
}

/* One-hot rows for classes[0..n). */
static void one_hot(tensor *t, const int *classes, int n, int K)
{
    cr_assert_eq(tensor_alloc2(t, n, K), 0);
    for (int i = 0; i < n; i++)
        t->data[i * K + classes[i]] = 1.0f;
}

/* Prediction rows peaking at classes[i] (softmax-like, not one-hot). */
static void scores(tensor *t, const int *classes, int n, int K)
{
    cr_assert_eq(tensor_alloc2(t, n, K), 0);
    for (int i = 0; i < n; i++)
        for (int k = 0; k < K; k++)
            t->data[i * K + k] = k == classes[i] ? 0.6f : 0.4f / (float)(K - 1);
}

/* actual 0 0 1 1 2 2 2, predicted 0 1 1 1 2 0 2. */
static evaluation *seven_examples(int split)
{
    static const int actual[7] = {0, 0, 1, 1, 2, 2, 2}, pred[7] = {0, 1, 1, 1, 2, 0, 2};
    evaluation *e = eval_new(3, 0);
    cr_assert(e);
    char err[128];
    for (int start = 0; start < 7; start += split) {
        int n = start + split > 7 ? 7 - start : split;
        tensor y = {0}, p = {0};
        one_hot(&y, actual + start, n, 3);
        scores(&p, pred + start, n, 3);
        cr_assert_eq(eval_add(e, &p, &y, NULL, err, sizeof err), 0, "%s", err);
        tensor_release(&y);
        tensor_release(&p);
    }
    return e;
}

Test(eval, classification_metrics_by_hand)
{
    evaluation *e = seven_examples(7);
    cr_assert(eval_is_classification(e));
    cr_assert_eq(eval_count(e), 7);
    /* confusion (rows actual, columns predicted): [1 1 0; 0 2 0; 1 0 2] */
    static const int64_t cm[3][3] = {{1, 1, 0}, {0, 2, 0}, {1, 0, 2}};
    for (int a = 0; a < 3; a++)
        for (int p = 0; p < 3; p++)
            cr_assert_eq(eval_confusion(e, a, p), cm[a][p]);
    bool ok;
    near(eval_metric(e, "accuracy", &ok), 5.0 / 7.0);
    cr_assert(ok);
    near(eval_class_precision(e, 0), 0.5);
    near(eval_class_precision(e, 1), 2.0 / 3.0);
    near(eval_class_precision(e, 2), 1.0);
    near(eval_class_recall(e, 0), 0.5);
    near(eval_class_recall(e, 1), 1.0);
    near(eval_class_recall(e, 2), 2.0 / 3.0);
    near(eval_class_f1(e, 0), 0.5);
    near(eval_class_f1(e, 1), 0.8);
    near(eval_class_f1(e, 2), 0.8);
    cr_assert_eq(eval_class_support(e, 2), 3);
    near(eval_metric(e, "precision", &ok), (0.5 + 2.0 / 3.0 + 1.0) / 3.0);
    near(eval_metric(e, "recall", &ok), (0.5 + 1.0 + 2.0 / 3.0) / 3.0);
    near(eval_metric(e, "f1", &ok), (0.5 + 0.8 + 0.8) / 3.0);
    cr_assert(ok);
    /* regression metrics do not apply */
    cr_assert(isnan(eval_metric(e, "mse", &ok)));
    cr_assert(!ok);
    cr_assert(isnan(eval_metric(e, "accuracyy", &ok)));
    cr_assert(!ok);
    eval_free(e);
}

Test(eval, batches_accumulate_like_one)
{
    evaluation *a = seven_examples(7), *b = seven_examples(2);
    for (int i = 0; i < EVAL_METRIC_COUNT; i++) {
        bool ok1, ok2;
        double x = eval_metric(a, eval_metric_names[i], &ok1), y = eval_metric(b, eval_metric_names[i], &ok2);
        cr_assert_eq(ok1, ok2);
        if (ok1)
            near(x, y);
    }
    eval_free(a);
    eval_free(b);
}

Test(eval, masks_and_padding_rows_are_skipped)
{
    /* time-major [T = 2, B = 2, K = 2]; step 1 of example 1 is masked out, and step 1 of
     * example 0 has an all-zero label row (padding) */
    tensor p = {0}, y = {0}, m = {0};
    cr_assert_eq(tensor_alloc3(&p, 2, 2, 2), 0);
    cr_assert_eq(tensor_alloc3(&y, 2, 2, 2), 0);
    cr_assert_eq(tensor_alloc2(&m, 2, 2), 0);
    const float pv[8] = {0.9f, 0.1f, 0.2f, 0.8f, 0.3f, 0.7f, 0.6f, 0.4f};
    const float yv[8] = {1, 0, 0, 1, 0, 0, 0, 1};
    const float mv[4] = {1, 1, 1, 0};
    memcpy(p.data, pv, sizeof pv);
    memcpy(y.data, yv, sizeof yv);
    memcpy(m.data, mv, sizeof mv);
    evaluation *e = eval_new(2, 0);
    char err[128];
    cr_assert_eq(eval_add(e, &p, &y, &m, err, sizeof err), 0, "%s", err);
    cr_assert_eq(eval_count(e), 2);
    bool ok;
    near(eval_metric(e, "accuracy", &ok), 1.0);
    /* without the mask the (wrong) last row counts */
    cr_assert_eq(eval_add(e, &p, &y, NULL, err, sizeof err), 0);
    cr_assert_eq(eval_count(e), 5);
    near(eval_metric(e, "accuracy", &ok), 4.0 / 5.0);
    tensor bad = {0};
    cr_assert_eq(tensor_alloc2(&bad, 3, 1), 0);
    cr_assert_eq(eval_add(e, &p, &y, &bad, err, sizeof err), -1);
    cr_assert(strstr(err, "mask [3, 1] has 3 entries for 4 rows"), "%s", err);
    tensor_release(&bad);
    cr_assert_eq(tensor_alloc2(&bad, 4, 2), 0);
    cr_assert_eq(eval_add(e, &bad, &y, NULL, err, sizeof err), -1);
    cr_assert(strstr(err, "differ in shape"), "%s", err);
    tensor_release(&bad);
    tensor_release(&p);
    tensor_release(&y);
    tensor_release(&m);
    eval_free(e);
}

Test(eval, undefined_classes_leave_the_macro_average)
{
    /* class 2 never occurs and is never predicted: excluded everywhere */
    static const int actual[4] = {0, 0, 1, 1}, pred[4] = {0, 1, 1, 1};
    evaluation *e = eval_new(3, 0);
    tensor y = {0}, p = {0};
    one_hot(&y, actual, 4, 3);
    scores(&p, pred, 4, 3);
    char err[128];
    cr_assert_eq(eval_add(e, &p, &y, NULL, err, sizeof err), 0);
    cr_assert(isnan(eval_class_precision(e, 2)));
    cr_assert(isnan(eval_class_recall(e, 2)));
    cr_assert(isnan(eval_class_f1(e, 2)));
    bool ok;
    near(eval_metric(e, "precision", &ok), (1.0 + 2.0 / 3.0) / 2.0);
    near(eval_metric(e, "recall", &ok), (0.5 + 1.0) / 2.0);
    near(eval_metric(e, "f1", &ok), (2.0 / 3.0 + 0.8) / 2.0);
    tensor_release(&y);
    tensor_release(&p);
    eval_free(e);
    /* nothing counted: defined metrics are NAN, still "ok" */
    e = eval_new(2, 0);
    cr_assert(isnan(eval_metric(e, "accuracy", &ok)));
    cr_assert(ok);
    eval_free(e);
}

Test(eval, regression_metrics_by_hand)
{
    /* y = 1 2 3 4, prediction 1.5 2 2 5: errors .5 0 -1 1 */
    tensor p = {0}, y = {0};
    cr_assert_eq(tensor_alloc2(&p, 4, 1), 0);
    cr_assert_eq(tensor_alloc2(&y, 4, 1), 0);
    const float pv[4] = {1.5f, 2, 2, 5}, yv[4] = {1, 2, 3, 4};
    memcpy(p.data, pv, sizeof pv);
    memcpy(y.data, yv, sizeof yv);
    evaluation *e = eval_new(0, 1);
    cr_assert(!eval_is_classification(e));
    char err[128];
    cr_assert_eq(eval_add(e, &p, &y, NULL, err, sizeof err), 0, "%s", err);
    bool ok;
    near(eval_metric(e, "mse", &ok), 2.25 / 4.0);
    cr_assert(ok);
    near(eval_metric(e, "mae", &ok), 2.5 / 4.0);
    near(eval_metric(e, "rmse", &ok), 0.75);
    near(eval_metric(e, "r2", &ok), 1.0 - 2.25 / 5.0);
    cr_assert(isnan(eval_metric(e, "accuracy", &ok)));
    cr_assert(!ok);
    tensor_release(&p);
    tensor_release(&y);
    eval_free(e);
}

Test(eval, regression_columns_average)
{
    /* column 0 exact; column 1 predicts 0 for targets 1 and 3 (mse 5, mae 2, r2 1 - 10/2 = -4) */
    tensor p = {0}, y = {0};
    cr_assert_eq(tensor_alloc2(&p, 2, 2), 0);
    cr_assert_eq(tensor_alloc2(&y, 2, 2), 0);
    const float pv[4] = {1, 0, 2, 0}, yv[4] = {1, 1, 2, 3};
    memcpy(p.data, pv, sizeof pv);
    memcpy(y.data, yv, sizeof yv);
    evaluation *e = eval_new(0, 2);
    char err[128];
    cr_assert_eq(eval_add(e, &p, &y, NULL, err, sizeof err), 0, "%s", err);
    near(eval_column_metric(e, 0, "mse"), 0.0);
    near(eval_column_metric(e, 1, "mse"), 5.0);
    near(eval_column_metric(e, 1, "mae"), 2.0);
    near(eval_column_metric(e, 0, "r2"), 1.0);
    near(eval_column_metric(e, 1, "r2"), -4.0);
    bool ok;
    near(eval_metric(e, "mse", &ok), 2.5);
    near(eval_metric(e, "rmse", &ok), sqrt(5.0) / 2.0);
    near(eval_metric(e, "r2", &ok), -1.5);
    /* a constant target column has no R^2 */
    tensor_release(&y);
    cr_assert_eq(tensor_alloc2(&y, 2, 2), 0);
    evaluation *c = eval_new(0, 2);
    cr_assert_eq(eval_add(c, &p, &y, NULL, err, sizeof err), 0);
    cr_assert(isnan(eval_column_metric(c, 0, "r2")));
    cr_assert(isnan(eval_metric(c, "r2", &ok)));
    cr_assert(ok);
    eval_free(c);
    tensor_release(&p);
    tensor_release(&y);
    eval_free(e);
}

/* The report and JSON as text. */
static char *render(const evaluation *e, bool json, const char *title)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    cr_assert(f);
    if (json)
        cr_assert_eq(eval_write_json(e, f, title), 0);
    else
        eval_print(e, f, title);
    fclose(f);
    return buf;
}

Test(eval, report_and_json)
{
    evaluation *e = seven_examples(3);
    char *text = render(e, false, "test");
    cr_assert(strstr(text, "Evaluation Metrics: test"), "%s", text);
    cr_assert(strstr(text, " Examples:        7\n"), "%s", text);
    cr_assert(strstr(text, " Accuracy:        0.7143\n"), "%s", text);
    cr_assert(strstr(text, " Precision:       0.7222\n"), "%s", text);
    cr_assert(strstr(text, " F1 Score:        0.7000\n"), "%s", text);
    cr_assert(strstr(text, "        2     1.0000     0.6667     0.8000         3\n"), "%s", text);
    cr_assert(strstr(text, "  0  1  2\n"), "%s", text);
    cr_assert(strstr(text, "  1  1  0 | 0 = 0\n"), "%s", text);
    cr_assert(strstr(text, "  1  0  2 | 2 = 2\n"), "%s", text);
    free(text);
    char *json = render(e, true, "te\"st");
    cr_assert(strstr(json, "{\"data\":\"te\\\"st\",\"kind\":\"classification\",\"count\":7,\"accuracy\":0.7142857142857143"),
              "%s", json);
    cr_assert(strstr(json, "\"confusion\":[[1,1,0],[0,2,0],[1,0,2]]}"), "%s", json);
    cr_assert(strstr(json, "{\"class\":1,\"precision\":0.6666666666666666,\"recall\":1,\"f1\":0.8,\"support\":2}"),
              "%s", json);
    cr_assert(!strstr(json, "\"mse\""), "%s", json);
    free(json);
    static const char *const names[3] = {"cat", "dog", "eel"};
    eval_set_class_names(e, names);
    text = render(e, false, NULL);
    cr_assert(strstr(text, " | 1 = dog\n"), "%s", text);
    free(text);
    eval_free(e);

    /* regression: undefined R^2 is null in JSON and "-" in the report */
    evaluation *r = eval_new(0, 1);
    tensor p = {0}, y = {0};
    cr_assert_eq(tensor_alloc2(&p, 2, 1), 0);
    cr_assert_eq(tensor_alloc2(&y, 2, 1), 0);
    p.data[0] = 1;
    char err[64];
    cr_assert_eq(eval_add(r, &p, &y, NULL, err, sizeof err), 0);
    json = render(r, true, NULL);
    cr_assert(strstr(json, "{\"kind\":\"regression\",\"count\":2,\"mse\":0.5,\"mae\":0.5,\"rmse\":0.7071067811865476,\"r2\":null"),
              "%s", json);
    free(json);
    text = render(r, false, "reg");
    cr_assert(strstr(text, "        0       0.5000       0.5000       0.7071            -\n"), "%s", text);
    free(text);
    tensor_release(&p);
    tensor_release(&y);
    eval_free(r);
}
