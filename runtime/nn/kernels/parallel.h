/* parallel.h: runs the independent parts of a kernel (the images of a convolution, the
 * examples of a recurrence) on as many threads as OpenBLAS is given, each with single-threaded
 * matrix products, so that the threads meet once a call instead of at every product. */
#ifndef SURGERY_PARALLEL_H
#define SURGERY_PARALLEL_H

#include <stdint.h>

/* Ownership: no state; threads are started and joined within par_run. */

#define PAR_MAX_THREADS 8

/* The number of threads par_run uses for n items: OpenBLAS's thread count (OPENBLAS_NUM_THREADS,
 * openblas_set_num_threads), at most PAR_MAX_THREADS and at most n; at least 1. */
int par_threads(int64_t n);

/* fn(ctx, part, lo, hi) for the parts [lo, hi) of [0, n) split into par_threads(n) contiguous
 * parts of n / parts items (the first n % parts one more), part 0 on the calling thread. While
 * the parts run, OpenBLAS is single-threaded and its idle workers stopped (its own count is
 * restored after, and its next multithreaded product starts them again); a thread that
 * cannot be started has its part run on the calling thread. Which items a part holds depends
 * only on n and the thread count, and an item's arithmetic not at all. */
typedef void par_fn(void *ctx, int part, int64_t lo, int64_t hi);
void par_run(int64_t n, par_fn *fn, void *ctx);

#endif
