/*
 * table_lines.c - reading table source files as Postfix does.
 *
 * Logical lines follow Postfix's readllines(): comment lines (first
 * non-blank character '#') and blank lines are dropped wherever they are,
 * and a line starting with white space continues the logical line before
 * it, even across dropped lines. A logical line that itself starts with
 * white space (continuation at the top of the file) is skipped with a
 * warning, as Postfix does.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rules/table_internal.h"
#include "util/msg.h"
#include "util/xalloc.h"

void tbuf_add(struct tbuf *buf, const char *data, size_t len)
{
    buf->s = xgrow(buf->s, &buf->cap, buf->len + len + 1, 1);
    memcpy(buf->s + buf->len, data, len);
    buf->len += len;
    buf->s[buf->len] = 0;
}

void tbuf_addch(struct tbuf *buf, char ch)
{
    tbuf_add(buf, &ch, 1);
}

void tbuf_reset(struct tbuf *buf)
{
    buf->len = 0;
    if (buf->s != NULL)
        buf->s[0] = 0;
}

void tbuf_free(struct tbuf *buf)
{
    free(buf->s);
    buf->s = NULL;
    buf->len = buf->cap = 0;
}

void table_fold(char *s)
{
    for (; *s; s++)
        *s = (char)tolower((unsigned char)*s);
}

char *table_where(const char *path, int line)
{
    return xasprintf("%s, line %d", path, line);
}

static int read_whole(int fd, struct tbuf *buf)
{
    char chunk[65536];
    ssize_t n;

    while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        tbuf_add(buf, chunk, (size_t)n);
    }
    return 0;
}

int table_lines_open(struct table_lines *lines, const char *path, char *err, size_t errlen)
{
    struct tbuf whole = {0};
    struct stat st;
    int fd;

    memset(lines, 0, sizeof(*lines));
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
        snprintf(err, errlen, "open database %s: %s", path, strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        close(fd);
        snprintf(err, errlen, "open database %s: %s", path, strerror(EISDIR));
        return -1;
    }
    if (read_whole(fd, &whole) < 0) {
        snprintf(err, errlen, "read %s: %s", path, strerror(errno));
        close(fd);
        tbuf_free(&whole);
        return -1;
    }
    close(fd);
    lines->path = path;
    lines->data = whole.s;
    lines->len = whole.len;
    return 0;
}

void table_lines_text(struct table_lines *lines, const char *name, struct tbuf *text)
{
    memset(lines, 0, sizeof(*lines));
    lines->path = name;
    lines->data = text->s;
    lines->len = text->len;
    text->s = NULL;
    text->len = text->cap = 0;
}

int table_lines_for(struct table *table, const char *type, const char *name,
                    struct table_lines *lines, char *err, size_t errlen)
{
    struct tbuf text = {0};

    if (table->path != NULL)
        return table_lines_open(lines, table->path, err, errlen);
    if (table_inline_rules(type, name, &text, err, errlen) < 0) {
        tbuf_free(&text);
        return -1;
    }
    table_lines_text(lines, name, &text);
    return 0;
}

static int is_space(int ch)
{
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\v' || ch == '\f';
}

/* Append the next physical line; returns 0 at end of file. */
static int read_physical(struct table_lines *lines, size_t *start)
{
    if (lines->pos >= lines->len)
        return 0;
    const char *p = lines->data + lines->pos;
    const char *nl = memchr(p, '\n', lines->len - lines->pos);
    size_t n = nl ? (size_t)(nl - p) : lines->len - lines->pos;

    *start = lines->line.len;
    tbuf_add(&lines->line, p, n);
    lines->pos += n + (nl ? 1 : 0);
    lines->lineno++;
    return 1;
}

/* Drop the physical line just added when it is blank or a comment. */
static void drop_if_empty(struct table_lines *lines, size_t start)
{
    const char *cp = lines->line.s + start;
    const char *end = lines->line.s + lines->line.len;

    while (cp < end && is_space((unsigned char)*cp))
        cp++;
    if (cp == end || *cp == '#') {
        lines->line.len = start;
        lines->line.s[start] = 0;
    } else if (start == 0) {
        lines->first_line = lines->lineno;
    }
}

/* Does the next physical line continue this logical line? */
static int continues(const struct table_lines *lines)
{
    if (lines->pos >= lines->len)
        return 0;
    int next = (unsigned char)lines->data[lines->pos];
    return next == '#' || is_space(next);
}

int table_lines_next(struct table_lines *lines)
{
    size_t start;

    for (;;) {
        tbuf_reset(&lines->line);
        while (read_physical(lines, &start)) {
            drop_if_empty(lines, start);
            if (lines->line.len > 0 && !continues(lines))
                break;
        }
        if (lines->line.len == 0)
            return 0;
        if (!is_space((unsigned char)lines->line.s[0]))
            return 1;
        msg_warn("%s: logical line must not start with whitespace: \"%.30s%s\"", lines->path,
                 lines->line.s, lines->line.len > 30 ? "..." : "");
    }
}

void table_lines_close(struct table_lines *lines)
{
    free(lines->data);
    tbuf_free(&lines->line);
    memset(lines, 0, sizeof(*lines));
}
