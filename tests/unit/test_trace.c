/* test_trace.c - hop counting and the trace header (scand/trace.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "scand/trace.h"

static struct evbuffer *buffer_of(const char *text)
{
    struct evbuffer *b = evbuffer_new();
    evbuffer_add(b, text, strlen(text));
    return b;
}

static void count_case(const char *label, const char *text, size_t limit, size_t expect)
{
    struct evbuffer *b = buffer_of(text);
    size_t got = trace_count_received(b, limit);
    if (got != expect)
        fail_msg("%s: counted %zu, expected %zu", label, got, expect);
    evbuffer_free(b);
}

static void test_count_received(void **state)
{
    (void)state;
    count_case("none", "Subject: x\r\n\r\nbody\r\n", 50, 0);
    count_case("two", "Received: a\r\nreceived: b\r\nSubject: x\r\n\r\n", 50, 2);
    count_case("folded one", "Received: a\r\n\tb\r\nSubject: x\r\n\r\n", 50, 1);
    count_case("body not counted", "Subject: x\r\n\r\nReceived: fake\r\n", 50, 0);
    count_case("not a prefix match", "Received-SPF: pass\r\nX: y\r\n\r\n", 50, 0);
    count_case("bare LF is not a line end", "Received: a\nReceived: b\r\n\r\n", 50, 1);
    count_case("no body", "Received: a\r\nReceived: b\r\n", 50, 2);
    count_case("stops past the limit", "Received: a\r\nReceived: b\r\nReceived: c\r\n\r\n", 1, 2);
}

static void test_prepend_received(void **state)
{
    struct evbuffer *b = buffer_of("Subject: x\r\n\r\nbody\r\n");
    struct trace_info info = {
        .helo = "mx.example",
        .peer_addr = "127.0.0.1",
        .myhostname = "localhost",
        .protocol = "ESMTP",
        .queue_id = "4ABC",
        .recipient = "a@b.example",
    };
    (void)state;
    trace_prepend_received(b, &info);
    size_t len = evbuffer_get_length(b);
    char *text = (char *)evbuffer_pullup(b, -1);
    const char *expect = "Received: from mx.example ([127.0.0.1])\r\n\tby localhost (scand) with "
                         "ESMTP id 4ABC\r\n\tfor <a@b.example>;\r\n\t";
    assert_memory_equal(text, expect, strlen(expect));
    assert_true(len > strlen(expect));
    assert_non_null(strstr(text, "\r\nSubject: x\r\n\r\nbody\r\n"));
    assert_int_equal(trace_count_received(b, 50), 1);
    evbuffer_free(b);
}

static void test_prepend_hostile_helo(void **state)
{
    struct evbuffer *b = buffer_of("\r\nbody\r\n");
    struct trace_info info = {
        .helo = "evil\r\nX-Injected: yes",
        .peer_addr = "127.0.0.1",
        .myhostname = "localhost",
        .protocol = "LMTP",
    };
    (void)state;
    trace_prepend_received(b, &info);
    const char *text = (const char *)evbuffer_pullup(b, -1);
    assert_null(strstr(text, "X-Injected"));
    assert_non_null(strstr(text, "from unknown ([127.0.0.1])"));
    evbuffer_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_count_received),
        cmocka_unit_test(test_prepend_received),
        cmocka_unit_test(test_prepend_hostile_helo),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
