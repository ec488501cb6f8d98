/* yaml_out.h: a thin layer over libyaml's emitter shared by every YAML writer: one call per
 * event, the first failure remembered (later events are dropped), the project's output style. */
#ifndef SURGERY_YAML_OUT_H
#define SURGERY_YAML_OUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <yaml.h>

#include "runtime/base/strbuf.h"

/* Ownership: a yaml_out owns its libyaml emitter (yaml_out_init .. yaml_out_delete); strings
 * handed to the yo_* calls are borrowed for the call. A yaml_buffer owns its text (free(s)). */

typedef struct yaml_out {
    yaml_emitter_t e;
    bool failed;         /* an event could not be built or emitted: the output is incomplete */
} yaml_out;

/* Initialises the emitter with the project's style: unicode, no line width limit, indent 2.
 * Returns 0, or -1 when out of memory. The caller then sets the output (yaml_out_to_buffer or
 * yaml_emitter_set_output_file on o->e). */
int yaml_out_init(yaml_out *o);
void yaml_out_delete(yaml_out *o);

/* Text collected in memory: s (NUL-terminated, n bytes), oom set when it could not grow. Start it
 * zeroed, so that running out of memory is reported (as oom) rather than stopping. */
typedef strbuf yaml_buffer;
void yaml_out_to_buffer(yaml_out *o, yaml_buffer *b);

/* Emits ev (built by a yaml_*_event_initialize that returned ok). */
void yo_event(yaml_out *o, yaml_event_t *ev, int ok);
/* Stream start and one implicit document start; its end and the stream end. */
void yo_begin(yaml_out *o);
void yo_end(yaml_out *o);
void yo_scalar(yaml_out *o, const char *s, yaml_scalar_style_t style);
/* A scalar in plain style (libyaml quotes it when plain would not read back). */
void yo_plain(yaml_out *o, const char *s);
void yo_quoted(yaml_out *o, const char *s);   /* double-quoted */
void yo_int(yaml_out *o, int64_t v);          /* plain decimal */
void yo_map_start(yaml_out *o, bool flow);
void yo_map_end(yaml_out *o);
void yo_seq_start(yaml_out *o, bool flow);
void yo_seq_end(yaml_out *o);

#endif
