/*
 * test_smtp_server.c - the server session against a fake owner.
 *
 * The owner answers either inside the event callback (sync) or after
 * smtp_server_input() has returned (async, as the daemon does when the
 * relay has to answer first). Every expected reply text was checked
 * against Postfix 3.7 smtpd (see the header comment of smtp_server.c for
 * the deliberate differences).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/buffer.h>

#include "smtp/smtp_server.h"

#define GREETING "220 scand.test ESMTP scand\r\n"
#define EHLO_REPLY                                                                                 \
    "250-scand.test\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n"                                    \
    "250-XFORWARD NAME ADDR PROTO HELO SOURCE PORT IDENT\r\n"                                      \
    "250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n250 SMTPUTF8\r\n"

enum pending { P_NONE, P_MAIL, P_RCPT, P_DATA, P_MESSAGE };

struct owner {
    struct smtp_server *server;
    int async;
    enum pending pending;
    char *rcpt; /* the RCPT being decided */
    struct evbuffer *log;
};

static const struct smtp_server_config default_config = {
    .myhostname = "scand.test",
    .message_size_limit = 10240000,
    .recipient_limit = 1000,
    .command_line_limit = 2048,
    .data_line_limit = 10000,
};

static const char *value(const char *s)
{
    return s ? s : "-";
}

static void answer(struct owner *o)
{
    enum pending what = o->pending;
    const struct smtp_transaction *tx = smtp_server_transaction(o->server);

    o->pending = P_NONE;
    switch (what) {
    case P_NONE:
        break;
    case P_MAIL:
        smtp_server_reply(o->server, strncmp(tx->sender, "reject", 6) == 0
                                         ? "550 5.7.1 Sender rejected"
                                         : "250 2.1.0 Ok");
        break;
    case P_RCPT:
        if (strncmp(o->rcpt, "bad", 3) == 0)
            smtp_server_replyf(o->server, "550 5.1.1 <%s>: Recipient address rejected", o->rcpt);
        else if (strncmp(o->rcpt, "multi", 5) == 0)
            smtp_server_reply(o->server, "250-2.1.5 first\n2.1.5 se\001cond\r\n250 2.1.5 third");
        else
            smtp_server_reply(o->server, "250 2.1.5 Ok");
        free(o->rcpt);
        o->rcpt = NULL;
        break;
    case P_DATA:
        if (tx->sender && strncmp(tx->sender, "nodata", 6) == 0)
            smtp_server_reply(o->server, "554 5.7.1 No data for you");
        else
            smtp_server_reply(o->server, "354 End data with <CR><LF>.<CR><LF>");
        break;
    case P_MESSAGE:
        if (smtp_server_proto(o->server) == SMTP_SERVER_PROTO_LMTP) {
            size_t n = tx->rcpt_count;
            char **addrs = calloc(n, sizeof(*addrs));

            for (size_t i = 0; i < n; i++)
                addrs[i] = strdup(tx->rcpts[i].addr);
            for (size_t i = 0; i < n; i++) {
                smtp_server_replyf(o->server, "250 2.0.0 <%s> Ok", addrs[i]);
                free(addrs[i]);
            }
            free(addrs);
        } else {
            smtp_server_reply(o->server, "250 2.0.0 Ok: queued as TEST");
        }
        break;
    }
}

static void on_mail(void *ctx, struct smtp_server *server)
{
    struct owner *o = ctx;
    const struct smtp_transaction *tx = smtp_server_transaction(server);

    evbuffer_add_printf(o->log, "mail <%s> size=%lld name=%s addr=%s helo=%s\n", tx->sender,
                        tx->mail_params.size, value(tx->xforward.name), value(tx->xforward.addr),
                        value(tx->xforward.helo));
    o->pending = P_MAIL;
    if (!o->async)
        answer(o);
}

static void on_rcpt(void *ctx, struct smtp_server *server, const struct smtp_rcpt *rcpt)
{
    struct owner *o = ctx;

    (void)server;
    evbuffer_add_printf(o->log, "rcpt <%s> notify=%s\n", rcpt->addr, value(rcpt->params.notify));
    o->rcpt = strdup(rcpt->addr);
    o->pending = P_RCPT;
    if (!o->async)
        answer(o);
}

static void on_data(void *ctx, struct smtp_server *server)
{
    struct owner *o = ctx;

    evbuffer_add_printf(o->log, "data nrcpt=%zu\n", smtp_server_transaction(server)->rcpt_count);
    o->pending = P_DATA;
    if (!o->async)
        answer(o);
}

static void on_message(void *ctx, struct smtp_server *server, struct evbuffer *message)
{
    struct owner *o = ctx;

    (void)server;
    evbuffer_add_printf(o->log, "message %zu [", evbuffer_get_length(message));
    evbuffer_add(o->log, evbuffer_pullup(message, -1), evbuffer_get_length(message));
    evbuffer_add_printf(o->log, "]\n");
    o->pending = P_MESSAGE;
    if (!o->async)
        answer(o);
}

static void on_reset(void *ctx, struct smtp_server *server)
{
    struct owner *o = ctx;

    (void)server;
    evbuffer_add_printf(o->log, "reset\n");
}

