/* eval.c: classification and regression metrics accumulated batch by batch, with DL4J-style
 * text reports and JSON output. */
#include "runtime/train/eval.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/base/conf.h"

const char *const eval_metric_names[EVAL_METRIC_COUNT] = {"accuracy", "precision", "recall", "f1",
                                                          "mse", "mae", "rmse", "r2"};

/* Per regression column: error sums and Welford statistics of the targets. */
typedef struct column_stats {
    int64_t n;
    double sq_err, abs_err;
    double mean, m2;
} column_stats;

struct evaluation {
    int64_t classes, outputs, count;
    double loss_sum;             /* score * examples, summed over eval_add_loss calls */
    int64_t loss_examples;
    int64_t *confusion;          /* [actual * classes + predicted] */
    column_stats *cols;
    const char *const *names;
};

evaluation *eval_new(int64_t classes, int64_t outputs)
{
    assert(classes == 0 || classes >= 2);
    assert(classes > 0 || outputs >= 1);
    evaluation *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    e->classes = classes;
    e->outputs = classes ? classes : outputs;
    if (classes)
        e->confusion = calloc((size_t)(classes * classes), sizeof *e->confusion);
    else
        e->cols = calloc((size_t)outputs, sizeof *e->cols);
    if (!e->confusion && !e->cols) {
        free(e);
        return NULL;
    }
    return e;
}

void eval_free(evaluation *e)
{
    if (!e)
        return;
    free(e->confusion);
    free(e->cols);
    free(e);
}

bool eval_is_classification(const evaluation *e) { return e->classes > 0; }
int64_t eval_classes(const evaluation *e) { return e->classes; }
int64_t eval_outputs(const evaluation *e) { return e->outputs; }
int64_t eval_count(const evaluation *e) { return e->count; }
void eval_set_class_names(evaluation *e, const char *const *names) { e->names = names; }

static int64_t argmax(const float *v, int64_t n)
{
    int64_t best = 0;
    for (int64_t i = 1; i < n; i++)
        if (v[i] > v[best])
            best = i;
    return best;
}

int eval_add(evaluation *e, const tensor *pred, const tensor *labels, const tensor *mask, char *err,
             size_t err_len)
{
    char a[64], b[64];
    if (!tensor_same_shape(pred, labels)) {
        snprintf(err, err_len, "predictions %s and labels %s differ in shape",
                 shape_str(a, sizeof a, pred->ndim, pred->shape), shape_str(b, sizeof b, labels->ndim, labels->shape));
        return -1;
    }
    int64_t K = e->outputs;
    if (pred->ndim < 1 || pred->shape[pred->ndim - 1] != K) {
        snprintf(err, err_len, "predictions %s: expected %lld values per row (%s)",
                 shape_str(a, sizeof a, pred->ndim, pred->shape), (long long)K,
                 e->classes ? "one per class" : "one per target");
        return -1;
    }
    int64_t rows = pred->size / K;
    const float *m = mask && mask->data ? mask->data : NULL;
    if (m && mask->size != rows) {
        snprintf(err, err_len, "mask %s has %lld entries for %lld rows",
                 shape_str(a, sizeof a, mask->ndim, mask->shape), (long long)mask->size, (long long)rows);
        return -1;
    }
    for (int64_t r = 0; r < rows; r++) {
        if (m && m[r] == 0.0f)
            continue;
        const float *p = pred->data + r * K, *y = labels->data + r * K;
        if (e->classes) {
            bool any = false;
            for (int64_t k = 0; k < K && !any; k++)
                any = y[k] != 0.0f;
            if (!any)
                continue;
            e->confusion[argmax(y, K) * K + argmax(p, K)]++;
        } else {
            for (int64_t k = 0; k < K; k++) {
                column_stats *c = &e->cols[k];
                double diff = (double)p[k] - (double)y[k];
                c->n++;
                c->sq_err += diff * diff;
                c->abs_err += fabs(diff);
                double delta = y[k] - c->mean;
                c->mean += delta / (double)c->n;
                c->m2 += delta * (y[k] - c->mean);
            }
        }
        e->count++;
    }
    return 0;
}

/* ---- classification ---- */

int64_t eval_confusion(const evaluation *e, int64_t actual, int64_t predicted)
{
    assert(e->classes && actual >= 0 && actual < e->classes && predicted >= 0 && predicted < e->classes);
    return e->confusion[actual * e->classes + predicted];
}

