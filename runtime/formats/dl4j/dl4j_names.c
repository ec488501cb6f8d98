/* dl4j_names.c: surgery's activations, losses, updaters, weight inits and gradient
 * normalisations under their DL4J 1.0 class names (the writer's side of the reader's tables). */
#include "runtime/formats/dl4j/dl4j_names.h"

#include <stddef.h>

#define ACT "org.nd4j.linalg.activations.impl.Activation"
#define LOSS "org.nd4j.linalg.lossfunctions.impl.Loss"
#define UPD "org.nd4j.linalg.learning.config."
#define WI "org.deeplearning4j.nn.weights.WeightInit"

const char *dl4j_activation_class(activation_kind a)
{
    static const char *const classes[ACT_COUNT] = {
        [ACT_IDENTITY] = ACT "Identity", [ACT_RELU] = ACT "ReLU", [ACT_LEAKYRELU] = ACT "LReLU",
        [ACT_ELU] = ACT "ELU", [ACT_TANH] = ACT "TanH", [ACT_SIGMOID] = ACT "Sigmoid",
        [ACT_HARDSIGMOID] = ACT "HardSigmoid", [ACT_SOFTMAX] = ACT "Softmax",
        [ACT_SOFTPLUS] = ACT "SoftPlus", [ACT_GELU] = ACT "GELU", [ACT_RELU6] = ACT "ReLU6",
        [ACT_HARDTANH] = ACT "HardTanH", [ACT_SWISH] = ACT "Swish", [ACT_SELU] = ACT "SELU",
        [ACT_SOFTSIGN] = ACT "SoftSign"};
    return (unsigned)a < ACT_COUNT ? classes[a] : NULL;
}

const char *dl4j_loss_class(loss_kind l)
{
    static const char *const classes[LOSS_COUNT] = {
        [LOSS_MCXENT] = LOSS "MCXENT", [LOSS_NLL] = LOSS "NegativeLogLikelihood",
        [LOSS_MSE] = LOSS "MSE", [LOSS_L1] = LOSS "L1", [LOSS_XENT] = LOSS "BinaryXENT",
        [LOSS_HINGE] = LOSS "Hinge", [LOSS_KL] = LOSS "KLD"};
    return (unsigned)l < LOSS_COUNT ? classes[l] : NULL;
}

const char *dl4j_updater_class(updater_kind u)
{
    static const char *const classes[UPD_COUNT] = {
        [UPD_SGD] = UPD "Sgd", [UPD_NESTEROVS] = UPD "Nesterovs", [UPD_ADAM] = UPD "Adam",
        [UPD_RMSPROP] = UPD "RmsProp", [UPD_ADAGRAD] = UPD "AdaGrad", [UPD_NONE] = UPD "NoOp"};
    return (unsigned)u < UPD_COUNT ? classes[u] : NULL;
}

const char *dl4j_grad_norm_name(grad_norm_kind g)
{
    static const char *const names[GN_COUNT] = {
        [GN_NONE] = "None", [GN_CLIP_ELEMENT_WISE] = "ClipElementWiseAbsoluteValue",
        [GN_CLIP_L2_PER_LAYER] = "ClipL2PerLayer",
        [GN_RENORMALIZE_L2_PER_LAYER] = "RenormalizeL2PerLayer"};
    return (unsigned)g < GN_COUNT ? names[g] : "None";
}

const char *dl4j_weight_init_class(init_kind k)
{
    static const char *const classes[INIT_COUNT] = {
        [INIT_XAVIER] = WI "Xavier", [INIT_XAVIER_UNIFORM] = WI "XavierUniform",
        [INIT_RELU] = WI "Relu", [INIT_RELU_UNIFORM] = WI "ReluUniform",
        [INIT_LECUN_NORMAL] = WI "LecunNormal", [INIT_IDENTITY] = WI "Identity"};
    return (unsigned)k < INIT_COUNT ? classes[k] : NULL;
}
