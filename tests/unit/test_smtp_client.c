/*
 * test_smtp_client.c - the relay client against a scripted fake server.
 *
 * Each test feeds the server's bytes, asserts the exact bytes the client
 * wrote, and asserts the completions (tag and reply) in order.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/buffer.h>

#include "smtp/smtp_client.h"

#define MAX_PROBES 64

struct fx;

/* One command's done argument: where to log, what to call it, and what to do
 * from inside the callback (reentrancy tests). */
struct probe {
    struct fx *fx;
    const char *tag;
    void (*then)(struct probe *p);
};

struct fx {
    struct smtp_client_config config;
    struct smtp_client *client;
    struct evbuffer *out;
    struct evbuffer *in;
    struct evbuffer *log; /* "TAG: reply\n" per completion, "ready: ..." */
    struct probe probes[MAX_PROBES];
    int nprobes;
    int freed;
};

static void on_ready(void *ctx, struct smtp_client *client, const struct smtp_reply *failure)
{
    struct fx *fx = ctx;

    assert_ptr_equal(client, fx->client);
    evbuffer_add_printf(fx->log, "ready: %s\n", failure ? failure->text : "ok");
}

static const struct smtp_client_events events = {on_ready};

static void on_done(void *arg, const struct smtp_reply *reply)
{
    struct probe *p = arg;

    evbuffer_add_printf(p->fx->log, "%s: %s\n", p->tag, reply->text);
    if (p->then != NULL)
        p->then(p);
}

static struct probe *probe(struct fx *fx, const char *tag)
{
    assert_true(fx->nprobes < MAX_PROBES);
    struct probe *p = &fx->probes[fx->nprobes++];
    p->fx = fx;
    p->tag = tag;
    p->then = NULL;
    return p;
}

static struct fx *fx_new(int lmtp)
{
    struct fx *fx = calloc(1, sizeof(*fx));

    fx->config.myhostname = "scand.example";
    fx->config.lmtp = lmtp;
    fx->config.reply_limit = 4096;
    fx->out = evbuffer_new();
    fx->in = evbuffer_new();
    fx->log = evbuffer_new();
    fx->client = smtp_client_new(&fx->config, &events, fx, fx->out);
    return fx;
}

static void fx_free(struct fx *fx)
{
    if (!fx->freed)
        smtp_client_free(fx->client);
    evbuffer_free(fx->out);
    evbuffer_free(fx->in);
    evbuffer_free(fx->log);
    free(fx);
}

static int feed(struct fx *fx, const char *bytes)
{
    evbuffer_add(fx->in, bytes, strlen(bytes));
    return smtp_client_input(fx->client, fx->in);
}

static char *take(struct evbuffer *buf)
{
    size_t len = evbuffer_get_length(buf);
    char *s = malloc(len + 1);

    evbuffer_remove(buf, s, len);
    s[len] = 0;
    return s;
}

#define expect_out(fx, text)                                                                       \
    do {                                                                                           \
        char *got_ = take((fx)->out);                                                              \
        assert_string_equal(got_, text);                                                           \
        free(got_);                                                                                \
    } while (0)

#define expect_log(fx, text)                                                                       \
    do {                                                                                           \
        char *got_ = take((fx)->log);                                                              \
        assert_string_equal(got_, text);                                                           \
        free(got_);                                                                                \
    } while (0)

static const char ehlo_all[] = "250-relay.example\r\n"
                               "250-PIPELINING\r\n"
                               "250-SIZE 10240000\r\n"
                               "250-ENHANCEDSTATUSCODES\r\n"
                               "250-8BITMIME\r\n"
                               "250-DSN\r\n"
                               "250-SMTPUTF8\r\n"
                               "250 XFORWARD NAME ADDR PROTO HELO SOURCE PORT IDENT\r\n";

static const char ehlo_plain[] = "250-relay.example\r\n250 ENHANCEDSTATUSCODES\r\n";

/* Greeting and EHLO done with the given EHLO reply. */
static struct fx *fx_ready(int lmtp, const char *ehlo_reply)
{
    struct fx *fx = fx_new(lmtp);

    assert_int_equal(feed(fx, "220 relay.example ESMTP Postfix\r\n"), 0);
    expect_out(fx, lmtp ? "LHLO scand.example\r\n" : "EHLO scand.example\r\n");
    assert_int_equal(feed(fx, ehlo_reply), 0);
    expect_log(fx, "ready: ok\n");
    assert_true(smtp_client_ready(fx->client));
    return fx;
}

static struct smtp_params no_params(void)
{
    struct smtp_params p = {-1, NULL, 0, NULL, NULL, NULL, NULL};
    return p;
}

/* ---- greeting and EHLO ---- */

static void test_ehlo_extensions(void **state)
{
    struct fx *fx = fx_ready(0, ehlo_all);

    (void)state;
    assert_string_equal(smtp_client_server_name(fx->client), "relay.example");
    assert_true(smtp_client_has_ext(fx->client, "PIPELINING"));
    assert_true(smtp_client_has_ext(fx->client, "size"));
    assert_true(smtp_client_has_ext(fx->client, "8BITMIME"));
    assert_true(smtp_client_has_ext(fx->client, "DSN"));
    assert_true(smtp_client_has_ext(fx->client, "SMTPUTF8"));
    assert_true(smtp_client_has_ext(fx->client, "XFORWARD"));
    assert_false(smtp_client_has_ext(fx->client, "STARTTLS"));
    assert_true(smtp_client_idle(fx->client));
    fx_free(fx);
}