static void on_refused(void *ctx, struct smtp_server *server, const char *command,
                       const char *reply)
{
    struct owner *o = ctx;

    (void)server;
    evbuffer_add_printf(o->log, "refused %s: %s\n", command, reply);
}

static const struct smtp_server_events events = {
    on_mail, on_rcpt, on_data, on_message, on_reset, on_refused,
};

static char *take_string(struct evbuffer *buf)
{
    size_t len = evbuffer_get_length(buf);
    char *s = malloc(len + 1);

    evbuffer_remove(buf, s, len);
    s[len] = '\0';
    return s;
}

struct result {
    char *output;
    char *log;
    int rc; /* last smtp_server_input() result */
};

/* Run until the server needs more input; the async owner answers here. */
static int pump(struct owner *o, struct evbuffer *in)
{
    int rc = 0;

    for (int i = 0; i < 100000; i++) {
        rc = smtp_server_input(o->server, in);
        if (rc < 0 || o->pending == P_NONE)
            return rc;
        answer(o);
    }
    fail_msg("pump did not settle");
    return rc;
}

/* Feed input cut at split (0: in one piece). */
static struct result converse_cfg(const struct smtp_server_config *cfg, const char *input,
                                  size_t len, size_t split, int async)
{
    struct owner o = {0};
    struct evbuffer *out = evbuffer_new();
    struct evbuffer *in = evbuffer_new();
    struct result r;

    o.async = async;
    o.log = evbuffer_new();
    o.server = smtp_server_new(cfg, &events, &o, out);
    smtp_server_greet(o.server);
    if (split > 0 && split < len) {
        evbuffer_add(in, input, split);
        r.rc = pump(&o, in);
        evbuffer_add(in, input + split, len - split);
    } else {
        evbuffer_add(in, input, len);
    }
    r.rc = pump(&o, in);
    smtp_server_free(o.server);
    free(o.rcpt);
    r.output = take_string(out);
    r.log = take_string(o.log);
    evbuffer_free(out);
    evbuffer_free(in);
    evbuffer_free(o.log);
    return r;
}

static void result_free(struct result *r)
{
    free(r->output);
    free(r->log);
}

/* Run sync and async; both must give exactly the expected output. */
static void expect_cfg(const struct smtp_server_config *cfg, const char *input,
                       const char *expected)
{
    for (int async = 0; async < 2; async++) {
        struct result r = converse_cfg(cfg, input, strlen(input), 0, async);

        assert_string_equal(r.output, expected);
        result_free(&r);
    }
}

static void expect(const char *input, const char *expected)
{
    expect_cfg(&default_config, input, expected);
}

/* The last reply line the session wrote, without CRLF. */
static char *last_line(const char *output)
{
    size_t len = strlen(output);
    const char *end = output + len - 2;
    const char *start = end;

    while (start > output && start[-1] != '\n')
        start--;
    return strndup(start, (size_t)(end - start));
}

struct reply_case {
    const char *label;
    const char *setup; /* commands before, their replies not checked */
    const char *command;
    const char *reply;
};

static void run_reply_cases(const struct reply_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char *input;
        struct result r;
        char *line;

        print_message("case: %s\n", cases[i].label);
        if (asprintf(&input, "%s%s\r\n", cases[i].setup, cases[i].command) < 0)
            fail();
        r = converse_cfg(&default_config, input, strlen(input), 0, 0);
        line = last_line(r.output);
        assert_string_equal(line, cases[i].reply);
        free(line);
        free(input);
        result_free(&r);
    }
}

/* ------------------------------------------------------------------ */

static void test_greeting_and_ehlo(void **state)
{
    (void)state;
    expect("EHLO client.example\r\nQUIT\r\n", GREETING EHLO_REPLY "221 2.0.0 Bye\r\n");
}

static void test_ehlo_size_zero(void **state)
{
    struct smtp_server_config cfg = default_config;
    struct result r;

    (void)state;
    cfg.message_size_limit = 0;
    r = converse_cfg(&cfg, "EHLO c\r\n", 8, 0, 0);
    assert_non_null(strstr(r.output, "\r\n250-SIZE\r\n"));
    result_free(&r);
}

static void test_helo_lhlo(void **state)
{
    (void)state;
    expect("HELO\r\nEHLO\r\nLHLO\r\nHELO client\r\nLHLO client\r\n",
           GREETING "501 Syntax: HELO hostname\r\n501 Syntax: EHLO hostname\r\n"
                    "501 Syntax: LHLO hostname\r\n250 scand.test\r\n" EHLO_REPLY);
}

