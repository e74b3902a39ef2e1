/*
 * session.c - one scan-side connection and its relay (see session.h).
 *
 * Relay policy (promise 1, "no mail lost"):
 *  - MAIL and RCPT go to the relay as they arrive; the relay's reply is the
 *    reply, so a recipient the relay refuses is refused at RCPT time.
 *  - DATA is answered 354 locally; the message is kept until its terminator.
 *  - At the end of data the message (with our trace header) goes to the
 *    relay, and the end-of-data reply is the relay's: 2yz (with its queue
 *    id), 4yz, or 5yz as the relay said it. Any trouble on the way (relay
 *    unreachable, lost, timed out, looping) is a 4yz from relay.c.
 *  - Nothing else can produce a 250 for a message: the only paths to a 2yz
 *    end-of-data reply are the relay's own 2yz (session_data_done, and for
 *    HOLD/FILTER/REDIRECT or recipients beyond the relay's limit, the 2yz
 *    of that delivery's relay), and a rule's DISCARD.
 *  - Recipients the relay refuses with "452 4.5.3 too many recipients" are
 *    accepted and delivered in further transactions, in batches the size
 *    the relay took, before Postfix gets its answer.
 *  - A message scand will not deliver (too many hops) never reaches the
 *    relay: its transaction there is reset without a final ".".
 * The relay's reply is written upstream in the same event-loop turn as it
 * arrives: the window in which a crash would duplicate a message (relay
 * queued it, Postfix never heard) is that one turn.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "util/msg.h"
#include "util/xalloc.h"
#include "smtp/smtp_reply.h"
#include "scand/attempts.h"
#include "scand/divert.h"
#include "scand/dns.h"
#include "scand/policy.h"
#include "scand/session.h"
#include "scand/trace.h"

struct session {
    const struct session_env *env;
    struct bufferevent *bev;
    struct smtp_server *server;
    struct relay *relay;
    struct event *resume; /* re-runs input processing from the loop */
    char peer_addr[INET6_ADDRSTRLEN];
    char client_addr[INET6_ADDRSTRLEN]; /* XFORWARD ADDR as the rules see it */
    session_closed_fn closed;
    void *closed_ctx;

    int relay_tx_open; /* the relay has a MAIL transaction for us */
    int releasing;     /* completions from a released relay are ignored */
    int draining;      /* close when the transaction ends */
    int finishing;     /* flushing the last output, then free */
    int freeing;

    struct timeval tx_start;
    size_t message_size;
    struct policy_tx policy; /* restriction decisions of this transaction */
    int policy_active;
    struct divert *divert; /* a HOLD/FILTER/REDIRECT delivery in flight */

    /* Recipients the relay answered "452 4.5.3 too many recipients": accepted
     * upstream, delivered in further relay transactions before we answer. */
    struct smtp_rcpt *overflow;
    size_t overflow_count;
    size_t overflow_sent;              /* overflow recipients already in a transaction */
    size_t main_accepted;              /* recipients in the first relay transaction */
    struct evbuffer *overflow_message; /* the content, for the next batch */
    char **batch_replies;              /* one end-of-data reply per transaction */
    size_t *batch_sizes;               /* and how many recipients it answers */
    size_t batch_count;

    /* DNS-based restrictions: the current check's view of the resolver
     * (one per check: answers stay the same across its passes, a later
     * check meets the worker's cache), the time the transaction spent
     * waiting (its budget is dns_message_time_limit), and what a check
     * waiting for answers resumes with. */
    struct dns_waiter *dns_waiter;
    int dns_spent_ms;
    struct smtp_rcpt check_rcpt;    /* the RCPT being checked (addr NULL: none) */
    struct evbuffer *check_message; /* the message whose end of data is checked */
};

static void session_schedule_resume(struct session *session)
{
    static const struct timeval now = {0, 0};
    evtimer_add(session->resume, &now);
}

/* Stop reading; free once the output is flushed. */
static void session_finish(struct session *session)
{
    if (session->finishing)
        return;
    session->finishing = 1;
    bufferevent_disable(session->bev, EV_READ);
    session_schedule_resume(session);
}

static void session_release_relay(struct session *session)
{
    struct relay *relay = session->relay;

    if (relay == NULL)
        return;
    session->relay = NULL;
    session->relay_tx_open = 0;
    session->releasing = 1;
    relay_release(relay);
    session->releasing = 0;
}

