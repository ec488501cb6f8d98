/* atomic_file.h: writing files so that readers see the old content or the complete new one,
 * never a torn file: a temporary in the target folder, fsync, rename. */
#ifndef SURGERY_ATOMIC_FILE_H
#define SURGERY_ATOMIC_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* Ownership: an atomic_file owns its FILE and temporary path until commit or abort, which both
 * free it. Abandoning one without either leaks the temporary: always call one of them. */
typedef struct atomic_file {
    FILE *fp;
    char *path;       /* final path */
    char *tmp_path;   /* PATH.tmp-XXXXXX in the same folder */
    bool durable;     /* fsync the file and its folder on commit (atomic_open sets it); when
                       * cleared, the commit is still atomic for every reader and for a failed
                       * or killed run, but a crash of the machine may lose the new file */
} atomic_file;

/* Opens a temporary beside `path`. Returns 0, or -1 with errno set and the reason in err. */
int atomic_open(atomic_file *af, const char *path, char *err, size_t err_len);
/* Flushes, fsyncs and renames over the final path. Returns 0, or -1 (the temporary is removed). */
int atomic_commit(atomic_file *af, char *err, size_t err_len);
/* Closes and removes the temporary. */
void atomic_abort(atomic_file *af);
/* Writes a whole buffer atomically. */
int atomic_write_file(const char *path, const void *data, size_t len, char *err, size_t err_len);
/* Renames several already-committed temporaries as a group: for pairs of files (YAML +
 * safetensors) call atomic_commit_pair so the second is renamed only after the first. */
int atomic_commit_pair(atomic_file *first, atomic_file *second, char *err, size_t err_len);

#endif
