/*
 * fuzz_smtp_server.c - the SMTP/LMTP server session fed arbitrary bytes
 * (commands, pipelining, DATA), against a fake owner that answers inside
 * the event callbacks, as tests/unit/test_smtp_server.c's sync owner.
 *
 * Input: byte 0 picks the owner's answers and how the stream is cut into
 * reads; the rest is what the client sends. Small limits, so the limit
 * paths (command line, DATA line, size, recipients) are reached.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <event2/buffer.h>

#include "smtp/smtp_server.h"
#include "util/msg.h"

struct owner {
    struct smtp_server *server;
    uint8_t mode; /* bit 0: refuse MAIL, 1: refuse some RCPT, 2: refuse DATA, 3: 4yz message */
};

static void on_mail(void *ctx, struct smtp_server *server)
{
    struct owner *o = ctx;

    smtp_server_reply(server, (o->mode & 1) ? "550 5.7.1 Sender rejected" : "250 2.1.0 Ok");
}

static void on_rcpt(void *ctx, struct smtp_server *server, const struct smtp_rcpt *rcpt)
{
    struct owner *o = ctx;

    if ((o->mode & 2) && rcpt->addr[0] == 'b')
        smtp_server_replyf(server, "550 5.1.1 <%s>: Recipient address rejected", rcpt->addr);
    else
        smtp_server_reply(server, "250-2.1.5 Ok\n250 2.1.5 \001two");
}

static void on_data(void *ctx, struct smtp_server *server)
{
    struct owner *o = ctx;

    smtp_server_reply(server, (o->mode & 4) ? "554 5.7.1 No data" : "354 End data");
}

static void on_message(void *ctx, struct smtp_server *server, struct evbuffer *message)
{
    struct owner *o = ctx;
    const struct smtp_transaction *tx = smtp_server_transaction(server);
    size_t replies = 1;

    (void)evbuffer_pullup(message, -1);
    if (smtp_server_proto(server) == SMTP_SERVER_PROTO_LMTP)
        replies = tx->rcpt_count;
    for (size_t i = 0; i < replies; i++)
        smtp_server_reply(server, (o->mode & 8) ? "451 4.3.0 later" : "250 2.0.0 Ok: queued");
}

static void on_reset(void *ctx, struct smtp_server *server)
{
    (void)ctx;
    (void)server;
}

static void on_refused(void *ctx, struct smtp_server *server, const char *command,
                       const char *reply)
{
    (void)ctx;
    (void)server;
    (void)command;
    (void)reply;
}

static const struct smtp_server_events events = {
    on_mail, on_rcpt, on_data, on_message, on_reset, on_refused,
};

static const struct smtp_server_config config = {
    .myhostname = "scand.fuzz",
    .message_size_limit = 4000,
    .recipient_limit = 8,
    .command_line_limit = 300,
    .data_line_limit = 200,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct owner o = {0};
    struct evbuffer *out = evbuffer_new();
    struct evbuffer *in = evbuffer_new();
    size_t chunk, pos = 1;

    if (size == 0)
        goto done;
    o.mode = data[0];
    chunk = (data[0] >> 4) == 0 ? size : (size_t)(data[0] >> 4) * 7;
    o.server = smtp_server_new(&config, &events, &o, out);
    smtp_server_greet(o.server);
    while (pos < size) {
        size_t n = size - pos < chunk ? size - pos : chunk;

        evbuffer_add(in, data + pos, n);
        pos += n;
        if (smtp_server_input(o.server, in) < 0)
            break;
        /* The owner sends what was queued, as the daemon does. */
        evbuffer_drain(out, evbuffer_get_length(out));
    }
    if (!smtp_server_closed(o.server) && (o.mode & 0x10))
        smtp_server_timeout(o.server);
    smtp_server_free(o.server);
done:
    evbuffer_free(in);
    evbuffer_free(out);
    return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    msg_open("fuzz_smtp_server", 1);
    return 0;
}