static void session_overflow_clear(struct session *session)
{
    for (size_t i = 0; i < session->overflow_count; i++) {
        free(session->overflow[i].addr);
        smtp_params_free(&session->overflow[i].params);
    }
    free(session->overflow);
    for (size_t i = 0; i < session->batch_count; i++)
        free(session->batch_replies[i]);
    free(session->batch_replies);
    free(session->batch_sizes);
    session->overflow = NULL;
    session->overflow_count = session->overflow_sent = session->main_accepted = 0;
    session->batch_replies = NULL;
    session->batch_sizes = NULL;
    session->batch_count = 0;
    session->overflow_message = NULL;
}

/* A check is over: its answers go, the time it waited counts. */
static void session_dns_done(struct session *session)
{
    if (session->dns_waiter != NULL) {
        session->dns_spent_ms += dns_waiter_time_spent(session->dns_waiter);
        dns_waiter_free(session->dns_waiter);
        session->dns_waiter = NULL;
    }
}

/* The transaction is over (or the session): any check waiting goes too. */
static void session_dns_clear(struct session *session)
{
    session_dns_done(session);
    session->dns_spent_ms = 0;
    free(session->check_rcpt.addr);
    session->check_rcpt.addr = NULL;
    smtp_params_free(&session->check_rcpt.params);
    session->check_message = NULL;
}

static void session_free(struct session *session)
{
    session->freeing = 1;
    session_dns_clear(session);
    if (session->divert != NULL)
        divert_cancel(session->divert);
    if (session->policy_active)
        policy_tx_free(&session->policy);
    session_overflow_clear(session);
    session_release_relay(session);
    smtp_server_free(session->server);
    bufferevent_free(session->bev);
    event_free(session->resume);
    session_closed_fn closed = session->closed;
    void *ctx = session->closed_ctx;
    free(session);
    closed(ctx);
}

/* Feed what Postfix sent to the protocol engine, and follow its state. */
static void session_process(struct session *session)
{
    if (session->finishing)
        return;
    if (smtp_server_input(session->server, bufferevent_get_input(session->bev)) < 0 ||
        smtp_server_closed(session->server)) {
        session_finish(session);
        return;
    }
    if (session->draining && session_idle(session)) {
        session_finish(session);
        return;
    }
    /* While the owner (we) owes a reply, reading more would only buffer. */
    if (smtp_server_waiting(session->server))
        bufferevent_disable(session->bev, EV_READ);
    else
        bufferevent_enable(session->bev, EV_READ);
}

static void session_resume_cb(evutil_socket_t fd, short what, void *arg)
{
    struct session *session = arg;

    (void)fd;
    (void)what;
    if (session->finishing) {
        if (evbuffer_get_length(bufferevent_get_output(session->bev)) == 0)
            session_free(session);
        return;
    }
    session_process(session);
}

static void session_read_cb(struct bufferevent *bev, void *arg)
{
    (void)bev;
    session_process(arg);
}

static void session_write_cb(struct bufferevent *bev, void *arg)
{
    struct session *session = arg;

    if (session->finishing && evbuffer_get_length(bufferevent_get_output(bev)) == 0)
        session_free(session);
}

static void session_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct session *session = arg;

    (void)bev;
    if ((what & BEV_EVENT_TIMEOUT) && (what & BEV_EVENT_READING) && !session->finishing) {
        msg_info("timeout after %s from %s",
                 smtp_server_in_transaction(session->server) ? "transaction" : "command",
                 session->peer_addr);
        smtp_server_timeout(session->server);
        session_finish(session);
        return;
    }
    /* EOF, error, or a client that does not read our replies. */
    if (smtp_server_in_transaction(session->server))
        msg_info("lost connection with %s in a transaction", session->peer_addr);
    session_free(session);
}

static const char *tx_value(const char *value)
{
    return value != NULL ? value : "unknown";
}

static const char *session_queue_id(const struct smtp_transaction *tx)
{
    return smtp_xforward_unavailable(tx->xforward.ident) ? "NOQUEUE" : tx->xforward.ident;
}

static const char *session_proto_name(const struct session *session)
{
    switch (smtp_server_proto(session->server)) {
    case SMTP_SERVER_PROTO_SMTP:
        return "SMTP";
    case SMTP_SERVER_PROTO_LMTP:
        return "LMTP";
    default:
        return "ESMTP";
    }
}

