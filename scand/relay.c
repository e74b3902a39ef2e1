/*
 * relay.c - one connection to the relay (see relay.h).
 *
 * Failure policy: whatever goes wrong on this connection (connect refused,
 * reset, EOF, a reply that does not come in time, a malformed reply, the
 * relay greeting with our own name) completes every command still waiting
 * with a 4yz reply that names the relay and what failed, as Postfix's smtp
 * client reports such trouble (smtp_trouble.c): never a 5yz, because the
 * message is intact in Postfix's queue and a retry may well succeed.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "util/msg.h"
#include "util/xalloc.h"
#include "scand/relay.h"

struct relay {
    struct event_base *base;
    struct relay_config config_copy; /* the caller's may go before we do */
    char *name;
    const struct relay_config *config;
    struct bufferevent *bev;
    struct smtp_client *client;
    int connected;
    int alive;
    int released;
    int expecting_data;
    struct event *reaper; /* frees the relay from the event loop */
};

static void relay_schedule_free(struct relay *relay);

static void relay_set_timeouts(struct relay *relay)
{
    struct timeval rtv = {0, 0};
    struct timeval wtv = {0, 0};

    if (!relay->connected) {
        wtv.tv_sec = relay->config->connect_timeout;
        rtv.tv_sec = relay->config->connect_timeout;
    } else if (!smtp_client_ready(relay->client)) {
        rtv.tv_sec = wtv.tv_sec = relay->config->helo_timeout;
    } else if (relay->expecting_data) {
        rtv.tv_sec = wtv.tv_sec = relay->config->data_timeout;
    } else {
        rtv.tv_sec = wtv.tv_sec = relay->config->command_timeout;
    }
    bufferevent_set_timeouts(relay->bev, &rtv, &wtv);
}

/* The connection is unusable: every waiting command gets reply_text. */
static void relay_fail(struct relay *relay, const char *reply_text)
{
    if (!relay->alive)
        return;
    relay->alive = 0;
    bufferevent_disable(relay->bev, EV_READ | EV_WRITE);
    smtp_client_abort(relay->client, reply_text);
    if (relay->released)
        relay_schedule_free(relay);
}

static void relay_read_cb(struct bufferevent *bev, void *arg)
{
    struct relay *relay = arg;

    if (smtp_client_input(relay->client, bufferevent_get_input(bev)) < 0) {
        char *text = xasprintf("451 4.4.2 relay %s: malformed reply, closing connection",
                               relay->config->name);
        msg_warn("relay %s: malformed reply", relay->config->name);
        relay_fail(relay, text);
        free(text);
        return;
    }
    if (!relay->alive)
        return;
    if (smtp_client_idle(relay->client))
        relay->expecting_data = 0;
    relay_set_timeouts(relay);
}

static void relay_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct relay *relay = arg;
    char *text;

    (void)bev;
    if (what & BEV_EVENT_CONNECTED) {
        relay->connected = 1;
        relay_set_timeouts(relay);
        return;
    }
    if (!relay->connected) {
        int err = EVUTIL_SOCKET_ERROR();
        const char *why = (what & BEV_EVENT_TIMEOUT) ? "connection timed out"
                          : err                      ? strerror(err)
                                                     : "connection failed";
        text = xasprintf("451 4.4.1 connect to relay %s: %s", relay->config->name, why);
    } else if (what & BEV_EVENT_TIMEOUT) {
        text = xasprintf("451 4.4.2 conversation with relay %s timed out", relay->config->name);
    } else {
        text = xasprintf("451 4.4.2 lost connection with relay %s", relay->config->name);
    }
    if (!smtp_client_idle(relay->client) && !relay->released)
        msg_warn("%s", text + 10);
    relay_fail(relay, text);
    free(text);
}

static void relay_write_cb(struct bufferevent *bev, void *arg)
{
    struct relay *relay = arg;

    /* Only armed after release: QUIT is out, the connection can go. */
    if (relay->released && evbuffer_get_length(bufferevent_get_output(bev)) == 0) {
        relay->alive = 0;
        relay_schedule_free(relay);
    }
}

