/*
 * msg.h - the one logging and error vocabulary.
 *
 *  msg_info   something worth a log line (every decision, every outcome)
 *  msg_warn   recoverable trouble; the caller goes on
 *  msg_fatal  startup or configuration trouble: log and exit(1)
 *  msg_panic  a broken invariant: log and abort()
 *
 * Inside a session, runtime failures never call msg_fatal: they become a
 * 4yz reply. Lines go to syslog (facility mail) or, after
 * msg_use_stderr(), to stderr, prefixed with the program name and pid as
 * Postfix does ("scand[1234]: ...").
 *
 * Added (issue 6): every line is sanitised before it is written: control
 * characters (CR, LF, ESC, TAB, ..., DEL) become '?', so that a value from
 * the wire can never forge a log line or talk to a terminal; bytes from
 * 0x80 up are kept (UTF-8 addresses).
 */
#ifndef SCAND_UTIL_MSG_H
#define SCAND_UTIL_MSG_H

#include <stdarg.h>

/* Set once by main before anything logs. ident is kept, not copied. */
void msg_open(const char *ident, int use_stderr);
/* A worker calls this after fork so that lines carry its own pid. */
void msg_reopen(void);
/* Log below this priority is dropped; verbose adds debug lines. */
void msg_set_verbose(int verbose);
int msg_verbose(void);

void msg_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void msg_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void msg_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void msg_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void msg_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void msg_panic(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