/* The original client as the rules see it: XFORWARD's, never our peer's. */
static void session_query(struct session *session, struct rules_query *query, const char *recipient)
{
    const struct smtp_transaction *tx = smtp_server_transaction(session->server);
    const char *addr = tx->xforward.addr;
    const char *helo = tx->xforward.helo;

    memset(query, 0, sizeof(*query));
    if (!smtp_xforward_unavailable(addr))
        addr = policy_client_addr(addr, session->client_addr, sizeof(session->client_addr));
    query->client_name =
        smtp_xforward_unavailable(tx->xforward.name) ? "unknown" : tx->xforward.name;
    query->client_addr = smtp_xforward_unavailable(addr) ? "unknown" : addr;
    query->helo = smtp_xforward_unavailable(helo) ? NULL : helo;
    query->protocol = smtp_xforward_unavailable(tx->xforward.proto) ? session_proto_name(session)
                                                                    : tx->xforward.proto;
    query->sender = tx->has_mail ? tx->sender : NULL;
    query->recipient = recipient;
    query->rcpt_count = tx->rcpt_count;
    query->message_size = session->message_size;
}

/* A relay refusal, logged in the same shape as a rule's. */
static void session_log_refusal(struct session *session, const char *stage, const char *rcpt,
                                const struct smtp_reply *reply)
{
    struct rules_query query;
    char *oneline = smtp_reply_oneline(reply);

    session_query(session, &query, rcpt);
    policy_log("NOQUEUE", "reject", stage, &query, oneline);
    free(oneline);
}

/* One line per transaction outcome, Postfix's smtp(8) delivery shape. */
static void session_log_outcome(struct session *session, const char *status, const char *reply_text)
{
    const struct smtp_transaction *tx = smtp_server_transaction(session->server);
    struct evbuffer *to = evbuffer_new();
    struct timeval now;
    char *oneline;
    struct smtp_reply reply = {0, NULL};

    for (size_t i = 0; i < tx->rcpt_count; i++)
        evbuffer_add_printf(to, "%s<%s>", i ? "," : "", tx->rcpts[i].addr);
    evbuffer_add(to, "", 1);
    gettimeofday(&now, NULL);
    double delay = (double)(now.tv_sec - session->tx_start.tv_sec) +
                   (double)(now.tv_usec - session->tx_start.tv_usec) / 1e6;
    smtp_reply_set(&reply, reply_text);
    oneline = smtp_reply_oneline(&reply);
    msg_info("%s: client=%s[%s], helo=<%s>, from=<%s>, to=%s, size=%zu, nrcpt=%zu, proto=%s, "
             "relay=%s, delay=%.2f, status=%s (%s)",
             session_queue_id(tx), tx_value(tx->xforward.name), tx_value(tx->xforward.addr),
             tx_value(tx->xforward.helo), tx->sender, (const char *)evbuffer_pullup(to, -1),
             session->message_size, tx->rcpt_count, session_proto_name(session),
             session->env->relay_config.name, delay, status, oneline);
    free(oneline);
    smtp_reply_free(&reply);
    evbuffer_free(to);
}

static const char *session_status(int code)
{
    if (code >= 200 && code < 300)
        return "sent";
    return code >= 500 ? "bounced" : "deferred";
}

/* The end-of-data answer: once under SMTP, once per recipient under LMTP. */
static void session_reply_message(struct session *session, const char *text)
{
    size_t count = 1;

    if (smtp_server_proto(session->server) == SMTP_SERVER_PROTO_LMTP)
        count = smtp_server_transaction(session->server)->rcpt_count;
    for (size_t i = 0; i < count; i++)
        smtp_server_reply(session->server, text);
    session_schedule_resume(session);
}

static void session_reply(struct session *session, const char *text)
{
    smtp_server_reply(session->server, text);
    session_schedule_resume(session);
}

/* A rule's reply; 421/521 end the session after it, as Postfix's smtpd. */
static void session_rule_reply(struct session *session, const char *text, int disconnect,
                               int message)
{
    if (message)
        session_reply_message(session, text);
    else
        session_reply(session, text);
    if (disconnect)
        session_finish(session);
}

/* A completion that must be dropped: the relay was released, or the
 * session is going away. */
static int session_stale(const struct session *session)
{
    return session->releasing || session->freeing || session->finishing;
}

