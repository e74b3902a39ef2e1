/*
 * master.c - the supervising parent; see master.h.
 *
 * Policy, in the order it matters:
 *
 *  - The listening socket is bound before we get here and stays open until
 *    the master exits. Postfix treats a refused connection as a dead filter
 *    and stops filtering for a while, so no restart of a worker, and no
 *    reload, may ever close it.
 *  - Workers of the current generation are kept at process_limit. One that
 *    exits 0 (max_use reached, or drained) is replaced at once. One that
 *    dies otherwise is replaced after a backoff: 1 s, doubling up to 30 s
 *    while workers keep dying within 10 s of their start, back to 1 s once
 *    one has lived 10 s. A worker that crashes on every start (a bad rule
 *    file, say) thus costs one fork per 30 s, not a fork storm.
 *  - SIGHUP loads the file again. On error the message (with file and line)
 *    is logged and nothing changes. On success the new generation is
 *    started at once and the old one gets SIGTERM: old workers finish their
 *    sessions while new ones already accept.
 *  - SIGTERM or SIGINT: every worker gets SIGTERM and drain_timeout plus a
 *    margin to finish; whatever is left then gets SIGKILL (Postfix retries
 *    what it had not been answered 250 for), and the master exits 0.
 *
 * Signals arrive through a signalfd, with the signals blocked, so nothing
 * runs in signal context. Children unblock them before worker_main().
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "scand/master.h"
#include "scand/worker.h"
#include "util/msg.h"
#include "util/xalloc.h"

#define MASTER_BACKOFF_MIN 1
#define MASTER_TABLE_CHECK_INTERVAL 2 /* seconds */
#define MASTER_BACKOFF_MAX 30
#define MASTER_YOUNG 10       /* a worker dying younger than this counts as a crash loop */
#define MASTER_DRAIN_MARGIN 5 /* seconds beyond drain_timeout before SIGKILL */

struct master_worker {
    pid_t pid;
    unsigned generation;
    time_t started;
};

struct master {
    struct scand_params *params;
    int listen_fd;
    int signal_fd;
    unsigned generation;
    struct master_worker *workers;
    size_t count;
    size_t alloc;
    int backoff;       /* seconds before the next respawn after a crash */
    time_t respawn_at; /* no crash respawn before this */
    int stopping;
    time_t stop_deadline;
    time_t table_check_at; /* next look at the table files' mtimes */
};

static time_t master_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec;
}

static void master_signal_set(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGCHLD);
    sigaddset(set, SIGHUP);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
}

/* In the child: nothing of the master's signal handling may leak into the
 * worker, which sets up its own with libevent. SIGPIPE stays ignored as
 * main() set it: a peer that goes away mid-write must be an EPIPE that
 * becomes a 4yz, not a dead worker. */
static void master_child_signals(struct master *master)
{
    sigset_t empty;
    struct sigaction sa;
    static const int sigs[] = {SIGCHLD, SIGHUP, SIGTERM, SIGINT};

    close(master->signal_fd);
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_DFL;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
        sigaction(sigs[i], &sa, NULL);
    sigemptyset(&empty);
    sigprocmask(SIG_SETMASK, &empty, NULL);
}

