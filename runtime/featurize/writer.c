/* writer.c: the shard writer of featurize: each group of computed features written as a shard,
 * on a thread of its own while the next group is computed. */
#define _GNU_SOURCE /* SCHED_IDLE: writing the cache entry */
#include "runtime/featurize/featurize_impl.h"

#include <sched.h>
#include <stdlib.h>
#include <string.h>

void group_out_release(group_out *g, int n_nodes)
{
    batch_release(&g->b);
    for (int k = 0; k < n_nodes; k++)
        tensor_release(&g->outs[k]);
}

/* Writes a group as the next shard. Returns 0, or the value for the writer's rc. */
static int write_group(shard_writer *w, group_out *g)
{
    feature_set *fs = w->fs;
    const batch *b = &g->b;
    int64_t s = fs->n_shards;
    struct {
        const tensor *t;
        const char *what;
        bool is_mask;
    } arrays[MAX_NODES + 3];
    char names[MAX_NODES][16];
    int na = 0;
    for (int k = 0; k < fs->n_nodes; k++) {
        snprintf(names[k], sizeof names[k], "x%02d", k);
        arrays[na].t = &g->outs[k];
        arrays[na].what = names[k];
        arrays[na++].is_mask = false;
    }
    arrays[na].t = &b->y;
    arrays[na].what = "y";
    arrays[na++].is_mask = false;
    if (b->mask.data) {
        arrays[na].t = &b->mask;
        arrays[na].what = "mask";
        arrays[na++].is_mask = true;
    }
    if (b->label_mask.data) {
        arrays[na].t = &b->label_mask;
        arrays[na].what = "label_mask";
        arrays[na++].is_mask = true;
    }
    for (int a = 0; a < na; a++) {
        tensor t;
        if (shard_layout(arrays[a].t, arrays[a].is_mask, &w->sc, &t) != 0) {
            snprintf(w->err, sizeof w->err, "out of memory");
            return -2;
        }
        if (save_array(w->dir, s, arrays[a].what, &t, w->err, sizeof w->err) != 0)
            return -2;
    }
    if (s == 0) {
        fs->has_mask = b->mask.data != NULL;
        fs->has_label_mask = b->label_mask.data != NULL;
        fs->outputs = b->y.shape[b->y.ndim - 1];
    } else {
        /* A shard without a mask has every step valid; readers take a missing mask file as
         * all ones. */
        fs->has_mask = fs->has_mask || b->mask.data;
        fs->has_label_mask = fs->has_label_mask || b->label_mask.data;
    }
    if (s == w->cap) {
        int64_t *rows = realloc(w->shard_rows, (size_t)w->cap * 2 * sizeof *rows);
        if (!rows)
            return -1;
        w->shard_rows = rows;
        w->cap *= 2;
    }
    w->shard_rows[s] = b->n;
    fs->n_shards++;
    fs->count += b->n;
    return 0;
}

static void *writer_main(void *arg)
{
    shard_writer *w = arg;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->full && !w->done)
            pthread_cond_wait(&w->cv, &w->mu);
        if (!w->full)
            break;
        group_out g = w->job;
        w->full = false;
        w->busy = true;
        pthread_mutex_unlock(&w->mu);
        int rc = write_group(w, &g);
        group_out_release(&g, w->fs->n_nodes);
        pthread_mutex_lock(&w->mu);
        w->busy = false;
        if (rc != 0 && w->rc == 0)
            w->rc = rc;
        pthread_cond_broadcast(&w->cv);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

/* While the frozen part runs, the writer takes only processor time the computation leaves
 * (the matrix threads wait for each other, or for the reading and the element-wise work):
 * writing does not slow the computation down. Whenever the computation waits for the writer,
 * the writer runs at normal priority again, so it is never starved for long. */
static void writer_yield(shard_writer *w, bool yield)
{
#ifdef SCHED_IDLE
    if (w->threaded && w->yielding != yield) {
        struct sched_param sp = {0};
        if (pthread_setschedparam(w->thread, yield ? SCHED_IDLE : SCHED_OTHER, &sp) == 0)
            w->yielding = yield;
    }
#else
    (void)w;
    (void)yield;
#endif
}

int writer_start(shard_writer *w, feature_set *fs, const char *dir)
{
    memset(w, 0, sizeof *w);
    w->fs = fs;
    w->dir = dir;
    w->cap = 64;
    w->shard_rows = malloc((size_t)w->cap * sizeof *w->shard_rows);
    if (!w->shard_rows)
        return -1;
    /* Without a thread the groups are written in place, one after the other. */
    if (pthread_mutex_init(&w->mu, NULL) != 0)
        return 0;
    if (pthread_cond_init(&w->cv, NULL) != 0) {
        pthread_mutex_destroy(&w->mu);
        return 0;
    }
    w->threaded = pthread_create(&w->thread, NULL, writer_main, w) == 0;
    if (!w->threaded) {
        pthread_cond_destroy(&w->cv);
        pthread_mutex_destroy(&w->mu);
    }
    writer_yield(w, true);
    return 0;
}

/* Hands a group to the writer (which releases it), once the previous one is written. Returns
 * the writer's rc: 0, or an earlier group's failure (g is then released here). */
int writer_put(shard_writer *w, group_out *g)
{
    if (!w->threaded) {
        int rc = w->rc ? w->rc : (w->rc = write_group(w, g));
        group_out_release(g, w->fs->n_nodes);
        return rc;
    }
    pthread_mutex_lock(&w->mu);
    if ((w->full || w->busy) && w->rc == 0) {
        writer_yield(w, false);
        while ((w->full || w->busy) && w->rc == 0)
            pthread_cond_wait(&w->cv, &w->mu);
    }
    int rc = w->rc;
    if (rc == 0) {
        w->job = *g;
        memset(g, 0, sizeof *g);
        w->full = true;
        pthread_cond_broadcast(&w->cv);
    }
    pthread_mutex_unlock(&w->mu);
    if (rc != 0)
        group_out_release(g, w->fs->n_nodes);
    else
        writer_yield(w, true);
    return rc;
}

/* Waits for every group to be written and stops the thread. Returns the writer's rc. */
int writer_finish(shard_writer *w)
{
    if (w->threaded) {
        writer_yield(w, false);
        pthread_mutex_lock(&w->mu);
        w->done = true;
        pthread_cond_broadcast(&w->cv);
        pthread_mutex_unlock(&w->mu);
        pthread_join(w->thread, NULL);
        pthread_cond_destroy(&w->cv);
        pthread_mutex_destroy(&w->mu);
        w->threaded = false;
    }
    free(w->sc.p);
    w->sc.p = NULL;
    return w->rc;
}
