/* path.c: file path helpers: the last component of a path, a path relative to another's folder. */
#include "runtime/base/path.h"

#include <stdlib.h>
#include <string.h>

#include "runtime/base/util.h"

const char *path_base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

char *path_beside(const char *base, const char *rel)
{
    if (rel[0] == '/')
        return str_dup(rel);
    const char *slash = strrchr(base, '/');
    size_t dn = slash ? (size_t)(slash - base + 1) : 0;
    char *p = malloc(dn + strlen(rel) + 1);
    if (!p)
        return NULL;
    memcpy(p, base, dn);
    strcpy(p + dn, rel);
    return p;
}