static void test_sequence_errors(void **state)
{
    (void)state;
    expect("MAIL FROM:<a@b>\r\nNOOP\r\nRCPT TO:<a@b>\r\nDATA\r\nVRFY x\r\nFOO\r\nRSET\r\nRSET "
           "x\r\nQUIT\r\n",
           GREETING "503 5.5.1 Error: send HELO/EHLO first\r\n250 2.0.0 Ok\r\n"
                    "503 5.5.1 Error: need MAIL command\r\n503 5.5.1 Error: need RCPT command\r\n"
                    "502 5.5.1 VRFY command is disabled\r\n"
                    "500 5.5.2 Error: command not recognized\r\n250 2.0.0 Ok\r\n"
                    "501 5.5.4 Syntax: RSET\r\n221 2.0.0 Bye\r\n");
    expect("HELO x\r\nRCPT TO:<a@b>\r\nDATA\r\nMAIL FROM:<a@b>\r\nMAIL FROM:<a@b>\r\nDATA\r\n"
           "RCPT TO:<a@b>\r\nDATA x\r\n",
           GREETING "250 scand.test\r\n503 5.5.1 Error: need MAIL command\r\n"
                    "503 5.5.1 Error: need RCPT command\r\n250 2.1.0 Ok\r\n"
                    "503 5.5.1 Error: nested MAIL command\r\n"
                    "554 5.5.1 Error: no valid recipients\r\n250 2.1.5 Ok\r\n"
                    "501 5.5.4 Syntax: DATA\r\n");
}

static void test_full_transaction(void **state)
{
    const char *input = "EHLO c\r\nMAIL FROM:<s@x> SIZE=100\r\nRCPT TO:<r@y> NOTIFY=NEVER\r\n"
                        "RCPT TO:<bad@y>\r\nDATA\r\nSubject: t\r\n\r\n..dot\r\n.\r\nQUIT\r\n";

    (void)state;
    for (int async = 0; async < 2; async++) {
        struct result r = converse_cfg(&default_config, input, strlen(input), 0, async);

        assert_string_equal(r.output, GREETING EHLO_REPLY
                            "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
                            "550 5.1.1 <bad@y>: Recipient address rejected\r\n"
                            "354 End data with <CR><LF>.<CR><LF>\r\n"
                            "250 2.0.0 Ok: queued as TEST\r\n221 2.0.0 Bye\r\n");
        assert_string_equal(r.log, "reset\n"
                                   "mail <s@x> size=100 name=- addr=- helo=-\n"
                                   "rcpt <r@y> notify=NEVER\nrcpt <bad@y> notify=-\n"
                                   "data nrcpt=1\n"
                                   "message 20 [Subject: t\r\n\r\n.dot\r\n]\nreset\nreset\n");
        assert_int_equal(r.rc, -1);
        result_free(&r);
    }
}

static void test_data_refused_by_owner(void **state)
{
    (void)state;
    expect("HELO c\r\nMAIL FROM:<nodata@x>\r\nRCPT TO:<r@y>\r\nDATA\r\nfoo\r\n",
           GREETING "250 scand.test\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
                    "554 5.7.1 No data for you\r\n500 5.5.2 Error: command not recognized\r\n");
}

static const struct reply_case mail_rcpt_cases[] = {
    {"MAIL plain", "EHLO c\r\n", "MAIL FROM:<a@b>", "250 2.1.0 Ok"},
    {"MAIL all params", "EHLO c\r\n",
     "MAIL FROM:<a@b> SIZE=10 BODY=8BITMIME SMTPUTF8 RET=HDRS ENVID=x+2By", "250 2.1.0 Ok"},
    {"MAIL BODY=7BIT", "EHLO c\r\n", "MAIL FROM:<a@b> body=7bit", "250 2.1.0 Ok"},
    {"MAIL null sender", "EHLO c\r\n", "MAIL FROM:<>", "250 2.1.0 Ok"},
    {"MAIL bare address", "EHLO c\r\n", "MAIL FROM:a@b", "250 2.1.0 Ok"},
    {"MAIL syntax", "EHLO c\r\n", "MAIL", "501 5.5.4 Syntax: MAIL FROM:<address>"},
    {"MAIL bad address", "EHLO c\r\n", "MAIL FROM:<a@b", "501 5.1.7 Bad sender address syntax"},
    {"MAIL unknown option", "EHLO c\r\n", "MAIL FROM:<a@b> FOO",
     "555 5.5.4 Unsupported option: FOO"},
    {"MAIL bad BODY", "EHLO c\r\n", "MAIL FROM:<a@b> BODY=foo",
     "555 5.5.4 Unsupported option: BODY=foo"},
    {"MAIL bad SIZE", "EHLO c\r\n", "MAIL FROM:<a@b> SIZE=x", "501 5.5.4 Bad message size syntax"},
    {"MAIL SIZE over limit", "EHLO c\r\n", "MAIL FROM:<a@b> SIZE=10240001",
     "552 5.3.4 Message size exceeds fixed limit"},
    {"MAIL SIZE at limit", "EHLO c\r\n", "MAIL FROM:<a@b> SIZE=10240000", "250 2.1.0 Ok"},
    {"MAIL bad RET", "EHLO c\r\n", "MAIL FROM:<a@b> RET=x", "501 5.5.4 Bad RET parameter syntax"},
    {"MAIL AUTH ignored", "EHLO c\r\n", "MAIL FROM:<a@b> AUTH=<>", "250 2.1.0 Ok"},
    {"MAIL bad ENVID", "EHLO c\r\n", "MAIL FROM:<a@b> ENVID=a+2",
     "501 5.5.4 Bad ENVID parameter syntax"},
    {"RCPT plain", "EHLO c\r\nMAIL FROM:<a@b>\r\n", "RCPT TO:<a@b>", "250 2.1.5 Ok"},
    {"RCPT DSN params", "EHLO c\r\nMAIL FROM:<a@b>\r\n",
     "RCPT TO:<a@b> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;a+40b", "250 2.1.5 Ok"},
    {"RCPT syntax", "EHLO c\r\nMAIL FROM:<a@b>\r\n", "RCPT", "501 5.5.4 Syntax: RCPT TO:<address>"},
    {"RCPT empty", "EHLO c\r\nMAIL FROM:<a@b>\r\n", "RCPT TO:<>",
     "501 5.1.3 Bad recipient address syntax"},
    {"RCPT bad NOTIFY", "EHLO c\r\nMAIL FROM:<a@b>\r\n", "RCPT TO:<a@b> NOTIFY=x",
     "501 5.5.4 Error: Bad NOTIFY parameter syntax"},
    {"RCPT bad ORCPT", "EHLO c\r\nMAIL FROM:<a@b>\r\n", "RCPT TO:<a@b> ORCPT=foo",
     "501 5.5.4 Error: Bad ORCPT parameter syntax"},
    {"RCPT unknown option", "EHLO c\r\nMAIL FROM:<a@b>\r\n", "RCPT TO:<a@b> FOO=1",
     "555 5.5.4 Unsupported option: FOO=1"},
    {"RCPT without MAIL", "EHLO c\r\n", "RCPT TO:<a@b>", "503 5.5.1 Error: need MAIL command"},
    {"NOOP with args", "", "NOOP x y", "250 2.0.0 Ok"},
    {"lower-case verb", "", "noop", "250 2.0.0 Ok"},
    {"empty line", "", "", "500 5.5.2 Error: bad syntax"},
    {"STARTTLS not offered", "EHLO c\r\n", "STARTTLS", "500 5.5.2 Error: command not recognized"},
    {"BDAT not offered", "EHLO c\r\n", "BDAT 1 LAST", "500 5.5.2 Error: command not recognized"},
};

