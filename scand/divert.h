/*
 * divert.h - deliver one finished message on a connection of its own.
 *
 * Used when a rule sends a message somewhere other than the ordinary relay
 * transaction that was built recipient by recipient: HOLD (to hold_relay,
 * a Postfix smtpd that puts everything it receives on the hold queue),
 * FILTER transport:[host]:port (to that next hop), REDIRECT (to the relay,
 * with the one new recipient). Failure policy as relay.c: any trouble is a
 * 4yz; a recipient the target refuses is that refusal, and then no DATA is
 * sent at all, so a message is never delivered to only some recipients of
 * a single SMTP reply.
 */
#ifndef SCAND_DIVERT_H
#define SCAND_DIVERT_H

#include <event2/buffer.h>
#include <event2/event.h>

#include "smtp/smtp_envelope.h"
#include "scand/relay.h"

struct divert_request {
    struct event_base *base;
    const struct relay_config *config; /* copied */
    const struct smtp_xforward *xforward;
    const char *sender;
    const struct smtp_params *mail_params;
    const struct smtp_rcpt *rcpts; /* copied */
    size_t rcpt_count;
    struct evbuffer *content; /* must stay untouched until done */
};

/* reply_text is the one reply for the whole message. */
typedef void (*divert_done_fn)(void *arg, const char *reply_text);

struct divert;

struct divert *divert_start(const struct divert_request *request, divert_done_fn done, void *arg);
/* The owner goes away: no callback will come; resources are released. */
void divert_cancel(struct divert *divert);

/* Parse a FILTER next hop "transport:[host]:port" (or "transport:host:port")
 * into config->addr; returns -1 when it is not an address scand can reach
 * (scand speaks SMTP to numeric next hops only). */
int divert_parse_nexthop(const char *filter, struct relay_config *config, char *err, size_t errlen);

#endif
