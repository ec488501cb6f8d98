/* util.c: the shared allocation and string helpers of util.h. */
#include "runtime/base/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void (*out_of_memory)(void);

void set_out_of_memory_handler(void (*handler)(void))
{
    out_of_memory = handler;
}

void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q) {
        fputs("surgery: error: out of memory\n", stderr);
        if (out_of_memory)
            out_of_memory();
        abort();
    }
    return q;
}

void *xmalloc(size_t n)
{
    return xrealloc(NULL, n);
}

char *xstrndup(const char *s, size_t n)
{
    char *c = xmalloc(n + 1);
    memcpy(c, s, n);
    c[n] = 0;
    return c;
}

char *xstrdup(const char *s)
{
    return s ? xstrndup(s, strlen(s)) : NULL;
}

char *str_dup(const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p)
        memcpy(p, s, n);
    return p;
}

void str_array_free(char **s, int n)
{
    for (int i = 0; s && i < n; i++)
        free(s[i]);
    free(s);
}

char **str_array_copy(const char *const *names, int n, int *copied)
{
    char **copy = n > 0 ? calloc((size_t)n, sizeof *copy) : NULL;
    int got = 0;
    if (copy)
        for (; got < n; got++)
            if (!(copy[got] = str_dup(names[got])))
                break;
    *copied = got;
    return copy;
}

bool str_ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

char *path_beside_file(const char *file, const char *path)
{
    const char *slash = file ? strrchr(file, '/') : NULL;
    if (path[0] == '/' || !slash)
        return xstrdup(path);
    size_t dir = (size_t)(slash - file) + 1;
    size_t n = strlen(path);
    char *out = xrealloc(NULL, dir + n + 1);
    memcpy(out, file, dir);
    memcpy(out + dir, path, n + 1);
    return out;
}