static void test_lhlo(void **state)
{
    struct fx *fx = fx_ready(1, ehlo_plain);

    (void)state;
    assert_false(smtp_client_has_ext(fx->client, "PIPELINING"));
    fx_free(fx);
}

static void test_helo_fallback(void **state)
{
    struct fx *fx = fx_new(0);
    struct smtp_params params = no_params();

    (void)state;
    params.size = 100;
    params.body = "8BITMIME";
    feed(fx, "220 relay.example ESMTP\r\n");
    expect_out(fx, "EHLO scand.example\r\n");
    feed(fx, "502 5.5.2 Error: command not recognized\r\n");
    expect_out(fx, "HELO scand.example\r\n");
    assert_false(smtp_client_ready(fx->client));
    feed(fx, "250 relay.example\r\n");
    expect_log(fx, "ready: ok\n");
    /* No EHLO, no extensions: no parameters. */
    smtp_client_mail(fx->client, NULL, "a@b", &params, on_done, probe(fx, "MAIL"));
    expect_out(fx, "MAIL FROM:<a@b>\r\n");
    fx_free(fx);
}

static void test_lhlo_rejected_no_fallback(void **state)
{
    struct fx *fx = fx_new(1);

    (void)state;
    feed(fx, "220 relay.example LMTP\r\n");
    expect_out(fx, "LHLO scand.example\r\n");
    feed(fx, "500 5.5.2 Error: command not recognized\r\n");
    expect_out(fx, "");
    expect_log(fx, "ready: 400 4.5.2 Error: command not recognized\n");
    fx_free(fx);
}

static void test_ehlo_421_fails(void **state)
{
    struct fx *fx = fx_new(0);

    (void)state;
    feed(fx, "220 relay.example ESMTP\r\n");
    expect_out(fx, "EHLO scand.example\r\n");
    feed(fx, "421 4.3.2 Service shutting down\r\n");
    expect_out(fx, "");
    expect_log(fx, "ready: 421 4.3.2 Service shutting down\n");
    fx_free(fx);
}

/* A 5yz greeting says nothing about the mail: Postfix must retry (4yz). */
static void test_greeting_5yz_becomes_4yz(void **state)
{
    struct fx *fx = fx_new(0);

    (void)state;
    smtp_client_mail(fx->client, NULL, "a@b", NULL, on_done, probe(fx, "MAIL"));
    feed(fx, "554-5.7.1 go away\r\n554 5.7.1 really\r\n");
    expect_out(fx, "");
    expect_log(fx, "ready: 454 4.7.1 go away\n454 4.7.1 really\n"
                   "MAIL: 454 4.7.1 go away\n454 4.7.1 really\n");
    assert_string_equal(smtp_client_server_name(fx->client), "5.7.1");
    /* Commands after the failure complete at once with it. */
    smtp_client_rset(fx->client, on_done, probe(fx, "RSET"));
    expect_log(fx, "RSET: 454 4.7.1 go away\n454 4.7.1 really\n");
    fx_free(fx);
}

static void test_greeting_4yz(void **state)
{
    struct fx *fx = fx_new(0);

    (void)state;
    feed(fx, "421 4.3.2 busy\r\n");
    expect_log(fx, "ready: 421 4.3.2 busy\n");
    fx_free(fx);
}

static void test_loop_in_greeting(void **state)
{
    struct fx *fx = fx_new(0);

    (void)state;
    smtp_client_mail(fx->client, NULL, "a@b", NULL, on_done, probe(fx, "MAIL"));
    feed(fx, "220 SCAND.example ESMTP\r\n");
    expect_out(fx, "");
    expect_log(fx, "ready: 451 4.4.6 mail for SCAND.example loops back to myself\n"
                   "MAIL: 451 4.4.6 mail for SCAND.example loops back to myself\n");
    fx_free(fx);
}

static void test_loop_in_ehlo(void **state)
{
    struct fx *fx = fx_new(0);

    (void)state;
    feed(fx, "220 relay.example ESMTP\r\n");
    expect_out(fx, "EHLO scand.example\r\n");
    feed(fx, "250-scand.example\r\n250 PIPELINING\r\n");
    expect_out(fx, "");
    expect_log(fx, "ready: 451 4.4.6 mail for scand.example loops back to myself\n");
    assert_false(smtp_client_ready(fx->client));
    fx_free(fx);
}

/* The whole handshake fed in two pieces split at every byte. */
static void test_handshake_split_everywhere(void **state)
{
    char wire[1024];

    (void)state;
    snprintf(wire, sizeof(wire), "220-relay.example ESMTP\r\n220 second line\r\n%s", ehlo_all);
    size_t len = strlen(wire);
    for (size_t cut = 0; cut <= len; cut++) {
        struct fx *fx = fx_new(0);
        evbuffer_add(fx->in, wire, cut);
        assert_int_equal(smtp_client_input(fx->client, fx->in), 0);
        evbuffer_add(fx->in, wire + cut, len - cut);
        assert_int_equal(smtp_client_input(fx->client, fx->in), 0);
        expect_out(fx, "EHLO scand.example\r\n");
        expect_log(fx, "ready: ok\n");
        assert_true(smtp_client_has_ext(fx->client, "XFORWARD"));
        fx_free(fx);
    }
    /* And one byte at a time. */
    struct fx *fx = fx_new(0);
    for (size_t i = 0; i < len; i++) {
        evbuffer_add(fx->in, wire + i, 1);
        assert_int_equal(smtp_client_input(fx->client, fx->in), 0);
    }
    expect_log(fx, "ready: ok\n");
    fx_free(fx);
}