static void test_mail_rcpt_replies(void **state)
{
    (void)state;
    run_reply_cases(mail_rcpt_cases, sizeof(mail_rcpt_cases) / sizeof(mail_rcpt_cases[0]));
}

static const struct reply_case xforward_cases[] = {
    {"before HELO is fine", "", "XFORWARD NAME=x.example", "250 2.0.0 Ok"},
    {"all attributes", "",
     "XFORWARD NAME=mx.example ADDR=192.0.2.7 PORT=25 PROTO=ESMTP HELO=h IDENT=ABC SOURCE=REMOTE",
     "250 2.0.0 Ok"},
    {"lower-case names", "", "XFORWARD name=mx.example addr=192.0.2.7", "250 2.0.0 Ok"},
    {"IPv6 with prefix", "", "XFORWARD ADDR=IPv6:2001:db8::1", "250 2.0.0 Ok"},
    {"IPv4 leading zero", "", "XFORWARD ADDR=01.2.3.4", "250 2.0.0 Ok"},
    {"IPv4 five parts", "", "XFORWARD ADDR=1.2.3.4.5", "501 5.5.4 Bad ADDR syntax: 1.2.3.4.5"},
    {"IPv4 part over 255", "", "XFORWARD ADDR=1.2.3.256", "501 5.5.4 Bad ADDR syntax: 1.2.3.256"},
    {"unavailable", "", "XFORWARD NAME=[UNAVAILABLE] ADDR=[UNAVAILABLE] PORT=[UNAVAILABLE]",
     "250 2.0.0 Ok"},
    {"tempunavail name", "", "XFORWARD NAME=[TEMPUNAVAIL]", "250 2.0.0 Ok"},
    {"tempunavail addr", "", "XFORWARD ADDR=[TEMPUNAVAIL]",
     "501 5.5.4 Bad ADDR syntax: [TEMPUNAVAIL]"},
    {"no attributes", "", "XFORWARD", "501 5.5.4 Syntax: XFORWARD attribute=value..."},
    {"no value", "", "XFORWARD NAME", "501 5.5.4 Error: attribute=value expected"},
    {"empty value", "", "XFORWARD NAME=", "501 5.5.4 Error: attribute=value expected"},
    {"unknown attribute", "", "XFORWARD FOO=1", "501 5.5.4 Bad XFORWARD attribute name: FOO"},
    {"empty attribute", "", "XFORWARD =x", "501 5.5.4 Bad XFORWARD attribute name: "},
    {"space in name", "", "XFORWARD name=a+20b", "501 5.5.4 Bad NAME syntax: a b"},
    {"control in name", "", "XFORWARD NAME=a+0Ab", "501 5.5.4 Bad NAME syntax: a?b"},
    {"bad xtext", "", "XFORWARD NAME=a+zz", "501 5.5.4 Bad NAME syntax: a+zz"},
    {"nul refused", "", "XFORWARD HELO=a+00b", "501 5.5.4 Bad HELO syntax: a+00b"},
    {"bad addr", "", "XFORWARD ADDR=1.2.3", "501 5.5.4 Bad ADDR syntax: 1.2.3"},
    {"bad port", "", "XFORWARD PORT=abc", "501 5.5.4 Bad PORT syntax: abc"},
    {"bad source", "", "XFORWARD SOURCE=foo", "501 5.5.4 Bad SOURCE syntax: foo"},
    {"numeric name", "", "XFORWARD NAME=1.2.3.4", "501 5.5.4 Bad NAME syntax: 1.2.3.4"},
    {"control in helo neutered", "", "XFORWARD HELO=a+0Ab", "250 2.0.0 Ok"},
    {"too long", "",
     "XFORWARD HELO="
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
     "501 5.5.4 Error: attribute value too long"},
    {"in transaction", "EHLO c\r\nMAIL FROM:<a@b>\r\n", "XFORWARD NAME=x",
     "503 5.5.1 Error: MAIL transaction in progress"},
};

