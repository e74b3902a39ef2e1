/*
 * xalloc.h - allocation that never returns NULL.
 *
 * Callers never check for NULL: running out of memory aborts the process.
 * In a worker that is safe for mail (promise 1): the connection drops, no
 * 250 was sent for anything the relay had not accepted, and Postfix retries.
 */
#ifndef SCAND_UTIL_XALLOC_H
#define SCAND_UTIL_XALLOC_H

#include <stddef.h>

void *xmalloc(size_t size);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *ptr, size_t size);
/* Grow an array of count items of size each to at least need items. */
void *xgrow(void *ptr, size_t *count, size_t need, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t len);
/* printf into a fresh string. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
