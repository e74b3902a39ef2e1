/*
 * worker.c - one preforked worker (see worker.h).
 *
 * Idle connections: Postfix's smtp client caches idle connections to the
 * filter and may hold more of them than the scan transport's maxproc. A
 * worker therefore multiplexes sessions on its event loop instead of
 * serving one at a time: a session between transactions is a file
 * descriptor and a few hundred bytes, and never occupies the worker while
 * another connection has work. worker_session_limit bounds the sessions of
 * one worker; at the limit it stops accepting until one ends, and the other
 * workers (or the kernel's backlog) take the next connection.
 *
 * Who may talk to us: a peer outside authorized_client_networks is answered
 * "554 5.7.1" and closed before a byte of it is read, logged as Postfix logs
 * a client rejected at connect. A peer outside
 * smtpd_authorized_xforward_hosts gets a session whose EHLO does not offer
 * XFORWARD and whose XFORWARD commands are refused: the original client it
 * claims would otherwise be what every restriction trusts.
 */
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "util/msg.h"
#include "util/xalloc.h"
#include "rules/mime_rules.h"
#include "scand/listen.h"
#include "scand/session.h"
#include "scand/worker.h"

struct worker_conn {
    struct worker *worker;
    struct session *session;
    TAILQ_ENTRY(worker_conn) link;
};

struct worker {
    struct event_base *base;
    struct evconnlistener *listener;
    struct session_env env;      /* for peers allowed to send XFORWARD */
    struct session_env env_noxf; /* the same, with XFORWARD refused */
    struct listen_acl *clients;  /* authorized_client_networks */
    struct listen_acl *xforward; /* smtpd_authorized_xforward_hosts */
    TAILQ_HEAD(, worker_conn) conns;
    int nconns;
    int served;    /* sessions accepted, for max_use */
    int accepting; /* listener enabled */
    int draining;  /* SIGTERM: no new sessions, exit when the last ends */
    struct event *sigterm;
    struct event *deadline;
};

static void worker_update_listener(struct worker *worker)
{
    const struct scand_params *params = worker->env.params;
    int want = !worker->draining && worker->served < params->max_use &&
               worker->nconns < params->worker_session_limit;

    if (want && !worker->accepting)
        evconnlistener_enable(worker->listener);
    else if (!want && worker->accepting)
        evconnlistener_disable(worker->listener);
    worker->accepting = want;
    if (!want && worker->nconns == 0 && (worker->draining || worker->served >= params->max_use))
        event_base_loopexit(worker->base, NULL);
}

static void worker_conn_closed(void *ctx)
{
    struct worker_conn *conn = ctx;
    struct worker *worker = conn->worker;

    TAILQ_REMOVE(&worker->conns, conn, link);
    worker->nconns--;
    free(conn);
    worker_update_listener(worker);
}

/* A peer outside authorized_client_networks: Postfix's reply and log line
 * for a client rejected at connect (smtpd_client_restrictions = reject with
 * smtpd_delay_reject = no), then close. RFC 5321 3.1 would have us wait
 * for QUIT and answer 503 meanwhile; a peer we do not trust gets no
 * conversation at all (one best-effort write on a fresh socket, whose
 * buffer is empty). */
