/* relay_pool.c - idle relay connections shared by a worker (see relay_pool.h). */
#include <stdlib.h>
#include <time.h>

#include "util/msg.h"
#include "util/xalloc.h"
#include "smtp/smtp_client.h"
#include "scand/relay_pool.h"

struct pooled {
    struct relay *relay;
    time_t since;
};

struct relay_pool {
    struct event_base *base;
    const struct relay_config *config;
    int idle_limit;
    struct pooled *idle; /* most recently used last */
    size_t count;
    size_t alloc;
    struct event *sweeper;
};

static time_t pool_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec;
}

/* Drop entry i (order kept: the oldest are at the front). */
static void pool_remove(struct relay_pool *pool, size_t i)
{
    for (size_t j = i + 1; j < pool->count; j++)
        pool->idle[j - 1] = pool->idle[j];
    pool->count--;
}

static void pool_sweep_cb(evutil_socket_t fd, short what, void *arg)
{
    struct relay_pool *pool = arg;
    time_t now = pool_now();
    static const struct timeval second = {1, 0};

    (void)fd;
    (void)what;
    for (size_t i = 0; i < pool->count;) {
        struct pooled *p = &pool->idle[i];
        if (!relay_alive(p->relay) || now - p->since >= pool->idle_limit) {
            struct relay *relay = p->relay;
            pool_remove(pool, i);
            relay_release(relay);
        } else {
            i++;
        }
    }
    if (pool->count > 0)
        evtimer_add(pool->sweeper, &second);
}

struct relay_pool *relay_pool_new(struct event_base *base, const struct relay_config *config,
                                  int idle_limit)
{
    struct relay_pool *pool = xcalloc(1, sizeof(*pool));

    pool->base = base;
    pool->config = config;
    pool->idle_limit = idle_limit;
    pool->sweeper = evtimer_new(base, pool_sweep_cb, pool);
    if (pool->sweeper == NULL)
        msg_fatal("evtimer_new: out of memory");
    return pool;
}

void relay_pool_free(struct relay_pool *pool)
{
    for (size_t i = 0; i < pool->count; i++)
        relay_release(pool->idle[i].relay);
    event_free(pool->sweeper);
    free(pool->idle);
    free(pool);
}

struct relay *relay_pool_get(struct relay_pool *pool)
{
    /* The most recently used first: the one least likely to have timed out. */
    while (pool->count > 0) {
        struct relay *relay = pool->idle[--pool->count].relay;
        if (relay_alive(relay))
            return relay;
        relay_release(relay);
    }
    return relay_open(pool->base, pool->config);
}

void relay_pool_put(struct relay_pool *pool, struct relay *relay)
{
    static const struct timeval second = {1, 0};

    if (!relay_alive(relay) || !smtp_client_ready(relay_client(relay)) || pool->idle_limit <= 0) {
        relay_release(relay);
        return;
    }
    pool->idle = xgrow(pool->idle, &pool->alloc, pool->count + 1, sizeof(*pool->idle));
    pool->idle[pool->count].relay = relay;
    pool->idle[pool->count].since = pool_now();
    pool->count++;
    if (!evtimer_pending(pool->sweeper, NULL))
        evtimer_add(pool->sweeper, &second);
}
