/*
 * testmode.c - scand -t (see testmode.h for the output and exit status).
 *
 * The stages run in the order the live session runs them: RCPT for each
 * recipient, then, when at least one was accepted, DATA, the content
 * checks and END-OF-DATA. A rejection at DATA or END-OF-DATA refuses the
 * message, so it applies to every recipient accepted at RCPT. A 421/521
 * reply ends the session: nothing after it is evaluated.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>

#include <event2/event.h>

#include "rules/rules.h"
#include "smtp/smtp_envelope.h"
#include "scand/dns.h"
#include "scand/params.h"
#include "scand/policy.h"
#include "rules/content.h"
#include "rules/mime_rules.h"
#include "scand/testmode.h"
#include "util/msg.h"
#include "util/xalloc.h"

enum testmode_state {
    TESTMODE_ACCEPT,
    TESTMODE_REJECT, /* 5yz */
    TESTMODE_DEFER,  /* 4yz */
    TESTMODE_CLOSED, /* the session was closed by a 421/521 elsewhere */
};

struct testmode_rcpt {
    const char *address;
    enum testmode_state state;
    char *reply; /* REJECT/DEFER: the reply */
};

/* The message as scand would receive it: CRLF line ends, not dot-stuffed. */
struct testmode_message {
    char *data;
    size_t len;
    size_t cap;
};

struct testmode {
    const struct scand_params *params;
    struct rules_query query;
    struct policy_tx tx;
    struct testmode_rcpt *rcpts;
    size_t rcpt_count;
    size_t accepted;
    const char *closed_by; /* the 421/521 reply that ended the session */
    char client_addr[INET6_ADDRSTRLEN];
    FILE *err;
    FILE *pass_out;          /* explain lines of the current pass, while it may wait for DNS */
    struct event_base *base; /* DNS: the resolver's loop, when a rule needs DNS */
    struct dns *dns;
    int dns_spent_ms; /* the transaction's DNS budget, as in the session */
    int explain;
    int explain_lines;               /* lines the engine gave for the current block */
    FILE *print_message;             /* --print-message: where the relayed content goes */
    struct testmode_message message; /* the accepted message, for --print-message */
};

static const char *testmode_strip_brackets(const char *address, char *buf, size_t len)
{
    size_t n = strlen(address);

    if (n >= 2 && address[0] == '<' && address[n - 1] == '>' && n - 2 < len) {
        memcpy(buf, address + 1, n - 2);
        buf[n - 2] = '\0';
        return buf;
    }
    return address;
}

/* --explain: engine lines indented below the block header by their depth. */
static void testmode_explain_line(void *ctx, int depth, const char *text)
{
    struct testmode *tm = ctx;

    tm->explain_lines++;
    fprintf(tm->pass_out ? tm->pass_out : tm->err, "    %*s%s\n", depth > 0 ? depth * 2 : 0, "",
            text);
}

static void testmode_explain_header(struct testmode *tm, const char *stage, const char *detail)
{
    const struct rules_query *q = &tm->query;

    if (!tm->explain)
        return;
    tm->explain_lines = 0;
    fprintf(tm->err, "%s%s (client %s[%s], helo %s%s%s, from <%s>)\n", stage, detail,
            q->client_name, q->client_addr, q->helo ? "<" : "", q->helo ? q->helo : "none",
            q->helo ? ">" : "", q->sender);
}

static void testmode_explain_result(struct testmode *tm, const char *reply)
{
    if (!tm->explain)
        return;
    if (tm->explain_lines == 0)
        fprintf(tm->err, "    (no restriction evaluated)\n");
    if (reply == NULL)
        fprintf(tm->err, "  => accept\n\n");
    else
        fprintf(tm->err, "  => %s %s\n\n", reply[0] == '4' ? "defer" : "reject", reply);
}

static void testmode_dns_done(void *arg)
{
    *(int *)arg = 1;
}

/* Run the resolver's loop until the waiter has its answers. */
static void testmode_dns_wait(struct testmode *tm, struct dns_waiter *waiter)
{
    int done = 0;

    dns_waiter_wait(waiter, testmode_dns_done, &done);
    while (!done)
        if (event_base_loop(tm->base, EVLOOP_ONCE) < 0)
            msg_fatal("event_base_loop failed");
}

/* One stage through the daemon's own policy call, in passes while DNS
 * answers come in (one waiter per check and a budget per transaction, as
 * in the session). Only the deciding pass's explain lines are shown: it
 * sees every answer the earlier passes waited for. */