static int master_spawn(struct master *master)
{
    pid_t pid = fork();

    if (pid < 0) {
        msg_warn("fork: %s", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        master_child_signals(master);
        msg_reopen();
        free(master->workers);
        exit(worker_main(master->params, master->listen_fd));
    }
    master->workers =
        xgrow(master->workers, &master->alloc, master->count + 1, sizeof(*master->workers));
    master->workers[master->count].pid = pid;
    master->workers[master->count].generation = master->generation;
    master->workers[master->count].started = master_now();
    master->count++;
    msg_info("worker %ld started", (long)pid);
    return 0;
}

static size_t master_current_workers(const struct master *master)
{
    size_t n = 0;

    for (size_t i = 0; i < master->count; i++)
        if (master->workers[i].generation == master->generation)
            n++;
    return n;
}

/* Bring the current generation up to process_limit, unless a crash
 * backoff is running. A failed fork counts as a crash. */
static void master_fill(struct master *master)
{
    if (master->stopping || master_now() < master->respawn_at)
        return;
    while (master_current_workers(master) < (size_t)master->params->process_limit) {
        if (master_spawn(master) < 0) {
            master->respawn_at = master_now() + master->backoff;
            break;
        }
    }
}

static void master_crashed(struct master *master, time_t lived)
{
    if (lived >= MASTER_YOUNG)
        master->backoff = MASTER_BACKOFF_MIN;
    /* Workers of one round that die together count as one failure, so the
     * backoff does not reach its cap process_limit times faster. */
    if (master_now() < master->respawn_at)
        return;
    master->respawn_at = master_now() + master->backoff;
    msg_warn("respawning in %d s", master->backoff);
    master->backoff *= 2;
    if (master->backoff > MASTER_BACKOFF_MAX)
        master->backoff = MASTER_BACKOFF_MAX;
}

static void master_exited(struct master *master, pid_t pid, int status)
{
    size_t i;

    for (i = 0; i < master->count && master->workers[i].pid != pid; i++)
        ;
    if (i == master->count) {
        msg_warn("reaped unknown process %ld", (long)pid);
        return;
    }
    struct master_worker worker = master->workers[i];
    master->workers[i] = master->workers[--master->count];

    if (WIFSIGNALED(status))
        msg_warn("worker %ld killed by signal %d", (long)pid, WTERMSIG(status));
    else if (WEXITSTATUS(status) != 0)
        msg_warn("worker %ld exited status %d", (long)pid, WEXITSTATUS(status));
    else
        msg_info("worker %ld exited status 0", (long)pid);

    if (master->stopping || worker.generation != master->generation)
        return;
    /* A clean exit is replaced by master_fill() at once. */
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        master_crashed(master, master_now() - worker.started);
}

static void master_reap(struct master *master)
{
    int status;
    pid_t pid;

    while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
        master_exited(master, pid, status);
}

static void master_kill_all(struct master *master, int sig, int old_only)
{
    for (size_t i = 0; i < master->count; i++)
        if (!old_only || master->workers[i].generation != master->generation)
            kill(master->workers[i].pid, sig);
}

static void master_reload(struct master *master)
{
    struct scand_params fresh;
    char err[1024];

    if (master->params->config_path == NULL) {
        msg_info("reload: no configuration file, nothing to reload");
        return;
    }
    if (params_load(master->params->config_path, &fresh, err, sizeof(err)) < 0) {
        msg_error("reload: %s; keeping the running configuration", err);
        return;
    }
    /* The socket stays as bound: closing it would refuse Postfix. */
    if (strcmp(fresh.listen, master->params->listen) != 0)
        msg_warn("reload: listen changed from %s to %s: takes effect only after a restart",
                 master->params->listen, fresh.listen);
    if (strcmp(fresh.user, master->params->user) != 0)
        msg_warn("reload: user changed: takes effect only after a restart");
    params_free(master->params);
    *master->params = fresh;
    master->generation++;
    master->backoff = MASTER_BACKOFF_MIN;
    master->respawn_at = 0;
    msg_info("reload: configuration %s loaded, replacing workers", master->params->config_path);
    master_kill_all(master, SIGTERM, 1);
    master_fill(master);
}

static void master_stop(struct master *master, int sig)
{
    if (master->stopping)
        return;
    master->stopping = 1;
    master->stop_deadline = master_now() + master->params->drain_timeout + MASTER_DRAIN_MARGIN;
    msg_info("SIG%s: stopping %zu workers", sigabbrev_np(sig), master->count);
    master_kill_all(master, SIGTERM, 0);
}

static void master_read_signals(struct master *master)
{
    struct signalfd_siginfo info;

    /* Bounded: the signalfd is non-blocking and each read consumes one. */
    while (read(master->signal_fd, &info, sizeof(info)) == (ssize_t)sizeof(info)) {
        switch (info.ssi_signo) {
        case SIGCHLD:
            break; /* reaped below, whatever the number of SIGCHLDs merged */
        case SIGHUP:
            if (!master->stopping)
                master_reload(master);
            break;
        case SIGTERM:
        case SIGINT:
            master_stop(master, (int)info.ssi_signo);
            break;
        default:
            break;
        }
    }
    master_reap(master);
}

/* Milliseconds until the next timed event, or -1 for none. */
static int master_timeout(const struct master *master)
{
    time_t now = master_now();
    time_t at;

    if (master->stopping)
        at = master->stop_deadline;
    else if (master_current_workers(master) < (size_t)master->params->process_limit &&
             master->respawn_at < master->table_check_at)
        at = master->respawn_at;
    else
        at = master->table_check_at;
    return at <= now ? 0 : (int)(at - now) * 1000;
}

/* A table file changed on disk: load everything again, as on SIGHUP, so an
 * edited access map takes effect without a restart (Postfix's daemons
 * notice changed tables the same way and restart themselves). */
static void master_check_tables(struct master *master)
{
    time_t now = master_now();

    if (master->stopping || now < master->table_check_at)
        return;
    master->table_check_at = now + MASTER_TABLE_CHECK_INTERVAL;
    if (params_tables_changed(master->params)) {
        msg_info("a table changed on disk; reloading");
        master_reload(master);
    }
}

static void master_kill_leftovers(struct master *master)
{
    int status;

    if (master->count == 0)
        return;
    msg_warn("drain deadline: killing %zu workers", master->count);
    master_kill_all(master, SIGKILL, 0);
    /* Bounded: SIGKILL cannot be ignored, each waitpid reaps one. */
    while (master->count > 0) {
        pid_t pid = waitpid(-1, &status, 0);
        if (pid < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        master_exited(master, pid, status);
    }
}

int master_run(struct scand_params *params, int listen_fd)
{
    struct master master;
    sigset_t set;

    memset(&master, 0, sizeof(master));
    master.params = params;
    master.listen_fd = listen_fd;
    master.backoff = MASTER_BACKOFF_MIN;
    master.table_check_at = master_now() + MASTER_TABLE_CHECK_INTERVAL;
    master_signal_set(&set);
    if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
        msg_fatal("sigprocmask: %s", strerror(errno));
    master.signal_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (master.signal_fd < 0)
        msg_fatal("signalfd: %s", strerror(errno));

    msg_info("starting %d workers on %s, relay %s", params->process_limit, params->listen,
             params->relay);
    master_fill(&master);
    while (!master.stopping || master.count > 0) {
        struct pollfd pfd = {master.signal_fd, POLLIN, 0};
        int n = poll(&pfd, 1, master_timeout(&master));
        if (n < 0 && errno != EINTR)
            msg_fatal("poll: %s", strerror(errno));
        if (n > 0)
            master_read_signals(&master);
        if (master.stopping && master.count > 0 && master_now() >= master.stop_deadline)
            master_kill_leftovers(&master);
        master_check_tables(&master);
        master_fill(&master);
    }
    msg_info("stopped");
    close(master.signal_fd);
    free(master.workers);
    return 0;
}