static void test_malformed_reply(void **state)
{
    struct fx *fx = fx_ready(0, ehlo_all);

    (void)state;
    smtp_client_mail(fx->client, NULL, "a@b", NULL, on_done, probe(fx, "MAIL"));
    smtp_client_rcpt(fx->client, &(struct smtp_rcpt){"c@d", no_params()}, on_done,
                     probe(fx, "RCPT"));
    expect_out(fx, "MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\n");
    assert_int_equal(feed(fx, "250-2.1.0 Ok\r\n251 mixed\r\n"), -1);
    expect_log(fx, "MAIL: 451 4.5.0 Error: protocol error from relay\n"
                   "RCPT: 451 4.5.0 Error: protocol error from relay\n");
    fx_free(fx);
}

static void test_reply_limit(void **state)
{
    struct fx *fx = fx_new(0);
    char big[5000];

    (void)state;
    memset(big, 'a', sizeof(big));
    big[0] = '2';
    big[1] = '2';
    big[2] = '0';
    big[3] = ' ';
    big[sizeof(big) - 1] = 0;
    assert_int_equal(feed(fx, big), -1); /* no line end yet, but over the limit */
    expect_log(fx, "ready: 451 4.5.0 Error: protocol error from relay\n");
    fx_free(fx);
}

/* ---- transactions ---- */

static void test_queued_before_ready_wait(void **state)
{
    struct fx *fx = fx_new(0);
    struct smtp_params params = no_params();

    (void)state;
    params.size = 1234;
    smtp_client_mail(fx->client, NULL, "a@b", &params, on_done, probe(fx, "MAIL"));
    assert_false(smtp_client_idle(fx->client));
    expect_out(fx, "");
    feed(fx, "220 relay.example ESMTP\r\n");
    expect_out(fx, "EHLO scand.example\r\n");
    feed(fx, ehlo_all);
    /* Parameters follow the extensions learned after the command was queued. */
    expect_out(fx, "MAIL FROM:<a@b> SIZE=1234\r\n");
    feed(fx, "250 2.1.0 Ok\r\n");
    expect_log(fx, "ready: ok\nMAIL: 250 2.1.0 Ok\n");
    assert_true(smtp_client_idle(fx->client));
    fx_free(fx);
}

static void test_params_when_advertised(void **state)
{
    struct smtp_params mp = {2048, "8BITMIME", 1, "HDRS", "abc+2Bdef", NULL, NULL};
    struct smtp_rcpt r = {"c@d", {-1, NULL, 0, NULL, NULL, "SUCCESS,DELAY", "rfc822;c@d"}};

    (void)state;
    struct fx *fx = fx_ready(0, ehlo_all);
    smtp_client_mail(fx->client, NULL, "a@b", &mp, on_done, probe(fx, "MAIL"));
    smtp_client_rcpt(fx->client, &r, on_done, probe(fx, "RCPT"));
    expect_out(fx, "MAIL FROM:<a@b> SIZE=2048 BODY=8BITMIME SMTPUTF8 RET=HDRS ENVID=abc+2Bdef\r\n"
                   "RCPT TO:<c@d> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;c@d\r\n");
    fx_free(fx);

    fx = fx_ready(0, ehlo_plain);
    smtp_client_mail(fx->client, NULL, "a@b", &mp, on_done, probe(fx, "MAIL"));
    expect_out(fx, "MAIL FROM:<a@b>\r\n");
    feed(fx, "250 2.1.0 Ok\r\n");
    smtp_client_rcpt(fx->client, &r, on_done, probe(fx, "RCPT"));
    expect_out(fx, "RCPT TO:<c@d>\r\n");
    fx_free(fx);

    /* Each extension alone brings only its own parameters. */
    fx = fx_ready(0, "250-relay.example\r\n250-DSN\r\n250 SIZE\r\n");
    smtp_client_mail(fx->client, NULL, "", &mp, on_done, probe(fx, "MAIL"));
    expect_out(fx, "MAIL FROM:<> SIZE=2048 RET=HDRS ENVID=abc+2Bdef\r\n");
    fx_free(fx);
}

