/* test_smtp_data_in.c - DATA framing: CRLF only, one dot removed, the
 * smuggling payloads stay content, limits while streaming, any split. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/buffer.h>

#include "smtp/smtp_data_in.h"

struct run {
    enum smtp_data_in_status status;
    char *message; /* NUL-terminated copy */
    size_t message_len;
    size_t left; /* input left after the terminator */
    int too_big;
    int line_too_long;
};

/* Feed input in pieces cut at split (0: one piece). */
static struct run decode(const char *input, size_t len, size_t split, size_t size_limit,
                         size_t line_limit)
{
    struct smtp_data_in *d = smtp_data_in_new(size_limit, line_limit);
    struct evbuffer *in = evbuffer_new();
    struct evbuffer *msg = evbuffer_new();
    struct run r;

    if (split > 0 && split < len) {
        evbuffer_add(in, input, split);
        r.status = smtp_data_in_feed(d, in, msg);
        if (r.status == SMTP_DATA_IN_MORE) {
            assert_int_equal(evbuffer_get_length(in), 0);
            evbuffer_add(in, input + split, len - split);
            r.status = smtp_data_in_feed(d, in, msg);
        } else {
            evbuffer_add(in, input + split, len - split);
        }
    } else {
        evbuffer_add(in, input, len);
        r.status = smtp_data_in_feed(d, in, msg);
    }
    r.message_len = evbuffer_get_length(msg);
    r.message = calloc(1, r.message_len + 1);
    evbuffer_remove(msg, r.message, r.message_len);
    r.left = evbuffer_get_length(in);
    r.too_big = smtp_data_in_too_big(d);
    r.line_too_long = smtp_data_in_line_too_long(d);
    smtp_data_in_free(d);
    evbuffer_free(in);
    evbuffer_free(msg);
    return r;
}

struct frame_case {
    const char *label;
    const char *input;
    const char *message; /* expected content */
    size_t left;         /* bytes after the terminator */
};

static const struct frame_case frame_cases[] = {
    {"empty message", ".\r\n", "", 0},
    {"one line", "a\r\n.\r\n", "a\r\n", 0},
    {"dot unstuffed once", "..a\r\n...\r\n.\r\n", ".a\r\n..\r\n", 0},
    {"dot line not at start", "a.\r\n.\r\n", "a.\r\n", 0},
    {"input after terminator stays", "a\r\n.\r\nQUIT\r\n", "a\r\n", 6},
    {"bare LF is content", "a\nb\r\n.\r\n", "a\nb\r\n", 0},
    {"bare CR is content", "a\rb\r\n.\r\n", "a\rb\r\n", 0},
    {"CR CR LF", "a\r\r\n.\r\n", "a\r\r\n", 0},
    {"dot space", ". \r\n.\r\n", " \r\n", 0},
    {"dot CR CR LF", ".\r\r\n.\r\n", "\r\r\n", 0},
    {"dot CR x", ".\rx\r\n.\r\n", "\rx\r\n", 0},
    /* Smuggling payloads (issue 2), each followed by a fake command. */
    {"smuggle LF.LF", "a\n.\nMAIL FROM:<x>\r\n.\r\n", "a\n.\nMAIL FROM:<x>\r\n", 0},
    {"smuggle LF.CRLF", "a\n.\r\nMAIL FROM:<x>\r\n.\r\n", "a\n.\r\nMAIL FROM:<x>\r\n", 0},
    {"smuggle CRLF.LF", "a\r\n.\nMAIL FROM:<x>\r\n.\r\n", "a\r\n\nMAIL FROM:<x>\r\n", 0},
    {"smuggle CR.CR", "a\r.\rMAIL FROM:<x>\r\n.\r\n", "a\r.\rMAIL FROM:<x>\r\n", 0},
    {"smuggle CRLF.CR", "a\r\n.\rMAIL FROM:<x>\r\n.\r\n", "a\r\n\rMAIL FROM:<x>\r\n", 0},
    {"smuggle CRLF.CRCRLF", "a\r\n.\r\r\nMAIL FROM:<x>\r\n.\r\n", "a\r\n\r\r\nMAIL FROM:<x>\r\n",
     0},
};

static void test_framing_every_split(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(frame_cases) / sizeof(frame_cases[0]); i++) {
        const struct frame_case *c = &frame_cases[i];
        size_t len = strlen(c->input);

        print_message("case: %s\n", c->label);
        for (size_t split = 0; split < len; split++) {
            struct run r = decode(c->input, len, split, 0, 0);

            assert_int_equal(r.status, SMTP_DATA_IN_DONE);
            assert_int_equal(r.message_len, strlen(c->message));
            assert_memory_equal(r.message, c->message, r.message_len);
            assert_int_equal(r.left, c->left);
            free(r.message);
        }
    }
}

