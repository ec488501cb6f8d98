/* util.h: the small helpers every folder shares: allocation that stops on exhaustion, string
 * copies and suffix tests. */
#ifndef SURGERY_UTIL_H
#define SURGERY_UTIL_H

#include <stdbool.h>
#include <stddef.h>

/* Ownership: every returned pointer is the caller's, released with free(). */

/* realloc that never returns NULL: for small bookkeeping objects (names, lists, diagnostics)
 * where running out of memory leaves nothing sensible to report through, it prints
 * "surgery: out of memory" and aborts (or calls the handler below). Tensors and data buffers
 * report instead. */
void *xrealloc(void *p, size_t n);
/* What xrealloc does after its message instead of aborting: handler must not return (the
 * command-line driver leaves through it with exit status 4, out of memory). NULL restores
 * abort(). */
void set_out_of_memory_handler(void (*handler)(void));
/* xrealloc(NULL, n). */
void *xmalloc(size_t n);
/* Copies of s (NULL gives NULL) and of its first n bytes, through xrealloc. */
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* A copy of s (NULL gives NULL), or NULL when out of memory: for callers that report. */
char *str_dup(const char *s);
/* Frees s[0..n) and the array s itself (NULL is a no-op). */
void str_array_free(char **s, int n);
/* A copy of names[0..n) (NULL when n is 0 or nothing could be allocated); *copied is how many
 * names it holds, fewer than n when memory ran out partway. */
char **str_array_copy(const char *const *names, int n, int *copied);
/* s ends with suffix. */
bool str_ends_with(const char *s, const char *suffix);
/* A path as written in the file `file`: absolute paths and paths written in no particular file
 * (file NULL or without a folder) as they are, relative ones joined to file's folder. */
char *path_beside_file(const char *file, const char *path);

#endif