static void test_pipelining_on(void **state)
{
    struct fx *fx = fx_ready(0, ehlo_all);
    struct evbuffer *content = evbuffer_new();

    (void)state;
    evbuffer_add(content, "Subject: x\r\n\r\n.hi\r\n", 19);
    smtp_client_mail(fx->client, NULL, "a@b", NULL, on_done, probe(fx, "MAIL"));
    smtp_client_rcpt(fx->client, &(struct smtp_rcpt){"c@d", no_params()}, on_done,
                     probe(fx, "RCPT1"));
    smtp_client_rcpt(fx->client, &(struct smtp_rcpt){"e@f", no_params()}, on_done,
                     probe(fx, "RCPT2"));
    smtp_client_data(fx->client, content, on_done, probe(fx, "DATA"));
    evbuffer_free(content); /* the client keeps its own encoded copy */
    smtp_client_rset(fx->client, on_done, probe(fx, "RSET"));
    /* Everything up to DATA in one go (RFC 2920); RSET waits behind DATA. */
    expect_out(fx, "MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nRCPT TO:<e@f>\r\nDATA\r\n");
    feed(fx, "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n550 5.1.1 <e@f>: unknown\r\n");
    expect_out(fx, "");
    feed(fx, "354 End data with <CR><LF>.<CR><LF>\r\n");
    expect_out(fx, "Subject: x\r\n\r\n..hi\r\n.\r\n");
    feed(fx, "250 2.0.0 Ok: queued as ABC\r\n");
    expect_out(fx, "RSET\r\n");
    feed(fx, "250 2.0.0 Ok\r\n");
    expect_log(fx, "MAIL: 250 2.1.0 Ok\nRCPT1: 250 2.1.5 Ok\nRCPT2: 550 5.1.1 <e@f>: unknown\n"
                   "DATA: 250 2.0.0 Ok: queued as ABC\nRSET: 250 2.0.0 Ok\n");
    assert_true(smtp_client_idle(fx->client));
    smtp_client_quit(fx->client);
    expect_out(fx, "QUIT\r\n");
    feed(fx, "221 2.0.0 Bye\r\n");
    assert_true(smtp_client_idle(fx->client));
    fx_free(fx);
}

static void test_pipelining_off(void **state)
{
    struct fx *fx = fx_ready(0, ehlo_plain);
    struct evbuffer *content = evbuffer_new();

    (void)state;
    evbuffer_add(content, "x", 1);
    smtp_client_mail(fx->client, NULL, "a@b", NULL, on_done, probe(fx, "MAIL"));
    smtp_client_rcpt(fx->client, &(struct smtp_rcpt){"c@d", no_params()}, on_done,
                     probe(fx, "RCPT"));
    smtp_client_data(fx->client, content, on_done, probe(fx, "DATA"));
    evbuffer_free(content);
    expect_out(fx, "MAIL FROM:<a@b>\r\n");
    feed(fx, "250 2.1.0 Ok\r\n");
    expect_out(fx, "RCPT TO:<c@d>\r\n");
    feed(fx, "250 2.1.5 Ok\r\n");
    expect_out(fx, "DATA\r\n");
    feed(fx, "354 go\r\n");
    expect_out(fx, "x\r\n.\r\n");
    feed(fx, "250 2.0.0 Ok: queued as X\r\n");
    expect_log(fx, "MAIL: 250 2.1.0 Ok\nRCPT: 250 2.1.5 Ok\nDATA: 250 2.0.0 Ok: queued as X\n");
    fx_free(fx);
}

static void test_data_rejected(void **state)
{
    struct fx *fx = fx_ready(0, ehlo_all);
    struct evbuffer *content = evbuffer_new();

    (void)state;
    evbuffer_add(content, "x\r\n", 3);
    smtp_client_mail(fx->client, NULL, "a@b", NULL, on_done, probe(fx, "MAIL"));
    smtp_client_rcpt(fx->client, &(struct smtp_rcpt){"c@d", no_params()}, on_done,
                     probe(fx, "RCPT"));
    smtp_client_data(fx->client, content, on_done, probe(fx, "DATA"));
    evbuffer_free(content);
    expect_out(fx, "MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n");
    feed(fx, "250 2.1.0 Ok\r\n550 5.1.1 no\r\n554 5.5.1 Error: no valid recipients\r\n");
    expect_out(fx, ""); /* no content ever */
    expect_log(fx, "MAIL: 250 2.1.0 Ok\nRCPT: 550 5.1.1 no\n"
                   "DATA: 554 5.5.1 Error: no valid recipients\n");
    assert_true(smtp_client_idle(fx->client));
    fx_free(fx);
}

/* ---- XFORWARD ---- */

static void test_xforward_advertised_only(void **state)
{
    struct smtp_xforward xf = {"mx.example", "192.0.2.7", "4711",  "ESMTP",
                               "a+b=c d",    NULL,        "REMOTE"};

    (void)state;
    struct fx *fx = fx_ready(0, "250-relay.example\r\n250-PIPELINING\r\n"
                                "250 XFORWARD NAME ADDR HELO\r\n");
    smtp_client_mail(fx->client, &xf, "a@b", NULL, on_done, probe(fx, "MAIL"));
    expect_out(fx, "XFORWARD NAME=mx.example ADDR=192.0.2.7 HELO=a+2Bb+3Dc+20d\r\n"
                   "MAIL FROM:<a@b>\r\n");
    feed(fx, "250 2.0.0 Ok\r\n250 2.1.0 Ok\r\n");
    expect_log(fx, "MAIL: 250 2.1.0 Ok\n");
    /* Next transaction: XFORWARD again (it is per transaction). */
    smtp_client_mail(fx->client, &xf, "x@y", NULL, on_done, probe(fx, "MAIL2"));
    expect_out(fx, "XFORWARD NAME=mx.example ADDR=192.0.2.7 HELO=a+2Bb+3Dc+20d\r\n"
                   "MAIL FROM:<x@y>\r\n");
    fx_free(fx);

    /* Not advertised: no XFORWARD at all. */
    fx = fx_ready(0, ehlo_plain);
    smtp_client_mail(fx->client, &xf, "a@b", NULL, on_done, probe(fx, "MAIL"));
    expect_out(fx, "MAIL FROM:<a@b>\r\n");
    fx_free(fx);
}

