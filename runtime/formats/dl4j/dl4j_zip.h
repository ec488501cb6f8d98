/* dl4j_zip.h: the entries of a DL4J model zip, read whole with limits against zip bombs (entry
 * count, declared and real sizes, compression ratio, total bytes: runtime/base/limits.h). */
#ifndef SURGERY_DL4J_ZIP_H
#define SURGERY_DL4J_ZIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Ownership: a dl4j_zip owns the open archive (dl4j_zip_close; NULL is a no-op); the bytes
 * dl4j_zip_read returns are the caller's (free). */

typedef struct dl4j_zip dl4j_zip;

/* Opens the zip at path. NULL with the reason in err when it cannot be opened, is not a zip or
 * has more than LIMIT_ZIP_ENTRIES entries. */
dl4j_zip *dl4j_zip_open(const char *path, char *err, size_t err_len);
/* Whether the archive has an entry of that name. */
int dl4j_zip_has(dl4j_zip *z, const char *name);
/* Reads the entry whole into *data (NUL-terminated beyond *len). Returns 0, 1 when there is no
 * such entry, -1 with the reason in err (a size over the limits, a ratio over the cap, a real
 * size that differs from the declared one, a damaged entry). */
int dl4j_zip_read(dl4j_zip *z, const char *name, unsigned char **data, size_t *len, char *err,
                  size_t err_len);
void dl4j_zip_close(dl4j_zip *z);

/* An entry read in pieces (a large coefficients.bin, straight into the tensors), with the
 * checks of dl4j_zip_read: open checks the declared sizes, reads refuse to go past them or to
 * end before them, close can read what is left (libzip checks the entry's CRC at its end). The
 * stream borrows the archive and the name. */
typedef struct dl4j_zip_stream dl4j_zip_stream;
/* 0 with *out and *size (the declared bytes) set, 1 when there is no such entry, -1 with the
 * reason in err. */
int dl4j_zip_stream_open(dl4j_zip *z, const char *name, dl4j_zip_stream **out, uint64_t *size,
                         char *err, size_t err_len);
/* Reads exactly n bytes. Returns 0, or -1 with the reason in err. */
int dl4j_zip_stream_read(dl4j_zip_stream *s, void *buf, size_t n, char *err, size_t err_len);
/* Closes s (NULL is a no-op); with drain first reads the rest of the entry, reporting damage.
 * Returns 0, or -1 with the reason in err. */
int dl4j_zip_stream_close(dl4j_zip_stream *s, bool drain, char *err, size_t err_len);

#endif