static char *testmode_stage(struct testmode *tm, enum rules_stage stage, int *disconnect)
{
    struct rules_explain explain = {.line = testmode_explain_line, .ctx = tm};
    struct dns_waiter *waiter = NULL;
    int start_lines = tm->explain_lines;
    char *reply;
    int pending;

    if (tm->dns != NULL) {
        int left = tm->params->dns_message_time_limit * 1000 - tm->dns_spent_ms;
        waiter = dns_waiter_new(tm->dns);
        dns_waiter_set_time_limit(waiter, left > 0 ? left : 0);
        tm->query.dns = dns_waiter_rules(waiter);
    }
    for (;;) {
        char *pass_text = NULL;
        size_t pass_len = 0;

        tm->explain_lines = start_lines;
        tm->pass_out = tm->explain ? open_memstream(&pass_text, &pass_len) : NULL;
        reply = policy_check(tm->params->rules, stage, &tm->query, &tm->tx,
                             tm->explain ? &explain : NULL, disconnect, &pending);
        if (tm->pass_out != NULL) {
            fclose(tm->pass_out);
            tm->pass_out = NULL;
            if (!pending)
                fwrite(pass_text, 1, pass_len, tm->err);
            free(pass_text);
        }
        if (!pending)
            break;
        testmode_dns_wait(tm, waiter);
    }
    if (waiter != NULL) {
        tm->dns_spent_ms += dns_waiter_time_spent(waiter);
        dns_waiter_free(waiter);
        tm->query.dns = NULL;
    }
    testmode_explain_result(tm, reply);
    return reply;
}

static enum testmode_state testmode_state_of(const char *reply)
{
    return reply[0] == '4' ? TESTMODE_DEFER : TESTMODE_REJECT;
}

/* A 421/521 closes the session: every recipient without its own refusal
 * is lost for this attempt, and the sending Postfix defers it. */
static void testmode_close(struct testmode *tm, const char *reply)
{
    tm->closed_by = reply;
    for (size_t i = 0; i < tm->rcpt_count; i++)
        if (tm->rcpts[i].state == TESTMODE_ACCEPT && tm->rcpts[i].reply == NULL)
            tm->rcpts[i].state = TESTMODE_CLOSED;
}

static void testmode_rcpt_stage(struct testmode *tm, struct testmode_rcpt *rcpt)
{
    char detail[1024];
    int disconnect;
    char *reply;

    snprintf(detail, sizeof(detail), " TO:<%s>", rcpt->address);
    tm->query.recipient = rcpt->address;
    tm->query.rcpt_count = tm->accepted;
    testmode_explain_header(tm, "RCPT", detail);
    reply = testmode_stage(tm, RULES_STAGE_RCPT, &disconnect);
    if (reply == NULL) {
        rcpt->state = TESTMODE_ACCEPT;
        tm->accepted++;
        return;
    }
    rcpt->state = testmode_state_of(reply);
    rcpt->reply = reply;
    if (disconnect)
        testmode_close(tm, reply);
}

/* A refusal of the whole message: every accepted recipient gets it. */
static void testmode_refuse_message(struct testmode *tm, const char *reply)
{
    for (size_t i = 0; i < tm->rcpt_count; i++) {
        struct testmode_rcpt *rcpt = &tm->rcpts[i];
        if (rcpt->state != TESTMODE_ACCEPT)
            continue;
        rcpt->state = testmode_state_of(reply);
        rcpt->reply = xstrdup(reply);
    }
}

static void testmode_message_add(struct testmode_message *msg, const char *text, size_t len)
{
    if (msg->len + len + 1 > msg->cap) {
        msg->cap = (msg->len + len + 1) * 2;
        msg->data = xrealloc(msg->data, msg->cap);
    }
    memcpy(msg->data + msg->len, text, len);
    msg->len += len;
    msg->data[msg->len] = '\0';
}

/* LF or CRLF in, CRLF kept: what the session would have after DATA. */
static void testmode_read_message(FILE *in, struct testmode_message *msg)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;

    memset(msg, 0, sizeof(*msg));
    testmode_message_add(msg, "", 0);
    while ((n = getline(&line, &cap, in)) > 0) {
        size_t len = (size_t)n;
        if (line[len - 1] == '\n')
            len--;
        if (len > 0 && line[len - 1] == '\r')
            len--;
        testmode_message_add(msg, line, len);
        testmode_message_add(msg, "\r\n", 2);
    }
    free(line);
}

/* The content stage: header/body checks, then the MIME rules, as the
 * daemon runs them; an edited message replaces the one read. */
