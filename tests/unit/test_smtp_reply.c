/*
 * test_smtp_reply.c - reading server replies (RFC 5321 4.2).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/buffer.h>

#include "smtp/smtp_reply.h"

struct reply_case {
    const char *label;
    const char *input;
    size_t max_len;
    enum smtp_reply_status status;
    int code;
    const char *text; /* expected normalised text when DONE */
    size_t remaining; /* bytes left in the buffer when DONE */
};

static const struct reply_case cases[] = {
    {"one line", "250 2.0.0 Ok\r\n", 512, SMTP_REPLY_DONE, 250, "250 2.0.0 Ok", 0},
    {"bare LF accepted", "250 Ok\n", 512, SMTP_REPLY_DONE, 250, "250 Ok", 0},
    {"code only", "250\r\n", 512, SMTP_REPLY_DONE, 250, "250", 0},
    {"multi-line", "250-mx.example\r\n250-PIPELINING\r\n250 SIZE 1000\r\n", 512, SMTP_REPLY_DONE,
     250, "250 mx.example\n250 PIPELINING\n250 SIZE 1000", 0},
    {"next reply stays", "550 no\r\n250 ok\r\n", 512, SMTP_REPLY_DONE, 550, "550 no", 8},
    {"incomplete line", "250 Ok", 512, SMTP_REPLY_MORE, 0, NULL, 0},
    {"incomplete reply", "250-a\r\n250-b\r\n", 512, SMTP_REPLY_MORE, 0, NULL, 0},
    {"codes differ", "250-a\r\n251 b\r\n", 512, SMTP_REPLY_ERROR, 0, NULL, 0},
    {"not digits", "2x0 Ok\r\n", 512, SMTP_REPLY_ERROR, 0, NULL, 0},
    {"bad separator", "250_Ok\r\n", 512, SMTP_REPLY_ERROR, 0, NULL, 0},
    {"1yz code", "150 Ok\r\n", 512, SMTP_REPLY_ERROR, 0, NULL, 0},
    {"6yz code", "650 Ok\r\n", 512, SMTP_REPLY_ERROR, 0, NULL, 0},
    {"empty line", "\r\n", 512, SMTP_REPLY_ERROR, 0, NULL, 0},
    {"over the bound, complete", "250-aaaaaaaaaa\r\n250 bbbbbbbbbb\r\n", 20, SMTP_REPLY_ERROR, 0,
     NULL, 0},
    {"over the bound, no line end", "250 aaaaaaaaaaaaaaaaaaaaaaaaa", 20, SMTP_REPLY_ERROR, 0, NULL,
     0},
    {"exactly the bound", "250 aaaa\r\n", 10, SMTP_REPLY_DONE, 250, "250 aaaa", 0},
};

static void test_reply_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct reply_case *c = &cases[i];
        struct evbuffer *in = evbuffer_new();
        struct smtp_reply reply = {0, NULL};

        evbuffer_add(in, c->input, strlen(c->input));
        enum smtp_reply_status st = smtp_reply_read(in, c->max_len, &reply);
        if (st != c->status)
            fail_msg("%s: status %d, expected %d", c->label, st, c->status);
        if (st == SMTP_REPLY_DONE) {
            assert_int_equal(reply.code, c->code);
            assert_string_equal(reply.text, c->text);
            assert_int_equal(evbuffer_get_length(in), c->remaining);
            smtp_reply_free(&reply);
        } else if (st == SMTP_REPLY_MORE) {
            /* Nothing is consumed until the reply is complete. */
            assert_int_equal(evbuffer_get_length(in), strlen(c->input));
        }
        evbuffer_free(in);
    }
}

/* A multi-line reply fed in two pieces split at every byte boundary. */
static void test_reply_split_everywhere(void **state)
{
    const char *wire = "250-mx.example greets\r\n250-PIPELINING\r\n250 8BITMIME\r\n";
    size_t len = strlen(wire);

    (void)state;
    for (size_t cut = 0; cut <= len; cut++) {
        struct evbuffer *in = evbuffer_new();
        struct smtp_reply reply = {0, NULL};

        evbuffer_add(in, wire, cut);
        enum smtp_reply_status st = smtp_reply_read(in, 512, &reply);
        if (cut < len) {
            assert_int_equal(st, SMTP_REPLY_MORE);
            evbuffer_add(in, wire + cut, len - cut);
            st = smtp_reply_read(in, 512, &reply);
        }
        assert_int_equal(st, SMTP_REPLY_DONE);
        assert_int_equal(reply.code, 250);
        assert_string_equal(reply.text, "250 mx.example greets\n250 PIPELINING\n250 8BITMIME");
        assert_int_equal(evbuffer_get_length(in), 0);
        smtp_reply_free(&reply);
        evbuffer_free(in);
    }
}

static void test_reply_helpers(void **state)
{
    struct smtp_reply r = {0, NULL};
    struct smtp_reply c = {0, NULL};

    (void)state;
    smtp_reply_set(&r, "250 2.0.0 Ok: queued as ABC");
    assert_int_equal(r.code, 250);
    assert_string_equal(smtp_reply_message(&r), "Ok: queued as ABC");
    smtp_reply_copy(&c, &r);
    assert_int_equal(c.code, 250);
    assert_string_equal(c.text, r.text);
    smtp_reply_free(&c);

    smtp_reply_set(&r, "550 5.1.1 a\n550 5.1.1 b");
    assert_int_equal(r.code, 550);
    char *one = smtp_reply_oneline(&r);
    assert_string_equal(one, "550 5.1.1 a 550 5.1.1 b");
    free(one);

    smtp_reply_set(&r, "250 Ok");
    assert_string_equal(smtp_reply_message(&r), "Ok");
    smtp_reply_set(&r, "250");
    assert_string_equal(smtp_reply_message(&r), "");
    smtp_reply_free(&r);
    assert_null(r.text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reply_table),
        cmocka_unit_test(test_reply_split_everywhere),
        cmocka_unit_test(test_reply_helpers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
