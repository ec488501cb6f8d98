/* init_text.c: the written form of a weight initialisation, shared by the native and ONNX
 * writers. */
#include "runtime/formats/init_text.h"

#include <stdlib.h>

#include "runtime/base/util.h"

char *weight_init_text(const init_spec *w)
{
    train_conf wi;
    train_conf_defaults(&wi);
    wi.weight_init = *w;
    wi.set_mask = TC_WEIGHT_INIT;
    conf_arg *opts = NULL;
    int n = train_conf_to_options(&wi, TC_WEIGHT_INIT, &opts);
    char *text = n == 1 ? conf_value_to_text(opts[0].value) : NULL;
    conf_args_free(opts, n);
    return text ? text : str_dup(init_names[w->kind]);
}
