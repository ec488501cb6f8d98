/* test_checkpoint.c: the fit checkpoint file: a round trip restores weights, updater moments,
 * counters, the position and the dropout generator bit for bit; missing, foreign, truncated and
 * damaged files and a model of other shapes are told apart. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/base/diag.h"
#include "runtime/formats/format.h"
#include "runtime/graph/model.h"
#include "runtime/nn/layer.h"
#include "runtime/train/checkpoint.h"
#include "runtime/train/train.h"
#include "runtime/train/train_impl.h"

static char ck_dir[64];

static void ck_setup(void)
{
    strcpy(ck_dir, "/tmp/surgery-ckpt-XXXXXX");
    cr_assert(mkdtemp(ck_dir));
}

static void ck_teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", ck_dir);
    cr_assert_eq(system(cmd), 0);
}

static char *ck_path(const char *name)
{
    static char buf[4][160];
    static int k;
    char *p = buf[k++ % 4];
    snprintf(p, 160, "%s/%s", ck_dir, name);
    return p;
}

/* in(4) -> fc dense(hidden, relu) -> out output(3, softmax, mcxent); fc frozen when asked. */
static model *ck_model(int hidden, bool frozen_fc)
{
    char *yaml = ck_path("m.yaml");
    FILE *f = fopen(yaml, "w");
    cr_assert(f);
    fprintf(f, "format: surgery-model/1\nname: m\ninputs:\n  - {name: in, type: feed_forward, "
            "size: 4}\nlayers:\n  - {name: fc, type: dense, inputs: [in], n_out: %d, "
            "activation: relu}\n  - {name: out, type: output, inputs: [fc], n_out: 3, "
            "activation: softmax, loss: mcxent}\noutputs: [out]\ninit: {seed: 9}\n",
            hidden);
    fclose(f);
    diag_ctx *d = diag_new(stderr, DIAG_COLOR_NEVER);
    model *m = model_load(yaml, true, d);
    cr_assert(m, "model_load failed");
    cr_assert_eq(model_infer_shapes(m, d), 0);
    cr_assert_eq(model_init_params(m), 0);
    diag_free(d);
    m->layers[0]->frozen = frozen_fc;
    for (int i = 0; i < m->n_layers; i++) {
        updater_conf_defaults(&m->layers[i]->train.updater, UPD_ADAM);
        m->layers[i]->train.updater.learning_rate = 0.01;
        m->layers[i]->train.dropout = 0.25;
    }
    return m;
}

/* Three adam steps on a fixed batch: parameters move and moments exist. */
static void ck_train(model *m, train_options *o)
{
    tensor x = {0}, y = {0};
    cr_assert_eq(tensor_alloc2(&x, 5, 4), 0);
    cr_assert_eq(tensor_alloc2(&y, 5, 3), 0);
    for (int64_t i = 0; i < x.size; i++)
        x.data[i] = (float)((i * 7) % 11) / 11.0f;
    for (int b = 0; b < 5; b++)
        y.data[b * 3 + b % 3] = 1.0f;
    const tensor *in[1] = {&x};
    for (int k = 0; k < 3; k++) {
        double loss;
        cr_assert_eq(train_step(m, in, &y, NULL, NULL, o, &loss, NULL), 0);
    }
    tensor_release(&x);
    tensor_release(&y);
}

static void assert_same_tensor(const tensor *a, const tensor *b, const char *what)
{
    cr_assert_eq(a->data != NULL, b->data != NULL, "%s", what);
    if (!a->data)
        return;
    cr_assert(tensor_same_shape(a, b), "%s", what);
    cr_assert(memcmp(a->data, b->data, (size_t)a->size * sizeof(float)) == 0, "%s", what);
}

/* The checkpoint at file reads, and applying it to target is refused with a message holding
 * part. */
