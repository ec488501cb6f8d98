/* cache_files.c: a featurize cache entry on disk: its folder, the .npy shard arrays (written,
 * mapped), the manifest and opening a complete entry. */
#define _GNU_SOURCE /* syncfs, sync_file_range: writing the cache entry */
#include "runtime/featurize/featurize_impl.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/base/checked.h"
#include "runtime/base/rng.h"
#include "runtime/tensor/npy.h"

int mkdir_p(const char *path)
{
    char *p = strdup(path);
    if (!p)
        return -1;
    for (char *s = p + 1;; s++) {
        if (*s != '/' && *s != '\0')
            continue;
        char c = *s;
        *s = '\0';
        if (mkdir(p, 0755) != 0 && errno != EEXIST) {
            free(p);
            return -1;
        }
        *s = c;
        if (!c)
            break;
    }
    free(p);
    return 0;
}

void remove_tree(const char *dir)
{
    DIR *dp = opendir(dir);
    if (dp) {
        struct dirent *e;
        while ((e = readdir(dp))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                continue;
            char p[4096];
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            unlink(p);
        }
        closedir(dp);
    }
    rmdir(dir);
}

char *join(const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 2;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "%s/%s", a, b);
    return s;
}

int save_array(const char *dir, int64_t shard_i, const char *what, const tensor *t, char *err,
               size_t err_len)
{
    char name[64];
    snprintf(name, sizeof name, "%06lld.%s.npy", (long long)shard_i, what);
    char *p = join(dir, name);
    if (!p) {
        snprintf(err, err_len, "out of memory");
        return -1;
    }
    FILE *f = fopen(p, "wb");
    int rc = -1;
    if (!f) {
        snprintf(err, err_len, "%s: %s", p, strerror(errno));
    } else {
        /* Flushed to the kernel here, its write-back started at once (so that the disk works
         * while the next batches are computed); made durable for the whole entry by
         * sync_folder before the entry's folder is renamed into place. */
        rc = npy_write_float(f, t, err, err_len);
        if (fflush(f) != 0) {
            if (rc == 0)
                snprintf(err, err_len, "%s: write failed: %s", p, strerror(errno));
            rc = -1;
        }
        if (rc == 0)
            (void)sync_file_range(fileno(f), 0, 0, SYNC_FILE_RANGE_WRITE);
        if (fclose(f) != 0 && rc == 0) {
            snprintf(err, err_len, "%s: write failed: %s", p, strerror(errno));
            rc = -1;
        }
    }
    free(p);
    return rc;
}

/* A group's array laid out as a shard: a time-major [T, G, F] array becomes batch-first
 * [G, T, F] and a [T, G] mask [G, T], both copied into sc; other arrays ([G, ...], already
 * batch-first) are shown as they are. Returns 0, or -1 when out of memory. */
int shard_layout(const tensor *src, bool is_mask, scratch *sc, tensor *out)
{
    *out = *src;
    out->borrowed = true;
    if (!is_mask && src->ndim != 3)
        return 0;
    int64_t T = src->shape[0], G = src->ndim > 1 ? src->shape[1] : 1, F = is_mask ? 1 : src->shape[2];
    size_t need = (size_t)(G * T * F);
    if (need > sc->cap) {
        float *p = realloc(sc->p, (need ? need : 1) * sizeof(float));
        if (!p)
            return -1;
        sc->p = p;
        sc->cap = need;
    }
    for (int64_t i = 0; i < G; i++)
        for (int64_t t = 0; t < T; t++)
            memcpy(sc->p + (i * T + t) * F, src->data + (t * G + i) * F, (size_t)F * sizeof(float));
    out->data = sc->p;
    out->ndim = is_mask ? 2 : 3;
    out->shape[0] = G;
    out->shape[1] = T;
    out->shape[2] = F;
    out->size = (int64_t)need;
    return 0;
}

int map_array(const char *dir, int64_t shard_i, const char *what, mapped_array *a, char *err,
              size_t err_len)
{
    char name[64];
    snprintf(name, sizeof name, "%06lld.%s.npy", (long long)shard_i, what);
    char *p = join(dir, name);
    if (!p)
        return -1;
    int rc = -1;
    npy_file *nf = npy_open(p, err, err_len);
    if (nf) {
        if (nf->dtype != NPY_F4 || nf->ndim > 4) { /* [rows, F], [rows, T, F] or [rows, C, H, W] */
            snprintf(err, err_len, "%s: not a cached feature array", p);
        } else {
            int fd = open(p, O_RDONLY);
            struct stat sb;
            if (fd >= 0 && fstat(fd, &sb) == 0 && sb.st_size > 0) {
                void *base = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
                if (base != MAP_FAILED &&
                    (size_t)nf->data_offset + (size_t)nf->count * 4 <= (size_t)sb.st_size) {
                    a->base = base;
                    a->len = (size_t)sb.st_size;
                    a->data = (const float *)((const char *)base + nf->data_offset);
                    a->ndim = nf->ndim;
                    for (int k = 0; k < nf->ndim; k++)
                        a->shape[k] = nf->shape[k];
                    rc = 0;
                } else {
                    if (base != MAP_FAILED)
                        munmap(base, (size_t)sb.st_size);
                    snprintf(err, err_len, "%s: truncated cached feature array", p);
                }
            } else {
                snprintf(err, err_len, "%s: %s", p, strerror(errno));
            }
            if (fd >= 0)
                close(fd);
        }
        npy_close(nf);
    }
    free(p);
    return rc;
}

