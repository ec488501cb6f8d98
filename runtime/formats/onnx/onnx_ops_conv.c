/* onnx_ops_conv.c: the ONNX operators on images (NCHW): Conv, the pools, BatchNormalization
 * and Pad. */
#include <string.h>

#include "runtime/formats/onnx/onnx_mapper.h"

bool onnx_ops_conv(mapper *mp, const Onnx__NodeProto *n, int idx, value *x, value *out)
{
    (void)x;
    (void)out;
    static const char *const conv_ops[] = {"Conv", "MaxPool", "AveragePool", "GlobalAveragePool",
                                           "GlobalMaxPool", "BatchNormalization", "Pad", NULL};
    for (int k = 0; conv_ops[k]; k++)
        if (!strcmp(n->op_type, conv_ops[k])) {
            onnx_unsupported(mp, idx, n, "not yet: comes with the convolutional layers");
            return true;
        }
    return false;
}
