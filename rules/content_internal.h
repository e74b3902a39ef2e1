/*
 * content_internal.h - what content.c (tables, actions, edits) and
 * content_mime.c (Postfix's line-level MIME state machine) share. Never
 * included from outside rules/.
 */
#ifndef SCAND_RULES_CONTENT_INTERNAL_H
#define SCAND_RULES_CONTENT_INTERNAL_H

#include <stddef.h>

/* Where a header sits, as Postfix's mime_state reports it (MIME_HDR_*). */
enum content_hdr_class {
    CONTENT_HDR_PRIMARY = 1, /* the message's own header block */
    CONTENT_HDR_MULTIPART,   /* the header block after a --boundary line */
    CONTENT_HDR_NESTED,      /* the header block of an attached message/rfc822 */
};

struct content_mime_config {
    size_t header_size_limit;     /* a logical header grows no further once this long */
    size_t line_length_limit;     /* longer lines are seen in pieces of this length */
    size_t nesting_limit;         /* mime_nesting_limit */
    size_t boundary_length_limit; /* mime_boundary_length_limit */
    int disable_mime;             /* disable_mime_input_processing */
    int report_nesting;           /* Postfix reports nesting only with header tables set */
};

/* The bytes of the message a header or a body record came from, so that an
 * action can edit exactly them. */
struct content_span {
    size_t start;       /* first byte (start of the first physical line or piece) */
    size_t content_end; /* end of the text, before the line end */
    size_t end;         /* after the line end (a piece before the last: content_end) */
    size_t line;        /* physical line number of the first line, from 1 */
};

/* What the scanner hands over. A callback returns one of these. */
enum content_mime_next {
    CONTENT_MIME_GO,    /* keep inspecting */
    CONTENT_MIME_QUIET, /* no more callbacks; keep parsing only to find MIME errors */
    CONTENT_MIME_STOP,  /* done */
};

struct content_mime;

struct content_mime_ops {
    /* One logical header: folded lines joined with "\n" and their leading
     * white space, "Name : v" normalised to "Name: v", cut off at
     * header_size_limit (truncated set); NUL-terminated. is_mime: one of
     * Postfix's MIME headers (MIME-Version, Content-Type, -Transfer-Encoding,
     * -Disposition, -Description, -ID). */
    enum content_mime_next (*header)(void *ctx, struct content_mime *mime,
                                     enum content_hdr_class cls, int is_mime, const char *text,
                                     size_t len, int truncated, const struct content_span *span);
    /* One body record (a line, or a piece of a long line), not
     * NUL-terminated; offset: Postfix's offset in the current body segment,
     * for body_checks_size_limit. */
    enum content_mime_next (*body)(void *ctx, struct content_mime *mime, const char *text,
                                   size_t len, size_t offset, const struct content_span *span);
};

/* content_mime_scan() error bits, as Postfix's MIME_ERR_*. */
#define CONTENT_MIME_ERR_NESTING 1

/* One pass over data (lines ending in CRLF or LF). Returns the error bits. */
int content_mime_scan(const struct content_mime_config *cfg, const char *data, size_t len,
                      const struct content_mime_ops *ops, void *ctx);

/* For --explain: where the scanner is ("primary headers", "headers of part
 * 1.2", "body of part 2", "headers of the message attached in part 3"...). */
void content_mime_where(const struct content_mime *mime, char *buf, size_t len);
/* The line where the latest nesting error was found (0: none). */
size_t content_mime_nesting_line(const struct content_mime *mime);

#endif
