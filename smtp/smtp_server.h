/*
 * smtp_server.h - the server side of SMTP (RFC 5321) and LMTP (RFC 2033).
 *
 * I/O free: the owner feeds received bytes with smtp_server_input() and
 * sends whatever the session appended to its output buffer. The session
 * never reads or writes a socket and knows no policy.
 *
 * Commands that need a decision (MAIL, RCPT, DATA, end of data) are handed
 * to the owner through events; the session then waits, processing no further
 * input, until the owner answers with smtp_server_reply() (possibly from
 * inside the event callback, possibly much later). Everything else (EHLO,
 * HELO, LHLO, RSET, NOOP, QUIT, XFORWARD, VRFY, syntax and sequence errors,
 * limits) the session answers itself with Postfix's reply texts.
 * Pipelined commands are answered in order.
 *
 * Under LMTP, the end of data needs one reply per accepted recipient, in
 * recipient order: the owner calls smtp_server_reply() that many times.
 *
 * Added precisions (engineer A, from the implementation):
 *  - MAIL answered by the owner with a non-2yz reply leaves no transaction
 *    open: sender and parameters are dropped, the reset event is sent, and
 *    the next RCPT gets "503 5.5.1 Error: need MAIL command". XFORWARD
 *    attributes given before that MAIL stay for the next MAIL.
 *  - XFORWARD is accepted before HELO/EHLO, as Postfix does; its
 *    attributes are cleared whenever the reset event is sent for an ended
 *    transaction (RSET, HELO/EHLO/LHLO, end-of-data reply(ies), QUIT,
 *    timeout), not after a refused MAIL.
 *  - reset is sent on every RSET and HELO/EHLO/LHLO (even with nothing to
 *    drop), after the end-of-data reply(ies), after a limit reply at the
 *    end of data, on QUIT and timeout, and from smtp_server_free() when a
 *    transaction (or a wait for the owner) was still open.
 *  - When the message breaks message_size_limit or data_line_limit the
 *    session answers the end of data itself (552 5.3.4, once per accepted
 *    recipient under LMTP), calls refused("END-OF-MESSAGE", reply) and
 *    never calls message.
 *  - A reply given while no reply is owed is logged and dropped.
 *  - smtp_server_input() never holds more than command_line_limit (+CRLF)
 *    octets of an unfinished command line in the caller's buffer; while
 *    the owner owes a reply it consumes nothing, so the owner bounds its
 *    input buffer (stop reading) meanwhile.
 */
#ifndef SCAND_SMTP_SERVER_H
#define SCAND_SMTP_SERVER_H

#include <stddef.h>

#include <event2/buffer.h>

#include "smtp/smtp_envelope.h"

struct smtp_server;

enum smtp_server_proto {
    SMTP_SERVER_PROTO_NONE,  /* no HELO/EHLO/LHLO yet */
    SMTP_SERVER_PROTO_SMTP,  /* HELO */
    SMTP_SERVER_PROTO_ESMTP, /* EHLO */
    SMTP_SERVER_PROTO_LMTP,  /* LHLO */
};

struct smtp_server_config {
    const char *myhostname;    /* greeting and EHLO name; kept, not copied */
    size_t message_size_limit; /* 0: none; advertised in EHLO SIZE */
    size_t recipient_limit;    /* smtpd_recipient_limit; 0: none */
    size_t command_line_limit; /* longest command line accepted (CRLF excluded); 0: 2048 */
    size_t data_line_limit;    /* longest DATA line accepted; 0: none */
    /* Added (issue 6): the peer is not in smtpd_authorized_xforward_hosts.
     * EHLO does not advertise XFORWARD and the command gets Postfix's
     * "550 5.7.0 Error: insufficient authorization". 0 (the zero value)
     * keeps XFORWARD open, as before this field existed. */
    int xforward_denied;
};

/* One transaction: valid from MAIL until the transaction ends. */
struct smtp_transaction {
    struct smtp_xforward xforward; /* attributes given since the last reset */
    int has_mail;
    char *sender; /* without <>, "" for the null sender */
    struct smtp_params mail_params;
    struct smtp_rcpt *rcpts; /* accepted recipients, in order */
    size_t rcpt_count;
};

struct smtp_server_events {
    /* MAIL passed syntax and sequence checks; transaction()->sender is set. */
    void (*mail)(void *ctx, struct smtp_server *server);
    /* RCPT passed syntax, sequence and limit checks. A 2yz reply adds it to
     * transaction()->rcpts; any other reply leaves it out. */
    void (*rcpt)(void *ctx, struct smtp_server *server, const struct smtp_rcpt *rcpt);
    /* DATA with at least one accepted recipient. A 354 reply starts the
     * data phase; any other reply ends the transaction's DATA attempt. */
    void (*data)(void *ctx, struct smtp_server *server);
    /* The terminator was seen and the content is within limits. message
     * holds the unstuffed content (owned by the session, valid until the
     * last reply for it). Reply once (SMTP) or once per recipient (LMTP). */
    void (*message)(void *ctx, struct smtp_server *server, struct evbuffer *message);
    /* The transaction ended (RSET, HELO/EHLO/LHLO, end-of-data reply sent,
     * or the session closed); the owner drops what it kept for it. */
    void (*reset)(void *ctx, struct smtp_server *server);
    /* The session answered a command itself with an error or a limit
     * (e.g. 552 after an oversized message): for logging only. */
    void (*refused)(void *ctx, struct smtp_server *server, const char *command, const char *reply);
};

struct smtp_server *smtp_server_new(const struct smtp_server_config *config,
                                    const struct smtp_server_events *events, void *ctx,
                                    struct evbuffer *output);
void smtp_server_free(struct smtp_server *server);

/* Queue the 220 greeting. */
void smtp_server_greet(struct smtp_server *server);

/* Process as much of in as possible. Consumed bytes are removed from in;
 * input after a command that waits for the owner stays there, and the owner
 * calls smtp_server_input() again after replying. Returns -1 once the
 * session is over (QUIT answered, or a fatal error reply queued): the owner
 * flushes the output and closes. */
int smtp_server_input(struct smtp_server *server, struct evbuffer *in);

/* Answer the command the session waits on. text is one reply: "250 2.1.0 Ok",
 * or several lines separated by '\n', each starting with the same code; the
 * session writes the continuation dashes, CRLFs, and replaces control
 * characters in the text. */
void smtp_server_reply(struct smtp_server *server, const char *text);
void smtp_server_replyf(struct smtp_server *server, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* True while the owner owes a reply. */
int smtp_server_waiting(const struct smtp_server *server);
/* True between MAIL and the end of the transaction (idle otherwise). */
int smtp_server_in_transaction(const struct smtp_server *server);
/* True once the session is over. */
int smtp_server_closed(const struct smtp_server *server);

/* The client said nothing for smtpd_timeout: queue
 * "421 4.4.2 <myhostname> Error: timeout exceeded" and close. */
void smtp_server_timeout(struct smtp_server *server);

const struct smtp_transaction *smtp_server_transaction(const struct smtp_server *server);
enum smtp_server_proto smtp_server_proto(const struct smtp_server *server);
/* HELO/EHLO/LHLO argument, NULL before it. */
const char *smtp_server_helo(const struct smtp_server *server);

#endif
