/*
 * worker.h - one preforked worker process.
 *
 * A worker makes its own event base after fork and multiplexes up to
 * worker_session_limit sessions on it: a session between transactions
 * (Postfix's cached idle connection) costs only a file descriptor, so idle
 * connections never keep a busy one waiting. It accepts from the shared
 * listening socket, stops accepting after max_use sessions and exits when
 * they are done. SIGTERM: stop accepting, close idle sessions, let in-flight
 * transactions finish up to drain_timeout, exit 0.
 */
#ifndef SCAND_WORKER_H
#define SCAND_WORKER_H

#include "scand/params.h"

/* The child's entry point after fork. Returns the exit status. */
int worker_main(const struct scand_params *params, int listen_fd);

#endif