static struct relay *session_relay(struct session *session)
{
    if (session->relay != NULL && !relay_alive(session->relay))
        session_release_relay(session);
    if (session->relay == NULL)
        session->relay = relay_pool_get(session->env->relay_pool);
    return session->relay;
}

/* The current check's view of the worker's resolver (NULL: no rule needs
 * DNS), with what the transaction has left of its DNS budget. */
static const struct rules_dns *session_dns(struct session *session)
{
    if (session->env->dns == NULL)
        return NULL;
    if (session->dns_waiter == NULL) {
        int left = session->env->params->dns_message_time_limit * 1000 - session->dns_spent_ms;
        session->dns_waiter = dns_waiter_new(session->env->dns);
        dns_waiter_set_time_limit(session->dns_waiter, left > 0 ? left : 0);
    }
    return dns_waiter_rules(session->dns_waiter);
}

/* Evaluate a stage's restrictions. Returns 0 when they wait for DNS
 * answers: resume(session) is then called from the loop once they are in,
 * and must call this again. Else 1, with *reply NULL (accepted) or the
 * reply to give. */
static int session_policy(struct session *session, enum rules_stage stage, const char *recipient,
                          void (*resume)(void *), char **reply, int *disconnect)
{
    struct rules_query query;
    int pending;

    session_query(session, &query, recipient);
    query.dns = session_dns(session);
    *reply = policy_check(session->env->params->rules, stage, &query, &session->policy, NULL,
                          disconnect, &pending);
    if (pending) {
        dns_waiter_wait(session->dns_waiter, resume, session);
        return 0;
    }
    session_dns_done(session);
    return 1;
}

static void session_mail_done(void *arg, const struct smtp_reply *reply)
{
    struct session *session = arg;

    if (session_stale(session))
        return;
    if (reply->code >= 200 && reply->code < 300) {
        session->relay_tx_open = 1;
        session_reply(session, "250 2.1.0 Ok");
        return;
    }
    session_log_refusal(session, "MAIL", NULL, reply);
    session_reply(session, reply->text);
}

static void session_on_mail(void *ctx, struct smtp_server *server)
{
    struct session *session = ctx;
    const struct smtp_transaction *tx = smtp_server_transaction(server);
    struct relay *relay = session_relay(session);

    gettimeofday(&session->tx_start, NULL);
    session->message_size = 0;
    session_overflow_clear(session);
    session_dns_clear(session);
    if (session->policy_active)
        policy_tx_free(&session->policy);
    policy_tx_init(&session->policy, session_queue_id(tx));
    session->policy_active = 1;
    smtp_client_mail(relay_client(relay), &tx->xforward, tx->sender, &tx->mail_params,
                     session_mail_done, session);
}

struct rcpt_wait {
    struct session *session;
    struct smtp_rcpt rcpt; /* a copy, kept if it overflows */
};

/* The relay's own recipient limit (Postfix smtpd: "452 4.5.3 Error: too many
 * recipients"), once it holds at least one recipient of ours. */
static int session_is_overflow(const struct session *session, const struct smtp_reply *reply)
{
    return reply->code == 452 && session->main_accepted > 0 && reply->text != NULL &&
           strncmp(reply->text, "452 4.5.3", 9) == 0;
}

static void session_rcpt_done(void *arg, const struct smtp_reply *reply)
{
    struct rcpt_wait *wait = arg;
    struct session *session = wait->session;

    if (!session_stale(session)) {
        if (session_is_overflow(session, reply)) {
            session->overflow = xrealloc(session->overflow, (session->overflow_count + 1) *
                                                                sizeof(*session->overflow));
            session->overflow[session->overflow_count++] = wait->rcpt;
            free(wait);
            session_reply(session, "250 2.1.5 Ok");
            return;
        }
        if (reply->code >= 200 && reply->code < 300)
            session->main_accepted++;
        else
            session_log_refusal(session, "RCPT", wait->rcpt.addr, reply);
        session_reply(session, reply->text);
    }
    free(wait->rcpt.addr);
    smtp_params_free(&wait->rcpt.params);
    free(wait);
}

/* Rules first (their reply is final), then the relay's own verdict. The
 * recipient is kept in check_rcpt while the rules wait for DNS. */
