/*
 * smtp_reply.h - SMTP replies as read from a server (RFC 5321 4.2).
 *
 * A reply is one or more lines "CODE-text" ... "CODE text". It is kept as
 * text lines joined by '\n', each normalised to "CODE text" (the dash
 * dropped), which is exactly what smtp_server_reply() takes, so a relay's
 * reply can be handed upstream unchanged.
 */
#ifndef SCAND_SMTP_REPLY_H
#define SCAND_SMTP_REPLY_H

#include <stddef.h>

#include <event2/buffer.h>

struct smtp_reply {
    int code;   /* 200..599 */
    char *text; /* "250 2.0.0 Ok: queued as X" or "550 a\n550 b" */
};

enum smtp_reply_status {
    SMTP_REPLY_MORE = 0,   /* no complete reply in the buffer yet */
    SMTP_REPLY_DONE = 1,   /* *reply filled, its bytes consumed */
    SMTP_REPLY_ERROR = -1, /* malformed or over max_len: the peer is broken */
};

/* Take one complete reply from in. Lines end at CRLF (a bare LF is also
 * accepted from servers, as Postfix's smtp client does). max_len bounds the
 * total size of one reply. */
enum smtp_reply_status smtp_reply_read(struct evbuffer *in, size_t max_len,
                                       struct smtp_reply *reply);
void smtp_reply_free(struct smtp_reply *reply);
void smtp_reply_set(struct smtp_reply *reply, const char *text); /* code from text */
void smtp_reply_copy(struct smtp_reply *dst, const struct smtp_reply *src);
/* The first line's text after the code and the enhanced status code, if any. */
const char *smtp_reply_message(const struct smtp_reply *reply);
/* One line for logs: the reply's lines joined by a space ("250 2.0.0 Ok ..."). */
char *smtp_reply_oneline(const struct smtp_reply *reply);

#endif
