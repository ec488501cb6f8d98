/* strbuf.h: text collected in memory, growing as it is appended to. */
#ifndef SURGERY_STRBUF_H
#define SURGERY_STRBUF_H

/* Ownership: a strbuf owns its text s (release it with free(s)); the appended strings are only
 * read. A strbuf starts zeroed ({0}); set abort_on_oom for small bookkeeping text, where running
 * out of memory stops the program as xrealloc does, and leave it false where the caller reports. */

#include <stdbool.h>
#include <stddef.h>

typedef struct strbuf {
    char *s;           /* NUL-terminated once anything was appended; NULL before */
    size_t n, cap;     /* bytes held (without the NUL), bytes allocated */
    bool oom;          /* could not grow: what was appended since is lost */
    bool abort_on_oom; /* stop the program instead of setting oom */
} strbuf;

/* Appends n bytes of s; false (and oom set) when the buffer could not grow. */
bool strbuf_add(strbuf *b, const void *s, size_t n);
void strbuf_puts(strbuf *b, const char *s);
void strbuf_putc(strbuf *b, char c);
/* Appends printf's text, cut to its first 127 bytes: for numbers and short words. */
void strbuf_printf(strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