static void session_rcpt_check(void *arg)
{
    struct session *session = arg;
    struct rcpt_wait *wait;
    int disconnect;
    char *reply;

    if (!session_policy(session, RULES_STAGE_RCPT, session->check_rcpt.addr, session_rcpt_check,
                        &reply, &disconnect))
        return;
    if (reply != NULL) {
        free(session->check_rcpt.addr);
        session->check_rcpt.addr = NULL;
        smtp_params_free(&session->check_rcpt.params);
        session_rule_reply(session, reply, disconnect, 0);
        free(reply);
        return;
    }
    wait = xmalloc(sizeof(*wait));
    wait->session = session;
    wait->rcpt = session->check_rcpt; /* moved */
    memset(&session->check_rcpt, 0, sizeof(session->check_rcpt));
    smtp_client_rcpt(relay_client(session_relay(session)), &wait->rcpt, session_rcpt_done, wait);
}

static void session_on_rcpt(void *ctx, struct smtp_server *server, const struct smtp_rcpt *rcpt)
{
    struct session *session = ctx;

    (void)server;
    session->check_rcpt.addr = xstrdup(rcpt->addr);
    smtp_params_copy(&session->check_rcpt.params, &rcpt->params);
    session_rcpt_check(session);
}

static void session_data_check(void *arg)
{
    struct session *session = arg;
    int disconnect;
    char *reply;

    if (!session_policy(session, RULES_STAGE_DATA, NULL, session_data_check, &reply, &disconnect))
        return;
    if (reply != NULL) {
        session_rule_reply(session, reply, disconnect, 0);
        free(reply);
        return;
    }
    session_reply(session, "354 End data with <CR><LF>.<CR><LF>");
}

static void session_on_data(void *ctx, struct smtp_server *server)
{
    (void)server;
    session_data_check(ctx);
}

/* All transactions answered: one reply per recipient under LMTP (each gets
 * its own transaction's), one for all under SMTP. Under SMTP a failed batch
 * after a delivered one can only be reported for everyone: a 4yz means
 * Postfix delivers the delivered batch again (logged as such), which is
 * better than losing the failed one. */
static void session_overflow_reply(struct session *session)
{
    /* Replying ends the transaction, which clears these: detach them first. */
    char **replies = session->batch_replies;
    size_t *sizes = session->batch_sizes;
    size_t count = session->batch_count;
    const char *worst = replies[0];

    session->batch_replies = NULL;
    session->batch_sizes = NULL;
    session->batch_count = 0;
    for (size_t i = 1; i < count; i++) {
        const char *r = replies[i];
        if (r[0] != '2' && (worst[0] == '2' || r[0] == '4'))
            worst = r;
    }
    if (worst[0] != '2' && replies[0][0] == '2')
        msg_warn("%s: only part of the recipients delivered before a failure; "
                 "the retry will deliver some again",
                 session_queue_id(smtp_server_transaction(session->server)));
    session_log_outcome(session, session_status(atoi(worst)), worst);
    if (smtp_server_proto(session->server) != SMTP_SERVER_PROTO_LMTP) {
        smtp_server_reply(session->server, worst);
    } else {
        for (size_t i = 0; i < count; i++)
            for (size_t n = 0; n < sizes[i]; n++)
                smtp_server_reply(session->server, replies[i]);
    }
    session_schedule_resume(session);
    for (size_t i = 0; i < count; i++)
        free(replies[i]);
    free(replies);
    free(sizes);
}

static void session_overflow_next(struct session *session);

static void session_batch_record(struct session *session, const char *text, size_t size)
{
    size_t n = session->batch_count + 1;

    session->batch_replies = xrealloc(session->batch_replies, n * sizeof(char *));
    session->batch_sizes = xrealloc(session->batch_sizes, n * sizeof(size_t));
    session->batch_replies[session->batch_count] = xstrdup(text);
    session->batch_sizes[session->batch_count] = size;
    session->batch_count = n;
}

static void session_overflow_done(void *arg, const char *reply_text)
{
    struct session *session = arg;
    size_t batch = session->overflow_count - session->overflow_sent;

    session->divert = NULL;
    if (batch > session->main_accepted)
        batch = session->main_accepted;
    session_batch_record(session, reply_text, batch);
    session->overflow_sent += batch;
    session_overflow_next(session);
}

