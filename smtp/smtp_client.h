/*
 * smtp_client.h - the client side of SMTP/LMTP, used to relay to Postfix.
 *
 * I/O free like smtp_server: the owner feeds the server's bytes with
 * smtp_client_input() and sends what the client appends to its output.
 * The client reads the greeting, sends EHLO (LHLO under LMTP), learns the
 * server's extensions, and then runs commands the owner queues, in order,
 * pipelined when the server advertised PIPELINING. Every queued command gets
 * exactly one completion (LMTP data: one per accepted recipient), either the
 * server's reply or the synthetic reply given to smtp_client_abort().
 *
 * Per transaction the client sends XFORWARD with the attributes the server
 * advertised (xtext, each command within 512 octets) before MAIL, and passes
 * on MAIL/RCPT parameters the server supports (SIZE, BODY, SMTPUTF8, and
 * RET/ENVID/NOTIFY/ORCPT with DSN), as Postfix's smtp client does.
 *
 * Every argument of a queuing call (xforward, sender, params, rcpt) is
 * copied before the call returns; content is read when it is sent and must
 * stay untouched until the data command completes.
 *
 * A greeting or EHLO reply that names the client's own myhostname is a mail
 * loop: the connection fails with "451 4.4.6 ... loops back to myself".
 */
#ifndef SCAND_SMTP_CLIENT_H
#define SCAND_SMTP_CLIENT_H

#include <stddef.h>

#include <event2/buffer.h>

#include "smtp/smtp_envelope.h"
#include "smtp/smtp_reply.h"

struct smtp_client;

struct smtp_client_config {
    const char *myhostname; /* EHLO/LHLO name; kept, not copied */
    int lmtp;               /* speak LMTP */
    size_t reply_limit;     /* longest reply accepted (all lines) */
};

/* Completion of one command; reply is valid only during the call. */
typedef void (*smtp_client_done_fn)(void *arg, const struct smtp_reply *reply);

struct smtp_client_events {
    /* Greeting and EHLO done: failure is NULL, and queued commands go out.
     * Otherwise failure is the reply to report upstream (the server's 4yz/5yz
     * greeting or EHLO reply, or a loop), and every queued command completes
     * with it. */
    void (*ready)(void *ctx, struct smtp_client *client, const struct smtp_reply *failure);
};

struct smtp_client *smtp_client_new(const struct smtp_client_config *config,
                                    const struct smtp_client_events *events, void *ctx,
                                    struct evbuffer *output);
void smtp_client_free(struct smtp_client *client);

/* Process server bytes. Returns -1 when the server broke the protocol
 * (malformed reply): every pending command has then completed with a 4yz
 * and the owner closes the connection. */
int smtp_client_input(struct smtp_client *client, struct evbuffer *in);

/* Start a transaction: XFORWARD (as advertised) then MAIL FROM. done gets
 * the MAIL reply, or the failing XFORWARD reply. xforward may be NULL. */
void smtp_client_mail(struct smtp_client *client, const struct smtp_xforward *xforward,
                      const char *sender, const struct smtp_params *params,
                      smtp_client_done_fn done, void *arg);
void smtp_client_rcpt(struct smtp_client *client, const struct smtp_rcpt *rcpt,
                      smtp_client_done_fn done, void *arg);
/* DATA, then (after 354) content encoded by smtp_data_out_encode(). done
 * gets the DATA reply if it is not 354, else the end-of-data reply; under
 * LMTP one end-of-data reply per recipient that got a 2yz in this
 * transaction, in order. content is read, not modified. */
void smtp_client_data(struct smtp_client *client, struct evbuffer *content,
                      smtp_client_done_fn done, void *arg);
void smtp_client_rset(struct smtp_client *client, smtp_client_done_fn done, void *arg);
/* Queue QUIT; its reply needs no completion. */
void smtp_client_quit(struct smtp_client *client);

/* The connection is gone (EOF, error, timeout): complete every pending and
 * queued command with reply_text (e.g. "451 4.4.2 lost connection ..."). */
void smtp_client_abort(struct smtp_client *client, const char *reply_text);

/* True when nothing is queued or awaiting a reply. */
int smtp_client_idle(const struct smtp_client *client);
/* True after a successful EHLO/LHLO. */
int smtp_client_ready(const struct smtp_client *client);
/* The server's greeting host name (first word after 220), NULL before it. */
const char *smtp_client_server_name(const struct smtp_client *client);
/* Extensions learned from EHLO. */
int smtp_client_has_ext(const struct smtp_client *client, const char *keyword);

#endif