static char *testmode_content_stage(struct testmode *tm, struct testmode_message *msg)
{
    struct rules_explain explain = {.line = testmode_explain_line, .ctx = tm};
    char *rewritten;
    size_t rewritten_len;
    char *reply;

    if (content_rules_empty(tm->params->content) && mime_rules_empty(tm->params->mime))
        return NULL;
    testmode_explain_header(tm, "CONTENT", "");
    reply = policy_content(tm->params->content, tm->params->mime, msg->data, msg->len, &tm->query,
                           &tm->tx, tm->explain ? &explain : NULL, &rewritten, &rewritten_len);
    testmode_explain_result(tm, reply);
    if (rewritten != NULL) {
        free(msg->data);
        msg->data = rewritten;
        msg->len = msg->cap = rewritten_len;
    }
    return reply;
}

/* --print-message: the content as scand would relay it (before the trace
 * header and PREPENDs of access maps, which the daemon adds on the way). */
static void testmode_print_message(struct testmode *tm, const struct testmode_message *msg)
{
    if (tm->print_message == NULL)
        return;
    fputs("--- message as relayed ---\n", tm->print_message);
    fwrite(msg->data, 1, msg->len, tm->print_message);
}

/* DATA, END-OF-DATA, content: stops at the first refusal. */
static void testmode_message_stages(struct testmode *tm, FILE *in)
{
    struct testmode_message msg;
    char detail[64];
    int disconnect = 0;
    char *reply;

    tm->query.recipient = NULL;
    tm->query.rcpt_count = tm->accepted;
    testmode_explain_header(tm, "DATA", "");
    reply = testmode_stage(tm, RULES_STAGE_DATA, &disconnect);
    if (reply == NULL) {
        testmode_read_message(in, &msg);
        tm->query.message_size = msg.len;
        /* End-of-data restrictions first, then the content checks, as
         * Postfix's smtpd and the daemon order them. */
        snprintf(detail, sizeof(detail), " (size %zu)", msg.len);
        testmode_explain_header(tm, "END-OF-DATA", detail);
        reply = testmode_stage(tm, RULES_STAGE_END_OF_DATA, &disconnect);
        if (reply == NULL)
            reply = testmode_content_stage(tm, &msg);
        if (reply == NULL) {
            tm->message = msg; /* relayed: kept for --print-message */
            msg.data = NULL;
        }
        free(msg.data);
    }
    if (reply != NULL) {
        testmode_refuse_message(tm, reply);
        free(reply);
    }
}

static void testmode_print_quoted(FILE *out, const char *text)
{
    fputc('"', out);
    for (const char *p = text; *p; p++) {
        if (*p == '"' || *p == '\\')
            fputc('\\', out);
        fputc(*p, out);
    }
    fputc('"', out);
}

/* "(reason "x", filter t:n, redirect a, bcc b, prepend "H: v")" or nothing. */
static void testmode_print_effects(struct testmode *tm, FILE *out)
{
    const struct policy_tx *tx = &tm->tx;
    const char *reason = tx->discard ? tx->discard : tx->hold;
    const char *sep = " (";

    if (reason != NULL && reason[0] != '\0') {
        fprintf(out, "%sreason ", sep);
        testmode_print_quoted(out, reason);
        sep = ", ";
    }
    if (tx->filter != NULL) {
        fprintf(out, "%sfilter %s", sep, tx->filter);
        sep = ", ";
    }
    if (tx->redirect != NULL) {
        fprintf(out, "%sredirect %s", sep, tx->redirect);
        sep = ", ";
    }
    for (size_t i = 0; i < tx->bcc_count; i++) {
        fprintf(out, "%sbcc %s", sep, tx->bcc[i]);
        sep = ", ";
    }
    for (size_t i = 0; i < tx->prepend_count; i++) {
        fprintf(out, "%sprepend ", sep);
        testmode_print_quoted(out, tx->prepend[i]);
        sep = ", ";
    }
    if (sep[0] == ',')
        fputc(')', out);
}

static void testmode_print(struct testmode *tm, FILE *out)
{
    for (size_t i = 0; i < tm->rcpt_count; i++) {
        const struct testmode_rcpt *rcpt = &tm->rcpts[i];
        fprintf(out, "%s: ", rcpt->address);
        switch (rcpt->state) {
        case TESTMODE_REJECT:
            fprintf(out, "reject %s", rcpt->reply);
            break;
        case TESTMODE_DEFER:
            fprintf(out, "defer %s", rcpt->reply);
            break;
        case TESTMODE_CLOSED:
            fprintf(out, "defer (session closed after %.3s)", tm->closed_by);
            break;
        case TESTMODE_ACCEPT:
            fputs(tm->tx.discard ? "discard" : tm->tx.hold ? "hold" : "accept", out);
            testmode_print_effects(tm, out);
            break;
        }
        fputc('\n', out);
    }
    fflush(out);
}