/* The next batch, no larger than what the relay took in one transaction. */
static void session_overflow_next(struct session *session)
{
    const struct smtp_transaction *tx = smtp_server_transaction(session->server);
    size_t batch = session->overflow_count - session->overflow_sent;

    if (batch == 0 || session->batch_replies[session->batch_count - 1][0] != '2') {
        /* Done, or a batch failed: the rest get that failure too. */
        if (batch > 0)
            session_batch_record(session, session->batch_replies[session->batch_count - 1], batch);
        session_overflow_reply(session);
        return;
    }
    if (batch > session->main_accepted)
        batch = session->main_accepted;
    struct divert_request request = {
        .base = session->env->base,
        .config = &session->env->relay_config,
        .xforward = &tx->xforward,
        .sender = tx->sender,
        .mail_params = &tx->mail_params,
        .rcpts = session->overflow + session->overflow_sent,
        .rcpt_count = batch,
        .content = session->overflow_message,
    };
    session->divert = divert_start(&request, session_overflow_done, session);
}

static void session_data_done(void *arg, const struct smtp_reply *reply)
{
    struct session *session = arg;

    if (session_stale(session))
        return;
    session->relay_tx_open = 0;
    if (session->overflow_count > 0) {
        session_batch_record(session, reply->text, session->main_accepted);
        session_overflow_next(session);
        return;
    }
    session_log_outcome(session, session_status(reply->code), reply->text);
    session_reply_message(session, reply->text);
}

static void session_divert_done(void *arg, const char *reply_text)
{
    struct session *session = arg;
    struct smtp_reply reply = {0, NULL};

    session->divert = NULL;
    smtp_reply_set(&reply, reply_text);
    session_log_outcome(session, session_status(reply.code), reply_text);
    session_reply_message(session, reply_text);
    smtp_reply_free(&reply);
}

/* HOLD, FILTER or REDIRECT: the message leaves on a connection of its own;
 * the recipient-by-recipient relay transaction is reset unused. */
static void session_divert(struct session *session, struct evbuffer *message)
{
    const struct smtp_transaction *tx = smtp_server_transaction(session->server);
    const struct session_env *env = session->env;
    struct policy_tx *policy = &session->policy;
    struct relay_config target = env->relay_config;
    struct smtp_rcpt *rcpts = NULL;
    size_t rcpt_count = tx->rcpt_count;
    char err[300];
    const char *why;

    if (policy->hold != NULL) {
        target = env->hold_relay_config;
        why = "hold";
    } else if (policy->redirect != NULL) {
        why = "redirect";
    } else {
        why = "filter";
        if (divert_parse_nexthop(policy->filter, &target, err, sizeof(err)) < 0) {
            const char *text = "451 4.3.5 Server configuration error";
            msg_warn("%s: %s", session_queue_id(tx), err);
            session_log_outcome(session, "deferred", text);
            session_reply_message(session, text);
            return;
        }
        target.name = policy->filter;
    }
    if (policy->hold == NULL && policy->redirect != NULL) {
        rcpts = xcalloc(1, sizeof(*rcpts));
        rcpts[0].addr = policy->redirect;
        smtp_params_init(&rcpts[0].params);
        rcpt_count = 1;
    }
    msg_info("%s: %s: %s", session_queue_id(tx), why,
             policy->hold       ? policy->hold
             : policy->redirect ? policy->redirect
                                : policy->filter);
    struct divert_request request = {
        .base = env->base,
        .config = &target,
        .xforward = &tx->xforward,
        .sender = tx->sender,
        .mail_params = &tx->mail_params,
        .rcpts = rcpts ? rcpts : tx->rcpts,
        .rcpt_count = rcpt_count,
        .content = message,
    };
    session->divert = divert_start(&request, session_divert_done, session);
    free(rcpts);
}

static void session_bcc_done(void *arg, const struct smtp_reply *reply)
{
    char *addr = arg;

    if (reply->code < 200 || reply->code >= 300)
        msg_warn("BCC recipient <%s> refused by the relay: %s", addr, reply->text);
    free(addr);
}

/* PREPEND headers go above everything, in the order they fired. */
static void session_prepend_headers(struct session *session, struct evbuffer *message)
{
    for (size_t i = session->policy.prepend_count; i-- > 0;) {
        struct evbuffer *line = evbuffer_new();
        evbuffer_add_printf(line, "%s\r\n", session->policy.prepend[i]);
        evbuffer_prepend_buffer(message, line);
        evbuffer_free(line);
    }
}

