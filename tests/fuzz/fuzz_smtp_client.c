/*
 * fuzz_smtp_client.c - the relay side: the reply parser (smtp_reply_read)
 * and the SMTP/LMTP client fed arbitrary server bytes after a whole
 * transaction (XFORWARD, MAIL, two RCPTs, DATA, RSET, QUIT) was queued.
 *
 * Input: byte 0 picks LMTP and the read size; the rest is the server.
 * Every command must complete exactly once (LMTP data: once per accepted
 * recipient): counted, and checked at the end.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "smtp/smtp_client.h"
#include "smtp/smtp_reply.h"
#include "util/msg.h"

enum { C_MAIL, C_RCPT1, C_RCPT2, C_DATA, C_RSET, C_COUNT };

struct fx {
    int done[C_COUNT];
    int ready;
};

struct tag {
    struct fx *fx;
    int which;
};

static void on_ready(void *ctx, struct smtp_client *client, const struct smtp_reply *failure)
{
    struct fx *fx = ctx;

    (void)client;
    (void)failure;
    fx->ready++;
}

static const struct smtp_client_events events = {on_ready};

static void on_done(void *arg, const struct smtp_reply *reply)
{
    struct tag *t = arg;

    if (reply == NULL || reply->text == NULL || reply->code < 200 || reply->code > 599)
        abort();
    t->fx->done[t->which]++;
}

/* The reply parser alone, over the same bytes. */
static void replies(const uint8_t *data, size_t size)
{
    struct evbuffer *in = evbuffer_new();
    struct smtp_reply reply;

    evbuffer_add(in, data, size);
    for (int i = 0; i < 1000; i++) {
        memset(&reply, 0, sizeof(reply));
        if (smtp_reply_read(in, 512, &reply) != SMTP_REPLY_DONE)
            break;
        free(smtp_reply_oneline(&reply));
        (void)smtp_reply_message(&reply);
        smtp_reply_free(&reply);
    }
    evbuffer_free(in);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fx fx = {0};
    struct tag tags[C_COUNT];
    struct smtp_client_config config = {"scand.fuzz", 0, 1024};
    struct smtp_xforward xf = {0};
    struct smtp_params params = {.size = 42};
    struct smtp_rcpt r1 = {"a@example.org", {.size = -1, .notify = "SUCCESS,FAILURE"}};
    struct smtp_rcpt r2 = {"b@example.org", {.size = -1, .orcpt = "rfc822;b@example.org"}};
    struct evbuffer *out, *in, *content;
    struct smtp_client *client;
    size_t chunk, pos = 1;

    if (size == 0)
        return 0;
    replies(data + 1, size - 1);
    config.lmtp = data[0] & 1;
    chunk = (data[0] >> 1) == 0 ? size : (size_t)(data[0] >> 1);
    xf.name = "client.example";
    xf.addr = "192.0.2.1";
    xf.helo = "helo\r\nname";
    params.body = "8BITMIME";
    params.envid = "id+2B1";
    out = evbuffer_new();
    in = evbuffer_new();
    content = evbuffer_new();
    evbuffer_add_printf(content, "Subject: x\r\n\r\n.dot\r\nbody\r\n");
    for (int i = 0; i < C_COUNT; i++)
        tags[i] = (struct tag){&fx, i};
    client = smtp_client_new(&config, &events, &fx, out);
    smtp_client_mail(client, &xf, "s@example.org", &params, on_done, &tags[C_MAIL]);
    smtp_client_rcpt(client, &r1, on_done, &tags[C_RCPT1]);
    smtp_client_rcpt(client, &r2, on_done, &tags[C_RCPT2]);
    smtp_client_data(client, content, on_done, &tags[C_DATA]);
    smtp_client_rset(client, on_done, &tags[C_RSET]);
    smtp_client_quit(client);
    while (pos < size) {
        size_t n = size - pos < chunk ? size - pos : chunk;

        evbuffer_add(in, data + pos, n);
        pos += n;
        if (smtp_client_input(client, in) < 0)
            break;
        evbuffer_drain(out, evbuffer_get_length(out));
    }
    smtp_client_abort(client, "451 4.4.2 lost connection");
    /* Each command completes once; LMTP data once per accepted recipient
     * (at least once: a refusal or the abort). */
    for (int i = 0; i < C_COUNT; i++)
        if (fx.done[i] != 1 && !(i == C_DATA && config.lmtp && fx.done[i] == 2))
            abort();
    if (fx.ready > 1 || !smtp_client_idle(client))
        abort();
    smtp_client_free(client);
    evbuffer_free(in);
    evbuffer_free(out);
    evbuffer_free(content);
    return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    msg_open("fuzz_smtp_client", 1);
    return 0;
}
