/* ir_yaml_impl.h: what the IR's YAML emitter (ir_yaml.c) and its reader (ir_yaml_read.c) share:
 * the format's name and the tables of the fields, flags and comparisons each statement kind uses. */
#ifndef SURGERY_IR_YAML_IMPL_H
#define SURGERY_IR_YAML_IMPL_H

/* Ownership: constant tables only; nothing here allocates. */

#include "runtime/script/ir.h"

#define IR_FORMAT "surgery-ir/1"
#define MAX_DEPTH 64

/* The fields each statement kind uses (see ir.h). */
enum {
    F_NAME = 1u << 0, F_NAME2 = 1u << 1, F_TYPE = 1u << 2, F_NAMES = 1u << 3,
    F_COUNT = 1u << 4, F_INDICES = 1u << 5, F_OPTS = 1u << 6, F_VALUE = 1u << 7,
    F_EXPECT = 1u << 8, F_FLAGS = 1u << 9
};

static const unsigned kind_fields[IR_KIND_COUNT] = {
    [IR_VERSION] = F_COUNT,
    [IR_BASE] = F_NAME,
    [IR_PARAM] = F_NAME | F_VALUE,
    [IR_FINE_TUNE] = F_OPTS,
    [IR_FREEZE_THROUGH] = F_NAMES,
    [IR_FREEZE] = F_NAMES,
    [IR_UNFREEZE] = F_NAMES,
    [IR_REMOVE] = F_NAME | F_FLAGS,
    [IR_REMOVE_OUTPUT] = 0,
    [IR_REMOVE_LAST] = F_COUNT,
    [IR_ADD] = F_TYPE | F_NAME | F_NAMES | F_OPTS,
    [IR_REPLACE] = F_NAME | F_TYPE | F_OPTS,
    [IR_INSERT] = F_TYPE | F_NAME | F_NAME2 | F_OPTS,
    [IR_RESIZE] = F_NAME | F_COUNT | F_FLAGS | F_OPTS,
    [IR_WIDEN] = F_NAME | F_COUNT | F_FLAGS | F_OPTS,
    [IR_NARROW] = F_NAME | F_COUNT | F_FLAGS | F_INDICES,
    [IR_DEEPEN] = F_NAME | F_TYPE | F_NAME2 | F_OPTS,
    [IR_RENAME] = F_NAME | F_NAME2,
    [IR_SET] = F_NAME | F_OPTS,
    [IR_OUTPUTS] = F_NAMES,
    [IR_INPUTS] = F_NAMES,
    [IR_DATA] = F_NAME | F_VALUE | F_OPTS,
    [IR_FEATURIZE] = F_NAME | F_NAME2 | F_FLAGS,
    [IR_FIT] = F_NAME | F_COUNT | F_FLAGS | F_OPTS,
    [IR_EVALUATE] = F_NAME,
    [IR_EXPECT] = F_EXPECT | F_NAME,
    [IR_SAVE] = F_NAME | F_OPTS,
};

static const char *const flag_names[] = {"keep_connections", "to", "drop", "n_in", "iterations",
                                         "has_into"};
#define N_FLAGS ((int)(sizeof flag_names / sizeof flag_names[0]))

static const char *const cmp_names[] = {[CMP_GE] = ">=", [CMP_GT] = ">", [CMP_LE] = "<=",
                                        [CMP_LT] = "<", [CMP_EQ] = "=="};
#define N_CMPS ((int)(sizeof cmp_names / sizeof cmp_names[0]))

#endif
