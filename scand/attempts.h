/*
 * attempts.h - messages whose content check never finishes.
 *
 * The content checks of one message run under content_check_time_limit;
 * a worker that overruns it is killed by SIGALRM (GMime 3.2.13 can loop
 * forever on a crafted parameter; a POSIX regexp with back-references can
 * run for minutes), its connection drops, and Postfix retries the message
 * later. So that such a message does not loop between Postfix and scand for
 * ever, each check is recorded on disk before it starts (a file named by the
 * upstream queue id and a digest of the content) and the record removed when
 * it ends: a record still there when the same message comes back counts one
 * interrupted attempt. After content_check_attempt_limit of them the message
 * is held without being checked again, logged, and counted.
 */
#ifndef SCAND_ATTEMPTS_H
#define SCAND_ATTEMPTS_H

#include <stddef.h>

struct attempt {
    char path[512]; /* empty when bookkeeping is off (no state directory) */
};

/* Record the start of a check; returns how many earlier attempts at the
 * same message were interrupted (0 for a new one, or when off). */
int attempts_begin(const char *state_dir, const char *queue_id, const char *data, size_t len,
                   struct attempt *attempt);
/* The check finished: forget the message. */
void attempts_end(struct attempt *attempt);

#endif