bool shard_has(const char *dir, int64_t shard_i, const char *what)
{
    char name[64];
    snprintf(name, sizeof name, "%06lld.%s.npy", (long long)shard_i, what);
    char *p = join(dir, name);
    struct stat sb;
    bool ok = p && stat(p, &sb) == 0;
    free(p);
    return ok;
}

void unmap_array(mapped_array *a)
{
    if (a->base)
        munmap(a->base, a->len);
    memset(a, 0, sizeof *a);
}

void feature_set_free(feature_set *fs)
{
    if (!fs)
        return;
    for (int s = 0; s < fs->n_shards; s++) {
        shard *sh = &fs->shards[s];
        for (int k = 0; k < fs->n_nodes; k++)
            unmap_array(&sh->x[k]);
        unmap_array(&sh->y);
        unmap_array(&sh->mask);
        unmap_array(&sh->label_mask);
    }
    for (int k = 0; k < fs->n_nodes; k++)
        free(fs->nodes[k]);
    free(fs->shards);
    free(fs->ex_shard);
    free(fs->ex_row);
    free(fs->path);
    model_free(fs->top);
    free(fs);
}

const char *feature_set_path(const feature_set *fs) { return fs->path; }
int64_t feature_set_count(const feature_set *fs) { return fs->count; }

/* The manifest: what the cache entry holds, written last. */
int write_manifest(const char *dir, const feature_set *fs, int64_t *shard_rows, char *err,
                   size_t err_len)
{
    char *p = join(dir, "manifest.txt");
    if (!p)
        return -1;
    FILE *f = fopen(p, "w");
    if (!f) {
        snprintf(err, err_len, "%s: %s", p, strerror(errno));
        free(p);
        return -1;
    }
    fprintf(f, "format %s\ncount %lld\nsequence %d\nalign_end %d\nmask %d\nlabel_mask %d\n"
               "outputs %lld\nshuffled %d\nnodes %d\n", FEATURIZE_FORMAT, (long long)fs->count,
            fs->sequence, fs->align_end, fs->has_mask, fs->has_label_mask, (long long)fs->outputs,
            fs->read_shuffled, fs->n_nodes);
    for (int k = 0; k < fs->n_nodes; k++)
        fprintf(f, "node %s %lld\n", fs->nodes[k], (long long)fs->node_size[k]);
    fprintf(f, "shards %d\n", fs->n_shards);
    for (int s = 0; s < fs->n_shards; s++)
        fprintf(f, "shard %lld\n", (long long)shard_rows[s]);
    int rc = 0;
    if (fflush(f) != 0)
        rc = -1;
    if (fclose(f) != 0)
        rc = -1;
    if (rc)
        snprintf(err, err_len, "%s: write failed: %s", p, strerror(errno));
    free(p);
    return rc;
}

/* True when a holds rows x per_row values, rows first: what the batches copy out of it. */
static bool holds(const mapped_array *a, int64_t rows, int64_t per_row)
{
    int64_t want, have = 1;
    if (a->ndim < 1 || a->shape[0] != rows || !checked_mul(rows, per_row, &want))
        return false;
    for (int k = 0; k < a->ndim; k++)
        if (!checked_mul(have, a->shape[k], &have))
            return false;
    return have == want;
}

/* The arrays of shard sh hold what the manifest and the model say: rows examples of steps
 * steps, each node's width, the label width, a value per step in each mask. */
static bool shard_fits(const feature_set *fs, const shard *sh)
{
    for (int k = 0; k < fs->n_nodes; k++) {
        int64_t per_row;
        if (!checked_mul(sh->steps, fs->node_size[k], &per_row) || !holds(&sh->x[k], sh->rows, per_row))
            return false;
    }
    int64_t label_row;
    return checked_mul(sh->steps, fs->outputs, &label_row) && holds(&sh->y, sh->rows, label_row) &&
           (!sh->mask.base || holds(&sh->mask, sh->rows, sh->steps)) &&
           (!sh->label_mask.base || holds(&sh->label_mask, sh->rows, sh->steps));
}

/* Opens a complete cache entry: reads the manifest, maps every shard, builds the index. Every
 * number and shape is checked before it sizes memory or a copy: a damaged entry is refused
 * (and computed again by the caller), never read past its arrays. */