static void worker_refuse(evutil_socket_t fd, const struct sockaddr *peer)
{
    char addr[INET6_ADDRSTRLEN];
    char reply[200];
    int len;

    listen_addr_text(peer, addr, sizeof(addr));
    len = snprintf(reply, sizeof(reply),
                   "554 5.7.1 <unknown[%s]>: Client host rejected: Access denied", addr);
    msg_info("NOQUEUE: reject: CONNECT from unknown[%s]: %s; proto=SMTP", addr, reply);
    memcpy(reply + len, "\r\n", 2);
    if (send(fd, reply, (size_t)len + 2, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
        msg_debug("reply to unknown[%s]: %s", addr, strerror(errno));
    evutil_closesocket(fd);
}

static void worker_accept_cb(struct evconnlistener *listener, evutil_socket_t fd,
                             struct sockaddr *peer, int peer_len, void *arg)
{
    struct worker *worker = arg;
    struct worker_conn *conn;
    const struct session_env *env;

    (void)listener;
    (void)peer_len;
    if (!listen_acl_match(worker->clients, peer)) {
        worker_refuse(fd, peer);
        return;
    }
    env = listen_acl_match(worker->xforward, peer) ? &worker->env : &worker->env_noxf;
    conn = xcalloc(1, sizeof(*conn));
    conn->worker = worker;
    TAILQ_INSERT_TAIL(&worker->conns, conn, link);
    worker->nconns++;
    worker->served++;
    conn->session = session_new(env, fd, peer, worker_conn_closed, conn);
    /* Recycling after max_use: stop accepting and exit once the sessions we
     * have end by themselves (Postfix closes an idle cached connection
     * after smtp_connection_cache_time_limit). Closing them here would race
     * with a client about to send its next command. */
    worker_update_listener(worker);
}

static void worker_accept_error_cb(struct evconnlistener *listener, void *arg)
{
    int err = EVUTIL_SOCKET_ERROR();

    (void)listener;
    (void)arg;
    /* EMFILE and friends: log, the listener retries on the next event. */
    msg_warn("accept: %s", evutil_socket_error_to_string(err));
}

static void worker_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    struct worker *worker = arg;

    (void)fd;
    (void)what;
    msg_warn("drain deadline reached with %d session(s) open; closing them", worker->nconns);
    event_base_loopexit(worker->base, NULL);
}

static void worker_sigterm_cb(evutil_socket_t fd, short what, void *arg)
{
    struct worker *worker = arg;
    struct timeval deadline = {worker->env.params->drain_timeout, 0};
    struct worker_conn *conn;
    struct worker_conn *next;

    (void)fd;
    (void)what;
    if (worker->draining)
        return;
    worker->draining = 1;
    msg_debug("draining %d session(s)", worker->nconns);
    evtimer_add(worker->deadline, &deadline);
    /* session_drain may free idle sessions later, never under this loop. */
    for (conn = TAILQ_FIRST(&worker->conns); conn != NULL; conn = next) {
        next = TAILQ_NEXT(conn, link);
        session_drain(conn->session);
    }
    worker_update_listener(worker);
}

static int worker_setup_env(struct worker *worker, const struct scand_params *params)
{
    char err[256];
    struct session_env *env = &worker->env;

    env->base = worker->base;
    env->params = params;
    env->server_config.myhostname = params->myhostname;
    env->server_config.message_size_limit = params->message_size_limit;
    env->server_config.recipient_limit = params->smtpd_recipient_limit;
    env->server_config.command_line_limit = params->command_line_limit;
    env->server_config.data_line_limit = params->data_line_limit;
    if (listen_parse_address(params->relay, &env->relay_config.addr, &env->relay_config.addr_len,
                             err, sizeof(err)) < 0) {
        msg_error("relay: %s", err);
        return -1;
    }
    env->relay_config.name = params->relay;
    env->relay_config.myhostname = params->myhostname;
    env->relay_config.connect_timeout = params->smtp_connect_timeout;
    env->relay_config.helo_timeout = params->smtp_helo_timeout;
    env->relay_config.command_timeout = params->smtp_rcpt_timeout;
    env->relay_config.data_timeout = params->smtp_data_done_timeout;
    env->hold_relay_config = env->relay_config;
    env->hold_relay_config.name = params->hold_relay;
    if (listen_parse_address(params->hold_relay, &env->hold_relay_config.addr,
                             &env->hold_relay_config.addr_len, err, sizeof(err)) < 0) {
        msg_error("hold_relay: %s", err);
        return -1;
    }
    /* params_load checked both lists: a failure here is a broken invariant. */
    worker->clients = listen_acl_parse(params->authorized_client_networks, err, sizeof(err));
    worker->xforward = listen_acl_parse(params->smtpd_authorized_xforward_hosts, err, sizeof(err));
    if (worker->clients == NULL || worker->xforward == NULL)
        msg_panic("authorized networks: %s", err);
    return 0;
}

/* A resolver only when some rule may need DNS: then every session of the
 * worker shares its cache. */
static void worker_setup_dns(struct worker *worker, const struct scand_params *params)
{
    struct dns_config config;
    char err[256];

    if (!rules_need_dns(params->rules))
        return;
    params_dns_config(params, &config);
    worker->env.dns = dns_new(worker->base, &config, err, sizeof(err));
    /* Without a resolver every lookup is a temporary failure: DNS lists do
     * not match and unknown-domain checks defer, so nothing is wrongly
     * rejected, and rules without DNS keep working. */
    if (worker->env.dns == NULL)
        msg_error("DNS resolver: %s: DNS lookups will fail temporarily", err);
}

int worker_main(const struct scand_params *params, int listen_fd)
{
    struct worker worker;
    struct worker_conn *conn;
    int cut;

    /* main.c switched to `user` before the master started; a worker that
     * parses the wire as root is a broken promise, not a configuration. */
    if (geteuid() == 0 || getuid() == 0)
        msg_fatal("worker running as root; refusing to serve");
    /* Reload is the master's job; a group-wide SIGHUP must not kill us. */
    signal(SIGHUP, SIG_IGN);
    mime_rules_process_init();
    memset(&worker, 0, sizeof(worker));
    TAILQ_INIT(&worker.conns);
    /* The base is made after fork (event_reinit would be needed otherwise). */
    worker.base = event_base_new();
    if (worker.base == NULL)
        msg_fatal("event_base_new failed");
    if (worker_setup_env(&worker, params) < 0)
        return 1;
    worker.env.relay_pool = relay_pool_new(worker.base, &worker.env.relay_config,
                                           params->smtp_connection_cache_time_limit);
    worker_setup_dns(&worker, params);
    /* A session keeps its env for life; both live as long as the worker.
     * Copied last: every field of env must be set before this line. */
    worker.env_noxf = worker.env;
    worker.env_noxf.server_config.xforward_denied = 1;
    worker.listener = evconnlistener_new(worker.base, worker_accept_cb, &worker,
                                         LEV_OPT_CLOSE_ON_EXEC | LEV_OPT_DISABLED, 0, listen_fd);
    if (worker.listener == NULL)
        msg_fatal("evconnlistener_new failed");
    evconnlistener_set_error_cb(worker.listener, worker_accept_error_cb);
    worker.sigterm = evsignal_new(worker.base, SIGTERM, worker_sigterm_cb, &worker);
    worker.deadline = evtimer_new(worker.base, worker_deadline_cb, &worker);
    if (worker.sigterm == NULL || worker.deadline == NULL)
        msg_fatal("event_new failed");
    evsignal_add(worker.sigterm, NULL);
    worker_update_listener(&worker);

    event_base_dispatch(worker.base);

    /* Whatever is left at the deadline is cut: Postfix still has the mail. */
    cut = !TAILQ_EMPTY(&worker.conns);
    while ((conn = TAILQ_FIRST(&worker.conns)) != NULL) {
        TAILQ_REMOVE(&worker.conns, conn, link);
        free(conn);
    }
    evconnlistener_free(worker.listener);
    event_free(worker.sigterm);
    event_free(worker.deadline);
    relay_pool_free(worker.env.relay_pool);
    listen_acl_free(worker.clients);
    listen_acl_free(worker.xforward);
    /* Released relays send QUIT and free themselves from their own events
     * (bounded by the relay's QUIT grace): let them finish, so the worker
     * exits without leaks, unless sessions were cut and still have events. */
    /* The resolver's sockets would keep the loop below alive. Cut sessions
     * may still hold waiters: then it stays, as they do. */
    if (worker.env.dns != NULL && !cut)
        dns_free(worker.env.dns);
    if (!cut)
        event_base_dispatch(worker.base);
    event_base_free(worker.base);
    return 0;
}