static void class_counts(const evaluation *e, int64_t c, int64_t *tp, int64_t *fp, int64_t *fn)
{
    int64_t K = e->classes;
    *tp = e->confusion[c * K + c];
    *fp = *fn = 0;
    for (int64_t k = 0; k < K; k++) {
        if (k == c)
            continue;
        *fp += e->confusion[k * K + c];
        *fn += e->confusion[c * K + k];
    }
}

double eval_class_precision(const evaluation *e, int64_t c)
{
    int64_t tp, fp, fn;
    class_counts(e, c, &tp, &fp, &fn);
    return tp + fp ? (double)tp / (double)(tp + fp) : NAN;
}

double eval_class_recall(const evaluation *e, int64_t c)
{
    int64_t tp, fp, fn;
    class_counts(e, c, &tp, &fp, &fn);
    return tp + fn ? (double)tp / (double)(tp + fn) : NAN;
}

double eval_class_f1(const evaluation *e, int64_t c)
{
    int64_t tp, fp, fn;
    class_counts(e, c, &tp, &fp, &fn);
    return tp + fp + fn ? 2.0 * (double)tp / (double)(2 * tp + fp + fn) : NAN;
}

int64_t eval_class_support(const evaluation *e, int64_t c)
{
    int64_t tp, fp, fn;
    class_counts(e, c, &tp, &fp, &fn);
    return tp + fn;
}

/* Mean of a per-class metric over the classes where it is defined; *excluded counts the rest. */
static double macro(const evaluation *e, double (*metric)(const evaluation *, int64_t), int64_t *excluded)
{
    double sum = 0;
    int64_t n = 0;
    for (int64_t c = 0; c < e->classes; c++) {
        double v = metric(e, c);
        if (isnan(v))
            continue;
        sum += v;
        n++;
    }
    if (excluded)
        *excluded = e->classes - n;
    return n ? sum / (double)n : NAN;
}

static double accuracy(const evaluation *e)
{
    int64_t right = 0;
    for (int64_t c = 0; c < e->classes; c++)
        right += e->confusion[c * e->classes + c];
    return e->count ? (double)right / (double)e->count : NAN;
}

/* ---- regression ---- */

double eval_column_metric(const evaluation *e, int64_t col, const char *name)
{
    if (e->classes || col < 0 || col >= e->outputs)
        return NAN;
    const column_stats *c = &e->cols[col];
    if (!c->n)
        return NAN;
    double mse = c->sq_err / (double)c->n;
    if (!strcmp(name, "mse"))
        return mse;
    if (!strcmp(name, "mae"))
        return c->abs_err / (double)c->n;
    if (!strcmp(name, "rmse"))
        return sqrt(mse);
    if (!strcmp(name, "r2"))
        return c->m2 > 0 ? 1.0 - c->sq_err / c->m2 : NAN;
    return NAN;
}

static double column_average(const evaluation *e, const char *name)
{
    double sum = 0;
    int64_t n = 0;
    for (int64_t k = 0; k < e->outputs; k++) {
        double v = eval_column_metric(e, k, name);
        if (isnan(v))
            continue;
        sum += v;
        n++;
    }
    return n ? sum / (double)n : NAN;
}

void eval_add_loss(evaluation *e, double batch_score, int64_t examples)
{
    e->loss_sum += batch_score * (double)examples;
    e->loss_examples += examples;
}

bool eval_metric_applies(const char *name, bool classification)
{
    bool cls = !strcmp(name, "accuracy") || !strcmp(name, "precision") || !strcmp(name, "recall") ||
               !strcmp(name, "f1");
    bool reg = !strcmp(name, "mse") || !strcmp(name, "mae") || !strcmp(name, "rmse") || !strcmp(name, "r2");
    return classification ? cls : reg;
}

double eval_metric(const evaluation *e, const char *name, bool *ok)
{
    if (!strcmp(name, "loss")) {
        if (ok)
            *ok = e->loss_examples > 0;
        return e->loss_examples > 0 ? e->loss_sum / (double)e->loss_examples : NAN;
    }
    bool applies = eval_metric_applies(name, e->classes != 0);
    if (ok)
        *ok = applies;
    if (!applies)
        return NAN;
    if (!strcmp(name, "accuracy"))
        return accuracy(e);
    if (!strcmp(name, "precision"))
        return macro(e, eval_class_precision, NULL);
    if (!strcmp(name, "recall"))
        return macro(e, eval_class_recall, NULL);
    if (!strcmp(name, "f1"))
        return macro(e, eval_class_f1, NULL);
    return column_average(e, name);
}

