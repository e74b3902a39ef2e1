/*
 * smtp_data_in.c - DATA content decoder: strict CRLF framing, dot
 * unstuffing, streaming limits (see smtp_data_in.h for the rules).
 *
 * A state machine over the input's chunks rather than a line reader: it
 * never needs to hold a partial line, so a client that sends an endless
 * line costs no memory, and a CR that ends one read and is followed by LF in
 * the next is handled by state alone (S_CR), not by peeking ahead.
 *
 * Inside a line only CR matters, so the line's body is found with memchr
 * and accounted for as one span; the states that look at single bytes are
 * the start of a line (a dot) and the byte after a CR. Output is the input
 * with the removed dots and the terminator cut out, so it is appended in
 * runs of input bytes (normally one evbuffer_add per input chunk), never
 * byte by byte. This loop runs on every received byte (perf/README.md).
 *
 * RFC 5321 4.1.1.4: the terminator is CRLF "." CRLF. A bare LF or bare CR
 * never ends a line (RFC 5321 2.3.8), so "\n.\n", "\r.\r" and friends are
 * content: this is what keeps SMTP smuggling payloads inside the message.
 */
#include <stdlib.h>
#include <string.h>

#include "util/xalloc.h"

#include "smtp/smtp_data_in.h"

enum data_state {
    S_LINE_START, /* at the start of a line */
    S_DOT,        /* a leading '.' was seen (and removed) */
    S_DOT_CR,     /* ".\r" at the start of a line: terminator if LF follows */
    S_IN_LINE,    /* inside a line */
    S_CR,         /* inside a line after a CR: a line end if LF follows */
};

struct smtp_data_in {
    size_t size_limit;
    size_t line_limit;
    enum data_state state;
    size_t size;     /* content bytes, CRLFs included, discarded ones too */
    size_t line_len; /* content bytes of the current line, CRLF excluded */
    int too_big;
    int line_too_long;
};

/* Decoding one input chunk: the input bytes not yet appended to message
 * (from run to the current position) are all content, in order. */
struct chunk {
    struct smtp_data_in *d;
    struct evbuffer *message;
    const char *run;
};

struct smtp_data_in *smtp_data_in_new(size_t size_limit, size_t line_limit)
{
    struct smtp_data_in *d = xcalloc(1, sizeof(*d));

    d->size_limit = size_limit;
    d->line_limit = line_limit;
    smtp_data_in_reset(d);
    return d;
}

void smtp_data_in_free(struct smtp_data_in *d)
{
    free(d);
}

void smtp_data_in_reset(struct smtp_data_in *d)
{
    d->state = S_LINE_START;
    d->size = 0;
    d->line_len = 0;
    d->too_big = 0;
    d->line_too_long = 0;
}

static int discarding(const struct smtp_data_in *d)
{
    return d->too_big || d->line_too_long;
}

/* Set the limit flags after the counters grew. The first time a limit is
 * passed, what the message holds is dropped, and from then on nothing
 * reaches it, so an oversized message is never buffered; since nothing is
 * kept, it does not matter where within a span the limit was passed. */
static void check_limits(struct chunk *c)
{
    struct smtp_data_in *d = c->d;
    int was_discarding = discarding(d);

    if (d->size_limit > 0 && d->size > d->size_limit)
        d->too_big = 1;
    if (d->line_limit > 0 && d->line_len > d->line_limit)
        d->line_too_long = 1;
    if (discarding(d) && !was_discarding)
        evbuffer_drain(c->message, evbuffer_get_length(c->message));
}

/* n content bytes of the current line. */
static void count_content(struct chunk *c, size_t n)
{
    c->d->size += n;
    c->d->line_len += n;
    check_limits(c);
}

static void count_line_end(struct chunk *c)
{
    c->d->size += 2;
    c->d->line_len = 0;
    check_limits(c);
}

/* Append the pending run up to end (exclusive); the next run starts at next. */
static void flush_run(struct chunk *c, const char *end, const char *next)
{
    if (end > c->run && !discarding(c->d))
        evbuffer_add(c->message, c->run, (size_t)(end - c->run));
    c->run = next;
}

/* Decode bytes[0..len) until the terminator; returns the bytes consumed and
 * sets *done when the terminator was among them. */
static size_t feed_chunk(struct chunk *c, const char *bytes, size_t len, int *done)
{
    struct smtp_data_in *d = c->d;
    const char *p = bytes, *end = bytes + len;

    c->run = bytes;
    while (p < end) {
        switch (d->state) {
        case S_LINE_START:
            if (*p == '.') {
                flush_run(c, p, p + 1); /* exactly one dot removed */
                p++;
                d->state = S_DOT;
                continue;
            }
            break;
        case S_DOT:
            if (*p == '\r') {
                /* Kept out of the run: a CR of the terminator is not content. */
                flush_run(c, p, p + 1);
                p++;
                d->state = S_DOT_CR;
                continue;
            }
            break;
        case S_DOT_CR:
            if (*p == '\n') {
                flush_run(c, p, p + 1);
                d->state = S_LINE_START;
                *done = 1;
                return (size_t)(p + 1 - bytes);
            }
            /* The CR after the removed dot was content; nothing is pending
             * before it (the run starts at p). */
            count_content(c, 1);
            if (!discarding(d))
                evbuffer_add(c->message, "\r", 1);
            break;
        case S_CR:
            /* The CR is in the run already: content or half of a CRLF. */
            if (*p == '\n') {
                count_line_end(c);
                p++;
                d->state = S_LINE_START;
                continue;
            }
            count_content(c, 1); /* a bare CR (RFC 5321 2.3.8) */
            break;
        case S_IN_LINE:
            break;
        }
        /* Inside a line: everything up to the next CR is content. */
        const char *cr = memchr(p, '\r', (size_t)(end - p));
        const char *stop = cr != NULL ? cr : end;

        count_content(c, (size_t)(stop - p));
        if (cr != NULL) {
            p = cr + 1;
            d->state = S_CR;
        } else {
            p = end;
            d->state = S_IN_LINE;
        }
    }
    flush_run(c, end, end);
    return len;
}

enum smtp_data_in_status smtp_data_in_feed(struct smtp_data_in *d, struct evbuffer *in,
                                           struct evbuffer *message)
{
    struct evbuffer_iovec vec;
    struct chunk c = {d, message, NULL};
    int done = 0;

    while (!done && evbuffer_peek(in, -1, NULL, &vec, 1) >= 1 && vec.iov_len > 0)
        evbuffer_drain(in, feed_chunk(&c, vec.iov_base, vec.iov_len, &done));
    return done ? SMTP_DATA_IN_DONE : SMTP_DATA_IN_MORE;
}

int smtp_data_in_too_big(const struct smtp_data_in *d)
{
    return d->too_big;
}

int smtp_data_in_line_too_long(const struct smtp_data_in *d)
{
    return d->line_too_long;
}

size_t smtp_data_in_size(const struct smtp_data_in *d)
{
    return d->size;
}