static void expect_apply_refused(const char *file, model *target, const char *part)
{
    train_checkpoint *ck = NULL;
    char err[512];
    cr_assert_eq(checkpoint_read(file, &ck, err, sizeof err), 1, "%s", err);
    cr_assert_eq(checkpoint_apply(ck, target, err, sizeof err), -1);
    cr_assert(strstr(err, part), "%s", err);
    checkpoint_free(ck);
}

TestSuite(checkpoint, .init = ck_setup, .fini = ck_teardown);

Test(checkpoint, round_trip_restores_the_training_state_bit_for_bit)
{
    model *m = ck_model(8, false);
    train_options o;
    train_options_init(&o);
    ck_train(m, &o);
    m->epoch_count = 4;
    rng dropout;
    cr_assert(train_dropout_rng(&o, &dropout), "the trainer draws dropout masks");
    checkpoint_identity id = {.script = 11, .base = 22, .data = 33, .fit = 2};
    fit_position pos = {.epoch = 4, .batches = 3, .epochs_done = 4, .iterations = 3,
                        .examples = 15, .epoch_loss_sum = 1.25, .epoch_examples = 15,
                        .last_epoch_loss = 0.5};
    char err[512];
    const char *file = ck_path("fit-2.ckpt");
    cr_assert_eq(checkpoint_write(file, &id, m, &pos, &dropout, false, err, sizeof err), 0, "%s",
                 err);

    train_checkpoint *ck = NULL;
    cr_assert_eq(checkpoint_read(file, &ck, err, sizeof err), 1, "%s", err);
    cr_assert_eq(ck->id.script, 11);
    cr_assert_eq(ck->id.base, 22);
    cr_assert_eq(ck->id.data, 33);
    cr_assert_eq(ck->id.fit, 2);
    cr_assert_eq(ck->pos.epoch, 4);
    cr_assert_eq(ck->pos.batches, 3);
    cr_assert_eq(ck->pos.iterations, 3);
    cr_assert_eq(ck->pos.examples, 15);
    cr_assert_eq(ck->pos.epoch_loss_sum, 1.25);
    cr_assert_eq(ck->pos.last_epoch_loss, 0.5);
    cr_assert_not(ck->pos.complete);
    cr_assert(ck->has_dropout);
    cr_assert(memcmp(ck->dropout.s, dropout.s, sizeof dropout.s) == 0);

    model *fresh = ck_model(8, false);
    cr_assert_eq(checkpoint_apply(ck, fresh, err, sizeof err), 0, "%s", err);
    cr_assert_eq(fresh->iteration_count, 3);
    cr_assert_eq(fresh->epoch_count, 4);
    for (int i = 0; i < m->n_layers; i++) {
        const layer *a = m->layers[i], *b = fresh->layers[i];
        for (int p = 0; p < a->n_params; p++) {
            assert_same_tensor(&a->params[p], &b->params[p], a->name);
            cr_assert_not_null(a->upd_state[p][0].data, "adam keeps moments");
            assert_same_tensor(&a->upd_state[p][0], &b->upd_state[p][0], a->name);
            assert_same_tensor(&a->upd_state[p][1], &b->upd_state[p][1], a->name);
        }
    }
    /* Training both on from here gives the same numbers (moments, counters and the dropout
     * generator included). */
    train_options o2;
    train_options_init(&o2);
    o2.resume = ck;
    ck_train(m, &o);
    ck_train(fresh, &o2);
    for (int i = 0; i < m->n_layers; i++)
        for (int p = 0; p < m->layers[i]->n_params; p++)
            assert_same_tensor(&m->layers[i]->params[p], &fresh->layers[i]->params[p], "after");
    train_options_release(&o);
    train_options_release(&o2);
    checkpoint_free(ck);
    model_free(m);
    model_free(fresh);
}

