/* dl4j_names.h: the DL4J 1.0 class and enum names the DL4J writer puts in configuration.json
 * for surgery's activations, losses, updaters and gradient normalisations. */
#ifndef SURGERY_DL4J_NAMES_H
#define SURGERY_DL4J_NAMES_H

#include "runtime/base/conf.h"

/* Ownership: every function returns a static string (NULL: DL4J has no such thing). */

/* "org.nd4j.linalg.activations.impl.ActivationTanH" for ACT_TANH. */
const char *dl4j_activation_class(activation_kind a);
/* "org.nd4j.linalg.lossfunctions.impl.LossMCXENT" for LOSS_MCXENT; NULL for LOSS_NONE. */
const char *dl4j_loss_class(loss_kind l);
/* "org.nd4j.linalg.learning.config.Adam" for UPD_ADAM; NULL for adamw (DL4J 1.0 has none). */
const char *dl4j_updater_class(updater_kind u);
/* DL4J's GradientNormalization enum: "None", "ClipL2PerLayer", ... */
const char *dl4j_grad_norm_name(grad_norm_kind g);
/* The IWeightInit class of a weight init without parameters ("...WeightInitXavier"); NULL for
 * zeros, ones, uniform and normal, which take fields (WeightInitConstant, WeightInitDistribution). */
const char *dl4j_weight_init_class(init_kind k);

#endif
