/*
 * master.h - the supervising parent: prefork, respawn, reload, stop.
 *
 * The master only supervises (like Postfix's master(8)): it keeps
 * process_limit workers alive on the already-bound listening socket, which
 * stays open for the whole life of the daemon, so Postfix never sees a
 * refused connection while workers come and go.
 *
 *  - a worker that exits 0 (max_use reached, or drained) is replaced at once;
 *  - a worker that dies otherwise is replaced after a backoff that doubles
 *    from 1 s up to 30 s while workers keep dying young, and resets once a
 *    worker has lived 10 s;
 *  - SIGHUP: the configuration is loaded and checked again; on error the
 *    error is logged with file:line and nothing changes; on success new
 *    workers start with the new configuration and the old ones get SIGTERM
 *    (they stop accepting, finish in-flight sessions and exit);
 *  - SIGTERM/SIGINT: workers get SIGTERM, the master waits for them up to
 *    drain_timeout plus a margin, then SIGKILLs what is left and exits.
 */
#ifndef SCAND_MASTER_H
#define SCAND_MASTER_H

#include "scand/params.h"

/* Run until stopped; params is replaced on a successful reload. Returns the
 * process exit status. */
int master_run(struct scand_params *params, int listen_fd);

#endif
