/* direct_out.h: writes a file front to back with direct I/O (O_DIRECT): the caller fills
 * aligned 8 MB chunks in memory and two writer threads hand the full chunks to the disk, so that
 * the data goes from the process to the device without a copy into the page cache and without
 * dirty pages for a later fsync to wait for. */
#ifndef SURGERY_DIRECT_OUT_H
#define SURGERY_DIRECT_OUT_H

#include <stddef.h>
#include <stdint.h>

/* Ownership: a direct_out owns its descriptor, its chunk buffers and its writer thread;
 * direct_out_close releases all of them (also after a failure) and must be called once. */
typedef struct direct_out direct_out;

/* Opens path (an existing, empty file the caller created) for direct writing from offset 0,
 * reserving `expected` bytes for it (0: unknown). Returns NULL with errno set when the file
 * system does not offer direct I/O or memory runs out: the caller then writes through the
 * page cache. */
direct_out *direct_out_open(const char *path, uint64_t expected);
/* The free space of the current chunk: *room bytes (at least 1) at *at. Waits for a free chunk
 * when all are with the writer. Returns 0, or -1 with *error set (an earlier write failed). */
int direct_out_space(direct_out *d, char **at, size_t *room, int *error);
/* The first n bytes of the space direct_out_space gave are filled: a full chunk goes to the
 * writer. Returns 0, or -1 with *error set. */
int direct_out_advance(direct_out *d, size_t n, int *error);
/* Bytes appended so far. */
uint64_t direct_out_size(const direct_out *d);
/* Writes the last chunk, waits for the writer, cuts the file to the exact length and closes
 * it; frees d. Returns 0, or -1 with *error set. */
int direct_out_close(direct_out *d, int *error);

#endif
