/*
 * smtp_data_in.c - DATA content decoder: strict CRLF framing, dot
 * unstuffing, streaming limits (see smtp_data_in.h for the rules).
 *
 * A byte-at-a-time state machine rather than a line reader: it never needs
 * to hold a partial line, so a client that sends an endless line costs no
 * memory, and a CR that ends one read and is followed by LF in the next is
 * handled by state alone (S_CR), not by peeking ahead.
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
    S_CR,         /* inside a line, a CR held back until we know if LF follows */
};

struct smtp_data_in {
    size_t size_limit;
    size_t line_limit;
    enum data_state state;
    size_t size;     /* content bytes, CRLFs included, discarded ones too */
    size_t line_len; /* content bytes of the current line, CRLF excluded */
    int too_big;
    int line_too_long;
    char *scratch; /* decoded output of one input chunk */
    size_t scratch_size;
};

/* Decoding one input chunk: where its output goes. */
struct chunk_out {
    struct smtp_data_in *d;
    struct evbuffer *message;
    size_t len;
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
    if (d == NULL)
        return;
    free(d->scratch);
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

/* A limit was passed: from now on nothing reaches the message, and what it
 * holds already is dropped, so an oversized message is never buffered. */
static void start_discarding(struct chunk_out *out)
{
    out->len = 0;
    evbuffer_drain(out->message, evbuffer_get_length(out->message));
}

static void emit(struct chunk_out *out, char ch)
{
    struct smtp_data_in *d = out->d;
    int was_discarding = discarding(d);

    d->size++;
    d->line_len++;
    if (d->size_limit > 0 && d->size > d->size_limit)
        d->too_big = 1;
    if (d->line_limit > 0 && d->line_len > d->line_limit)
        d->line_too_long = 1;
    if (discarding(d)) {
        if (!was_discarding)
            start_discarding(out);
        return;
    }
    out->d->scratch[out->len++] = ch;
}

static void emit_line_end(struct chunk_out *out)
{
    struct smtp_data_in *d = out->d;
    int was_discarding = discarding(d);

    d->size += 2;
    d->line_len = 0;
    if (d->size_limit > 0 && d->size > d->size_limit)
        d->too_big = 1;
    if (discarding(d)) {
        if (!was_discarding)
            start_discarding(out);
        return;
    }
    d->scratch[out->len++] = '\r';
    d->scratch[out->len++] = '\n';
}

/* Advance the state machine by one byte; returns 1 at the terminator. */
static int step(struct chunk_out *out, char ch)
{
    struct smtp_data_in *d = out->d;

    switch (d->state) {
    case S_LINE_START:
        if (ch == '.') {
            d->state = S_DOT;
            return 0;
        }
        break;
    case S_DOT:
        if (ch == '\r') {
            d->state = S_DOT_CR;
            return 0;
        }
        break;
    case S_DOT_CR:
        if (ch == '\n') {
            d->state = S_LINE_START;
            return 1;
        }
        /* The CR after the removed dot was content. */
        emit(out, '\r');
        d->state = S_IN_LINE;
        break;
    case S_CR:
        if (ch == '\n') {
            emit_line_end(out);
            d->state = S_LINE_START;
            return 0;
        }
        /* A bare CR is content (RFC 5321 2.3.8). */
        emit(out, '\r');
        d->state = S_IN_LINE;
        break;
    case S_IN_LINE:
        break;
    }
    if (ch == '\r') {
        d->state = S_CR;
        return 0;
    }
    emit(out, ch);
    d->state = S_IN_LINE;
    return 0;
}

enum smtp_data_in_status smtp_data_in_feed(struct smtp_data_in *d, struct evbuffer *in,
                                           struct evbuffer *message)
{
    struct evbuffer_iovec vec;
    struct chunk_out out = {d, message, 0};
    size_t i;
    int done = 0;

    while (!done && evbuffer_peek(in, -1, NULL, &vec, 1) >= 1 && vec.iov_len > 0) {
        const char *bytes = vec.iov_base;

        /* A byte yields at most two output bytes (a held CR and itself). */
        if (d->scratch_size < 2 * vec.iov_len + 2) {
            d->scratch_size = 2 * vec.iov_len + 2;
            d->scratch = xrealloc(d->scratch, d->scratch_size);
        }
        out.len = 0;
        for (i = 0; i < vec.iov_len && !done; i++)
            done = step(&out, bytes[i]);
        if (out.len > 0)
            evbuffer_add(message, d->scratch, out.len);
        evbuffer_drain(in, i);
    }
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
