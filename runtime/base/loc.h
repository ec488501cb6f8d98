/* loc.h: source locations shared by the script front end, the model loader and diagnostics. */
#ifndef SURGERY_LOC_H
#define SURGERY_LOC_H

/* Ownership: `file` is borrowed; it points at a path string owned by a longer-lived object
 * (the source registry of a diag context, or a loaded model). A zero line means "no place". */
typedef struct src_loc {
    const char *file;
    int line;   /* 1-based */
    int col;    /* 1-based, in bytes */
    int len;    /* bytes underlined; 0 or 1 prints a single caret */
} src_loc;

static inline src_loc loc_none(void) { src_loc l = {0, 0, 0, 0}; return l; }

#endif
