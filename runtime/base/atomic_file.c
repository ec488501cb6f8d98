/* atomic_file.c: temporary-then-rename file writing with fsync of file and folder, and pairs
 * of files committed by one rename. */
#include "runtime/base/atomic_file.h"

#include <errno.h>
#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/file.h>
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

/* ---- a pair of files committed by one rename ---- */

#define GEN_MARK ".save-"
#define TMP_MARK ".tmp-"
#define UNIQUE_LEN 6   /* the XXXXXX of mkstemp: letters and digits */

static void fsync_fd(int fd, bool durable)
{
    if (durable && fd >= 0)
        fsync(fd);
}

/* Whether name is prefix + six letters or digits + suffix. */
static bool is_unique_name(const char *name, const char *prefix, size_t prefix_len,
                           const char *suffix)
{
    size_t n = strlen(name), suffix_len = strlen(suffix);
    if (n != prefix_len + UNIQUE_LEN + suffix_len || strncmp(name, prefix, prefix_len) != 0 ||
        strcmp(name + prefix_len + UNIQUE_LEN, suffix) != 0)
        return false;
    for (size_t i = 0; i < UNIQUE_LEN; i++)
        if (!isalnum((unsigned char)name[prefix_len + i]))
            return false;
    return true;
}

typedef enum index_ref { REF_NONE, REF_NAME, REF_UNKNOWN } index_ref;

/* The file the committed index names on its `key` line, in *name (malloc'd): REF_NONE when
 * there is no index (or it is a folder) or it names none, REF_UNKNOWN when it cannot be read. */
static index_ref index_names(const char *index_path, const char *key, char **name)
{
    *name = NULL;
    FILE *fp = fopen(index_path, "rb");
    if (!fp)
        return errno == ENOENT || errno == ENOTDIR || errno == EISDIR ? REF_NONE : REF_UNKNOWN;
    struct stat st;
    bool stated = fstat(fileno(fp), &st) == 0;
    if (!stated || S_ISDIR(st.st_mode)) {
        fclose(fp);
        return stated ? REF_NONE : REF_UNKNOWN;
    }
    size_t key_len = strlen(key), cap = 0;
    char *line = NULL;
    ssize_t len;
    index_ref ref = REF_NONE;
    while ((len = getline(&line, &cap, fp)) >= 0) {
        if (strncmp(line, key, key_len) != 0)
            continue;
        char *v = line + key_len, *end = line + len;
        while (*v == ' ' || *v == '\t')
            v++;
        char *hash = strstr(v, " #");
        if (hash)
            end = hash;
        while (end > v && isspace((unsigned char)end[-1]))
            end--;
        if (end - v >= 2 && (*v == '"' || *v == '\'') && end[-1] == *v) {
            v++;
            end--;
        }
        if (end - v >= 2 && v[0] == '.' && v[1] == '/')
            v += 2;
        *name = strndup(v, (size_t)(end - v));
        ref = *name ? REF_NAME : REF_UNKNOWN;
        break;
    }
    if (ferror(fp) && ref != REF_NAME)
        ref = REF_UNKNOWN;
    free(line);
    fclose(fp);
    return ref;
}

/* Removes what interrupted saves of index_path left in its folder: the temporaries of both
 * files, and generation files of the data that the committed index does not name. */
static void remove_leftovers(const char *dir, const char *index_path, const char *data_path,
                             const char *key)
{
    char *named = NULL;
    index_ref ref = index_names(index_path, key, &named);
    const char *index_base = strrchr(index_path, '/') ? strrchr(index_path, '/') + 1 : index_path;
    const char *data_base = strrchr(data_path, '/') ? strrchr(data_path, '/') + 1 : data_path;
    const char *ext = strrchr(data_base, '.');
    if (!ext)
        ext = data_base + strlen(data_base);
    size_t stem_len = (size_t)(ext - data_base), dir_len = strlen(dir);
    char *gen_prefix = malloc(stem_len + sizeof GEN_MARK);
    char *index_tmp = malloc(strlen(index_base) + sizeof TMP_MARK);
    char *data_tmp = malloc(strlen(data_base) + sizeof TMP_MARK);
    DIR *dp = gen_prefix && index_tmp && data_tmp ? opendir(dir) : NULL;
    if (dp) {
        memcpy(gen_prefix, data_base, stem_len);
        strcpy(gen_prefix + stem_len, GEN_MARK);
        strcat(strcpy(index_tmp, index_base), TMP_MARK);
        strcat(strcpy(data_tmp, data_base), TMP_MARK);
        struct dirent *e;
        while ((e = readdir(dp)) != NULL) {
            const char *nm = e->d_name;
            bool gen = is_unique_name(nm, gen_prefix, strlen(gen_prefix), ext);
            bool tmp = is_unique_name(nm, index_tmp, strlen(index_tmp), "") ||
                       is_unique_name(nm, data_tmp, strlen(data_tmp), "");
            if (gen && (ref == REF_UNKNOWN || (ref == REF_NAME && !strcmp(nm, named))))
                continue;
            if (!gen && !tmp)
                continue;
            char *full = malloc(dir_len + strlen(nm) + 2);
            if (!full)
                break;
            sprintf(full, "%s/%s", dir, nm);
            unlink(full);
            free(full);
        }
        closedir(dp);
    }
    free(gen_prefix);
    free(index_tmp);
    free(data_tmp);
    free(named);
}

