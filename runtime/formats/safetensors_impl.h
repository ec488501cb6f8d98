/* safetensors_impl.h: what the parts of the safetensors reader share: the JSON header reader
 * (safetensors_header.c) that st_parse (safetensors.c) calls. */
#ifndef SURGERY_SAFETENSORS_IMPL_H
#define SURGERY_SAFETENSORS_IMPL_H

/* Ownership: st_read_header fills f's tensor table and metadata, which f owns; err is the
 * caller's buffer. */

#include <stddef.h>
#include "runtime/formats/safetensors.h"

/* Reads the JSON header json[0..len) of the file `name` into f's tensor table and metadata.
 * Returns 0, or -1 with the reason in err. The offsets are not checked against the data yet. */
int st_read_header(st_file *f, const unsigned char *json, size_t len, const char *name,
                   char *err, size_t err_len);

#endif