static void test_xforward_replies(void **state)
{
    (void)state;
    run_reply_cases(xforward_cases, sizeof(xforward_cases) / sizeof(xforward_cases[0]));
}

/* Attributes reach the owner decoded, last value wins, a failing command
 * changes nothing, and the end of a transaction (or RSET) clears them. */
static void test_xforward_lifetime(void **state)
{
    const char *input = "EHLO c\r\nXFORWARD NAME=a.example HELO=he+20lo\r\n"
                        "XFORWARD NAME=b.example ADDR=192.0.2.1\r\n"
                        "XFORWARD NAME=c.example ADDR=bad\r\n"
                        "MAIL FROM:<reject@x>\r\nMAIL FROM:<a@x>\r\nRCPT TO:<r@y>\r\nDATA\r\n"
                        "hi\r\n.\r\nMAIL FROM:<b@x>\r\nRSET\r\n"
                        "XFORWARD NAME=d.example\r\nRSET\r\nMAIL FROM:<c@x>\r\n"
                        "XFORWARD HELO=x+0Dy\r\nEHLO again\r\nMAIL FROM:<d@x>\r\n";

    (void)state;
    for (int async = 0; async < 2; async++) {
        struct result r = converse_cfg(&default_config, input, strlen(input), 0, async);

        assert_string_equal(r.log,
                            "reset\n"
                            "refused XFORWARD: 501 5.5.4 Bad ADDR syntax: bad\n"
                            "mail <reject@x> size=-1 name=b.example addr=192.0.2.1 helo=he lo\n"
                            "reset\n"
                            "mail <a@x> size=-1 name=b.example addr=192.0.2.1 helo=he lo\n"
                            "rcpt <r@y> notify=-\ndata nrcpt=1\nmessage 4 [hi\r\n]\nreset\n"
                            "mail <b@x> size=-1 name=- addr=- helo=-\nreset\n"
                            "reset\n"
                            "mail <c@x> size=-1 name=- addr=- helo=-\n"
                            "refused XFORWARD: 503 5.5.1 Error: MAIL transaction in progress\n"
                            "reset\n"
                            "mail <d@x> size=-1 name=- addr=- helo=-\n"
                            "reset\n");
        result_free(&r);
    }
}

/* A refused MAIL leaves no transaction: RCPT needs MAIL again. */
static void test_refused_mail_no_transaction(void **state)
{
    (void)state;
    expect("HELO c\r\nMAIL FROM:<reject@x>\r\nRCPT TO:<r@y>\r\nMAIL FROM:<ok@x>\r\n",
           GREETING "250 scand.test\r\n550 5.7.1 Sender rejected\r\n"
                    "503 5.5.1 Error: need MAIL command\r\n250 2.1.0 Ok\r\n");
}

static void test_multiline_reply_formatting(void **state)
{
    (void)state;
    expect("HELO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<multi@y>\r\n",
           GREETING "250 scand.test\r\n250 2.1.0 Ok\r\n"
                    "250-2.1.5 first\r\n250-2.1.5 se?cond\r\n250 2.1.5 third\r\n");
}

static void test_recipient_limit(void **state)
{
    struct smtp_server_config cfg = default_config;

    (void)state;
    cfg.recipient_limit = 2;
    expect_cfg(&cfg,
               "HELO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<bad1@y>\r\nRCPT TO:<r1@y>\r\n"
               "RCPT TO:<r2@y>\r\nRCPT TO:<r3@y>\r\nRSET\r\nMAIL FROM:<a@b>\r\nRCPT TO:<r4@y>\r\n",
               GREETING "250 scand.test\r\n250 2.1.0 Ok\r\n"
                        "550 5.1.1 <bad1@y>: Recipient address rejected\r\n"
                        "250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n452 4.5.3 Error: too many recipients\r\n"
                        "250 2.0.0 Ok\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n");
}

