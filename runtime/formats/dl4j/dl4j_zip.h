/* dl4j_zip.h: the entries of a DL4J model zip, read whole with limits against zip bombs (entry
 * count, declared and real sizes, compression ratio, total bytes: runtime/base/limits.h). */
#ifndef SURGERY_DL4J_ZIP_H
#define SURGERY_DL4J_ZIP_H

#include <stddef.h>

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

#endif
