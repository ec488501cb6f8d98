/* yaml_out.c: a thin layer over libyaml's emitter shared by every YAML writer. */
#include "runtime/base/yaml_out.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int yaml_out_init(yaml_out *o)
{
    memset(o, 0, sizeof *o);
    if (!yaml_emitter_initialize(&o->e))
        return -1;
    yaml_emitter_set_unicode(&o->e, 1);
    yaml_emitter_set_width(&o->e, -1);
    yaml_emitter_set_indent(&o->e, 2);
    return 0;
}

void yaml_out_delete(yaml_out *o) { yaml_emitter_delete(&o->e); }

static int buffer_write(void *data, unsigned char *buffer, size_t size)
{
    return strbuf_add(data, buffer, size) ? 1 : 0;
}

void yaml_out_to_buffer(yaml_out *o, yaml_buffer *b) { yaml_emitter_set_output(&o->e, buffer_write, b); }

void yo_event(yaml_out *o, yaml_event_t *ev, int ok)
{
    if (o->failed) {
        if (ok)
            yaml_event_delete(ev);
        return;
    }
    if (!ok || !yaml_emitter_emit(&o->e, ev))
        o->failed = true;
}

void yo_begin(yaml_out *o)
{
    yaml_event_t ev;
    int ok = yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING);
    yo_event(o, &ev, ok);
    ok = yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1);
    yo_event(o, &ev, ok);
}

void yo_end(yaml_out *o)
{
    yaml_event_t ev;
    int ok = yaml_document_end_event_initialize(&ev, 1);
    yo_event(o, &ev, ok);
    ok = yaml_stream_end_event_initialize(&ev);
    yo_event(o, &ev, ok);
}

void yo_scalar(yaml_out *o, const char *s, yaml_scalar_style_t style)
{
    yaml_event_t ev;
    int ok = yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)s, (int)strlen(s), 1, 1,
                                          style);
    yo_event(o, &ev, ok);
}

void yo_plain(yaml_out *o, const char *s) { yo_scalar(o, s, YAML_PLAIN_SCALAR_STYLE); }

void yo_quoted(yaml_out *o, const char *s) { yo_scalar(o, s, YAML_DOUBLE_QUOTED_SCALAR_STYLE); }

void yo_int(yaml_out *o, int64_t v)
{
    char b[32];
    snprintf(b, sizeof b, "%" PRId64, v);
    yo_plain(o, b);
}

/* The start or end of a mapping or a sequence. */
static void collection(yaml_out *o, bool sequence, bool start, bool flow)
{
    yaml_event_t ev;
    int ok;
    if (sequence && start)
        ok = yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1,
                                                  flow ? YAML_FLOW_SEQUENCE_STYLE
                                                       : YAML_BLOCK_SEQUENCE_STYLE);
    else if (start)
        ok = yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1,
                                                 flow ? YAML_FLOW_MAPPING_STYLE
                                                      : YAML_BLOCK_MAPPING_STYLE);
    else if (sequence)
        ok = yaml_sequence_end_event_initialize(&ev);
    else
        ok = yaml_mapping_end_event_initialize(&ev);
    yo_event(o, &ev, ok);
}

void yo_map_start(yaml_out *o, bool flow) { collection(o, false, true, flow); }
void yo_map_end(yaml_out *o) { collection(o, false, false, false); }
void yo_seq_start(yaml_out *o, bool flow) { collection(o, true, true, flow); }
void yo_seq_end(yaml_out *o) { collection(o, true, false, false); }
