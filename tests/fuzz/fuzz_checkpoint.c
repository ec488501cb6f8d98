/* fuzz_checkpoint.c: libFuzzer target for the checkpoint file of a fit (`--resume`): the input
 * is the body between the magic line and the checksum, which the target appends so that mutated
 * bodies reach the parser; a checkpoint that reads is applied to a small model. */
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "runtime/base/diag.h"
#include "runtime/formats/format.h"
#include "runtime/train/checkpoint.h"
#include "tests/fuzz/fuzz_common.h"

static const char magic[] = "surgery checkpoint\n";

/* The model the checkpoints are applied to: a dense layer and an output, as the seeds'. */
static model *target_model(void)
{
    static model *m;
    if (!m) {
        static const char yaml[] =
            "format: surgery-model/1\nname: tiny\ninputs:\n  - {name: in, type: feed_forward, size: 3}\n"
            "layers:\n  - {name: h, type: dense, inputs: [in], n_out: 2, activation: relu}\n"
            "  - {name: out, type: output, inputs: [h], n_out: 2, activation: softmax, loss: mcxent}\n"
            "outputs: [out]\ninit: {seed: 3, weight_init: relu}\ntraining: {updater: adam, learning_rate: 0.01}\n";
        diag_ctx *d = diag_new(fuzz_sink(), DIAG_COLOR_NEVER);
        m = model_load(fuzz_write("m.yaml", yaml, sizeof yaml - 1), true, d);
        diag_free(d);
        if (!m)
            abort();
    }
    return m;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t k = sizeof magic - 1, n = k + size + 8;
    unsigned char *file = malloc(n);
    memcpy(file, magic, k);
    if (size)
        memcpy(file + k, data, size);
    uint64_t sum = XXH3_64bits(file, k + size);
    memcpy(file + k + size, &sum, 8);
    const char *path = fuzz_write("fit-1.ckpt", file, n);
    free(file);
    train_checkpoint *ck = NULL;
    char err[512] = "";
    int got = checkpoint_read(path, &ck, err, sizeof err);
    if (got < 0 && !err[0])
        abort(); /* a refusal must be explained */
    if (got == 1) {
        err[0] = 0;
        if (checkpoint_apply(ck, target_model(), err, sizeof err) != 0 && !err[0])
            abort();
    }
    checkpoint_free(ck);
    return 0;
}