static void relay_ready_cb(void *ctx, struct smtp_client *client, const struct smtp_reply *failure)
{
    struct relay *relay = ctx;

    (void)client;
    if (failure == NULL)
        return;
    /* The client has already completed the queued commands with failure. */
    if (!relay->alive)
        return; /* relay_fail() is reporting it */
    msg_warn("relay %s: %s", relay->config->name, failure->text);
    relay->alive = 0;
    bufferevent_disable(relay->bev, EV_READ | EV_WRITE);
    if (relay->released)
        relay_schedule_free(relay);
}

static const struct smtp_client_events relay_client_events = {
    .ready = relay_ready_cb,
};

struct relay *relay_open(struct event_base *base, const struct relay_config *config)
{
    struct relay *relay = xcalloc(1, sizeof(*relay));
    struct smtp_client_config client_config = {
        .myhostname = config->myhostname,
        .lmtp = 0,
        .reply_limit = 64 * 1024,
    };

    relay->base = base;
    relay->config_copy = *config;
    relay->name = xstrdup(config->name);
    relay->config_copy.name = relay->name;
    relay->config = &relay->config_copy;
    config = relay->config;
    relay->alive = 1;
    relay->bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (relay->bev == NULL)
        msg_fatal("bufferevent_socket_new: out of memory");
    relay->client = smtp_client_new(&client_config, &relay_client_events, relay,
                                    bufferevent_get_output(relay->bev));
    bufferevent_setcb(relay->bev, relay_read_cb, NULL, relay_event_cb, relay);
    relay_set_timeouts(relay);
    bufferevent_enable(relay->bev, EV_READ | EV_WRITE);
    if (bufferevent_socket_connect(relay->bev, (const struct sockaddr *)&config->addr,
                                   (int)config->addr_len) == 0) {
        /* Pipelined commands go out as one write; no Nagle wait for an ACK. */
        int one = 1;
        evutil_socket_t fd = bufferevent_getfd(relay->bev);
        if (fd >= 0 && setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0)
            msg_debug("TCP_NODELAY: %s", strerror(errno));
    } else {
        /* Reported from the event loop so that callers see one path. */
        relay->connected = 0;
        char *text = xasprintf("451 4.4.1 connect to relay %s: %s", config->name,
                               strerror(errno ? errno : ECONNREFUSED));
        msg_warn("%s", text + 10);
        relay->alive = 0;
        smtp_client_abort(relay->client, text);
        free(text);
    }
    return relay;
}

struct smtp_client *relay_client(struct relay *relay)
{
    return relay->client;
}

int relay_alive(const struct relay *relay)
{
    return relay->alive;
}

void relay_expect_data(struct relay *relay)
{
    relay->expecting_data = 1;
    if (relay->alive)
        relay_set_timeouts(relay);
}

static void relay_reap_cb(evutil_socket_t fd, short what, void *arg)
{
    struct relay *relay = arg;

    (void)fd;
    (void)what;
    event_free(relay->reaper);
    bufferevent_free(relay->bev);
    smtp_client_free(relay->client);
    free(relay->name);
    free(relay);
}

static void relay_schedule_free(struct relay *relay)
{
    static const struct timeval now = {0, 0};

    if (relay->reaper != NULL)
        return;
    relay->reaper = evtimer_new(relay->base, relay_reap_cb, relay);
    if (relay->reaper == NULL)
        msg_fatal("evtimer_new: out of memory");
    evtimer_add(relay->reaper, &now);
}

void relay_release(struct relay *relay)
{
    static const struct timeval quit_grace = {5, 0};

    relay->released = 1;
    if (relay->alive && smtp_client_ready(relay->client) && smtp_client_idle(relay->client)) {
        smtp_client_quit(relay->client);
        bufferevent_setcb(relay->bev, NULL, relay_write_cb, relay_event_cb, relay);
        bufferevent_set_timeouts(relay->bev, &quit_grace, &quit_grace);
        bufferevent_enable(relay->bev, EV_WRITE);
        return;
    }
    if (relay->alive) {
        char *text = xasprintf("451 4.3.0 relay %s: transaction abandoned", relay->config->name);
        relay_fail(relay, text);
        free(text);
    }
    relay_schedule_free(relay);
}
