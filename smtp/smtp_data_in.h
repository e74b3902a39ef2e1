/*
 * smtp_data_in.h - the DATA phase as received: strict framing and limits.
 *
 * A line ends only at CRLF (a bare CR or LF is content), and the message
 * ends only at a line that is exactly "." (i.e. CRLF.CRLF, or ".CRLF" as the
 * very first line). Exactly one leading dot is removed from every other line
 * (RFC 5321 4.5.2). Lines are appended to the message buffer with their CRLF,
 * so the message holds the content as the client meant it, bare CR/LF kept.
 *
 * Limits are enforced while streaming: once the message passes size_limit,
 * or a line passes line_limit, content is discarded (never truncated into the
 * message) while the decoder keeps looking for the terminator, so the reply
 * can be given after it (552 5.3.4) instead of cutting the connection.
 */
#ifndef SCAND_SMTP_DATA_IN_H
#define SCAND_SMTP_DATA_IN_H

#include <stddef.h>

#include <event2/buffer.h>

struct smtp_data_in;

enum smtp_data_in_status {
    SMTP_DATA_IN_MORE, /* all input consumed, terminator not seen yet */
    SMTP_DATA_IN_DONE, /* terminator consumed; input after it left in the buffer */
};

/* size_limit and line_limit of 0 mean no limit. */
struct smtp_data_in *smtp_data_in_new(size_t size_limit, size_t line_limit);
void smtp_data_in_free(struct smtp_data_in *d);
/* Start a new message (clears flags and counters). */
void smtp_data_in_reset(struct smtp_data_in *d);
/* Consume from in; append accepted content to message. */
enum smtp_data_in_status smtp_data_in_feed(struct smtp_data_in *d, struct evbuffer *in,
                                           struct evbuffer *message);
int smtp_data_in_too_big(const struct smtp_data_in *d);
int smtp_data_in_line_too_long(const struct smtp_data_in *d);
/* Content bytes seen so far, after unstuffing, discarded bytes included. */
size_t smtp_data_in_size(const struct smtp_data_in *d);

#endif