/* Unlocks the folder and frees pc, keeping kept_generation. */
static void pair_release(pair_commit *pc)
{
    bool kept = pc->kept_generation;
    if (pc->dir_fd >= 0) {
        flock(pc->dir_fd, LOCK_UN);
        close(pc->dir_fd);
    }
    free(pc->index_path);
    free(pc->final_path);
    memset(pc, 0, sizeof *pc);
    pc->dir_fd = -1;
    pc->kept_generation = kept;
}

int pair_begin(pair_commit *pc, const char *index_path, const char *data_path, const char *key,
               bool durable, char *err, size_t err_len)
{
    memset(pc, 0, sizeof *pc);
    pc->dir_fd = -1;
    pc->key = key;
    pc->durable = durable;
    char *dir = dir_of(index_path);
    const char *data_base = strrchr(data_path, '/') ? strrchr(data_path, '/') + 1 : data_path;
    const char *ext = strrchr(data_base, '.');
    size_t stem_len = ext ? (size_t)(ext - data_path) : strlen(data_path);
    size_t ext_len = strlen(data_path) - stem_len;
    pc->index_path = strdup(index_path);
    pc->final_path = strdup(data_path);
    char *gen = malloc(stem_len + sizeof GEN_MARK + UNIQUE_LEN + ext_len);
    if (!dir || !pc->index_path || !pc->final_path || !gen) {
        free(dir);
        free(gen);
        pair_release(pc);
        snprintf(err, err_len, "%s: out of memory", data_path);
        return -1;
    }
    pc->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (pc->dir_fd >= 0)
        (void)flock(pc->dir_fd, LOCK_EX);   /* advisory; a folder without locks saves unlocked */
    remove_leftovers(dir, index_path, data_path, key);
    free(dir);
    memcpy(gen, data_path, stem_len);
    memcpy(gen + stem_len, GEN_MARK "XXXXXX", sizeof GEN_MARK - 1 + UNIQUE_LEN);
    memcpy(gen + stem_len + sizeof GEN_MARK - 1 + UNIQUE_LEN, data_path + stem_len, ext_len + 1);
    int fd = mkstemps(gen, (int)ext_len);
    if (fd < 0) {
        snprintf(err, err_len, "%s: cannot create: %s", data_path, strerror(errno));
        free(gen);
        pair_release(pc);
        return -1;
    }
    fchmod(fd, 0644);
    pc->data.fp = fdopen(fd, "wb");
    if (!pc->data.fp) {
        snprintf(err, err_len, "%s: cannot open: %s", data_path, strerror(errno));
        close(fd);
        unlink(gen);
        free(gen);
        pair_release(pc);
        return -1;
    }
    pc->data.tmp_path = gen;
    pc->data.path = strdup(data_path);   /* what its errors name */
    pc->data.durable = durable;
    if (!pc->data.path) {
        snprintf(err, err_len, "%s: out of memory", data_path);
        pair_abort(pc);
        return -1;
    }
    return 0;
}

const char *pair_generation_name(const pair_commit *pc)
{
    const char *slash = strrchr(pc->data.tmp_path, '/');
    return slash ? slash + 1 : pc->data.tmp_path;
}

void pair_abort(pair_commit *pc)
{
    atomic_abort(&pc->data);
    pair_release(pc);
}

/* Writes text to path through a temporary and renames it into place; 0 or -1 (nothing left). */
static int commit_index(const pair_commit *pc, const void *text, size_t len, char *err,
                        size_t err_len)
{
    atomic_file af;
    if (atomic_open(&af, pc->index_path, err, err_len) != 0)
        return -1;
    af.durable = pc->durable;
    if (len && fwrite(text, 1, len, af.fp) != len) {
        snprintf(err, err_len, "%s: write failed: %s", pc->index_path, strerror(errno ? errno : EIO));
        atomic_abort(&af);
        return -1;
    }
    return atomic_commit(&af, err, err_len);
}

int pair_commit_files(pair_commit *pc, const void *index_gen, size_t gen_len,
                      const void *index_final, size_t final_len, char *err, size_t err_len)
{
    /* the data complete under the generation name (durable: on the disk, with its entry) */
    if (finish_tmp(&pc->data, err, err_len) != 0) {   /* removes the generation file */
        pair_release(pc);
        return -1;
    }
    fsync_fd(pc->dir_fd, pc->durable);
    /* the commit */
    if (commit_index(pc, index_gen, gen_len, err, err_len) != 0) {
        unlink(pc->data.tmp_path);
        release(&pc->data);
        pair_release(pc);
        return -1;
    }
    /* the data take their final name, then the index names it */
    if (link(pc->data.tmp_path, pc->final_path) != 0 && errno == EEXIST &&
        unlink(pc->final_path) == 0)
        (void)link(pc->data.tmp_path, pc->final_path);
    struct stat gen_st, final_st;
    bool linked = stat(pc->data.tmp_path, &gen_st) == 0 && stat(pc->final_path, &final_st) == 0 &&
                  gen_st.st_dev == final_st.st_dev && gen_st.st_ino == final_st.st_ino;
    if (linked) {
        fsync_fd(pc->dir_fd, pc->durable);
        char ignored[256];
        linked = commit_index(pc, index_final, final_len, ignored, sizeof ignored) == 0;
    } else {
        unlink(pc->final_path);   /* the previous pair's data, which no longer has an index */
    }
    pc->kept_generation = !linked;
    /* the generation name, and the previous pair's generation file if its index named one */
    char *dir = dir_of(pc->index_path);
    if (dir)
        remove_leftovers(dir, pc->index_path, pc->final_path, pc->key);
    free(dir);
    fsync_fd(pc->dir_fd, pc->durable);
    release(&pc->data);
    pair_release(pc);
    return 0;
}
