/* weights_out.c: tensor data into a file by direct I/O, or by gathered writes and file-to-file
 * kernel copies. */
#define _GNU_SOURCE /* copy_file_range, sync_file_range */
#include "runtime/formats/weights_out.h"

#include <errno.h>
#include <stdint.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "runtime/base/direct_out.h"
#include "runtime/tensor/tensor_parts.h"

/* Spans of the source file at least this long are copied in the kernel; shorter ones (a
 * widened matrix's rows) are gathered with the rest, from the mapping. */
#define WO_COPY_MIN ((size_t)256 << 10)
/* With direct I/O, spans of the source file at least this long are read from the file (no
 * page faults on the mapping); shorter ones are copied from the mapping. */
#define WO_READ_MIN ((size_t)64 << 10)
/* Queued bytes that make a write, and the stride of starting writeback. */
#define WO_QUEUE_MAX ((size_t)16 << 20)
#define WO_WRITEBACK ((uint64_t)16 << 20)

static const char wo_zeros[64 << 10];

/* The writeback thread: sync_file_range(SYNC_FILE_RANGE_WRITE) queues the dirty pages of a
 * range for the disk, which costs the caller CPU time; done here, it overlaps the copying. A
 * file system that cannot start writeback early leaves it to the caller's fsync. */
static void *writeback_thread(void *arg)
{
    weights_out *w = arg;
    pthread_mutex_lock(&w->lock);
    for (;;) {
        while (!w->closing && w->wanted == w->submitted)
            pthread_cond_wait(&w->more, &w->lock);
        if (w->wanted == w->submitted)
            break;
        uint64_t to = w->wanted;
        pthread_mutex_unlock(&w->lock);
        (void)sync_file_range(w->fd, 0, 0, SYNC_FILE_RANGE_WRITE);   /* 0, 0: the whole file */
        pthread_mutex_lock(&w->lock);
        w->submitted = to;
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

static void set_up(weights_out *w, int fd, uint64_t pos, int src_fd, const void *src,
                   size_t src_len)
{
    memset(w, 0, sizeof *w);
    w->fd = fd;
    w->pos = pos;
    w->src_fd = src ? src_fd : -1;
    w->src = src;
    w->src_len = src ? src_len : 0;
    w->kernel_copy = w->src_fd >= 0;
}

void wo_begin(weights_out *w, int fd, uint64_t pos, bool early_writeback, int src_fd,
              const void *src, size_t src_len)
{
    set_up(w, fd, pos, src_fd, src, src_len);
    w->early_writeback = early_writeback;
    if (!early_writeback)
        return;
    if (pthread_mutex_init(&w->lock, NULL) != 0)
        return;
    if (pthread_cond_init(&w->more, NULL) != 0) {
        pthread_mutex_destroy(&w->lock);
        return;
    }
    w->threaded = pthread_create(&w->thread, NULL, writeback_thread, w) == 0;
    if (!w->threaded) {
        pthread_cond_destroy(&w->more);
        pthread_mutex_destroy(&w->lock);
    }
}

int wo_begin_direct(weights_out *w, const char *path, uint64_t size, int fd, int src_fd,
                    const void *src, size_t src_len)
{
    struct direct_out *d = direct_out_open(path, size);
    if (!d) {
        wo_begin(w, fd, 0, true, src_fd, src, src_len);
        return -1;
    }
    set_up(w, fd, 0, src_fd, src, src_len);
    w->direct = d;
    return 0;
}

static int fail(weights_out *w, int e)
{
    if (!w->error)
        w->error = e ? e : EIO;
    return -1;
}

/* Asks for writeback of the file's dirty pages every WO_WRITEBACK bytes written. */
static void start_writeback(weights_out *w)
{
    if (!w->early_writeback || w->written - w->asked < WO_WRITEBACK)
        return;
    w->asked = w->written;
    if (w->threaded) {
        pthread_mutex_lock(&w->lock);
        w->wanted = w->written;
        pthread_cond_signal(&w->more);
        pthread_mutex_unlock(&w->lock);
    } else {
        (void)sync_file_range(w->fd, 0, 0, SYNC_FILE_RANGE_WRITE);
    }
}

static int flush_queue(weights_out *w)
{
    struct iovec *v = w->iov;
    int cnt = w->n_iov;
    while (cnt > 0) {
        ssize_t r = pwritev(w->fd, v, cnt, (off_t)w->pos);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return fail(w, errno);
        }
        if (r == 0)
            return fail(w, EIO);
        w->pos += (uint64_t)r;
        w->written += (uint64_t)r;
        size_t left = (size_t)r;
        while (cnt > 0 && left >= v->iov_len) {
            left -= v->iov_len;
            v++;
            cnt--;
        }
        if (cnt > 0) {   /* a short write: the rest of this span next */
            v->iov_base = (char *)v->iov_base + left;
            v->iov_len -= left;
        }
    }
    w->n_iov = 0;
    w->queued = 0;
    start_writeback(w);
    return 0;
}

static int queue(weights_out *w, const void *p, size_t n)
{
    if (n == 0)
        return 0;
    struct iovec *last = w->n_iov ? &w->iov[w->n_iov - 1] : NULL;
    if (last && p && (const char *)last->iov_base + last->iov_len == (const char *)p &&
        last->iov_base != wo_zeros) {
        last->iov_len += n;
    } else {
        if (w->n_iov == WO_IOV && flush_queue(w) != 0)
            return -1;
        w->iov[w->n_iov++] = (struct iovec){.iov_base = (void *)p, .iov_len = n};
    }
    w->queued += n;
    return w->queued >= WO_QUEUE_MAX ? flush_queue(w) : 0;
}

/* Copies [off, off + n) of the source file in the kernel. Returns 1 when done, 0 when the
 * file system cannot (the bytes are to be written from the mapping instead), -1 on failure. */
static int kernel_copy(weights_out *w, uint64_t off, size_t n)
{
    loff_t in = (loff_t)off, out = (loff_t)w->pos;
    while (n > 0) {
        ssize_t r = copy_file_range(w->src_fd, &in, w->fd, &out, n, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EXDEV || errno == EINVAL || errno == ENOSYS ||
                      errno == EOPNOTSUPP || errno == EBADF || errno == EPERM)) {
            w->kernel_copy = false;
            return 0;
        }
        if (r < 0)
            return fail(w, errno);
        if (r == 0)   /* the source file is shorter than its mapping: it changed */
            return fail(w, EIO);
        n -= (size_t)r;
        w->pos += (uint64_t)r;
        w->written += (uint64_t)r;
    }
    start_writeback(w);
    return 1;
}

