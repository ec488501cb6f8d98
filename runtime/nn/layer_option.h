/* layer_option.h: the descriptor of one layer option (name, value type, range, default, how
 * the model YAML writes it, what `set` may do with it, one line of documentation, how to read
 * and write it on a layer), as every layer type's option table holds them, and the values of
 * list-valued options (kernel = [3, 3], padding = same). */
#ifndef SURGERY_LAYER_OPTION_H
#define SURGERY_LAYER_OPTION_H

#include <stdbool.h>
#include "runtime/base/conf.h"

/* Ownership: descriptors are static and never freed. */

struct layer;
struct layer_type;

typedef enum {
    LOPT_INTEGER,   /* a whole number within [lo, hi] */
    LOPT_NUMBER,    /* a finite number within `range` */
    LOPT_BOOL,      /* true or false */
    LOPT_ENUM,      /* a name among names[0..count) (synonyms through from_name) */
    LOPT_ACTIVATION, /* an activation: a name as LOPT_ENUM, or clip(min, max); its values are
                     * the activation, then clip's bounds (0, 0 for the others) */
    LOPT_INT_LIST,  /* len whole numbers within [lo, hi]: [3, 3]; one number stands for all */
    LOPT_PADDING    /* same | valid | [top, left, bottom, right] (>= 0); [h, w] and one number
                     * stand for symmetric padding */
} layer_option_kind;

/* A padding value holds its mode, then top, left, bottom, right (explicit only). `same` pads
 * so that out = ceil(in / stride), the extra cell at the bottom and right (DL4J's
 * ConvolutionMode.Same, ONNX SAME_UPPER, TensorFlow's same); `valid` pads nothing (DL4J's
 * Truncate). */
typedef enum { PAD_VALID, PAD_SAME, PAD_EXPLICIT } padding_mode;
#define PADDING_VALUES 5

/* The most numbers one option holds (padding's mode and four sides). */
#define LOPT_MAX_VALUES 5

/* The ranges a number may be restricted to. */
typedef enum {
    RANGE_ANY, RANGE_GE0, RANGE_GT0, RANGE_UNIT_OPEN, RANGE_UNIT_OPEN_RIGHT
} option_range;

/* When the model YAML writes the option. */
typedef enum {
    LOPT_WRITE_CHANGED,   /* when the value differs from the type's default */
    LOPT_WRITE_ALWAYS,    /* always */
    LOPT_WRITE_NEVER      /* never: shape inference sets it from the inputs */
} layer_option_write;

/* What the script's `set` statement may do with the option. */
typedef enum {
    LOPT_SET_ALLOWED,     /* set may change it */
    LOPT_SET_RESHAPES,    /* it changes shapes: resize instead */
    LOPT_SET_REPARAMS     /* it changes the parameters: replace instead */
} layer_option_set;

typedef struct layer_option {
    const char *name;
    layer_option_kind kind;
    option_range range;                 /* LOPT_NUMBER */
    double lo, hi;                      /* LOPT_INTEGER, LOPT_INT_LIST (each item) */
    int len;                            /* LOPT_INT_LIST: how many numbers */
    const char *items;                  /* LOPT_INT_LIST: what they are, "[height, width]" */
    const char *const *names;           /* LOPT_ENUM, LOPT_ACTIVATION: canonical names, indexed
                                         * by value */
    int count;
    int (*from_name)(const char *s);    /* LOPT_ENUM, LOPT_ACTIVATION: value of a name, -1 when
                                         * unknown */
    const char *what;                   /* LOPT_ENUM, LOPT_ACTIVATION: "activation" in "unknown
                                         * activation 'x'" */
    double def;                         /* the default value ... */
    double defs[LOPT_MAX_VALUES];       /* ... of a list kind (padding: its mode first) ... */
    double (*type_default)(const struct layer_type *t);  /* ... unless this gives it per type */
    const char *default_doc;            /* the default in the documentation, when not the value */
    layer_option_write write;
    layer_option_set set_rule;
    const char *doc;                    /* one line */
    /* The value on a layer (enums as their index, bools as 0/1), for options kept in a field
     * of struct layer. Both NULL: the option keeps its values in the layer's option storage
     * (layer.opt_store), at the place its type's table gives it (layer_option_slot); list
     * kinds always do. An activation's get and set take its kind; its clip bounds are the
     * layer's clip_min and clip_max. */
    double (*get)(const struct layer *L);
    void (*set)(struct layer *L, double v);
} layer_option;

/* How many numbers o holds: 1 for a scalar, len for a list, PADDING_VALUES for padding. */
static inline int layer_option_width(const layer_option *o)
{
    return o->kind == LOPT_INT_LIST ? o->len : o->kind == LOPT_PADDING ? PADDING_VALUES
           : o->kind == LOPT_ACTIVATION ? 3 : 1;
}

/* Whether o keeps its values in the layer's option storage. */
static inline bool layer_option_stored(const layer_option *o) { return !o->get; }

/* The default of a scalar o for a layer of type t. */
static inline double layer_option_default(const layer_option *o, const struct layer_type *t)
{
    return o->type_default && t ? o->type_default(t) : o->def;
}

#endif