/* ---- reports ---- */

static void class_label(const evaluation *e, int64_t c, char *buf, size_t n)
{
    if (e->names && e->names[c])
        snprintf(buf, n, "%s", e->names[c]);
    else
        snprintf(buf, n, "%lld", (long long)c);
}

static void num(char *buf, size_t n, double v)
{
    if (isnan(v))
        snprintf(buf, n, "-");
    else
        snprintf(buf, n, "%.4f", v);
}

static void rule(FILE *out, const char *title)
{
    char head[96];
    int len = title ? snprintf(head, sizeof head, " %s ", title) : 0;
    if (len < 0 || len >= (int)sizeof head)
        len = 0;
    int left = (66 - len) / 2, right = 66 - len - left;
    for (int i = 0; i < left; i++)
        fputc('=', out);
    if (len)
        fputs(head, out);
    for (int i = 0; i < right; i++)
        fputc('=', out);
    fputc('\n', out);
}

static void print_classification(const evaluation *e, FILE *out)
{
    char v[32];
    int64_t K = e->classes, ex_p, ex_r;
    double prec = macro(e, eval_class_precision, &ex_p), rec = macro(e, eval_class_recall, &ex_r);
    fprintf(out, " # of classes:    %lld\n", (long long)K);
    num(v, sizeof v, accuracy(e));
    fprintf(out, " Accuracy:        %s\n", v);
    num(v, sizeof v, prec);
    fprintf(out, " Precision:       %s\n", v);
    num(v, sizeof v, rec);
    fprintf(out, " Recall:          %s\n", v);
    num(v, sizeof v, macro(e, eval_class_f1, NULL));
    fprintf(out, " F1 Score:        %s\n", v);
    fprintf(out, "Precision, recall & F1: macro-averaged (equally weighted avg. of %lld classes)\n", (long long)K);
    if (ex_p)
        fprintf(out, "Warning: %lld class%s never predicted by the model and %s excluded from average precision\n",
                (long long)ex_p, ex_p == 1 ? " was" : "es were", ex_p == 1 ? "was" : "were");
    if (ex_r)
        fprintf(out, "Warning: %lld class%s absent from the labels and %s excluded from average recall\n",
                (long long)ex_r, ex_r == 1 ? " was" : "es were", ex_r == 1 ? "was" : "were");
    fprintf(out, "\n %8s %10s %10s %10s %9s\n", "Class", "Precision", "Recall", "F1", "Support");
    for (int64_t c = 0; c < K; c++) {
        char name[32], p[16], r[16], f[16];
        class_label(e, c, name, sizeof name);
        num(p, sizeof p, eval_class_precision(e, c));
        num(r, sizeof r, eval_class_recall(e, c));
        num(f, sizeof f, eval_class_f1(e, c));
        fprintf(out, " %8s %10s %10s %10s %9lld\n", name, p, r, f, (long long)eval_class_support(e, c));
    }
    fputc('\n', out);
    if (K > 32) {
        fprintf(out, "Confusion matrix omitted for %lld classes (it is in the JSON log)\n", (long long)K);
        return;
    }
    rule(out, "Confusion Matrix");
    int64_t big = 1;
    for (int64_t i = 0; i < K * K; i++)
        if (e->confusion[i] > big)
            big = e->confusion[i];
    int w = 1;
    for (int64_t t = big; t >= 10; t /= 10)
        w++;
    char name[32];
    for (int64_t c = 0; c < K; c++) {
        class_label(e, c, name, sizeof name);
        int nw = (int)strlen(name);
        if (nw > w)
            w = nw;
    }
    w += 2;
    for (int64_t c = 0; c < K; c++) {
        class_label(e, c, name, sizeof name);
        fprintf(out, "%*s", w, name);
    }
    fputc('\n', out);
    for (int64_t i = 0; i < w * K + 1; i++)
        fputc('-', out);
    fputc('\n', out);
    for (int64_t a = 0; a < K; a++) {
        for (int64_t p = 0; p < K; p++)
            fprintf(out, "%*lld", w, (long long)e->confusion[a * K + p]);
        class_label(e, a, name, sizeof name);
        fprintf(out, " | %lld = %s\n", (long long)a, name);
    }
    fprintf(out, "\nConfusion matrix format: Actual (rowClass) predicted as (columnClass) N times\n");
}

