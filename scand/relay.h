/*
 * relay.h - one connection to the relay (Postfix's 127.0.0.1:10026 smtpd).
 *
 * A relay pairs a socket (libevent bufferevent) with an smtp_client. The
 * owner queues commands on relay_client(); this module moves the bytes,
 * applies Postfix's smtp_*_timeout values to whatever reply is awaited, and
 * when the connection fails (refused, reset, EOF, timeout, a mail loop)
 * completes every queued command with a 4yz, so a failure can only ever
 * turn into a deferral upstream (promise 1). A dead relay stays dead: the
 * owner releases it and opens a new one for the next transaction.
 */
#ifndef SCAND_RELAY_H
#define SCAND_RELAY_H

#include <sys/socket.h>

#include <event2/event.h>

#include "smtp/smtp_client.h"

struct relay_config {
    struct sockaddr_storage addr;
    socklen_t addr_len;
    const char *name;       /* "127.0.0.1:10026", for logs and replies */
    const char *myhostname; /* our EHLO name; the relay greeting with it is a loop */
    int connect_timeout;    /* seconds, smtp_connect_timeout */
    int helo_timeout;       /* smtp_helo_timeout */
    int command_timeout;    /* MAIL, RCPT, XFORWARD, RSET replies */
    int data_timeout;       /* from DATA to the end-of-data reply */
};

struct relay;

/* Start connecting; commands may be queued at once. config is copied. */
struct relay *relay_open(struct event_base *base, const struct relay_config *config);
struct smtp_client *relay_client(struct relay *relay);
/* False once the connection failed or was closed. */
int relay_alive(const struct relay *relay);
/* Tell the relay that the queued command is DATA (longer timeout). */
void relay_expect_data(struct relay *relay);
/* Done with it: pending commands complete with a 4yz now (callers must
 * ignore completions after this call); an alive idle connection says QUIT.
 * Memory is freed later from the event loop, never under the caller. */
void relay_release(struct relay *relay);

#endif
