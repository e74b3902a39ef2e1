/* xalloc.c - allocation that never returns NULL (see xalloc.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/msg.h"
#include "util/xalloc.h"

void *xmalloc(size_t size)
{
    void *p = malloc(size ? size : 1);
    if (p == NULL)
        msg_fatal("out of memory allocating %zu bytes", size);
    return p;
}

void *xcalloc(size_t count, size_t size)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (p == NULL)
        msg_fatal("out of memory allocating %zu x %zu bytes", count, size);
    return p;
}

void *xrealloc(void *ptr, size_t size)
{
    void *p = realloc(ptr, size ? size : 1);
    if (p == NULL)
        msg_fatal("out of memory reallocating %zu bytes", size);
    return p;
}

void *xgrow(void *ptr, size_t *count, size_t need, size_t size)
{
    size_t n = *count ? *count : 4;
    if (need <= *count)
        return ptr;
    while (n < need) {
        if (n > ((size_t)-1) / 2 / size)
            msg_fatal("array size overflow");
        n *= 2;
    }
    *count = n;
    return xrealloc(ptr, n * size);
}

char *xstrdup(const char *s)
{
    return xstrndup(s, strlen(s));
}

char *xstrndup(const char *s, size_t len)
{
    char *p = xmalloc(len + 1);
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

char *xasprintf(const char *fmt, ...)
{
    va_list ap;
    char *p = NULL;
    va_start(ap, fmt);
    int n = vasprintf(&p, fmt, ap);
    va_end(ap);
    if (n < 0)
        msg_fatal("out of memory formatting a string");
    return p;
}
