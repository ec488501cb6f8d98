/* mapping.h: the page policy of a model's mapped weights file (drop pages an edit is done
 * with, read ahead pages about to be used) and the assembling of pending parameters. */
#ifndef SURGERY_MAPPING_H
#define SURGERY_MAPPING_H

#include "runtime/graph/model.h"

/* Ownership: nothing is taken; the model keeps its mapping and its parameters. */

/* Drops from memory the pages of m's weights mapping that hold the bytes [from, to) of a
 * borrowed tensor whose data spans [begin, end): whole pages only, and none holding a byte
 * outside [begin, end), so that the neighbouring tensors keep theirs (a page that begins before
 * `from` but inside [begin, end) is dropped too: the caller is done with everything before
 * `from`). The data stays readable: the kernel reads it from the file again when it is touched
 * (the mapping is private and borrowed data is never written). For a tensor an edit replaced,
 * or one written out and not needed soon. Does nothing unless [begin, end) lies inside
 * m->mapping. */
void model_drop_mapped(const model *m, const void *begin, const void *end, const void *from,
                       const void *to);

/* Starts reading the pages of m's weights mapping under [begin, end) from the file into the
 * page cache ahead of use (MADV_WILLNEED: asynchronous, nothing is mapped into the process),
 * so that a file that is not cached is read in large requests while the caller works. Does
 * nothing unless [begin, end) lies inside m->mapping. */
void model_prefetch_mapped(const model *m, const void *begin, const void *end);

/* Assembles every pending parameter (tensor_settle: an edit's description of a widened tensor)
 * into owned memory, letting the mapped pages the kept values were read from go. Returns 0, or
 * -1 when memory runs out (parameters not yet assembled stay pending). */
int model_settle(model *m);

#endif