static void test_message_size_limit_in_data(void **state)
{
    struct smtp_server_config cfg = default_config;
    struct result r;
    const char *input = "HELO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<r@y>\r\nDATA\r\n"
                        "0123456789\r\n0123456789\r\n.\r\nNOOP\r\n";

    (void)state;
    cfg.message_size_limit = 20;
    expect_cfg(&cfg, input,
               GREETING "250 scand.test\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
                        "354 End data with <CR><LF>.<CR><LF>\r\n"
                        "552 5.3.4 Message size exceeds fixed limit\r\n250 2.0.0 Ok\r\n");
    r = converse_cfg(&cfg, input, strlen(input), 0, 0);
    /* No message event: the content never reaches the owner. */
    assert_null(strstr(r.log, "message"));
    assert_non_null(strstr(
        r.log, "refused END-OF-MESSAGE: 552 5.3.4 Message size exceeds fixed limit\nreset\n"));
    result_free(&r);
}

static void test_lmtp_size_limit_one_reply_per_recipient(void **state)
{
    struct smtp_server_config cfg = default_config;

    (void)state;
    cfg.message_size_limit = 20;
    expect_cfg(
        &cfg,
        "LHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<r1@y>\r\nRCPT TO:<bad@y>\r\nRCPT TO:<r2@y>\r\n"
        "DATA\r\n0123456789\r\n0123456789\r\n.\r\n",
        GREETING "250-scand.test\r\n250-PIPELINING\r\n250-SIZE 20\r\n"
                 "250-XFORWARD NAME ADDR PROTO HELO SOURCE PORT IDENT\r\n"
                 "250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n250 SMTPUTF8\r\n"
                 "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
                 "550 5.1.1 <bad@y>: Recipient address rejected\r\n"
                 "250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n"
                 "552 5.3.4 Message size exceeds fixed limit\r\n"
                 "552 5.3.4 Message size exceeds fixed limit\r\n");
}

static void test_data_line_limit(void **state)
{
    struct smtp_server_config cfg = default_config;

    (void)state;
    cfg.data_line_limit = 10;
    expect_cfg(&cfg,
               "HELO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<r@y>\r\nDATA\r\n0123456789\r\n"
               "0123456789x\r\n.\r\nMAIL FROM:<a@b>\r\n",
               GREETING "250 scand.test\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
                        "354 End data with <CR><LF>.<CR><LF>\r\n"
                        "552 5.3.4 Message line too long\r\n250 2.1.0 Ok\r\n");
}

static void test_lmtp_replies_and_no_recipient(void **state)
{
    (void)state;
    expect("LHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<bad@y>\r\nDATA\r\nRCPT TO:<r1@y>\r\n"
           "RCPT TO:<r2@y>\r\nDATA\r\nx\r\n.\r\nDATA\r\n",
           GREETING EHLO_REPLY "250 2.1.0 Ok\r\n550 5.1.1 <bad@y>: Recipient address rejected\r\n"
                               "503 5.5.1 Error: no valid recipients\r\n"
                               "250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n"
                               "354 End data with <CR><LF>.<CR><LF>\r\n"
                               "250 2.0.0 <r1@y> Ok\r\n250 2.0.0 <r2@y> Ok\r\n"
                               "503 5.5.1 Error: need RCPT command\r\n");
}

static void test_command_line_limit(void **state)
{
    struct smtp_server_config cfg = default_config;
    char input[4096];
    int n;

    (void)state;
    cfg.command_line_limit = 32;
    /* 32 octets pass; 33 do not, and the cut line is never run. */
    expect_cfg(&cfg,
               "NOOP 567890123456789012345678901\r\nNOOP 5678901234567890123456789012\r\n"
               "RSET 567890123456789012345678901234567890\r\nNOOP\r\n",
               GREETING "250 2.0.0 Ok\r\n500 5.5.2 Error: command line too long\r\n"
                        "500 5.5.2 Error: command line too long\r\n250 2.0.0 Ok\r\n");
    /* A long line arriving in pieces is dropped as it comes. */
    for (size_t split = 1; split < 200; split += 7) {
        struct result r;

        n = snprintf(input, sizeof(input), "NOOP %0300d\r\nQUIT\r\n", 0);
        r = converse_cfg(&cfg, input, (size_t)n, split, 0);
        assert_string_equal(r.output, GREETING "500 5.5.2 Error: command line too long\r\n"
                                               "221 2.0.0 Bye\r\n");
        result_free(&r);
    }
}

/* The input buffer never holds more than the limit while no LF came. */
static void test_command_line_bounded(void **state)
{
    struct smtp_server_config cfg = default_config;
    struct owner o = {0};
    struct evbuffer *out = evbuffer_new();
    struct evbuffer *in = evbuffer_new();
    char chunk[1000];
    char *s;

    (void)state;
    cfg.command_line_limit = 100;
    memset(chunk, 'A', sizeof(chunk));
    o.log = evbuffer_new();
    o.server = smtp_server_new(&cfg, &events, &o, out);
    for (int i = 0; i < 1000; i++) {
        evbuffer_add(in, chunk, sizeof(chunk));
        assert_int_equal(smtp_server_input(o.server, in), 0);
        assert_true(evbuffer_get_length(in) <= 101);
    }
    evbuffer_add(in, "\r\nNOOP\r\n", 8);
    assert_int_equal(smtp_server_input(o.server, in), 0);
    assert_int_equal(evbuffer_get_length(in), 0);
    smtp_server_free(o.server);
    evbuffer_free(in);
    evbuffer_free(o.log);
    s = take_string(out);
    assert_string_equal(s, "500 5.5.2 Error: command line too long\r\n250 2.0.0 Ok\r\n");
    free(s);
    evbuffer_free(out);
}

