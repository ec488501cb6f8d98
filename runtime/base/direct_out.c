/* direct_out.c: front-to-back direct-I/O file writing through a ring of chunks and a writer
 * thread. */
#define _GNU_SOURCE /* O_DIRECT */
#include "runtime/base/direct_out.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define DO_CHUNK ((size_t)8 << 20)
#define DO_ALIGN ((size_t)4096)   /* buffer, offset and length alignment direct I/O needs */
#define DO_BUFS 4
#define DO_WRITERS 2              /* two writes in flight keep the device busier than one */

struct direct_out {
    int fd;
    char *mem;                    /* the mapping the chunks live in (mem_len bytes) */
    size_t mem_len, mem_off;      /* the chunks start mem_off bytes into it */
    char *buf[DO_BUFS];
    size_t len[DO_BUFS];          /* bytes to write from a full chunk */
    uint64_t off[DO_BUFS];        /* its file offset */
    bool full[DO_BUFS];           /* handed to the writers, not yet written */
    int cur;                      /* the chunk being filled */
    size_t fill;                  /* its bytes so far */
    uint64_t size;                /* bytes appended in all */
    int next;                     /* the next full chunk a writer takes (ring order) */
    pthread_t writers[DO_WRITERS];
    int n_writers;
    pthread_mutex_t lock;
    pthread_cond_t changed;
    bool closing;
    int error;                    /* errno of the writers' first failure */
};

/* Writes a whole chunk. A file system that opened the file for direct I/O but refuses the
 * write (EINVAL) gets it, and the rest of the file, through the page cache instead. */
static int write_chunk(int fd, const char *p, size_t n, uint64_t off)
{
    while (n > 0) {
        ssize_t r = pwrite(fd, p, n, (off_t)off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && errno == EINVAL) {
            int fl = fcntl(fd, F_GETFL);
            if (fl >= 0 && (fl & O_DIRECT) && fcntl(fd, F_SETFL, fl & ~O_DIRECT) == 0)
                continue;
        }
        if (r <= 0)
            return r < 0 ? errno : EIO;
        p += r;
        n -= (size_t)r;
        off += (uint64_t)r;
    }
    return 0;
}

static void *writer_main(void *arg)
{
    direct_out *d = arg;
    pthread_mutex_lock(&d->lock);
    for (;;) {
        /* chunks are handed over in ring order: the next one to take is full, or nothing is */
        while (!(d->full[d->next] && d->len[d->next] > 0) && !d->closing)
            pthread_cond_wait(&d->changed, &d->lock);
        int i = d->next;
        if (!(d->full[i] && d->len[i] > 0))
            break;   /* closing, and every chunk handed over is taken */
        d->next = (i + 1) % DO_BUFS;
        size_t len = d->len[i];
        d->len[i] = 0;   /* taken */
        bool skip = d->error != 0;
        pthread_mutex_unlock(&d->lock);
        int e = skip ? 0 : write_chunk(d->fd, d->buf[i], len, d->off[i]);
        pthread_mutex_lock(&d->lock);
        if (e && !d->error)
            d->error = e;
        d->full[i] = false;
        pthread_cond_broadcast(&d->changed);
    }
    pthread_mutex_unlock(&d->lock);
    return NULL;
}

/* Memory for the chunks, its pages present before the first chunk is filled: in transparent
 * huge pages where the kernel offers them (one fault and one clear per 2 MB instead of per
 * 4 KB page), else in one populating call. Returns the mapping (*len bytes; the chunks start
 * at the first 2 MB boundary in it, see direct_out_open), or NULL. */
