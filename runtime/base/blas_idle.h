/* blas_idle.h: keeps OpenBLAS's worker threads from spinning while a command does no matrix
 * work. */
#ifndef SURGERY_BLAS_IDLE_H
#define SURGERY_BLAS_IDLE_H

/* Ownership: no state of its own; it acts on the BLAS library's process-wide thread pool. */

/* The pthreads build of OpenBLAS starts its workers when the library loads, and an idle worker
 * busy-waits (sched_yield) for about 2^28 CPU cycles before it sleeps: a tenth of a second of a
 * core taken from every command at start, from file copying and the disk's writeback as much
 * as from a matrix product. This stops the workers; the library starts them again at its next
 * multithreaded call. A BLAS without that pool (serial, OpenMP builds) is left alone. */
void blas_idle_workers(void);

#endif