static void test_xforward_split_512(void **state)
{
    char name[256], helo[300], ident[600];
    struct smtp_xforward xf = {name, "[UNAVAILABLE]", "25", "ESMTP", helo, ident, "REMOTE"};

    (void)state;
    memset(name, 'n', sizeof(name) - 1);
    name[sizeof(name) - 1] = 0;
    memset(helo, 'h', sizeof(helo) - 1);
    helo[sizeof(helo) - 1] = 0;
    memset(ident, 'i', sizeof(ident) - 1); /* can never fit: left out */
    ident[sizeof(ident) - 1] = 0;

    struct fx *fx = fx_ready(0, ehlo_all);
    smtp_client_mail(fx->client, &xf, "a@b", NULL, on_done, probe(fx, "MAIL"));
    char *out = take(fx->out);
    int lines = 0;
    int xforward_lines = 0;
    for (char *line = out; *line;) {
        char *end = strstr(line, "\r\n");
        assert_non_null(end);
        size_t len = (size_t)(end - line) + 2;
        assert_true(len <= 512);
        if (strncmp(line, "XFORWARD ", 9) == 0)
            xforward_lines++;
        lines++;
        line = end + 2;
    }
    assert_int_equal(xforward_lines, 2);
    assert_int_equal(lines, 3);
    assert_non_null(strstr(out, " NAME=nnn"));
    assert_non_null(strstr(out, " ADDR=[UNAVAILABLE]"));
    assert_non_null(strstr(out, " PORT=25"));
    assert_non_null(strstr(out, " HELO=hhh"));
    assert_non_null(strstr(out, " SOURCE=REMOTE"));
    assert_null(strstr(out, "IDENT="));
    free(out);
    feed(fx, "250 2.0.0 Ok\r\n250 2.0.0 Ok\r\n250 2.1.0 Ok\r\n");
    expect_log(fx, "MAIL: 250 2.1.0 Ok\n");
    assert_true(smtp_client_idle(fx->client));
    fx_free(fx);
}

/* A refused XFORWARD fails the transaction with a 4yz, and its content is
 * never sent even if the relay says 354 later. */
static void test_xforward_rejected(void **state)
{
    struct smtp_xforward xf = {"mx.example", NULL, NULL, NULL, NULL, NULL, NULL};
    struct evbuffer *content = evbuffer_new();

    (void)state;
    evbuffer_add(content, "x\r\n", 3);
    struct fx *fx = fx_ready(0, ehlo_all);
    smtp_client_mail(fx->client, &xf, "a@b", NULL, on_done, probe(fx, "MAIL"));
    smtp_client_rcpt(fx->client, &(struct smtp_rcpt){"c@d", no_params()}, on_done,
                     probe(fx, "RCPT"));
    smtp_client_data(fx->client, content, on_done, probe(fx, "DATA"));
    evbuffer_free(content);
    expect_out(fx, "XFORWARD NAME=mx.example\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n");
    feed(fx, "550 5.7.0 Error: insufficient authorization\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n");
    expect_log(fx, "MAIL: 450 4.7.0 Error: insufficient authorization\n"
                   "RCPT: 450 4.7.0 Error: insufficient authorization\n");
    assert_int_equal(feed(fx, "354 go ahead\r\n"), -1);
    expect_out(fx, "");
    expect_log(fx, "DATA: 451 4.5.0 Error: protocol error from relay\n");
    fx_free(fx);
}

/* After a refused XFORWARD whose MAIL the relay accepted, the next
 * transaction starts with RSET. */
static void test_xforward_rejected_then_rset(void **state)
{
    struct smtp_xforward xf = {"mx.example", NULL, NULL, NULL, NULL, NULL, NULL};

    (void)state;
    struct fx *fx = fx_ready(0, ehlo_plain);
    fx_free(fx);
    fx = fx_ready(0, "250-relay.example\r\n250 XFORWARD NAME\r\n");
    smtp_client_mail(fx->client, &xf, "a@b", NULL, on_done, probe(fx, "MAIL"));
    expect_out(fx, "XFORWARD NAME=mx.example\r\n");
    feed(fx, "450 4.7.0 no\r\n");
    expect_out(fx, "MAIL FROM:<a@b>\r\n");
    feed(fx, "250 2.1.0 Ok\r\n");
    expect_log(fx, "MAIL: 450 4.7.0 no\n");
    smtp_client_mail(fx->client, NULL, "x@y", NULL, on_done, probe(fx, "MAIL2"));
    expect_out(fx, "RSET\r\n");
    feed(fx, "250 2.0.0 Ok\r\n");
    expect_out(fx, "MAIL FROM:<x@y>\r\n");
    feed(fx, "250 2.1.0 Ok\r\n");
    expect_log(fx, "MAIL2: 250 2.1.0 Ok\n");
    fx_free(fx);
}

/* ---- LMTP ---- */

