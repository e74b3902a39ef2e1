/*
 * test_smtp_data_out.c - the content encoder (promise 3: no smuggling).
 *
 * Sources are built from evbuffer_add_reference pieces, so every piece is
 * its own evbuffer chunk and chunk boundaries fall inside CRLF, before and
 * after dots, everywhere.
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

#include "smtp/smtp_data_out.h"

/* src made of pieces of step bytes (each its own chunk). */
static struct evbuffer *chunked(const char *s, size_t len, size_t step)
{
    struct evbuffer *buf = evbuffer_new();

    for (size_t off = 0; off < len; off += step) {
        size_t n = len - off < step ? len - off : step;
        evbuffer_add_reference(buf, s + off, n, NULL, NULL);
    }
    return buf;
}

/* Two chunks split at cut. */
static struct evbuffer *split(const char *s, size_t len, size_t cut)
{
    struct evbuffer *buf = evbuffer_new();

    if (cut > 0)
        evbuffer_add_reference(buf, s, cut, NULL, NULL);
    if (len > cut)
        evbuffer_add_reference(buf, s + cut, len - cut, NULL, NULL);
    return buf;
}

static char *encode(struct evbuffer *src, size_t *out_len)
{
    struct evbuffer *dst = evbuffer_new();

    evbuffer_add(dst, "X", 1); /* appends, never replaces */
    smtp_data_out_encode(dst, src);
    size_t len = evbuffer_get_length(dst);
    char *out = malloc(len + 1);
    evbuffer_remove(dst, out, len);
    out[len] = 0;
    evbuffer_free(dst);
    assert_int_equal(out[0], 'X');
    memmove(out, out + 1, len);
    *out_len = len - 1;
    return out;
}

/* The reference: the policy of smtp_data_out.h written the slow, obvious way. */
static char *reference(const char *in, size_t len, size_t *out_len)
{
    char *out = malloc(2 * len + 8);
    size_t o = 0;
    int bol = 1;

    for (size_t i = 0; i < len; i++) {
        if (in[i] == '\r' && i + 1 < len && in[i + 1] == '\n') {
            out[o++] = '\r';
            out[o++] = '\n';
            i++;
            bol = 1;
            continue;
        }
        char c = (in[i] == '\r' || in[i] == '\n') ? ' ' : in[i];
        if (bol && c == '.')
            out[o++] = '.';
        out[o++] = c;
        bol = 0;
    }
    if (!bol) {
        out[o++] = '\r';
        out[o++] = '\n';
    }
    memcpy(out + o, ".\r\n", 3);
    o += 3;
    out[o] = 0;
    *out_len = o;
    return out;
}

/* Canonical output: no bare CR or LF, and CRLF.CRLF only at the very end
 * (or the whole output is ".\r\n" after an empty body). */
static void assert_canonical(const char *out, size_t len)
{
    size_t terminators = 0;

    assert_true(len >= 3);
    assert_memory_equal(out + len - 3, ".\r\n", 3);
    for (size_t i = 0; i < len; i++) {
        if (out[i] == '\r')
            assert_true(i + 1 < len && out[i + 1] == '\n');
        if (out[i] == '\n')
            assert_true(i > 0 && out[i - 1] == '\r');
        if (i + 5 <= len && memcmp(out + i, "\r\n.\r\n", 5) == 0)
            terminators++;
    }
    if (len == 3)
        assert_int_equal(terminators, 0);
    else
        assert_int_equal(terminators, 1);
    if (len > 3)
        assert_memory_equal(out + len - 5, "\r\n.\r\n", 5);
}

static void check_all_chunkings(const char *in, size_t len, const char *expect)
{
    size_t ref_len;
    char *ref = reference(in, len, &ref_len);

    if (expect != NULL)
        assert_string_equal(ref, expect);
    for (size_t step = 1; step <= len + 1; step++) {
        struct evbuffer *src = chunked(in, len, step);
        size_t out_len;
        char *out = encode(src, &out_len);
        assert_int_equal(out_len, ref_len);
        assert_memory_equal(out, ref, ref_len);
        assert_canonical(out, out_len);
        assert_int_equal(evbuffer_get_length(src), len); /* src not modified */
        free(out);
        evbuffer_free(src);
    }
    for (size_t cut = 0; cut <= len; cut++) {
        struct evbuffer *src = split(in, len, cut);
        size_t out_len;
        char *out = encode(src, &out_len);
        assert_int_equal(out_len, ref_len);
        assert_memory_equal(out, ref, ref_len);
        free(out);
        evbuffer_free(src);
    }
    free(ref);
}

struct smuggle_case {
    const char *payload;
    const char *expect; /* the encoded "hello" PAYLOAD "MAIL FROM:<x>\r\n" */
};

static const struct smuggle_case smuggling[] = {
    {"\n.\n", "hello . MAIL FROM:<x>\r\n"},
    {"\n.\r\n", "hello .\r\nMAIL FROM:<x>\r\n"},
    {"\r\n.\n", "hello\r\n.. MAIL FROM:<x>\r\n"},
    {"\r.\r", "hello . MAIL FROM:<x>\r\n"},
    {"\r\n.\r", "hello\r\n.. MAIL FROM:<x>\r\n"},
    {"\r\n.\r\r\n", "hello\r\n.. \r\nMAIL FROM:<x>\r\n"},
};