/* header/body checks; an edited message replaces the received one. */
static char *session_content(struct session *session, struct evbuffer *message,
                             const struct rules_query *query)
{
    const struct scand_params *params = session->env->params;
    const char *queue_id = session_queue_id(smtp_server_transaction(session->server));
    size_t len = evbuffer_get_length(message);
    const char *data;
    char *rewritten;
    size_t rewritten_len;
    struct attempt attempt;
    char *reply;
    int interrupted;

    if (content_rules_empty(params->content) && mime_rules_empty(params->mime))
        return NULL;
    data = (const char *)evbuffer_pullup(message, -1);
    interrupted = attempts_begin(params->state_directory, queue_id, data, len, &attempt);
    if (interrupted >= params->content_check_attempt_limit) {
        /* Checked and killed a worker that often: keep it, unchecked, for a human. */
        msg_warn("%s: content checks interrupted %d times (limit %d): holding the message "
                 "unchecked",
                 queue_id, interrupted, params->content_check_attempt_limit);
        if (session->policy.hold == NULL)
            session->policy.hold = xasprintf("content checks interrupted %d times", interrupted);
        attempts_end(&attempt);
        return NULL;
    }
    /* One deadline for all content work: past it SIGALRM ends this worker,
     * the connection drops, and Postfix keeps the message for a retry. */
    alarm((unsigned)params->content_check_time_limit);
    reply = policy_content(params->content, params->mime, data, len, query, &session->policy, NULL,
                           &rewritten, &rewritten_len);
    alarm(0);
    attempts_end(&attempt);
    if (rewritten != NULL) {
        evbuffer_drain(message, len);
        evbuffer_add(message, rewritten, rewritten_len);
        free(rewritten);
    }
    return reply;
}

static void session_deliver(struct session *session, struct evbuffer *message);

/* The end of data: restrictions (which may wait for DNS, the message kept
 * in check_message meanwhile), then content checks, then delivery. */
static void session_eod_check(void *arg)
{
    struct session *session = arg;
    struct evbuffer *message = session->check_message;
    struct rules_query query;
    int disconnect = 0;
    char *reply;

    /* Postfix's smtpd evaluates smtpd_end_of_data_restrictions before it
     * asks cleanup (where header/body checks ran) for the outcome, so a
     * restriction's reply wins over a content check's (smtpd.c data_cmd). */
    if (!session_policy(session, RULES_STAGE_END_OF_DATA, NULL, session_eod_check, &reply,
                        &disconnect))
        return;
    session->check_message = NULL;
    session_query(session, &query, NULL);
    if (reply == NULL)
        reply = session_content(session, message, &query);
    if (reply != NULL) {
        session_log_outcome(session, reply[0] == '4' ? "deferred" : "bounced", reply);
        session_rule_reply(session, reply, disconnect, 1);
        free(reply);
        return;
    }
    if (session->policy.discard != NULL) {
        /* Postfix's smtpd says "queued as" and cleanup drops it; say what happened. */
        const char *text = "250 2.0.0 Ok: discarded";
        session_log_outcome(session, "discarded", text);
        session_reply_message(session, text);
        return;
    }
    session_deliver(session, message);
}

static void session_deliver(struct session *session, struct evbuffer *message)
{
    const struct smtp_transaction *tx = smtp_server_transaction(session->server);
    const struct scand_params *params = session->env->params;
    struct trace_info info = {
        .helo = smtp_server_helo(session->server),
        .peer_addr = session->peer_addr,
        .myhostname = params->myhostname,
        .protocol = session_proto_name(session),
        .queue_id = smtp_xforward_unavailable(tx->xforward.ident) ? NULL : tx->xforward.ident,
        .recipient = tx->rcpt_count == 1 ? tx->rcpts[0].addr : NULL,
    };
    trace_prepend_received(message, &info);
    session_prepend_headers(session, message);
    if (session->policy.hold != NULL || session->policy.redirect != NULL ||
        session->policy.filter != NULL) {
        session_divert(session, message);
        return;
    }
    if (session->relay == NULL || !session->relay_tx_open || !relay_alive(session->relay)) {
        char *text = xasprintf("451 4.4.2 lost connection with relay %s before data",
                               session->env->relay_config.name);
        session_log_outcome(session, "deferred", text);
        session_reply_message(session, text);
        free(text);
        return;
    }
    for (size_t i = 0; i < session->policy.bcc_count; i++) {
        struct smtp_rcpt bcc = {.addr = session->policy.bcc[i]};
        smtp_params_init(&bcc.params);
        smtp_client_rcpt(relay_client(session->relay), &bcc, session_bcc_done, xstrdup(bcc.addr));
    }
    session->overflow_message = message;
    relay_expect_data(session->relay);
    smtp_client_data(relay_client(session->relay), message, session_data_done, session);
}

