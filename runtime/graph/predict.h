/* predict.h: inference on the execution plan: a plan built once for some nodes and run over
 * many batches (model_predict and model_predict_nodes of model.h build one per call). */
#ifndef SURGERY_PREDICT_H
#define SURGERY_PREDICT_H

#include <stddef.h>
#include "runtime/graph/executor.h"
#include "runtime/graph/model.h"
#include "runtime/tensor/tensor.h"

/* Ownership: the plan made by exec_plan_for_nodes is the caller's (exec_plan_free); it borrows
 * the model (executor.h). Outputs filled by exec_predict are the caller's. */

/* A plan computing the named nodes (layers or inputs) of m in inference mode, releasing other
 * activations as soon as they are used. Returns 0 with *out set, or -1 with a message in err
 * (graph or shape errors, a name that is not a node, out of memory). */
int exec_plan_for_nodes(exec_plan **out, model *m, const char *const *names, int n_names,
                        char *err, size_t err_len);
/* model_predict_nodes on a plan from exec_plan_for_nodes for the same names: checks the inputs
 * against the model, runs the plan and hands the named activations to outputs (released
 * first). The plan keeps no activations afterwards. Returns 0, or -1 with a message in err. */
int exec_predict(exec_plan *p, const tensor *const *inputs, const float *const *masks,
                 const char *const *names, int n_names, tensor *outputs, char *err,
                 size_t err_len);

#endif
