/* data_images.c: the images(FOLDER) source: one subfolder per class, PNG and JPEG files decoded
 * a batch at a time, converted to 1 or 3 channels, resized (bilinear) to height x width, scaled
 * to [0, 1] with an optional per-channel mean and std; dealt into `split` parts per class. */
#include "runtime/data/data_impl.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "runtime/base/checked.h"
#include "runtime/base/path.h"
#include "runtime/data/image_decode.h"

#define MAX_PARTS 16

typedef struct image_entry {
    char *path;              /* root/class/name */
    const char *rel;         /* class/name, inside path */
    int32_t label;
} image_entry;

typedef struct images_impl {
    char *root;              /* the folder, ending in '/' */
    char **classes;
    int64_t n_classes;
    image_entry *files;      /* the examples of this part in index order */
    int64_t n_files;
    float mean[3], std[3];
    unsigned char *pixels;
    size_t pixels_cap;
    float *planar;
    size_t planar_cap;
} images_impl;

/* ---- shared with the other image-shaped sources ---- */

int image_batch_alloc(dataset *ds, tensor *x, int64_t n)
{
    if (!ds->image_batches)
        return tensor_alloc2(x, n, ds->features);
    int64_t shape[4] = {n, ds->image_c, ds->image_h, ds->image_w};
    return tensor_alloc(x, 4, shape);
}

void data_image_shape(const dataset *ds, int64_t *channels, int64_t *height, int64_t *width)
{
    if (channels)
        *channels = ds->image_c;
    if (height)
        *height = ds->image_h;
    if (width)
        *width = ds->image_w;
}

const char *const *data_class_names(const dataset *ds, int64_t *n)
{
    const images_impl *m = ds->source == DATA_IMAGES ? ds->impl : NULL;
    if (n)
        *n = m ? m->n_classes : 0;
    return m ? (const char *const *)m->classes : NULL;
}

/* ---- folders ---- */

