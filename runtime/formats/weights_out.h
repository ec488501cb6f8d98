/* weights_out.h: writes float32 tensor data into a file, each byte by the cheapest route.
 * A large file goes front to back with direct I/O (direct_out.h: chunks filled in memory go
 * straight to the disk, which is what a durable save waits for anyway). Otherwise, through the
 * page cache: values in memory by gathered writes (pwritev), values still in the weights file
 * the model was loaded from by in-kernel copies (copy_file_range: none of it passes through
 * the process), with writeback started as the writing goes (sync_file_range, from a second
 * thread) so that the caller's final fsync has little left to wait for. Pending tensors are
 * written run by run without being assembled. For little-endian hosts (the bytes written are
 * the floats' own). */
#ifndef SURGERY_WEIGHTS_OUT_H
#define SURGERY_WEIGHTS_OUT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "runtime/tensor/tensor.h"

struct direct_out;

/* Ownership: a weights_out borrows both descriptors and the source mapping (the caller keeps
 * them open and mapped until wo_end) and every tensor passed to wo_tensor for the call. It
 * owns its writeback thread, which wo_end joins: every wo_begin is paired with one wo_end. */

#define WO_IOV 1024   /* gathered spans per write (the kernel's IOV_MAX) */

typedef struct weights_out {
    int fd;                   /* the file written */
    uint64_t pos;             /* its offset of the next byte */
    int src_fd;               /* the weights file `src` maps, or -1 */
    const char *src;          /* its mapping (offset 0 of the file) */
    size_t src_len;
    bool kernel_copy;         /* copy_file_range is still worth trying */
    struct iovec iov[WO_IOV]; /* queued spans, written at pos */
    int n_iov;
    size_t queued;            /* their bytes */
    uint64_t written;         /* bytes written so far */
    uint64_t asked;           /* `written` when writeback was last asked for */
    bool early_writeback;     /* ask for it at all (wo_begin) */
    int error;                /* errno of the first failure (0: none) */
    /* the writeback thread: starts writeback of the file's dirty pages whenever wanted grows
     * past submitted (both counts of bytes written) */
    bool threaded;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t more;
    uint64_t wanted, submitted;
    bool closing;
    struct direct_out *direct;   /* direct I/O mode (wo_begin_direct), else NULL */
} weights_out;

/* Starts writing fd at offset pos through the page cache. src_fd and src (src_len bytes mapped
 * from offset 0 of that file, read-only by contract) name the file borrowed tensors live in;
 * -1 and NULL for none. With early_writeback the disk's writes are started as the file grows
 * (for a caller that will fsync); without, the kernel writes the pages back in its own time. */
void wo_begin(weights_out *w, int fd, uint64_t pos, bool early_writeback, int src_fd,
              const void *src, size_t src_len);
/* Starts writing the empty file at path (open as fd) from offset 0 with direct I/O, every byte
 * (size in all) through wo_bytes / wo_tensor in file order. Returns 0, or -1 when the file
 * system does not offer direct I/O: w is then begun as wo_begin(w, fd, 0, true, ...). */
int wo_begin_direct(weights_out *w, const char *path, uint64_t size, int fd, int src_fd,
                    const void *src, size_t src_len);
/* Continues at offset pos (what is queued is written first): through the page cache the
 * pieces of a file may be written in any order; direct I/O only goes on where it is. Returns
 * 0, or -1 with w->error set. */
int wo_seek(weights_out *w, uint64_t pos);
/* Appends a tensor's values (data, or pending parts). Returns 0, or -1 with w->error set. */
int wo_tensor(weights_out *w, const tensor *t);
/* Appends n bytes at p (p NULL: zeros). Returns 0, or -1 with w->error set. */
int wo_bytes(weights_out *w, const void *p, size_t n);
/* Writes whatever is queued and stops the helper threads (always: also after a failure).
 * Returns 0, or -1 with w->error set. */
int wo_end(weights_out *w);

#endif
