/*
 * smtp_data_out.c - the one encoder for content sent to the relay (promise 3).
 *
 * Policy, in the order it applies to each line:
 *  - a line ends only at CRLF (RFC 5321 2.3.8); a CR not followed by LF and
 *    an LF not preceded by CR are "stray" and each becomes one space, as
 *    Postfix's cleanup does with cleanup_replace_stray_cr_lf, so that no
 *    reading of the output by any MTA can see a line end that we did not
 *    mean (the SMTP smuggling attacks of December 2023);
 *  - a last line without CRLF gets one; a CR at the very end of the content
 *    is stray (its LF never came);
 *  - dot-stuffing last (RFC 5321 4.5.2): a line that starts with '.' gets
 *    another '.';
 *  - ".\r\n" ends the content, so the only CRLF.CRLF is the terminator.
 *
 * This runs on every relayed byte: it walks the source's chunks with
 * evbuffer_peek and writes straight into space reserved in dst, never one
 * evbuffer call per byte; within a line it copies up to the next CR or LF
 * (found with memchr) in one memcpy.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "smtp/smtp_data_out.h"
#include "util/msg.h"
#include "util/xalloc.h"

/* What the encoder remembers between chunks. */
struct data_out_state {
    int at_bol;     /* next byte starts a line (dot-stuffing applies) */
    int cr_pending; /* last byte was CR; an LF next makes it a line end */
};

/* The next CR and the next LF of a chunk, each found with memchr and kept
 * until the scan passes it, so every byte is looked at by memchr at most
 * once per character instead of by a loop per byte. */
struct line_breaks {
    const unsigned char *cr; /* next CR at or after the scan, or end */
    const unsigned char *lf; /* next LF at or after the scan, or end */
};

static const unsigned char *find_or_end(const unsigned char *from, const unsigned char *end, int ch)
{
    const unsigned char *hit = memchr(from, ch, (size_t)(end - from));

    return hit != NULL ? hit : end;
}

/* The first CR or LF at or after from (end if none). */
static const unsigned char *next_break(struct line_breaks *b, const unsigned char *from,
                                       const unsigned char *end)
{
    if (b->cr < from)
        b->cr = find_or_end(from, end, '\r');
    if (b->lf < from)
        b->lf = find_or_end(from, end, '\n');
    return b->cr < b->lf ? b->cr : b->lf;
}

/* Encode one chunk into out (room for 2 * len + 1 bytes); returns the bytes
 * written. Worst case: a pending stray CR (1) plus every byte doubled (a '.'
 * at the start of a line after each CRLF expands 3 bytes to 4, so 2x is
 * generous). */
static size_t data_out_chunk(struct data_out_state *st, const unsigned char *in, size_t len,
                             unsigned char *out)
{
    const unsigned char *end = in + len;
    struct line_breaks breaks = {find_or_end(in, end, '\r'), find_or_end(in, end, '\n')};
    unsigned char *o = out;

    while (in < end) {
        unsigned char c = *in++;

        if (st->cr_pending) {
            st->cr_pending = 0;
            if (c == '\n') {
                *o++ = '\r';
                *o++ = '\n';
                st->at_bol = 1;
                continue;
            }
            *o++ = ' ';
            st->at_bol = 0;
        }
        if (c == '\r') {
            st->cr_pending = 1;
            continue;
        }
        if (c == '\n') {
            *o++ = ' ';
            st->at_bol = 0;
            continue;
        }
        if (st->at_bol && c == '.')
            *o++ = '.';
        *o++ = c;
        st->at_bol = 0;
        /* The common case: copy the rest of an ordinary line in one sweep. */
        const unsigned char *stop = next_break(&breaks, in, end);

        memcpy(o, in, (size_t)(stop - in));
        o += stop - in;
        in = stop;
    }
    return (size_t)(o - out);
}

static void data_out_reserve_write(struct evbuffer *dst, struct data_out_state *st,
                                   const unsigned char *in, size_t len)
{
    struct evbuffer_iovec vec;

    if (evbuffer_reserve_space(dst, (ev_ssize_t)(2 * len + 1), &vec, 1) < 1)
        msg_fatal("smtp_data_out: out of memory");
    vec.iov_len = data_out_chunk(st, in, len, vec.iov_base);
    if (evbuffer_commit_space(dst, &vec, 1) < 0)
        msg_panic("smtp_data_out: evbuffer_commit_space failed");
}

void smtp_data_out_encode(struct evbuffer *dst, struct evbuffer *src)
{
    struct data_out_state st = {.at_bol = 1, .cr_pending = 0};
    int n = evbuffer_peek(src, -1, NULL, NULL, 0);

    if (n > 0) {
        struct evbuffer_iovec *vec = xcalloc((size_t)n, sizeof(*vec));
        int got = evbuffer_peek(src, -1, NULL, vec, n);

        for (int i = 0; i < got && i < n; i++)
            if (vec[i].iov_len > 0)
                data_out_reserve_write(dst, &st, vec[i].iov_base, vec[i].iov_len);
        free(vec);
    }
    if (st.cr_pending) {
        evbuffer_add(dst, " ", 1);
        st.at_bol = 0;
    }
    if (!st.at_bol)
        evbuffer_add(dst, "\r\n", 2);
    evbuffer_add(dst, ".\r\n", 3);
}