static void test_smuggling_payloads(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(smuggling) / sizeof(smuggling[0]); i++) {
        char *in = NULL;
        char *expect = NULL;
        int n = asprintf(&in, "Subject: t\r\n\r\nhello%sMAIL FROM:<x>\r\nRCPT TO:<y>\r\n",
                         smuggling[i].payload);
        assert_true(n > 0);
        n = asprintf(&expect, "Subject: t\r\n\r\n%sRCPT TO:<y>\r\n.\r\n", smuggling[i].expect);
        assert_true(n > 0);
        check_all_chunkings(in, strlen(in), expect);
        free(in);
        free(expect);
    }
}

static void test_dot_stuffing(void **state)
{
    static const char in[] = ".\r\n..\r\n.x\r\na.b\r\n.";
    (void)state;
    check_all_chunkings(in, strlen(in), "..\r\n...\r\n..x\r\na.b\r\n..\r\n.\r\n");
}

static void test_final_line(void **state)
{
    (void)state;
    check_all_chunkings("", 0, ".\r\n");
    check_all_chunkings("abc", 3, "abc\r\n.\r\n");
    check_all_chunkings("abc\r\n", 5, "abc\r\n.\r\n");
    check_all_chunkings("abc\r", 4, "abc \r\n.\r\n");
    check_all_chunkings("abc\n", 4, "abc \r\n.\r\n");
    check_all_chunkings("\r\n", 2, "\r\n.\r\n");
    check_all_chunkings("\r\n\r\n", 4, "\r\n\r\n.\r\n");
}

static void test_stray_cr_lf(void **state)
{
    static const char in[] = "a\rb\nc\r\r\nd\n\re\r\n";
    (void)state;
    check_all_chunkings(in, strlen(in), "a b c \r\nd  e\r\n.\r\n");
}

static void test_binary_bytes_pass(void **state)
{
    static const char in[] = "\xc3\xa9t\xc3\xa9 \x00\x01\x7f\xff\r\n";
    (void)state;
    check_all_chunkings(in, sizeof(in) - 1, NULL);
}

/* Random content over the dangerous alphabet, random chunking, against the
 * reference; fixed seed so a failure repeats. */
static void test_random_against_reference(void **state)
{
    static const char alphabet[] = "\r\n.a";
    unsigned seed = 12345;

    (void)state;
    for (int round = 0; round < 2000; round++) {
        char in[64];
        size_t len = (size_t)(rand_r(&seed) % (int)sizeof(in));
        for (size_t i = 0; i < len; i++)
            in[i] = alphabet[rand_r(&seed) % 4];
        struct evbuffer *src = evbuffer_new();
        for (size_t off = 0; off < len;) {
            size_t n = 1 + (size_t)(rand_r(&seed) % 5);
            if (n > len - off)
                n = len - off;
            evbuffer_add_reference(src, in + off, n, NULL, NULL);
            off += n;
        }
        size_t out_len, ref_len;
        char *out = encode(src, &out_len);
        char *ref = reference(in, len, &ref_len);
        assert_int_equal(out_len, ref_len);
        assert_memory_equal(out, ref, ref_len);
        assert_canonical(out, out_len);
        free(out);
        free(ref);
        evbuffer_free(src);
    }
}

/* A large message made of many chunks stays exact. */
static void test_large(void **state)
{
    struct evbuffer *src = evbuffer_new();
    struct evbuffer *expect = evbuffer_new();

    (void)state;
    for (int i = 0; i < 20000; i++) {
        evbuffer_add_printf(src, "%sline %d with text\r\n", i % 7 == 0 ? "." : "", i);
        evbuffer_add_printf(expect, "%sline %d with text\r\n", i % 7 == 0 ? ".." : "", i);
    }
    evbuffer_add(expect, ".\r\n", 3);
    size_t out_len;
    char *out = encode(src, &out_len);
    assert_int_equal(out_len, evbuffer_get_length(expect));
    assert_memory_equal(out, evbuffer_pullup(expect, -1), out_len);
    free(out);
    evbuffer_free(src);
    evbuffer_free(expect);
}

/* Lines long enough that the memchr/memcpy sweep crosses chunks, with the
 * CR, LF and dots it must stop at on either side of every cut. */
struct boundary_case {
    const char *label;
    const char *input;
    const char *expect;
};

static const struct boundary_case boundary_cases[] = {
    {"long lines", "0123456789\r\nabcdefghij\r\n", "0123456789\r\nabcdefghij\r\n.\r\n"},
    {"bare CR mid line", "01234\r56789\r\n", "01234 56789\r\n.\r\n"},
    {"bare LF mid line", "01234\n56789\r\n", "01234 56789\r\n.\r\n"},
    {"CR at the end, then text", "0123456789\rabc", "0123456789 abc\r\n.\r\n"},
    {"dots after line ends", "abc\r\n.def\r\n..\r\nghi.\r\n",
     "abc\r\n..def\r\n...\r\nghi.\r\n.\r\n"},
    {"LF CR pairs", "ab\n\rcd\n\r\nef", "ab  cd \r\nef\r\n.\r\n"},
};

static void test_chunk_boundaries(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(boundary_cases) / sizeof(boundary_cases[0]); i++) {
        print_message("case: %s\n", boundary_cases[i].label);
        check_all_chunkings(boundary_cases[i].input, strlen(boundary_cases[i].input),
                            boundary_cases[i].expect);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_smuggling_payloads),
        cmocka_unit_test(test_dot_stuffing),
        cmocka_unit_test(test_final_line),
        cmocka_unit_test(test_stray_cr_lf),
        cmocka_unit_test(test_binary_bytes_pass),
        cmocka_unit_test(test_random_against_reference),
        cmocka_unit_test(test_large),
        cmocka_unit_test(test_chunk_boundaries),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
