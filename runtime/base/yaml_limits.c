/* yaml_limits.c: a linear pass over a YAML stream's events that refuses, at the place where it
 * happens, nesting, scalars and node counts beyond the limits of runtime/base/limits.h. */
#include "runtime/base/yaml_limits.h"

#include <stdio.h>

#include "runtime/base/limits.h"

static void hit_at(yaml_limit_hit *hit, yaml_mark_t mk, const char *msg)
{
    hit->line = mk.line;
    hit->column = mk.column;
    snprintf(hit->msg, sizeof hit->msg, "%s", msg);
}

int yaml_scan_limits(yaml_parser_t *parser, yaml_limit_hit *hit)
{
    long depth = 0, nodes = 0;
    char msg[160];
    for (;;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(parser, &ev))
            return 0;
        yaml_event_type_t t = ev.type;
        int over = 0;
        if (t == YAML_SEQUENCE_START_EVENT || t == YAML_MAPPING_START_EVENT) {
            nodes++;
            if (++depth > LIMIT_YAML_DEPTH) {
                snprintf(msg, sizeof msg, "YAML nested deeper than %d levels (the nesting limit)",
                         LIMIT_YAML_DEPTH);
                over = 1;
            }
        } else if (t == YAML_SEQUENCE_END_EVENT || t == YAML_MAPPING_END_EVENT) {
            depth--;
        } else if (t == YAML_SCALAR_EVENT || t == YAML_ALIAS_EVENT) {
            nodes++;
            if (t == YAML_SCALAR_EVENT && ev.data.scalar.length > LIMIT_YAML_SCALAR_BYTES) {
                snprintf(msg, sizeof msg, "a YAML scalar of %zu bytes, over the limit of %d bytes",
                         ev.data.scalar.length, LIMIT_YAML_SCALAR_BYTES);
                over = 1;
            }
        }
        if (!over && nodes > LIMIT_YAML_NODES) {
            snprintf(msg, sizeof msg, "more than %d YAML nodes (the limit on a document's size)",
                     LIMIT_YAML_NODES);
            over = 1;
        }
        if (over)
            hit_at(hit, ev.start_mark, msg);
        yaml_event_delete(&ev);
        if (over)
            return 1;
        if (t == YAML_STREAM_END_EVENT)
            return 0;
    }
}