int open_entry(feature_set *fs, char *err, size_t err_len)
{
    char *p = join(fs->path, "manifest.txt");
    FILE *f = p ? fopen(p, "r") : NULL;
    free(p);
    if (!f) {
        snprintf(err, err_len, "%s: no manifest", fs->path);
        return -1;
    }
    char fmt[64];
    int seq, aend, hm, hlm, shuf, nn, ns;
    int64_t *read_order = NULL;
    long long count, outputs;
    int rc = -1;
    if (fscanf(f, "format %63s count %lld sequence %d align_end %d mask %d label_mask %d outputs %lld "
                  "shuffled %d nodes %d",
               fmt, &count, &seq, &aend, &hm, &hlm, &outputs, &shuf, &nn) != 9 ||
        strcmp(fmt, FEATURIZE_FORMAT) != 0 || nn != fs->n_nodes || count < 0 ||
        count > INT64_MAX / (int64_t)sizeof(int64_t) || outputs < 1 || outputs > INT32_MAX) {
        snprintf(err, err_len, "%s: unreadable manifest", fs->path);
        goto out;
    }
    for (int k = 0; k < nn; k++) {
        char name[256];
        long long size;
        if (fscanf(f, " node %255s %lld", name, &size) != 2 || strcmp(name, fs->nodes[k]) != 0) {
            snprintf(err, err_len, "%s: manifest names other boundary nodes", fs->path);
            goto out;
        }
    }
    if (fscanf(f, " shards %d", &ns) != 1 || ns < 0) {
        snprintf(err, err_len, "%s: unreadable manifest", fs->path);
        goto out;
    }
    fs->count = count;
    fs->sequence = seq;
    fs->align_end = aend;
    fs->has_mask = hm;
    fs->has_label_mask = hlm;
    fs->outputs = outputs;
    fs->read_shuffled = shuf;
    fs->shards = calloc((size_t)(ns ? ns : 1), sizeof *fs->shards);
    fs->ex_shard = malloc((size_t)(count ? count : 1) * sizeof *fs->ex_shard);
    fs->ex_row = malloc((size_t)(count ? count : 1) * sizeof *fs->ex_row);
    read_order = malloc((size_t)(count ? count : 1) * sizeof *read_order);
    if (!fs->shards || !fs->ex_shard || !fs->ex_row || !read_order) {
        snprintf(err, err_len, "out of memory");
        goto out;
    }
    for (int64_t i = 0; i < count; i++)
        read_order[i] = i;
    if (shuf) {
        rng r;
        rng_seed(&r, FEATURIZE_READ_SEED);
        rng_shuffle(&r, read_order, count);
    }
    int64_t next = 0;
    for (int s = 0; s < ns; s++) {
        long long rows;
        if (fscanf(f, " shard %lld", &rows) != 1 || rows < 0 || next + rows > count) {
            snprintf(err, err_len, "%s: unreadable manifest", fs->path);
            goto out;
        }
        fs->n_shards = s + 1;
        shard *sh = &fs->shards[s];
        sh->rows = rows;
        for (int k = 0; k < nn; k++)
        {
            char what[16];
            snprintf(what, sizeof what, "x%02d", k);
            if (map_array(fs->path, s, what, &sh->x[k], err, err_len) != 0)
                goto out;
        }
        if (map_array(fs->path, s, "y", &sh->y, err, err_len) != 0)
            goto out;
        if (hm && shard_has(fs->path, s, "mask") &&
            map_array(fs->path, s, "mask", &sh->mask, err, err_len) != 0)
            goto out;
        if (hlm && shard_has(fs->path, s, "label_mask") &&
            map_array(fs->path, s, "label_mask", &sh->label_mask, err, err_len) != 0)
            goto out;
        sh->steps = !seq ? 1 : sh->x[0].ndim >= 2 ? sh->x[0].shape[1] : -1;
        if (sh->steps < 1 || !shard_fits(fs, sh)) {
            snprintf(err, err_len, "%s: shard %d does not match the manifest", fs->path, s);
            goto out;
        }
        /* Position next + r of the reading order holds example read_order[next + r]. */
        for (int64_t r = 0; r < rows; r++) {
            fs->ex_shard[read_order[next + r]] = s;
            fs->ex_row[read_order[next + r]] = r;
        }
        next += rows;
    }
    if (next != count) {
        snprintf(err, err_len, "%s: the shards hold %lld examples, the manifest says %lld", fs->path,
                 (long long)next, count);
        goto out;
    }
    rc = 0;
out:
    free(read_order);
    fclose(f);
    return rc;
}

/* Makes every file written into dir durable (one syncfs for the file system) and the folder
 * itself; write errors that only show up on the flush (a full disk) are reported here. */
int sync_folder(const char *dir, char *err, size_t err_len)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0 || syncfs(fd) != 0 || fsync(fd) != 0) {
        snprintf(err, err_len, "%s: cannot write the cache entry: %s", dir, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    return 0;
}

bool dir_exists(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}
