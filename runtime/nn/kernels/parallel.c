/* parallel.c: splits a kernel's independent items across threads, OpenBLAS single-threaded
 * meanwhile. */
#include "runtime/nn/kernels/parallel.h"

#include <cblas.h>
#include <pthread.h>

#include "runtime/base/blas_idle.h"

int par_threads(int64_t n)
{
    int t = openblas_get_num_threads();
    t = t < 1 ? 1 : (t > PAR_MAX_THREADS ? PAR_MAX_THREADS : t);
    return n < t ? (n < 1 ? 1 : (int)n) : t;
}

typedef struct part {
    par_fn *fn;
    void *ctx;
    int index;
    int64_t lo, hi;
} part;

static void *run_part(void *arg)
{
    const part *p = arg;
    p->fn(p->ctx, p->index, p->lo, p->hi);
    return NULL;
}

void par_run(int64_t n, par_fn *fn, void *ctx)
{
    const int parts = par_threads(n);
    if (parts == 1) {
        fn(ctx, 0, 0, n);
        return;
    }
    const int blas = openblas_get_num_threads();
    openblas_set_num_threads(1);
    /* OpenBLAS's workers busy-wait for a while after a product: they would take the cores from
     * the parts (the next multithreaded product starts them again) */
    blas_idle_workers();
    part ps[PAR_MAX_THREADS];
    pthread_t th[PAR_MAX_THREADS];
    int started[PAR_MAX_THREADS] = {0};
    const int64_t q = n / parts, r = n % parts;
    int64_t lo = 0;
    for (int i = 0; i < parts; i++) {
        const int64_t len = q + (i < r);
        ps[i] = (part){.fn = fn, .ctx = ctx, .index = i, .lo = lo, .hi = lo + len};
        lo += len;
    }
    for (int i = 1; i < parts; i++)
        started[i] = pthread_create(&th[i], NULL, run_part, &ps[i]) == 0;
    run_part(&ps[0]);
    for (int i = 1; i < parts; i++) {
        if (started[i])
            pthread_join(th[i], NULL);
        else
            run_part(&ps[i]);
    }
    openblas_set_num_threads(blas);
}