static void print_regression(const evaluation *e, FILE *out)
{
    static const char *const names[] = {"mse", "mae", "rmse", "r2"};
    fprintf(out, " # of targets:    %lld\n", (long long)e->outputs);
    fprintf(out, "\n %8s %12s %12s %12s %12s\n", "Column", "MSE", "MAE", "RMSE", "R^2");
    for (int64_t k = 0; k < e->outputs; k++) {
        fprintf(out, " %8lld", (long long)k);
        for (int i = 0; i < 4; i++) {
            char v[32];
            num(v, sizeof v, eval_column_metric(e, k, names[i]));
            fprintf(out, " %12s", v);
        }
        fputc('\n', out);
    }
    if (e->outputs > 1) {
        fprintf(out, " %8s", "average");
        for (int i = 0; i < 4; i++) {
            char v[32];
            num(v, sizeof v, column_average(e, names[i]));
            fprintf(out, " %12s", v);
        }
        fputc('\n', out);
    }
}

void eval_print(const evaluation *e, FILE *out, const char *title)
{
    char head[96];
    snprintf(head, sizeof head, "Evaluation Metrics%s%s", title ? ": " : "", title ? title : "");
    fputc('\n', out);
    rule(out, head);
    fprintf(out, " Examples:        %lld\n", (long long)e->count);
    if (e->classes)
        print_classification(e, out);
    else
        print_regression(e, out);
    rule(out, NULL);
}

static void json_num(FILE *out, double v)
{
    if (isnan(v) || isinf(v))
        fputs("null", out);
    else {
        char buf[40];
        fputs(conf_format_num(v, buf, sizeof buf), out);
    }
}

static void json_str(FILE *out, const char *s)
{
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(out, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(out, "\\u%04x", *p);
        else
            fputc(*p, out);
    }
    fputc('"', out);
}

int eval_write_json(const evaluation *e, FILE *out, const char *title)
{
    fputc('{', out);
    if (title) {
        fputs("\"data\":", out);
        json_str(out, title);
        fputc(',', out);
    }
    fprintf(out, "\"kind\":\"%s\",\"count\":%lld", e->classes ? "classification" : "regression", (long long)e->count);
    for (int i = 0; i < EVAL_METRIC_COUNT; i++) {
        bool ok;
        double v = eval_metric(e, eval_metric_names[i], &ok);
        if (!ok)
            continue;
        fprintf(out, ",\"%s\":", eval_metric_names[i]);
        json_num(out, v);
    }
    if (e->classes) {
        fprintf(out, ",\"classes\":%lld,\"per_class\":[", (long long)e->classes);
        for (int64_t c = 0; c < e->classes; c++) {
            fprintf(out, "%s{\"class\":%lld", c ? "," : "", (long long)c);
            if (e->names && e->names[c]) {
                fputs(",\"name\":", out);
                json_str(out, e->names[c]);
            }
            fputs(",\"precision\":", out);
            json_num(out, eval_class_precision(e, c));
            fputs(",\"recall\":", out);
            json_num(out, eval_class_recall(e, c));
            fputs(",\"f1\":", out);
            json_num(out, eval_class_f1(e, c));
            fprintf(out, ",\"support\":%lld}", (long long)eval_class_support(e, c));
        }
        fputs("],\"confusion\":[", out);
        for (int64_t a = 0; a < e->classes; a++) {
            fprintf(out, "%s[", a ? "," : "");
            for (int64_t p = 0; p < e->classes; p++)
                fprintf(out, "%s%lld", p ? "," : "", (long long)e->confusion[a * e->classes + p]);
            fputc(']', out);
        }
        fputc(']', out);
    } else {
        static const char *const names[] = {"mse", "mae", "rmse", "r2"};
        fprintf(out, ",\"outputs\":%lld,\"per_column\":[", (long long)e->outputs);
        for (int64_t k = 0; k < e->outputs; k++) {
            fprintf(out, "%s{\"column\":%lld", k ? "," : "", (long long)k);
            for (int i = 0; i < 4; i++) {
                fprintf(out, ",\"%s\":", names[i]);
                json_num(out, eval_column_metric(e, k, names[i]));
            }
            fputc('}', out);
        }
        fputc(']', out);
    }
    fputc('}', out);
    return ferror(out) ? -1 : 0;
}