static void test_lmtp_per_recipient(void **state)
{
    struct fx *fx = fx_ready(1, "250-relay.example\r\n250-PIPELINING\r\n250 8BITMIME\r\n");
    struct evbuffer *content = evbuffer_new();

    (void)state;
    evbuffer_add(content, "hello\r\n", 7);
    smtp_client_mail(fx->client, NULL, "a@b", NULL, on_done, probe(fx, "MAIL"));
    smtp_client_rcpt(fx->client, &(struct smtp_rcpt){"r1@x", no_params()}, on_done,
                     probe(fx, "R1"));
    smtp_client_rcpt(fx->client, &(struct smtp_rcpt){"r2@x", no_params()}, on_done,
                     probe(fx, "R2"));
    smtp_client_rcpt(fx->client, &(struct smtp_rcpt){"r3@x", no_params()}, on_done,
                     probe(fx, "R3"));
    smtp_client_data(fx->client, content, on_done, probe(fx, "DATA"));
    evbuffer_free(content);
    expect_out(fx, "MAIL FROM:<a@b>\r\nRCPT TO:<r1@x>\r\nRCPT TO:<r2@x>\r\nRCPT TO:<r3@x>\r\n"
                   "DATA\r\n");
    feed(fx, "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n550 5.1.1 no\r\n250 2.1.5 Ok\r\n354 go\r\n");
    expect_out(fx, "hello\r\n.\r\n");
    feed(fx, "250 2.0.0 r1 delivered\r\n");
    assert_false(smtp_client_idle(fx->client));
    feed(fx, "452 4.2.2 r3 over quota\r\n");
    expect_log(fx, "MAIL: 250 2.1.0 Ok\nR1: 250 2.1.5 Ok\nR2: 550 5.1.1 no\nR3: 250 2.1.5 Ok\n"
                   "DATA: 250 2.0.0 r1 delivered\nDATA: 452 4.2.2 r3 over quota\n");
    assert_true(smtp_client_idle(fx->client));
    fx_free(fx);
}

/* Abort after the content went out under LMTP: one completion per reply
 * still owed. */
static void test_lmtp_abort_mid_replies(void **state)
{
    struct fx *fx = fx_ready(1, "250-relay.example\r\n250 PIPELINING\r\n");
    struct evbuffer *content = evbuffer_new();

    (void)state;
    evbuffer_add(content, "hello\r\n", 7);
    smtp_client_mail(fx->client, NULL, "a@b", NULL, on_done, probe(fx, "MAIL"));
    for (int i = 0; i < 3; i++)
        smtp_client_rcpt(fx->client, &(struct smtp_rcpt){"r@x", no_params()}, on_done,
                         probe(fx, "R"));
    smtp_client_data(fx->client, content, on_done, probe(fx, "DATA"));
    evbuffer_free(content);
    feed(fx, "250 Ok\r\n250 Ok\r\n250 Ok\r\n250 Ok\r\n354 go\r\n250 one\r\n");
    expect_log(fx, "MAIL: 250 Ok\nR: 250 Ok\nR: 250 Ok\nR: 250 Ok\nDATA: 250 one\n");
    smtp_client_abort(fx->client, "451 4.4.2 lost connection with relay");
    expect_log(fx, "DATA: 451 4.4.2 lost connection with relay\n"
                   "DATA: 451 4.4.2 lost connection with relay\n");
    assert_true(smtp_client_idle(fx->client));
    fx_free(fx);
}

/* ---- abort and reentrancy ---- */

static void test_abort_completes_each_once(void **state)
{
    struct fx *fx = fx_ready(0, ehlo_all);
    struct evbuffer *content = evbuffer_new();

    (void)state;
    evbuffer_add(content, "x", 1);
    smtp_client_mail(fx->client, NULL, "a@b", NULL, on_done, probe(fx, "MAIL"));
    smtp_client_rcpt(fx->client, &(struct smtp_rcpt){"c@d", no_params()}, on_done,
                     probe(fx, "RCPT"));
    smtp_client_data(fx->client, content, on_done, probe(fx, "DATA"));
    smtp_client_rset(fx->client, on_done, probe(fx, "RSET")); /* queued, not sent */
    evbuffer_free(content);
    feed(fx, "250 2.1.0 Ok\r\n");
    expect_log(fx, "MAIL: 250 2.1.0 Ok\n");
    smtp_client_abort(fx->client, "451 4.4.2 lost connection");
    expect_log(fx, "RCPT: 451 4.4.2 lost connection\nDATA: 451 4.4.2 lost connection\n"
                   "RSET: 451 4.4.2 lost connection\n");
    smtp_client_abort(fx->client, "451 4.4.2 again");
    expect_log(fx, "");
    /* Late bytes are ignored; later commands complete at once. */
    feed(fx, "250 late\r\n");
    smtp_client_rset(fx->client, on_done, probe(fx, "RSET2"));
    expect_log(fx, "RSET2: 451 4.4.2 again\n");
    fx_free(fx);
}

static void test_abort_before_ready(void **state)
{
    struct fx *fx = fx_new(0);

    (void)state;
    smtp_client_mail(fx->client, NULL, "a@b", NULL, on_done, probe(fx, "MAIL"));
    smtp_client_rcpt(fx->client, &(struct smtp_rcpt){"c@d", no_params()}, on_done,
                     probe(fx, "RCPT"));
    smtp_client_abort(fx->client, "451 4.4.1 connect to relay: Connection refused");
    expect_log(fx, "ready: 451 4.4.1 connect to relay: Connection refused\n"
                   "MAIL: 451 4.4.1 connect to relay: Connection refused\n"
                   "RCPT: 451 4.4.1 connect to relay: Connection refused\n");
    expect_out(fx, "");
    fx_free(fx);
}

static void queue_rcpt_then(struct probe *p)
{
    struct fx *fx = p->fx;
    smtp_client_rcpt(fx->client, &(struct smtp_rcpt){"late@x", no_params()}, on_done,
                     probe(fx, "LATE"));
}

static void abort_then(struct probe *p)
{
    smtp_client_abort(p->fx->client, "451 4.3.0 aborted in callback");
}

