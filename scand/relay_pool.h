/*
 * relay_pool.h - a worker's idle relay connections, shared by its sessions.
 *
 * A session holds a relay connection only for the length of a transaction.
 * Between transactions Postfix keeps its connection to scand open (its
 * connection cache), and if every such idle session kept its relay
 * connection too, each would hold one of the 10026 smtpd's processes: with
 * more cached connections than that smtpd's maxproc, new transactions would
 * wait for a process that only an idle session could free. So a finished
 * transaction gives its connection back here, the next transaction of any
 * session of the worker takes it, and a connection idle for longer than
 * smtp_connection_cache_time_limit is closed, as Postfix's own smtp client
 * does with its cache.
 */
#ifndef SCAND_RELAY_POOL_H
#define SCAND_RELAY_POOL_H

#include <event2/event.h>

#include "scand/relay.h"

struct relay_pool;

/* config is copied by each relay; idle_limit in seconds. */
struct relay_pool *relay_pool_new(struct event_base *base, const struct relay_config *config,
                                  int idle_limit);
/* Release every pooled connection. */
void relay_pool_free(struct relay_pool *pool);
/* A pooled connection that is still alive, or a new one. */
struct relay *relay_pool_get(struct relay_pool *pool);
/* The caller's transaction is over (its RSET may still be queued): keep an
 * alive, ready connection for reuse, release anything else. */
void relay_pool_put(struct relay_pool *pool, struct relay *relay);

#endif