/* Hostile command lines (tests/integration/test_hostile.sh has the same
 * cases end to end); replies checked against Postfix 3.7 smtpd with
 * smtputf8_enable = yes. */
static const struct reply_case hostile_cases[] = {
    {"bad UTF-8 in MAIL", "EHLO c\r\n", "MAIL FROM:<\xff@x>", "500 5.5.2 Error: bad UTF-8 syntax"},
    {"bad UTF-8 in MAIL with SMTPUTF8", "EHLO c\r\n", "MAIL FROM:<\xff@x> SMTPUTF8",
     "500 5.5.2 Error: bad UTF-8 syntax"},
    {"bad UTF-8 in RCPT", "EHLO c\r\nMAIL FROM:<a@x>\r\n", "RCPT TO:<\xc3\x28@y>",
     "500 5.5.2 Error: bad UTF-8 syntax"},
    {"overlong UTF-8", "", "NOOP \xc0\xaf", "500 5.5.2 Error: bad UTF-8 syntax"},
    {"UTF-16 surrogate", "", "NOOP \xed\xa0\x80", "500 5.5.2 Error: bad UTF-8 syntax"},
    {"above U+10FFFF", "", "NOOP \xf4\x90\x80\x80", "500 5.5.2 Error: bad UTF-8 syntax"},
    {"truncated sequence", "", "NOOP \xe2\x82", "500 5.5.2 Error: bad UTF-8 syntax"},
    {"valid UTF-8 address", "EHLO c\r\n", "MAIL FROM:<\xc3\xa9@x> SMTPUTF8", "250 2.1.0 Ok"},
    {"valid 4-octet UTF-8", "", "NOOP \xf0\x9f\x98\x80", "250 2.0.0 Ok"},
    {"blank line", "", " \t ", "500 5.5.2 Error: bad syntax"},
};

static void test_hostile_replies(void **state)
{
    (void)state;
    run_reply_cases(hostile_cases, sizeof(hostile_cases) / sizeof(hostile_cases[0]));
}

/* A refused command's reply reaches the owner (who logs it) without the
 * control characters a client put in it. */
static void test_refused_reply_sanitized(void **state)
{
    struct result r;
    const char input[] = "XFORWARD HELO=a\x01"
                         "b\x1b[31m\x7f\r\nQUIT\r\n";

    (void)state;
    r = converse_cfg(&default_config, input, sizeof(input) - 1, 0, 0);
    assert_string_equal(r.output, GREETING "501 5.5.4 Bad HELO syntax: a?b?[31m?\r\n"
                                           "221 2.0.0 Bye\r\n");
    assert_string_equal(r.log, "refused XFORWARD: 501 5.5.4 Bad HELO syntax: a?b?[31m?\nreset\n");
    result_free(&r);
}

static void test_nul_and_bare_lf_commands(void **state)
{
    const char input[] = "HELO x\nNOOP\nNO\0OP\r\nMAIL FROM:<a\0@b>\r\nRSET\r\rRSET\r\nQUIT\r\n";

    (void)state;
    for (int async = 0; async < 2; async++) {
        struct result r = converse_cfg(&default_config, input, sizeof(input) - 1, 0, async);

        assert_string_equal(r.output, GREETING "250 scand.test\r\n250 2.0.0 Ok\r\n"
                                               "500 5.5.2 Error: command not recognized\r\n"
                                               "500 5.5.2 Error: command not recognized\r\n"
                                               "501 5.5.4 Syntax: RSET\r\n221 2.0.0 Bye\r\n");
        result_free(&r);
    }
}

static void test_quit_stops_input(void **state)
{
    (void)state;
    for (int async = 0; async < 2; async++) {
        struct result r = converse_cfg(&default_config, "QUIT\r\nNOOP\r\n", 12, 0, async);

        assert_string_equal(r.output, GREETING "221 2.0.0 Bye\r\n");
        assert_int_equal(r.rc, -1);
        result_free(&r);
    }
}

static void test_timeout(void **state)
{
    struct owner o = {0};
    struct evbuffer *out = evbuffer_new();
    struct evbuffer *in = evbuffer_new();
    char *s, *log;

    (void)state;
    o.log = evbuffer_new();
    o.server = smtp_server_new(&default_config, &events, &o, out);
    evbuffer_add(in, "HELO c\r\nMAIL FROM:<a@b>\r\n", 25);
    assert_int_equal(smtp_server_input(o.server, in), 0);
    assert_true(smtp_server_in_transaction(o.server));
    smtp_server_timeout(o.server);
    assert_true(smtp_server_closed(o.server));
    evbuffer_add(in, "NOOP\r\n", 6);
    assert_int_equal(smtp_server_input(o.server, in), -1);
    s = take_string(out);
    assert_string_equal(s, "250 scand.test\r\n250 2.1.0 Ok\r\n"
                           "421 4.4.2 scand.test Error: timeout exceeded\r\n");
    log = take_string(o.log);
    assert_string_equal(log, "reset\nmail <a@b> size=-1 name=- addr=- helo=-\nreset\n");
    smtp_server_free(o.server);
    free(s);
    free(log);
    evbuffer_free(in);
    evbuffer_free(out);
    evbuffer_free(o.log);
}