static void session_on_message(void *ctx, struct smtp_server *server, struct evbuffer *message)
{
    struct session *session = ctx;
    const struct smtp_transaction *tx = smtp_server_transaction(server);
    const struct scand_params *params = session->env->params;

    session->message_size = evbuffer_get_length(message);
    if (trace_count_received(message, (size_t)params->hopcount_limit) >
        (size_t)params->hopcount_limit) {
        const char *text = "554 5.4.6 Error: too many hops";
        msg_warn("%s: hopcount exceeded (more than %d Received: headers)", session_queue_id(tx),
                 params->hopcount_limit);
        session_log_outcome(session, "bounced", text);
        session_reply_message(session, text);
        return;
    }
    session->check_message = message;
    session_eod_check(session);
}

static void session_rset_done(void *arg, const struct smtp_reply *reply)
{
    (void)arg;
    (void)reply;
}

static void session_on_reset(void *ctx, struct smtp_server *server)
{
    struct session *session = ctx;

    (void)server;
    if (session->freeing)
        return;
    if (session->relay_tx_open && session->relay != NULL && relay_alive(session->relay))
        smtp_client_rset(relay_client(session->relay), session_rset_done, NULL);
    session->relay_tx_open = 0;
    /* Between transactions the relay connection belongs to the worker. */
    if (session->relay != NULL) {
        relay_pool_put(session->env->relay_pool, session->relay);
        session->relay = NULL;
    }
    if (session->policy_active) {
        policy_tx_free(&session->policy);
        session->policy_active = 0;
    }
    session_overflow_clear(session);
    session_dns_clear(session);
    if (session->draining)
        session_schedule_resume(session);
}

static void session_on_refused(void *ctx, struct smtp_server *server, const char *command,
                               const char *reply_text)
{
    struct session *session = ctx;
    const struct smtp_transaction *tx = smtp_server_transaction(server);

    msg_info("%s: reject: %s from %s[%s] (via %s): %s", session_queue_id(tx), command,
             tx_value(tx->xforward.name), tx_value(tx->xforward.addr), session->peer_addr,
             reply_text);
}

static const struct smtp_server_events session_events = {
    .mail = session_on_mail,
    .rcpt = session_on_rcpt,
    .data = session_on_data,
    .message = session_on_message,
    .reset = session_on_reset,
    .refused = session_on_refused,
};

struct session *session_new(const struct session_env *env, evutil_socket_t fd,
                            const struct sockaddr *peer, session_closed_fn closed, void *ctx)
{
    struct session *session = xcalloc(1, sizeof(*session));
    struct timeval timeout = {env->params->smtpd_timeout, 0};

    session->env = env;
    session->closed = closed;
    session->closed_ctx = ctx;
    if (peer->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)peer)->sin6_addr, session->peer_addr,
                  sizeof(session->peer_addr));
    else
        inet_ntop(AF_INET, &((const struct sockaddr_in *)peer)->sin_addr, session->peer_addr,
                  sizeof(session->peer_addr));
    /* Replies are small and answer a client that waits for them: Nagle's
     * algorithm would hold each one back for the previous one's ACK. */
    int one = 1;
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0)
        msg_debug("TCP_NODELAY: %s", strerror(errno));
    session->bev = bufferevent_socket_new(env->base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (session->bev == NULL)
        msg_fatal("bufferevent_socket_new: out of memory");
    session->resume = evtimer_new(env->base, session_resume_cb, session);
    if (session->resume == NULL)
        msg_fatal("evtimer_new: out of memory");
    session->server = smtp_server_new(&env->server_config, &session_events, session,
                                      bufferevent_get_output(session->bev));
    bufferevent_setcb(session->bev, session_read_cb, session_write_cb, session_event_cb, session);
    bufferevent_set_timeouts(session->bev, &timeout, &timeout);
    smtp_server_greet(session->server);
    bufferevent_enable(session->bev, EV_READ | EV_WRITE);
    return session;
}

int session_idle(const struct session *session)
{
    return !smtp_server_in_transaction(session->server) && !smtp_server_waiting(session->server);
}

void session_drain(struct session *session)
{
    session->draining = 1;
    if (session_idle(session))
        session_finish(session);
}
