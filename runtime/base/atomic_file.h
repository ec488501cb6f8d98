/* atomic_file.h: writing files so that readers see the old content or the complete new one,
 * never a torn file: a temporary in the target folder, fsync, rename. */
#ifndef SURGERY_ATOMIC_FILE_H
#define SURGERY_ATOMIC_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* Ownership: an atomic_file owns its FILE and temporary path until commit or abort, which both
 * free it. Abandoning one without either leaks the temporary: always call one of them. A
 * pair_commit owns its paths, its generation file and the folder's descriptor from pair_begin
 * until pair_commit_files or pair_abort, which both free them; it borrows `key`. */
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
/* ---- a pair of files committed by one rename (docs/format.md, "Saving") ----
 * A data file (the weights) and an index file (the model YAML) that names the data file on a
 * line starting with `key` ("weights:"). The data are written under a generation name
 * STEM.save-XXXXXX.EXT beside the final data path STEM.EXT; the index naming the generation
 * file is renamed into place, which is the commit: before it every reader and every later run
 * sees the previous pair, after it the new one. Then the data take their final name (a hard
 * link), the index is renamed again to name it, and the generation name is removed; each of
 * those steps leaves a complete new pair. A save first removes what interrupted saves of the
 * same index left (generation files the committed index does not name, temporaries), and holds
 * an advisory lock on the folder while it runs. */
typedef struct pair_commit {
    atomic_file data;       /* the generation file: write through data.fp (data.tmp_path) */
    char *index_path;       /* DIR/NAME.yaml */
    char *final_path;       /* DIR/NAME.safetensors: the data's name once committed */
    const char *key;        /* the index's line naming the data, e.g. "weights:" (borrowed) */
    int dir_fd;             /* the folder, locked during the save; -1 when it cannot be opened */
    bool durable;           /* fsync the files and the folder at each step (--sync) */
    bool kept_generation;   /* set by pair_commit_files: the committed index names the
                             * generation file (the folder cannot hold hard links) */
} pair_commit;

/* Locks the folder, removes leftovers of interrupted saves of index_path and creates the
 * generation file. Returns 0, or -1 with the reason (naming the file) in err and nothing
 * created. */
int pair_begin(pair_commit *pc, const char *index_path, const char *data_path, const char *key,
               bool durable, char *err, size_t err_len);
/* The generation file's name without its folder, for the first index. */
const char *pair_generation_name(const pair_commit *pc);
/* Finishes the data, commits index_gen (which names the generation file), then gives the data
 * their final name and commits index_final (which names it). Returns 0 when the new pair is
 * committed (kept_generation says whether the index still names the generation file), or -1
 * with the reason in err when the commit did not happen: then every file the save created is
 * removed and the previous pair is untouched. Frees pc either way. */
int pair_commit_files(pair_commit *pc, const void *index_gen, size_t gen_len,
                      const void *index_final, size_t final_len, char *err, size_t err_len);
/* Removes every file the save created so far and unlocks the folder; frees pc. */
void pair_abort(pair_commit *pc);

#endif