static void free_then(struct probe *p)
{
    smtp_client_free(p->fx->client);
    p->fx->freed = 1;
}

static void test_reentrant_queue(void **state)
{
    struct fx *fx = fx_ready(0, ehlo_plain);

    (void)state;
    struct probe *m = probe(fx, "MAIL");
    m->then = queue_rcpt_then;
    smtp_client_mail(fx->client, NULL, "a@b", NULL, on_done, m);
    smtp_client_rcpt(fx->client, &(struct smtp_rcpt){"c@d", no_params()}, on_done,
                     probe(fx, "RCPT"));
    expect_out(fx, "MAIL FROM:<a@b>\r\n");
    feed(fx, "250 Ok\r\n");
    expect_out(fx, "RCPT TO:<c@d>\r\n");
    feed(fx, "250 Ok\r\n");
    expect_out(fx, "RCPT TO:<late@x>\r\n");
    feed(fx, "250 Ok\r\n");
    expect_log(fx, "MAIL: 250 Ok\nRCPT: 250 Ok\nLATE: 250 Ok\n");
    fx_free(fx);
}

static void test_reentrant_abort(void **state)
{
    struct fx *fx = fx_ready(0, ehlo_all);

    (void)state;
    struct probe *m = probe(fx, "MAIL");
    m->then = abort_then;
    smtp_client_mail(fx->client, NULL, "a@b", NULL, on_done, m);
    smtp_client_rcpt(fx->client, &(struct smtp_rcpt){"c@d", no_params()}, on_done,
                     probe(fx, "RCPT"));
    /* Both replies in one read: the second must not be delivered after the abort. */
    feed(fx, "250 Ok\r\n250 Ok\r\n");
    expect_log(fx, "MAIL: 250 Ok\nRCPT: 451 4.3.0 aborted in callback\n");
    fx_free(fx);
}

static void test_reentrant_free(void **state)
{
    struct fx *fx = fx_ready(0, ehlo_all);

    (void)state;
    struct probe *m = probe(fx, "MAIL");
    m->then = free_then;
    smtp_client_mail(fx->client, NULL, "a@b", NULL, on_done, m);
    smtp_client_rcpt(fx->client, &(struct smtp_rcpt){"c@d", no_params()}, on_done,
                     probe(fx, "RCPT"));
    feed(fx, "250 Ok\r\n250 Ok\r\n");
    expect_log(fx, "MAIL: 250 Ok\n");
    fx_free(fx);
}

static void free_in_ready(void *ctx, struct smtp_client *client, const struct smtp_reply *f)
{
    struct fx *fx = ctx;
    (void)f;
    smtp_client_free(client);
    fx->freed = 1;
}

static void test_free_in_ready_failure(void **state)
{
    static const struct smtp_client_events ev = {free_in_ready};
    struct fx *fx = fx_new(0);

    (void)state;
    smtp_client_free(fx->client);
    fx->client = smtp_client_new(&fx->config, &ev, fx, fx->out);
    smtp_client_mail(fx->client, NULL, "a@b", NULL, on_done, probe(fx, "MAIL"));
    feed(fx, "554 no\r\n");
    assert_true(fx->freed);
    expect_log(fx, ""); /* freed in ready: the queued MAIL is dropped silently */
    fx_free(fx);
}

/* ---- a real peer: Postfix's smtp-sink ----
 *
 * Proves the bytes we write are accepted by Postfix code: one transaction
 * with XFORWARD, two recipients and the smuggling payloads, against
 * smtp-sink on 127.0.0.1:21150 (our test port range 21100-21199), dumped to
 * a temporary directory and compared. Skipped when smtp-sink is missing. */

#define SINK "/usr/sbin/smtp-sink"
#define SINK_PORT 21150

static pid_t sink_start(const char *dump_template)
{
    char listen[64];
    pid_t pid = fork();

    snprintf(listen, sizeof(listen), "127.0.0.1:%d", SINK_PORT);
    if (pid == 0) {
        if (geteuid() == 0)
            execl(SINK, "smtp-sink", "-u", "nobody", "-d", dump_template, listen, "10",
                  (char *)NULL);
        else
            execl(SINK, "smtp-sink", "-d", dump_template, listen, "10", (char *)NULL);
        _exit(127);
    }
    return pid;
}

static int sink_connect(void)
{
    struct sockaddr_in sin = {0};

    sin.sin_family = AF_INET;
    sin.sin_port = htons(SINK_PORT);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (int i = 0; i < 50; i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd >= 0 && connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0)
            return fd;
        if (fd >= 0)
            close(fd);
        usleep(100 * 1000);
    }
    return -1;
}

/* Run the conversation until the server closes or 10 s pass. */
static void sink_drive(struct fx *fx, int fd)
{
    for (int round = 0; round < 200; round++) {
        struct pollfd pfd = {fd, POLLIN, 0};
        if (evbuffer_get_length(fx->out) > 0)
            pfd.events |= POLLOUT;
        if (poll(&pfd, 1, 50) < 0)
            break;
        if (pfd.revents & POLLOUT)
            evbuffer_write(fx->out, fd);
        if (pfd.revents & (POLLIN | POLLHUP)) {
            int n = evbuffer_read(fx->in, fd, 4096);
            if (n <= 0) {
                smtp_client_abort(fx->client, "451 4.4.2 lost connection with relay");
                return;
            }
            assert_int_equal(smtp_client_input(fx->client, fx->in), 0);
        }
    }
    fail_msg("conversation with smtp-sink did not end");
}