/* Reads [off, off + n) of the source file into dst (no page of the mapping touched). Returns
 * the bytes read: fewer when the file is shorter or a read fails (the caller copies the rest
 * from the mapping). */
static size_t read_source(const weights_out *w, char *dst, uint64_t off, size_t n)
{
    size_t done = 0;
    while (done < n) {
        ssize_t r = pread(w->src_fd, dst + done, n - done, (off_t)(off + done));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        done += (size_t)r;
    }
    return done;
}

/* wo_bytes in direct mode: into the current chunk, long spans of the source file read from
 * the file, the rest copied from memory. */
static int direct_bytes(weights_out *w, const char *c, size_t n)
{
    while (n > 0) {
        char *at;
        size_t room;
        if (direct_out_space(w->direct, &at, &room, &w->error) != 0)
            return -1;
        size_t k = n < room ? n : room;
        uintptr_t a = (uintptr_t)c, base = (uintptr_t)w->src;
        if (!c) {
            memset(at, 0, k);
        } else {
            size_t got = 0;
            if (w->src_fd >= 0 && k >= WO_READ_MIN && a >= base && a - base <= w->src_len &&
                k <= w->src_len - (a - base))
                got = read_source(w, at, (uint64_t)(a - base), k);
            if (got < k)
                memcpy(at + got, c + got, k - got);
        }
        if (direct_out_advance(w->direct, k, &w->error) != 0)
            return -1;
        w->pos += k;
        n -= k;
        if (c)
            c += k;
    }
    return 0;
}

int wo_bytes(weights_out *w, const void *p, size_t n)
{
    if (w->error)
        return -1;
    if (w->direct)
        return direct_bytes(w, p, n);
    if (!p) {
        while (n > 0) {
            size_t k = n < sizeof wo_zeros ? n : sizeof wo_zeros;
            if (queue(w, wo_zeros, k) != 0)
                return -1;
            n -= k;
        }
        return 0;
    }
    const char *c = p;
    uintptr_t at = (uintptr_t)c, base = (uintptr_t)w->src;
    if (w->kernel_copy && n >= WO_COPY_MIN && at >= base && at - base <= w->src_len &&
        n <= w->src_len - (at - base)) {
        if (flush_queue(w) != 0)
            return -1;
        uint64_t before = w->pos;
        int r = kernel_copy(w, (uint64_t)(at - base), n);
        if (r != 0)
            return r > 0 ? 0 : -1;
        size_t done = (size_t)(w->pos - before);   /* what was copied before it gave up */
        c += done;
        n -= done;
    }
    return queue(w, c, n);
}

int wo_seek(weights_out *w, uint64_t pos)
{
    if (w->error)
        return -1;
    if (pos == w->pos + w->queued)   /* where the queue ends: nothing to move */
        return 0;
    if (w->direct)
        return fail(w, EINVAL);
    if (flush_queue(w) != 0)
        return -1;
    w->pos = pos;
    return 0;
}

static int put_run(void *ctx, const float *src, int64_t n)
{
    return wo_bytes(ctx, src, (size_t)n * sizeof(float));
}

int wo_tensor(weights_out *w, const tensor *t)
{
    if (t->size == 0)
        return w->error ? -1 : 0;
    if (t->parts)
        return tensor_parts_each_run(t->parts, put_run, w);
    if (!t->data)
        return fail(w, EINVAL);
    return wo_bytes(w, t->data, (size_t)t->size * sizeof(float));
}

int wo_end(weights_out *w)
{
    int rc;
    if (w->direct) {
        int e = 0;
        rc = direct_out_close(w->direct, &e);
        w->direct = NULL;
        if (rc != 0 || w->error) {
            rc = -1;
            if (!w->error)
                w->error = e;
        }
    } else {
        rc = w->error ? -1 : flush_queue(w);
    }
    if (w->threaded) {
        pthread_mutex_lock(&w->lock);
        w->closing = true;
        pthread_cond_signal(&w->more);
        pthread_mutex_unlock(&w->lock);
        pthread_join(w->thread, NULL);
        pthread_cond_destroy(&w->more);
        pthread_mutex_destroy(&w->lock);
        w->threaded = false;
    }
    return rc;
}