Test(checkpoint, frozen_layers_are_left_out)
{
    model *m = ck_model(8, true);
    train_options o;
    train_options_init(&o);
    ck_train(m, &o);
    checkpoint_identity id = {0};
    fit_position pos = {.complete = true};
    char err[512];
    const char *file = ck_path("frozen.ckpt");
    cr_assert_eq(checkpoint_write(file, &id, m, &pos, NULL, true, err, sizeof err), 0, "%s", err);
    train_checkpoint *ck = NULL;
    cr_assert_eq(checkpoint_read(file, &ck, err, sizeof err), 1, "%s", err);
    cr_assert_eq(ck->n_layers, 1);
    cr_assert(ck->pos.complete);
    cr_assert_not(ck->has_dropout);
    /* A model where fc is trained too does not match it. */
    model *other = ck_model(8, false);
    cr_assert_eq(checkpoint_apply(ck, other, err, sizeof err), -1);
    cr_assert(strstr(err, "'fc'"), "%s", err);
    train_options_release(&o);
    checkpoint_free(ck);
    model_free(m);
    model_free(other);
}

Test(checkpoint, bad_files_are_told_apart)
{
    char err[512];
    train_checkpoint *ck = NULL;
    cr_assert_eq(checkpoint_read(ck_path("none.ckpt"), &ck, err, sizeof err), 0);
    cr_assert_null(ck);

    const char *junk = ck_path("junk.ckpt");
    FILE *f = fopen(junk, "w");
    fputs("format: surgery-model/1\n", f);
    fclose(f);
    cr_assert_eq(checkpoint_read(junk, &ck, err, sizeof err), -1);
    cr_assert(strstr(err, "is not a surgery checkpoint"), "%s", err);

    model *m = ck_model(6, false);
    checkpoint_identity id = {0};
    fit_position pos = {0};
    const char *file = ck_path("good.ckpt");
    cr_assert_eq(checkpoint_write(file, &id, m, &pos, NULL, false, err, sizeof err), 0, "%s", err);
    FILE *in = fopen(file, "rb");
    static unsigned char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf, in);
    fclose(in);
    cr_assert_gt(n, 200);

    const char *cut = ck_path("cut.ckpt");
    f = fopen(cut, "wb");
    fwrite(buf, 1, n / 2, f);
    fclose(f);
    cr_assert_eq(checkpoint_read(cut, &ck, err, sizeof err), -1);
    cr_assert(strstr(err, "damaged"), "%s", err);

    buf[n / 2] ^= 0x40;
    const char *flipped = ck_path("flipped.ckpt");
    f = fopen(flipped, "wb");
    fwrite(buf, 1, n, f);
    fclose(f);
    cr_assert_eq(checkpoint_read(flipped, &ck, err, sizeof err), -1);
    cr_assert(strstr(err, "damaged"), "%s", err);

    /* Shapes that differ are refused. */
    model *wider = ck_model(7, false);
    expect_apply_refused(file, wider, "another shape");
    model_free(m);
    model_free(wider);
}

/* An updater state of another shape than its parameter (in a file whose checksum matches) was
 * copied into the model as it was; it is refused, naming the layer. */
Test(checkpoint, updater_state_of_another_shape_is_refused)
{
    model *m = ck_model(6, false);
    layer *L = NULL;
    for (int i = 0; i < m->n_layers && !L; i++)
        if (m->layers[i]->n_params > 0 && !m->layers[i]->frozen)
            L = m->layers[i];
    cr_assert_not_null(L);
    cr_assert_eq(tensor_alloc(&L->upd_state[0][0], 1, (int64_t[]){3}), 0);
    checkpoint_identity id = {0};
    fit_position pos = {0};
    char err[512];
    const char *file = ck_path("odd_state.ckpt");
    cr_assert_eq(checkpoint_write(file, &id, m, &pos, NULL, false, err, sizeof err), 0, "%s", err);
    model *fresh = ck_model(6, false);
    expect_apply_refused(file, fresh, "another shape for the updater state of a parameter of layer");
    model_free(m);
    model_free(fresh);
}