/* While the owner owes a reply, nothing more is read or answered. */
static void test_waiting_holds_input(void **state)
{
    struct owner o = {0};
    struct evbuffer *out = evbuffer_new();
    struct evbuffer *in = evbuffer_new();
    char *s;

    (void)state;
    o.async = 1;
    o.log = evbuffer_new();
    o.server = smtp_server_new(&default_config, &events, &o, out);
    evbuffer_add(in, "HELO c\r\nMAIL FROM:<a@b>\r\nNOOP\r\n", 31);
    assert_int_equal(smtp_server_input(o.server, in), 0);
    assert_true(smtp_server_waiting(o.server));
    assert_int_equal(evbuffer_get_length(in), 6);
    assert_int_equal(smtp_server_input(o.server, in), 0);
    assert_int_equal(evbuffer_get_length(in), 6);
    s = take_string(out);
    assert_string_equal(s, "250 scand.test\r\n");
    free(s);
    answer(&o);
    assert_false(smtp_server_waiting(o.server));
    assert_int_equal(smtp_server_input(o.server, in), 0);
    s = take_string(out);
    assert_string_equal(s, "250 2.1.0 Ok\r\n250 2.0.0 Ok\r\n");
    free(s);
    /* A reply nobody waits for is dropped, not written. */
    smtp_server_reply(o.server, "250 2.0.0 stray");
    assert_int_equal(evbuffer_get_length(out), 0);
    smtp_server_free(o.server);
    evbuffer_free(in);
    evbuffer_free(out);
    evbuffer_free(o.log);
}

/* A whole pipelined conversation, cut at every byte: output and events are
 * those of the one-piece run, for sync and async owners. */
static void check_every_split(const char *input)
{
    size_t len = strlen(input);
    struct result ref = converse_cfg(&default_config, input, len, 0, 0);

    for (int async = 0; async < 2; async++) {
        for (size_t split = 0; split < len; split++) {
            struct result r = converse_cfg(&default_config, input, len, split, async);

            if (strcmp(r.output, ref.output) != 0 || strcmp(r.log, ref.log) != 0)
                fail_msg("split at %zu (async %d) differs:\n%s\n%s", split, async, r.output, r.log);
            result_free(&r);
        }
    }
    result_free(&ref);
}

static void test_pipelined_every_split_smtp(void **state)
{
    (void)state;
    check_every_split("EHLO c\r\nXFORWARD NAME=mx.example ADDR=192.0.2.7\r\n"
                      "XFORWARD HELO=h+20x IDENT=Q1\r\nMAIL FROM:<a@b> SIZE=40\r\n"
                      "RCPT TO:<r@y>\r\nRCPT TO:<bad@y>\r\nDATA\r\n"
                      "Subject: x\r\n\r\n..a\r\nb\r.\n\r\n.\r\n"
                      "RSET\r\nMAIL FROM:<>\r\nRCPT TO:<r@y>\r\nDATA\r\n.\r\nNOOP\r\nQUIT\r\n");
}

static void test_pipelined_every_split_lmtp(void **state)
{
    (void)state;
    check_every_split("LHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<r1@y>\r\nRCPT TO:<bad@y>\r\n"
                      "RCPT TO:<r2@y>\r\nDATA\r\nx\r\n\r\n.\r\n.\r\n"
                      "MAIL FROM:<a@b>\r\nRCPT TO:<r1@y>\r\nDATA\r\n.\r\nQUIT\r\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_greeting_and_ehlo),
        cmocka_unit_test(test_ehlo_size_zero),
        cmocka_unit_test(test_helo_lhlo),
        cmocka_unit_test(test_sequence_errors),
        cmocka_unit_test(test_full_transaction),
        cmocka_unit_test(test_data_refused_by_owner),
        cmocka_unit_test(test_mail_rcpt_replies),
        cmocka_unit_test(test_xforward_replies),
        cmocka_unit_test(test_xforward_lifetime),
        cmocka_unit_test(test_refused_mail_no_transaction),
        cmocka_unit_test(test_multiline_reply_formatting),
        cmocka_unit_test(test_recipient_limit),
        cmocka_unit_test(test_message_size_limit_in_data),
        cmocka_unit_test(test_lmtp_size_limit_one_reply_per_recipient),
        cmocka_unit_test(test_data_line_limit),
        cmocka_unit_test(test_lmtp_replies_and_no_recipient),
        cmocka_unit_test(test_command_line_limit),
        cmocka_unit_test(test_command_line_bounded),
        cmocka_unit_test(test_nul_and_bare_lf_commands),
        cmocka_unit_test(test_hostile_replies),
        cmocka_unit_test(test_refused_reply_sanitized),
        cmocka_unit_test(test_quit_stops_input),
        cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_waiting_holds_input),
        cmocka_unit_test(test_pipelined_every_split_smtp),
        cmocka_unit_test(test_pipelined_every_split_lmtp),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