/* The smuggling payloads never end the message on their own. */
static void test_smuggling_payloads_not_terminators(void **state)
{
    static const char *payloads[] = {"\n.\n", "\n.\r\n", "\r\n.\n",
                                     "\r.\r", "\r\n.\r", "\r\n.\r\r\n"};

    (void)state;
    for (size_t i = 0; i < sizeof(payloads) / sizeof(payloads[0]); i++) {
        char input[64];
        int n = snprintf(input, sizeof(input), "x%sMAIL FROM:<x>\r\n", payloads[i]);
        struct run r = decode(input, (size_t)n, 0, 0, 0);

        assert_int_equal(r.status, SMTP_DATA_IN_MORE);
        assert_int_equal(r.left, 0);
        free(r.message);
    }
}

static void test_size_limit(void **state)
{
    const char *in = "0123456789\r\n0123456789\r\n.\r\nNOOP\r\n";
    struct run r;

    (void)state;
    r = decode(in, strlen(in), 0, 24, 0);
    assert_int_equal(r.status, SMTP_DATA_IN_DONE);
    assert_false(r.too_big);
    assert_int_equal(r.message_len, 24);
    free(r.message);
    for (size_t split = 0; split < strlen(in); split++) {
        r = decode(in, strlen(in), split, 23, 0);
        assert_int_equal(r.status, SMTP_DATA_IN_DONE);
        assert_true(r.too_big);
        assert_int_equal(r.message_len, 0); /* dropped, never truncated */
        assert_int_equal(r.left, 6);
        free(r.message);
    }
}

static void test_line_limit(void **state)
{
    const char *ok = "12345\r\n.12345\r\n.\r\n";
    const char *bad = "12345\r\n123456\r\nmore\r\n.\r\n";
    struct run r;

    (void)state;
    r = decode(ok, strlen(ok), 0, 0, 5);
    assert_false(r.line_too_long);
    assert_string_equal(r.message, "12345\r\n12345\r\n");
    free(r.message);
    for (size_t split = 0; split < strlen(bad); split++) {
        r = decode(bad, strlen(bad), split, 0, 5);
        assert_int_equal(r.status, SMTP_DATA_IN_DONE);
        assert_true(r.line_too_long);
        assert_int_equal(r.message_len, 0);
        free(r.message);
    }
}

/* An endless line costs no memory: content is dropped as it arrives. */
static void test_endless_line_bounded(void **state)
{
    struct smtp_data_in *d = smtp_data_in_new(0, 1000);
    struct evbuffer *in = evbuffer_new();
    struct evbuffer *msg = evbuffer_new();
    char chunk[4096];

    (void)state;
    memset(chunk, 'x', sizeof(chunk));
    chunk[sizeof(chunk) - 1] = '\r'; /* a CR at every chunk end */
    for (int i = 0; i < 256; i++) {
        evbuffer_add(in, chunk, sizeof(chunk));
        assert_int_equal(smtp_data_in_feed(d, in, msg), SMTP_DATA_IN_MORE);
        assert_int_equal(evbuffer_get_length(in), 0);
        assert_true(evbuffer_get_length(msg) <= 1000);
    }
    evbuffer_add(in, "\n.\r\n", 4);
    assert_int_equal(smtp_data_in_feed(d, in, msg), SMTP_DATA_IN_DONE);
    assert_true(smtp_data_in_line_too_long(d));
    assert_int_equal(evbuffer_get_length(msg), 0);
    assert_int_equal(smtp_data_in_size(d), 256 * 4096 + 1);
    smtp_data_in_free(d);
    evbuffer_free(in);
    evbuffer_free(msg);
}

static void test_reset_between_messages(void **state)
{
    struct smtp_data_in *d = smtp_data_in_new(8, 0);
    struct evbuffer *in = evbuffer_new();
    struct evbuffer *msg = evbuffer_new();

    (void)state;
    evbuffer_add(in, "0123456789\r\n.\r\nab\r\n.\r\n", 22);
    assert_int_equal(smtp_data_in_feed(d, in, msg), SMTP_DATA_IN_DONE);
    assert_true(smtp_data_in_too_big(d));
    smtp_data_in_reset(d);
    assert_int_equal(smtp_data_in_feed(d, in, msg), SMTP_DATA_IN_DONE);
    assert_false(smtp_data_in_too_big(d));
    assert_int_equal(smtp_data_in_size(d), 4);
    assert_int_equal(evbuffer_get_length(msg), 4);
    smtp_data_in_free(d);
    evbuffer_free(in);
    evbuffer_free(msg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_framing_every_split),
        cmocka_unit_test(test_smuggling_payloads_not_terminators),
        cmocka_unit_test(test_size_limit),
        cmocka_unit_test(test_line_limit),
        cmocka_unit_test(test_endless_line_bounded),
        cmocka_unit_test(test_reset_between_messages),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
