/* yaml_limits.h: a pass over a YAML stream's events that stops at the first limit it passes
 * (nesting depth, scalar length, node count), before libyaml builds a document: building one
 * is quadratic in the nesting depth, so a deep file is refused in linear time instead. */
#ifndef SURGERY_YAML_LIMITS_H
#define SURGERY_YAML_LIMITS_H

#include <stddef.h>
#include <yaml.h>

/* Ownership: the caller owns the parser and its input; a yaml_limit_hit is a plain value. */

typedef struct yaml_limit_hit {
    size_t line, column;    /* 0-based, as libyaml's marks (column in characters) */
    char msg[160];          /* "YAML nested deeper than 64 levels (the nesting limit)" */
} yaml_limit_hit;

/* Reads the events of `parser` (initialised, its input set) up to the end of the stream or the
 * first limit of runtime/base/limits.h it passes. Returns 1 with *hit filled when a limit is
 * passed, 0 otherwise (a syntax error also gives 0: the document loader reports it). The
 * parser is used up: the caller loads from a fresh one. */
int yaml_scan_limits(yaml_parser_t *parser, yaml_limit_hit *hit);

#endif
