/* atomic_file.c: temporary-then-rename file writing with fsync of file and folder. */
#include "runtime/base/atomic_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return strdup(".");
    if (slash == path)
        return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

static void fsync_dir(const char *path)
{
    char *dir = dir_of(path);
    if (!dir)
        return;
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(dir);
}

int atomic_open(atomic_file *af, const char *path, char *err, size_t err_len)
{
    memset(af, 0, sizeof *af);
    size_t n = strlen(path);
    af->path = strdup(path);
    af->tmp_path = malloc(n + 16);
    if (!af->path || !af->tmp_path) {
        free(af->path);
        free(af->tmp_path);
        memset(af, 0, sizeof *af);
        snprintf(err, err_len, "%s: out of memory", path);
        errno = ENOMEM;
        return -1;
    }
    snprintf(af->tmp_path, n + 16, "%s.tmp-XXXXXX", path);
    int fd = mkstemp(af->tmp_path);
    if (fd < 0) {
        int e = errno;
        snprintf(err, err_len, "%s: cannot create: %s", path, strerror(e));
        free(af->path);
        free(af->tmp_path);
        memset(af, 0, sizeof *af);
        errno = e;
        return -1;
    }
    fchmod(fd, 0644);
    af->fp = fdopen(fd, "wb");
    if (!af->fp) {
        int e = errno;
        close(fd);
        unlink(af->tmp_path);
        snprintf(err, err_len, "%s: cannot open: %s", path, strerror(e));
        free(af->path);
        free(af->tmp_path);
        memset(af, 0, sizeof *af);
        errno = e;
        return -1;
    }
    af->durable = true;
    return 0;
}

static void release(atomic_file *af)
{
    free(af->path);
    free(af->tmp_path);
    memset(af, 0, sizeof *af);
}

void atomic_abort(atomic_file *af)
{
    if (!af || !af->tmp_path)
        return;
    if (af->fp)
        fclose(af->fp);
    unlink(af->tmp_path);
    release(af);
}

/* Flushes and fsyncs the temporary and closes it; on failure removes it. */
static int finish_tmp(atomic_file *af, char *err, size_t err_len)
{
    int failed = 0, e = 0;
    if (fflush(af->fp) != 0 || ferror(af->fp)) {
        failed = 1;
        e = errno;
    } else if (af->durable && fsync(fileno(af->fp)) != 0) {
        failed = 1;
        e = errno;
    }
    if (fclose(af->fp) != 0 && !failed) {
        failed = 1;
        e = errno;
    }
    af->fp = NULL;
    if (failed) {
        snprintf(err, err_len, "%s: write failed: %s", af->path, strerror(e ? e : EIO));
        unlink(af->tmp_path);
        release(af);
        errno = e ? e : EIO;
        return -1;
    }
    return 0;
}

static int rename_into_place(atomic_file *af, char *err, size_t err_len)
{
    if (rename(af->tmp_path, af->path) != 0) {
        int e = errno;
        snprintf(err, err_len, "%s: cannot rename into place: %s", af->path, strerror(e));
        unlink(af->tmp_path);
        release(af);
        errno = e;
        return -1;
    }
    if (af->durable)
        fsync_dir(af->path);
    release(af);
    return 0;
}

int atomic_commit(atomic_file *af, char *err, size_t err_len)
{
    if (finish_tmp(af, err, err_len) != 0)
        return -1;
    return rename_into_place(af, err, err_len);
}

int atomic_commit_pair(atomic_file *first, atomic_file *second, char *err, size_t err_len)
{
    if (finish_tmp(first, err, err_len) != 0) {
        atomic_abort(second);
        return -1;
    }
    if (finish_tmp(second, err, err_len) != 0) {
        unlink(first->tmp_path);
        release(first);
        return -1;
    }
    /* The weights (second) go into place first, so a YAML never names weights that are not
     * there yet; the architecture hash in the weights refuses a mismatched pair. */
    if (rename_into_place(second, err, err_len) != 0) {
        unlink(first->tmp_path);
        release(first);
        return -1;
    }
    return rename_into_place(first, err, err_len);
}

int atomic_write_file(const char *path, const void *data, size_t len, char *err, size_t err_len)
{
    atomic_file af;
    if (atomic_open(&af, path, err, err_len) != 0)
        return -1;
    if (len && fwrite(data, 1, len, af.fp) != len) {
        int e = errno;
        snprintf(err, err_len, "%s: write failed: %s", path, strerror(e ? e : EIO));
        atomic_abort(&af);
        return -1;
    }
    return atomic_commit(&af, err, err_len);
}
