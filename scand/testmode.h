/*
 * testmode.h - scand -t: run one envelope (and message) through every rule
 * stage without relaying, and say what the daemon would do.
 *
 *   scand -c FILE -t [--client-name NAME] [--client-addr ADDR] [--helo NAME]
 *         [--protocol ESMTP] [--explain] [--print-message] -f SENDER -- RCPT... < message
 *
 * Decisions come from policy_check(), the same call the live session makes,
 * so test mode cannot disagree with the daemon on a verdict.
 *
 * Output, one line per recipient on stdout, in command-line order:
 *
 *   RCPT: accept
 *   RCPT: accept (filter smtp:[127.0.0.1]:10030, prepend "X-Seen: yes")
 *   RCPT: reject 554 5.7.1 <a@qq.com>: Sender address rejected: 521
 *   RCPT: defer 450 4.7.1 <b@example.com>: Recipient address rejected: ...
 *   RCPT: discard
 *   RCPT: discard (reason "spam trap")
 *   RCPT: hold (reason "review", filter scan:[127.0.0.1]:10025)
 *
 * reject is a 5yz reply, defer a 4yz reply. Message-level outcomes (DISCARD,
 * HOLD, and a DATA or END-OF-DATA rejection) apply to every recipient that
 * was accepted at RCPT; a recipient refused at RCPT keeps its own reply.
 * DISCARD wins over HOLD (the message is dropped, there is nothing to
 * hold). Side effects are listed in parentheses, in this order: the
 * DISCARD/HOLD text as reason "...", filter NEXTHOP, redirect ADDRESS,
 * bcc ADDRESS (each), prepend "HEADER" (each, in firing order).
 *
 * A 421/521 reply closes the session in Postfix and in scand: that
 * recipient shows the reply, and every other recipient (accepted before,
 * or not yet tried) shows "defer (session closed after NNN)", which is
 * what the sending Postfix then does with them.
 *
 * The message is read from stdin only when some recipient was accepted;
 * LF and CRLF line ends are both accepted, and the size the END-OF-DATA
 * stage sees is counted with CRLF line ends, as received over SMTP.
 *
 * --explain writes on stderr, per recipient and stage, every restriction
 * the engine evaluated, indented by nesting depth. Policy log lines
 * (NOQUEUE: reject: ...) also go to stderr; stdout carries only results.
 *
 * Exit status (sysexits): 75 when any recipient was deferred, else 69 when
 * any was rejected, else 0.
 */
#ifndef SCAND_TESTMODE_H
#define SCAND_TESTMODE_H

#include <stddef.h>
#include <stdio.h>

struct scand_params;

struct testmode_options {
    const char *client_name; /* NULL: "unknown" */
    const char *client_addr; /* NULL: "unknown"; "IPv6:" prefix accepted, IPv6 compressed */
    const char *helo;        /* NULL: the client sent no HELO */
    const char *protocol;    /* NULL: "ESMTP" */
    const char *sender;      /* "" or "<>" for the null sender; <...> stripped */
    char **rcpts;            /* <...> stripped */
    size_t rcpt_count;
    int explain;
    int print_message; /* --print-message: the relayed content after the results */
};

/* Run the envelope; message read from in, results to out, explain to err.
 * Returns the exit status (0, EX_UNAVAILABLE 69, EX_TEMPFAIL 75). */
int testmode_run(const struct scand_params *params, const struct testmode_options *opts, FILE *in,
                 FILE *out, FILE *err);

#endif