static char *map_chunks(size_t *len)
{
    const size_t huge = (size_t)2 << 20;
    *len = DO_BUFS * DO_CHUNK + huge;
    char *m = mmap(NULL, *len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return NULL;
    char *start = (char *)(((uintptr_t)m + huge - 1) / huge * huge);
#ifdef MADV_HUGEPAGE
    (void)madvise(start, DO_BUFS * DO_CHUNK, MADV_HUGEPAGE);
#endif
#ifdef MADV_POPULATE_WRITE
    if (madvise(start, DO_BUFS * DO_CHUNK, MADV_POPULATE_WRITE) != 0)
#endif
        memset(start, 0, DO_BUFS * DO_CHUNK);
    return m;
}

direct_out *direct_out_open(const char *path, uint64_t expected)
{
    direct_out *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->fd = -1;
    d->mem = map_chunks(&d->mem_len);
    if (!d->mem)
        goto fail;
    {
        const uintptr_t huge = (uintptr_t)2 << 20;
        d->mem_off = (size_t)((((uintptr_t)d->mem + huge - 1) / huge * huge) - (uintptr_t)d->mem);
    }
    for (int i = 0; i < DO_BUFS; i++)
        d->buf[i] = d->mem + (d->mem_off + (size_t)i * DO_CHUNK);
    d->fd = open(path, O_WRONLY | O_DIRECT);
    if (d->fd < 0)
        goto fail;
    /* the file's blocks reserved up front: the writes then do not extend it, and two of them
     * can be in flight at once (a file system without fallocate just extends it) */
    if (expected > 0)
        (void)fallocate(d->fd, 0, 0, (off_t)expected);
    if (pthread_mutex_init(&d->lock, NULL) != 0)
        goto fail;
    if (pthread_cond_init(&d->changed, NULL) != 0) {
        pthread_mutex_destroy(&d->lock);
        goto fail;
    }
    while (d->n_writers < DO_WRITERS &&
           pthread_create(&d->writers[d->n_writers], NULL, writer_main, d) == 0)
        d->n_writers++;
    if (d->n_writers == 0) {
        pthread_cond_destroy(&d->changed);
        pthread_mutex_destroy(&d->lock);
        goto fail;
    }
    return d;
fail:;
    int e = errno ? errno : ENOMEM;
    if (d->fd >= 0)
        close(d->fd);
    if (d->mem)
        munmap(d->mem, d->mem_len);
    free(d);
    errno = e;
    return NULL;
}

int direct_out_space(direct_out *d, char **at, size_t *room, int *error)
{
    pthread_mutex_lock(&d->lock);
    while (d->full[d->cur] && !d->error)
        pthread_cond_wait(&d->changed, &d->lock);
    int e = d->error;
    pthread_mutex_unlock(&d->lock);
    if (e) {
        *error = e;
        return -1;
    }
    *at = d->buf[d->cur] + d->fill;
    *room = DO_CHUNK - d->fill;
    return 0;
}

/* Hands the current chunk (len bytes) to the writer and moves to the next. */
static void submit(direct_out *d, size_t len)
{
    pthread_mutex_lock(&d->lock);
    d->len[d->cur] = len;
    d->off[d->cur] = d->size - d->fill;
    d->full[d->cur] = true;
    pthread_cond_broadcast(&d->changed);
    pthread_mutex_unlock(&d->lock);
    d->cur = (d->cur + 1) % DO_BUFS;
    d->fill = 0;
}

int direct_out_advance(direct_out *d, size_t n, int *error)
{
    d->fill += n;
    d->size += n;
    if (d->fill == DO_CHUNK)
        submit(d, DO_CHUNK);
    pthread_mutex_lock(&d->lock);
    int e = d->error;
    pthread_mutex_unlock(&d->lock);
    if (e) {
        *error = e;
        return -1;
    }
    return 0;
}

uint64_t direct_out_size(const direct_out *d)
{
    return d->size;
}

int direct_out_close(direct_out *d, int *error)
{
    int e = 0;
    if (d->fill > 0) {   /* the tail, padded to the alignment, then cut back */
        size_t padded = (d->fill + DO_ALIGN - 1) / DO_ALIGN * DO_ALIGN;
        memset(d->buf[d->cur] + d->fill, 0, padded - d->fill);
        submit(d, padded);
    }
    pthread_mutex_lock(&d->lock);
    d->closing = true;
    pthread_cond_broadcast(&d->changed);
    pthread_mutex_unlock(&d->lock);
    for (int i = 0; i < d->n_writers; i++)
        pthread_join(d->writers[i], NULL);
    e = d->error;
    if (!e && ftruncate(d->fd, (off_t)d->size) != 0)
        e = errno;
    if (close(d->fd) != 0 && !e)
        e = errno;
    pthread_cond_destroy(&d->changed);
    pthread_mutex_destroy(&d->lock);
    munmap(d->mem, d->mem_len);
    free(d);
    if (e) {
        *error = e;
        return -1;
    }
    return 0;
}
