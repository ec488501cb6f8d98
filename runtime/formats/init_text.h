/* init_text.h: a model's weight initialisation as the formats write it, in the script's value
 * syntax ("xavier", "uniform(lower = -0.1, upper = 0.1)"). */
#ifndef SURGERY_INIT_TEXT_H
#define SURGERY_INIT_TEXT_H

#include "runtime/base/conf.h"

/* Ownership: returns a malloc'd string the caller frees; NULL only when memory runs out. */
char *weight_init_text(const init_spec *w);

#endif