static char *sink_read_dump(const char *dir)
{
    char path[512];
    DIR *d = opendir(dir);
    struct dirent *e;
    char *text = NULL;

    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "r");
        assert_non_null(f);
        assert_null(text); /* exactly one message */
        text = calloc(1, 65536);
        size_t got = fread(text, 1, 65535, f);
        text[got] = 0;
        fclose(f);
        unlink(path);
    }
    closedir(d);
    return text;
}

static void test_real_smtp_sink(void **state)
{
    char dir[] = "/tmp/scand-sink-XXXXXX";
    char tmpl[64];
    struct smtp_xforward xf = {"mx.example", "192.0.2.7", "4711",  "ESMTP",
                               "helo name",  NULL,        "REMOTE"};
    struct smtp_params mp = {40, "8BITMIME", 0, NULL, NULL, NULL, NULL};
    static const char body[] = "Subject: smuggle\r\n\r\nhello\n.\nMAIL FROM:<x>\r\n"
                               ".dot\r\nbye\r\n.\r.\r\n";

    (void)state;
    if (access(SINK, X_OK) != 0)
        skip();
    assert_non_null(mkdtemp(dir));
    chmod(dir, 0777);
    snprintf(tmpl, sizeof(tmpl), "%s/m.", dir);
    pid_t pid = sink_start(tmpl);
    assert_true(pid > 0);
    int fd = sink_connect();
    if (fd < 0) {
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
        rmdir(dir);
        fail_msg("smtp-sink did not listen on port %d", SINK_PORT);
    }

    struct fx *fx = fx_new(0);
    struct evbuffer *content = evbuffer_new();
    evbuffer_add(content, body, strlen(body));
    smtp_client_mail(fx->client, &xf, "a@example.org", &mp, on_done, probe(fx, "MAIL"));
    smtp_client_rcpt(fx->client, &(struct smtp_rcpt){"b@example.net", no_params()}, on_done,
                     probe(fx, "RCPT"));
    smtp_client_rcpt(fx->client, &(struct smtp_rcpt){"c@example.net", no_params()}, on_done,
                     probe(fx, "RCPT"));
    smtp_client_data(fx->client, content, on_done, probe(fx, "DATA"));
    evbuffer_free(content);
    smtp_client_quit(fx->client);
    sink_drive(fx, fd);
    close(fd);
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);

    char *log = take(fx->log);
    char *dump = sink_read_dump(dir);
    rmdir(dir);
    assert_non_null(strstr(log, "ready: ok\n"));
    assert_non_null(strstr(log, "MAIL: 250"));
    assert_non_null(strstr(log, "DATA: 250"));
    assert_true(smtp_client_has_ext(fx->client, "PIPELINING"));
    assert_non_null(dump);
    /* smtp-sink records XFORWARD and the envelope, then the content as
     * received (dot-stuffing undone): our stray LFs became spaces and there
     * is one message. */
    /* smtp-sink advertises XFORWARD; a refused one would have made MAIL 4yz. */
    assert_true(smtp_client_has_ext(fx->client, "XFORWARD"));
    /* The dump has the envelope, then the content as received with line
     * ends as LF and dot-stuffing undone: stray CR/LF became spaces, one
     * message, the fake MAIL FROM stayed content. */
    assert_non_null(strstr(dump, "X-Mail-Args: <a@example.org> BODY=8BITMIME\n"));
    assert_non_null(strstr(dump, "X-Rcpt-Args: <c@example.net>\n"));
    assert_non_null(strstr(dump, "\nhello . MAIL FROM:<x>\n.dot\nbye\n. .\n"));
    free(log);
    free(dump);
    fx_free(fx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ehlo_extensions),
        cmocka_unit_test(test_lhlo),
        cmocka_unit_test(test_helo_fallback),
        cmocka_unit_test(test_lhlo_rejected_no_fallback),
        cmocka_unit_test(test_ehlo_421_fails),
        cmocka_unit_test(test_greeting_5yz_becomes_4yz),
        cmocka_unit_test(test_greeting_4yz),
        cmocka_unit_test(test_loop_in_greeting),
        cmocka_unit_test(test_loop_in_ehlo),
        cmocka_unit_test(test_handshake_split_everywhere),
        cmocka_unit_test(test_malformed_reply),
        cmocka_unit_test(test_reply_limit),
        cmocka_unit_test(test_queued_before_ready_wait),
        cmocka_unit_test(test_params_when_advertised),
        cmocka_unit_test(test_pipelining_on),
        cmocka_unit_test(test_pipelining_off),
        cmocka_unit_test(test_data_rejected),
        cmocka_unit_test(test_xforward_advertised_only),
        cmocka_unit_test(test_xforward_split_512),
        cmocka_unit_test(test_xforward_rejected),
        cmocka_unit_test(test_xforward_rejected_then_rset),
        cmocka_unit_test(test_lmtp_per_recipient),
        cmocka_unit_test(test_lmtp_abort_mid_replies),
        cmocka_unit_test(test_abort_completes_each_once),
        cmocka_unit_test(test_abort_before_ready),
        cmocka_unit_test(test_reentrant_queue),
        cmocka_unit_test(test_reentrant_abort),
        cmocka_unit_test(test_reentrant_free),
        cmocka_unit_test(test_free_in_ready_failure),
        cmocka_unit_test(test_real_smtp_sink),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
