/*
 * trace.h - loop protection on the message itself (promise 4): counting the
 * Received: headers a message already has (hopcount_limit) and writing the
 * one trace header scand adds to what it relays.
 */
#ifndef SCAND_TRACE_H
#define SCAND_TRACE_H

#include <stddef.h>

#include <event2/buffer.h>

/* Number of Received: headers in the primary header block of message
 * (content as received: lines ending in CRLF). Counting stops at the first
 * empty line, and at limit + 1 (no need to read further). */
size_t trace_count_received(struct evbuffer *message, size_t limit);

struct trace_info {
    const char *helo;       /* the scan client's HELO/EHLO/LHLO name, may be NULL */
    const char *peer_addr;  /* the scan client's IP address ("127.0.0.1") */
    const char *myhostname; /* ours */
    const char *protocol;   /* "ESMTP", "SMTP", "LMTP" */
    const char *queue_id;   /* upstream queue id from XFORWARD IDENT, may be NULL */
    const char *recipient;  /* the one recipient, or NULL when several */
};

/* Prepend "Received: from HELO ([ADDR])\r\n\tby MYHOSTNAME (scand) with PROTO
 * id ID\r\n\tfor <RCPT>; DATE\r\n" to message, folded as Postfix folds it. */
void trace_prepend_received(struct evbuffer *message, const struct trace_info *info);

#endif