static int testmode_status(const struct testmode *tm)
{
    int rejected = 0;

    for (size_t i = 0; i < tm->rcpt_count; i++) {
        if (tm->rcpts[i].state == TESTMODE_DEFER || tm->rcpts[i].state == TESTMODE_CLOSED)
            return EX_TEMPFAIL;
        if (tm->rcpts[i].state == TESTMODE_REJECT)
            rejected = 1;
    }
    return rejected ? EX_UNAVAILABLE : 0;
}

static void testmode_query(struct testmode *tm, const struct testmode_options *opts,
                           char *sender_buf, size_t sender_len)
{
    const char *addr = policy_client_addr(opts->client_addr ? opts->client_addr : "unknown",
                                          tm->client_addr, sizeof(tm->client_addr));

    /* As the session reads XFORWARD: [UNAVAILABLE] and [TEMPUNAVAIL] are "unknown". */
    tm->query.client_name =
        opts->client_name == NULL || smtp_xforward_unavailable(opts->client_name)
            ? "unknown"
            : opts->client_name;
    tm->query.client_addr = addr;
    tm->query.helo = opts->helo;
    tm->query.protocol = opts->protocol ? opts->protocol : "ESMTP";
    tm->query.sender = testmode_strip_brackets(opts->sender, sender_buf, sender_len);
}

/* The same resolver a worker has, on a loop of our own. */
static int testmode_dns_setup(struct testmode *tm)
{
    struct dns_config config;
    char err[256];

    tm->base = event_base_new();
    if (tm->base == NULL)
        msg_fatal("event_base_new failed");
    params_dns_config(tm->params, &config);
    tm->dns = dns_new(tm->base, &config, err, sizeof(err));
    if (tm->dns == NULL) {
        msg_error("DNS resolver: %s", err);
        event_base_free(tm->base);
        tm->base = NULL;
        return -1;
    }
    return 0;
}

int testmode_run(const struct scand_params *params, const struct testmode_options *opts, FILE *in,
                 FILE *out, FILE *err)
{
    struct testmode tm;
    char sender[1024];
    char(*rcpt_bufs)[1024];
    int status;

    memset(&tm, 0, sizeof(tm));
    mime_rules_process_init();
    tm.params = params;
    tm.err = err;
    tm.print_message = opts->print_message ? out : NULL;
    tm.explain = opts->explain;
    testmode_query(&tm, opts, sender, sizeof(sender));
    if (rules_need_dns(params->rules) && testmode_dns_setup(&tm) < 0)
        return EX_CONFIG;
    policy_tx_init(&tm.tx, "NOQUEUE");
    tm.rcpt_count = opts->rcpt_count;
    tm.rcpts = xcalloc(opts->rcpt_count ? opts->rcpt_count : 1, sizeof(*tm.rcpts));
    rcpt_bufs = xcalloc(opts->rcpt_count ? opts->rcpt_count : 1, sizeof(*rcpt_bufs));
    for (size_t i = 0; i < tm.rcpt_count; i++) {
        tm.rcpts[i].address =
            testmode_strip_brackets(opts->rcpts[i], rcpt_bufs[i], sizeof(rcpt_bufs[i]));
        tm.rcpts[i].state = TESTMODE_CLOSED;
    }

    for (size_t i = 0; i < tm.rcpt_count && tm.closed_by == NULL; i++)
        testmode_rcpt_stage(&tm, &tm.rcpts[i]);
    if (tm.accepted > 0 && tm.closed_by == NULL)
        testmode_message_stages(&tm, in);

    testmode_print(&tm, out);
    if (tm.message.data != NULL)
        testmode_print_message(&tm, &tm.message);
    free(tm.message.data);
    status = testmode_status(&tm);
    for (size_t i = 0; i < tm.rcpt_count; i++)
        free(tm.rcpts[i].reply);
    free(tm.rcpts);
    free(rcpt_bufs);
    policy_tx_free(&tm.tx);
    if (tm.dns != NULL)
        dns_free(tm.dns);
    if (tm.base != NULL)
        event_base_free(tm.base);
    return status;
}
