/* format.h: the registry of model formats and the entry points that go through it: a model is
 * read by the reader that recognises the file's first bytes and written by the writer whose
 * suffix the save path ends in. Each format is one reader and one writer in files of its own
 * (native.h: YAML + safetensors); adding a format is its files plus a line in each table of
 * format.c. */
#ifndef SURGERY_FORMAT_H
#define SURGERY_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include "runtime/graph/model.h"

/* Ownership: model_load returns a model owned by the caller (model_free); its weights may
 * borrow from a mapping the model owns. model_save borrows everything. The readers and writers
 * are static tables. Locations in a loaded model point at the path interned in d (so they
 * outlive the model and its clones) or, without d, at model->path. */

struct diag_ctx;

/* How far a save goes before it returns. SAVE_ATOMIC: the files take their names complete (a
 * reader, or a run that fails or is killed, sees the previous files or the new ones), and the
 * operating system writes them to the disk in its own time. SAVE_DURABLE: they are on the disk
 * first (large weights files with direct I/O, the rest flushed with fsync, the folder too), so
 * that a crash of the machine cannot lose or tear them either. model_save is SAVE_DURABLE. */
typedef enum save_mode { SAVE_ATOMIC, SAVE_DURABLE } save_mode;

/* How many first bytes of a file the readers' sniff functions see (fewer when it is shorter). */
#define MODEL_SNIFF_BYTES 512

typedef struct model_reader {
    const char *name;
    /* What a file of this format is, for "expected ...": "a surgery model YAML (...)". */
    const char *expected;
    /* Whether the first n bytes (n <= MODEL_SNIFF_BYTES: the whole file when it is shorter) are
     * the start of a file of this format, judged by content alone. */
    bool (*sniff)(const unsigned char *head, size_t n);
    /* Reads the model at path (the architecture; with load_weights its parameters too, from the
     * file or files of the format, initialised when the format holds none), reporting every
     * problem through d (which may be NULL). Returns NULL when there was any. */
    model *(*read)(const char *path, bool load_weights, struct diag_ctx *d);
} model_reader;

typedef struct model_writer {
    const char *name;
    /* The path suffixes it writes (NULL-terminated), such as ".yaml". */
    const char *const *suffixes;
    /* The files a save makes, for "a model is saved as ...": "NAME.yaml (with ...)". */
    const char *saved_as;
    /* Writes m to path (which ends in one of suffixes after a non-empty name), reporting the
     * reason of a failure through d. Returns 0 or -1. */
    int (*write)(const model *m, const char *path, save_mode mode, struct diag_ctx *d);
    /* Optional: whether write can hold m, judged by its architecture alone (no parameter
     * values), so that `surgery check` refuses a save the run would refuse. Returns 0, or -1
     * with the reason (naming every layer the format cannot hold) in err. */
    int (*check)(const model *m, char *err, size_t err_len);
} model_writer;

/* The registered formats, NULL-terminated, in the order files are offered to their sniffs. */
extern const model_reader *const model_readers[];
extern const model_writer *const model_writers[];

/* Reads the model at path with the reader that recognises its content. A file no reader
 * recognises is reported as "PATH: not a model file surgery reads: expected ..." (what each
 * reader expects); one that cannot be opened or read, as "cannot open: REASON" / "read error".
 * Otherwise as the reader reports (native.h: the YAML's line:col). NULL on any error. */
model *model_load(const char *path, bool load_weights, struct diag_ctx *d);

/* The reader that recognises the first n bytes of a file, or NULL. */
const model_reader *model_reader_for(const unsigned char *head, size_t n);
/* The writer whose suffix path ends in (after a non-empty file name), or NULL. */
const model_writer *model_writer_for(const char *path);

/* Writes m with the writer chosen by the suffix of path (native.h: DIR/NAME.yaml plus
 * DIR/NAME.safetensors, committed as a pair: a failure leaves the previous files, or none).
 * Every parameter must hold values. A path no writer takes is reported naming what the writers
 * make and the suffixes they take. Returns 0, or -1 with the reason reported through d. */
int model_save_mode(const model *m, const char *path, save_mode mode, struct diag_ctx *d);
int model_save(const model *m, const char *path, struct diag_ctx *d);

/* Whether the writer that path's suffix names can hold m, by its architecture alone: 0 (also
 * when no writer takes path or the writer has no check), or -1 with its name in *format and
 * the reason in err. */
int model_save_check(const model *m, const char *path, const char **format, char *err,
                     size_t err_len);

/* Reports a failure to read or save path through d (NULL: nothing), at the path with no line. */
void model_format_error(struct diag_ctx *d, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
