/*
 * session.h - one connection from Postfix's scan transport, glued to its
 * relay connection.
 *
 * The session owns the socket to Postfix (a bufferevent), the protocol
 * state (smtp_server) and, from the first MAIL on, a relay connection. It
 * forwards the envelope to the relay as it arrives (so a recipient the relay
 * refuses is refused at RCPT), keeps the message until its terminator, and
 * answers the end of data only with, or after, the relay's own answer.
 */
#ifndef SCAND_SESSION_H
#define SCAND_SESSION_H

#include <sys/socket.h>

#include <event2/event.h>

#include "smtp/smtp_server.h"
#include "scand/dns.h"
#include "scand/params.h"
#include "scand/relay.h"
#include "scand/relay_pool.h"

/* Per worker, read-only while sessions run. */
struct session_env {
    struct event_base *base;
    const struct scand_params *params;
    struct smtp_server_config server_config;
    struct relay_config relay_config;
    struct relay_config hold_relay_config; /* where HOLD sends a message */
    struct relay_pool *relay_pool;         /* relay connections between transactions */
    struct dns *dns;                       /* the worker's resolver; NULL when no rule needs DNS */
};

struct session;

/* Called once, from the event loop, after the session freed itself. */
typedef void (*session_closed_fn)(void *ctx);

/* Take over the accepted socket fd and send the greeting. */
struct session *session_new(const struct session_env *env, evutil_socket_t fd,
                            const struct sockaddr *peer, session_closed_fn closed, void *ctx);
/* Between transactions and owing no reply: closing it loses nothing. */
int session_idle(const struct session *session);
/* Close at once if idle, else as soon as the current transaction ends. */
void session_drain(struct session *session);

#endif
