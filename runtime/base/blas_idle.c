/* blas_idle.c: stops OpenBLAS's idle worker threads until matrix work needs them. */
#include "runtime/base/blas_idle.h"

#include <stddef.h>

/* OpenBLAS's own pool shutdown (what its fork handler calls: the pool is rebuilt on demand by
 * the next threaded call). Weak: other BLAS builds do not have it. */
extern int blas_thread_shutdown_(void) __attribute__((weak));

void blas_idle_workers(void)
{
    if (blas_thread_shutdown_ != NULL)
        (void)blas_thread_shutdown_();
}