static void free_names(char **names, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The entries of folder `dir` (ending in '/') that are folders (dirs) or regular files (!dirs),
 * hidden ones (".name") left out, sorted by bytes. Returns 0, or -1 with errno set. */
static int list_folder(const char *dir, bool dirs, char ***out, int64_t *n_out)
{
    *out = NULL;
    *n_out = 0;
    DIR *dp = opendir(dir);
    if (!dp)
        return -1;
    char **names = NULL;
    int64_t n = 0, cap = 0;
    int err = 0;
    struct dirent *e;
    while ((errno = 0, e = readdir(dp)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char *full = path_beside(dir, e->d_name);
        struct stat sb;
        bool keep = full && stat(full, &sb) == 0 && (dirs ? S_ISDIR(sb.st_mode) : S_ISREG(sb.st_mode));
        free(full);
        if (!keep)
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            char **grown = realloc(names, (size_t)cap * sizeof *names);
            if (!grown) {
                err = ENOMEM;
                break;
            }
            names = grown;
        }
        if (!(names[n] = strdup(e->d_name))) {
            err = ENOMEM;
            break;
        }
        n++;
    }
    if (!err && errno)
        err = errno;
    closedir(dp);
    if (err) {
        free_names(names, n);
        errno = err;
        return -1;
    }
    if (n > 1)
        qsort(names, (size_t)n, sizeof *names, cmp_names);
    *out = names;
    *n_out = n;
    return 0;
}

/* The part of file i of a class: files are dealt in name order, each to the part that is
 * furthest behind its share (i + 1) * split[k] (the first such part on a tie). */
static int deal(const double *split, int parts, int64_t i, int64_t *dealt)
{
    int best = 0;
    double best_gap = -INFINITY;
    for (int k = 0; k < parts; k++) {
        double gap = (double)(i + 1) * split[k] - (double)dealt[k];
        if (gap > best_gap + 1e-12) {
            best_gap = gap;
            best = k;
        }
    }
    dealt[best]++;
    return best;
}

/* ---- options ---- */

/* A number or a list of 1..max numbers; *n = 0 when absent. Returns 0, or -1 (reported). */
static int opt_numbers(const data_spec *spec, const char *key, int max, double *vals, int *n, diag_ctx *d)
{
    *n = 0;
    const conf_arg *a = data_opt(spec, key);
    if (!a)
        return 0;
    const conf_value *v = a->value;
    if (v->kind == CV_NUM) {
        vals[0] = v->num;
        *n = 1;
        return 0;
    }
    if (v->kind != CV_LIST || v->n_args < 1 || v->n_args > max) {
        diag_error(d, v->loc, "`%s` must be a number or a list of 1 to %d numbers", key, max);
        return -1;
    }
    for (int i = 0; i < v->n_args; i++) {
        const conf_value *item = v->args[i].value;
        if (item->kind != CV_NUM || !isfinite(item->num)) {
            diag_error(d, item->loc, "`%s` must hold numbers", key);
            return -1;
        }
        vals[i] = item->num;
    }
    *n = v->n_args;
    return 0;
}

/* mean or std: one value for every channel or one per channel. */
static int channel_values(const data_spec *spec, const char *key, int64_t channels, float dflt, float *out,
                          diag_ctx *d)
{
    double v[3];
    int n;
    if (opt_numbers(spec, key, 3, v, &n, d) != 0)
        return -1;
    if (n != 0 && n != 1 && n != channels) {
        diag_error(d, data_opt(spec, key)->value->loc, "`%s` has %d values; give one, or one per channel (%lld)",
                   key, n, (long long)channels);
        return -1;
    }
    for (int c = 0; c < 3; c++) {
        out[c] = n == 0 ? dflt : (float)v[n == 1 ? 0 : c];
        if (!strcmp(key, "std") && !(out[c] > 0.0f)) {
            diag_error(d, data_opt(spec, key)->value->loc, "`std` values must be greater than 0");
            return -1;
        }
    }
    return 0;
}

typedef struct images_opts {
    int64_t height, width, channels, part, limit;
    double split[MAX_PARTS];
    int parts;
    bool skip_bad;
} images_opts;

static int read_options(dataset *ds, images_impl *m, const data_spec *spec, images_opts *o, diag_ctx *d)
{
    int err = data_common_options(ds, spec, false, true, &o->limit, d);
    o->height = o->width = 0;
    o->channels = 3;
    o->part = 0;
    o->skip_bad = false;
    err |= opt_int(spec, "height", 1, IMAGE_MAX_SIDE, &o->height, d);
    err |= opt_int(spec, "width", 1, IMAGE_MAX_SIDE, &o->width, d);
    err |= opt_int(spec, "channels", 1, 3, &o->channels, d);
    if (!err && o->channels == 2) {
        diag_error(d, data_opt(spec, "channels")->value->loc, "`channels` must be 1 (grey) or 3 (RGB), not 2");
        err = -1;
    }
    err |= opt_bool(spec, "skip_bad", &o->skip_bad, d);
    if (!err) {
        err |= channel_values(spec, "mean", o->channels, 0.0f, m->mean, d);
        err |= channel_values(spec, "std", o->channels, 1.0f, m->std, d);
    }
    if (opt_numbers(spec, "split", MAX_PARTS, o->split, &o->parts, d) != 0)
        return -1;
    if (o->parts == 0) {
        o->split[0] = 1.0;
        o->parts = 1;
        if (data_opt(spec, "part")) {
            diag_error(d, data_opt(spec, "part")->value->loc, "`part` needs `split`, such as split = [0.8, 0.2]");
            return -1;
        }
    } else {
        double sum = 0.0;
        for (int k = 0; k < o->parts; k++) {
            if (!(o->split[k] > 0.0)) {
                diag_error(d, data_opt(spec, "split")->value->loc, "`split` fractions must be greater than 0");
                return -1;
            }
            sum += o->split[k];
        }
        if (fabs(sum - 1.0) > 1e-6) {
            diag_error(d, data_opt(spec, "split")->value->loc, "`split` fractions must add up to 1, not %.6g", sum);
            return -1;
        }
        err |= opt_int(spec, "part", 0, o->parts - 1, &o->part, d);
    }
    return err ? -1 : 0;
}

/* ---- the index ---- */

static void images_close(dataset *ds)
{
    images_impl *m = ds->impl;
    if (!m)
        return;
    for (int64_t i = 0; i < m->n_files; i++)
        free(m->files[i].path);
    free(m->files);
    free_names(m->classes, m->n_classes);
    free(m->root);
    free(m->pixels);
    free(m->planar);
    free(m);
    ds->impl = NULL;
}

/* Appends an entry for root/class/name. Returns 0, or -1 when out of memory. */
static int add_entry(dataset *ds, images_impl *m, int64_t *cap, int32_t label, const char *name)
{
    if (m->n_files == *cap) {
        *cap = *cap ? 2 * *cap : 64;
        image_entry *grown = realloc(m->files, (size_t)*cap * sizeof *grown);
        if (!grown)
            return -1;
        m->files = grown;
    }
    const char *cls = m->classes[label];
    size_t rl = strlen(m->root), cl = strlen(cls), nl = strlen(name);
    char *p = malloc(rl + cl + 1 + nl + 1);
    if (!p)
        return -1;
    memcpy(p, m->root, rl);
    memcpy(p + rl, cls, cl);
    p[rl + cl] = '/';
    memcpy(p + rl + cl + 1, name, nl + 1);
    m->files[m->n_files++] = (image_entry){p, p + rl, label};
    ds->index_bytes += sizeof(image_entry) + rl + cl + nl + 2;
    return 0;
}

/* Lists the class folders and their files, keeps this part's files and orders them: the first
 * file of each class in class order, then the second of each, and so on. */
static int build_index(dataset *ds, images_impl *m, const images_opts *o, const conf_value *arg, diag_ctx *d)
{
    if (list_folder(m->root, true, &m->classes, &m->n_classes) != 0) {
        diag_error(d, arg->loc, "cannot read the image folder '%s': %s", m->root, strerror(errno));
        return -1;
    }
    if (m->n_classes < 2 || m->n_classes > INT32_MAX) {
        diag_error(d, arg->loc, "the image folder '%s' has %lld class folder%s; it needs one subfolder per class, "
                   "at least two", m->root, (long long)m->n_classes, m->n_classes == 1 ? "" : "s");
        return -1;
    }
    char ***kept = calloc((size_t)m->n_classes, sizeof *kept);
    int64_t *n_kept = calloc((size_t)m->n_classes, sizeof *n_kept);
    int rc = kept && n_kept ? 0 : -1;
    if (rc)
        diag_error(d, ds->loc, "out of memory");
    int64_t most = 0;
    for (int64_t c = 0; c < m->n_classes && rc == 0; c++) {
        char *dir = path_beside(m->root, m->classes[c]);
        size_t dl = dir ? strlen(dir) : 0;
        char *slashed = dir ? realloc(dir, dl + 2) : NULL;
        if (!slashed) {
            free(dir);
            diag_error(d, ds->loc, "out of memory");
            rc = -1;
            break;
        }
        memcpy(slashed + dl, "/", 2);
        char **names;
        int64_t n;
        if (list_folder(slashed, false, &names, &n) != 0) {
            diag_error(d, arg->loc, "cannot read the class folder '%s': %s", slashed, strerror(errno));
            free(slashed);
            rc = -1;
            break;
        }
        free(slashed);
        int64_t dealt[MAX_PARTS] = {0}, k = 0;
        for (int64_t i = 0; i < n; i++) {
            if (deal(o->split, o->parts, i, dealt) == o->part)
                names[k++] = names[i];
            else
                free(names[i]);
        }
        kept[c] = names;
        n_kept[c] = k;
        if (k > most)
            most = k;
    }
    int64_t cap = 0;
    for (int64_t i = 0; i < most && rc == 0; i++)
        for (int64_t c = 0; c < m->n_classes && rc == 0; c++)
            if (i < n_kept[c] && add_entry(ds, m, &cap, (int32_t)c, kept[c][i]) != 0) {
                diag_error(d, ds->loc, "out of memory");
                rc = -1;
            }
    for (int64_t c = 0; kept && c < m->n_classes; c++)
        free_names(kept[c], n_kept ? n_kept[c] : 0);
    free(kept);
    free(n_kept);
    if (rc == 0 && m->n_files == 0) {
        diag_error(d, arg->loc, "the class folders of '%s' hold no files%s", m->root,
                   o->parts > 1 ? " for this part of the split" : "");
        rc = -1;
    }
    return rc;
}

/* Grows the two decode buffers for img. Returns 0, or -1 (reported). */
static int grow_buffers(dataset *ds, images_impl *m, const image_file *img, diag_ctx *d)
{
    int64_t bytes = image_bytes(img), floats;
    if (bytes < 0 || !checked_mul3(img->width, img->height, ds->image_c > img->channels ? ds->image_c : img->channels,
                                   &floats) ||
        data_grow(ds, (void **)&m->pixels, &m->pixels_cap, (size_t)bytes) != 0 ||
        data_grow(ds, (void **)&m->planar, &m->planar_cap, (size_t)floats * sizeof(float)) != 0) {
        diag_error(d, ds->loc, "out of memory for a %lldx%lld image", (long long)img->width, (long long)img->height);
        return -1;
    }
    return 0;
}

/* Decodes file i into out (C * H * W floats, final values). Returns 0, or -1 with msg set (a
 * problem of the file) or reported (out of memory: *reported = true). */
static int load_image(dataset *ds, images_impl *m, int64_t i, float *out, char *msg, size_t msg_len,
                      bool *reported, diag_ctx *d)
{
    *reported = false;
    image_file img;
    if (image_open(&img, m->files[i].path, msg, msg_len) != 0)
        return -1;
    int rc = 0;
    if (grow_buffers(ds, m, &img, d) != 0) {
        *reported = true;
        rc = -1;
    } else if (image_decode(&img, m->pixels, msg, msg_len) != 0) {
        rc = -1;
    }
    image_close(&img);
    if (rc != 0 || !out)
        return rc;
    image_to_planar(m->pixels, img.height, img.width, img.channels, (int)ds->image_c, m->planar);
    if (image_resize_bilinear(m->planar, ds->image_c, img.height, img.width, out, ds->image_h, ds->image_w) != 0) {
        diag_error(d, ds->loc, "out of memory");
        *reported = true;
        return -1;
    }
    int64_t plane = ds->image_h * ds->image_w;
    for (int64_t c = 0; c < ds->image_c; c++) {
        float mu = m->mean[c], inv = 1.0f / m->std[c];
        if (mu == 0.0f && inv == 1.0f)
            continue;
        float *p = out + c * plane;
        for (int64_t k = 0; k < plane; k++)
            p[k] = (p[k] - mu) * inv;
    }
    return 0;
}

/* Checks every file of the part from its header (and, with skip_bad on a full open, by decoding
 * it), dropping the bad ones with a warning under skip_bad. Sets the size from the first file
 * when height or width is not given. */
static int check_files(dataset *ds, images_impl *m, images_opts *o, bool decode, diag_ctx *d)
{
    int errors = 0;
    int64_t kept = 0;
    for (int64_t i = 0; i < m->n_files; i++) {
        char msg[256];
        image_file img;
        bool bad = image_open(&img, m->files[i].path, msg, sizeof msg) != 0, reported = false;
        if (!bad) {
            if (!o->height)
                o->height = img.height;
            if (!o->width)
                o->width = img.width;
            image_close(&img);
            if (decode)
                bad = load_image(ds, m, i, NULL, msg, sizeof msg, &reported, d) != 0;
            if (reported)
                return -1;
        }
        if (bad && o->skip_bad) {
            diag_warning(d, file_loc(d, m->files[i].path, 0, 0, 0), "skipped (skip_bad = true): %s", msg);
            free(m->files[i].path);
            continue;
        }
        if (bad) {
            diag_error(d, file_loc(d, m->files[i].path, 0, 0, 0), "%s", msg);
            errors++;
        }
        m->files[kept++] = m->files[i];
    }
    m->n_files = kept;
    if (errors) {
        data_note(ds, d);
        diag_note(d, ds->loc, "skip_bad = true leaves files that are not images out, with a warning each");
        return -1;
    }
    if (m->n_files == 0) {
        diag_error(d, ds->loc, "no readable images are left in '%s'", m->root);
        return -1;
    }
    return 0;
}

/* ---- the reader ---- */

static int images_fill(dataset *ds, const int64_t *ids, int64_t n, batch *b, diag_ctx *d)
{
    images_impl *m = ds->impl;
    if (image_batch_alloc(ds, &b->x, n) != 0 || tensor_alloc2(&b->y, n, ds->outputs) != 0) {
        diag_error(d, ds->loc, "out of memory for a batch of %lld images", (long long)n);
        return -1;
    }
    for (int64_t k = 0; k < n; k++) {
        char msg[256];
        bool reported;
        const image_entry *e = &m->files[ids[k]];
        if (load_image(ds, m, ids[k], b->x.data + k * ds->features, msg, sizeof msg, &reported, d) != 0) {
            if (!reported) {
                diag_error(d, file_loc(d, e->path, 0, 0, 0), "%s", msg);
                data_note(ds, d);
            }
            return -1;
        }
        b->y.data[k * ds->outputs + e->label] = 1.0f;
    }
    return 0;
}

static int images_hash(dataset *ds, XXH3_state_t *h, diag_ctx *d)
{
    images_impl *m = ds->impl;
    for (int64_t c = 0; c < m->n_classes; c++)
        XXH3_64bits_update(h, m->classes[c], strlen(m->classes[c]) + 1);
    for (int64_t i = 0; i < m->n_files; i++) {
        const image_entry *e = &m->files[i];
        XXH3_64bits_update(h, &e->label, sizeof e->label);
        XXH3_64bits_update(h, e->rel, strlen(e->rel) + 1);
        if (hash_file(h, e->path, d, file_loc(d, e->path, 0, 0, 0)) != 0)
            return -1;
    }
    return 0;
}

static const data_reader images_reader = {images_fill, images_hash, images_close};

int images_open(dataset *ds, const data_spec *spec, diag_ctx *d, bool probe)
{
    images_impl *m = calloc(1, sizeof *m);
    if (!m) {
        diag_error(d, spec->loc, "out of memory");
        return -1;
    }
    ds->impl = m;
    ds->ops = &images_reader;
    images_opts o;
    int err = read_options(ds, m, spec, &o, d);
    char *root = src_path_arg(spec, "path", 0, "the image folder", d);
    if (err || !root) {
        free(root);
        return -1;
    }
    size_t rl = strlen(root);
    m->root = realloc(root, rl + 2);
    if (!m->root) {
        free(root);
        diag_error(d, spec->loc, "out of memory");
        return -1;
    }
    if (rl == 0 || m->root[rl - 1] != '/')
        memcpy(m->root + rl, "/", 2);
    if (build_index(ds, m, &o, src_arg(spec, "path", 0), d) != 0)
        return -1;
    if (o.limit > 0 && o.limit < m->n_files) {
        for (int64_t i = o.limit; i < m->n_files; i++)
            free(m->files[i].path);
        m->n_files = o.limit;
    }
    if (check_files(ds, m, &o, o.skip_bad && !probe, d) != 0)
        return -1;
    ds->image_c = o.channels;
    ds->image_h = o.height;
    ds->image_w = o.width;
    ds->image_batches = !(spec->input && spec->input->kind == INPUT_FEED_FORWARD);
    if (!checked_mul3(o.channels, o.height, o.width, &ds->features)) {
        diag_error(d, spec->loc, "images of %lldx%lld are too large", (long long)o.height, (long long)o.width);
        return -1;
    }
    ds->classes = ds->outputs = m->n_classes;
    ds->count = m->n_files;
    data_setting(ds, "size=%lldx%lldx%lld", (long long)o.channels, (long long)o.height, (long long)o.width);
    data_setting(ds, "mean=%.9g,%.9g,%.9g", m->mean[0], m->mean[1], m->mean[2]);
    data_setting(ds, "std=%.9g,%.9g,%.9g", m->std[0], m->std[1], m->std[2]);
    data_setting(ds, "part=%lld/%d", (long long)o.part, o.parts);
    for (int k = 0; k < o.parts; k++)
        data_setting(ds, "split=%.17g", o.split[k]);
    data_setting(ds, "limit=%lld", (long long)o.limit);
    data_setting(ds, "skip_bad=%d", o.skip_bad);
    return 0;
}
