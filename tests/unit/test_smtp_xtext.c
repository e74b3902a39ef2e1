/* test_smtp_xtext.c - xtext (RFC 3461 4) decode, encode, validity. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "smtp/smtp_xtext.h"

struct decode_case {
    const char *label;
    const char *in;
    const char *out; /* NULL: invalid */
};

static const struct decode_case decode_cases[] = {
    {"plain", "abc", "abc"},
    {"empty", "", ""},
    {"hex upper", "a+2Bb", "a+b"},
    {"hex lower accepted", "a+2bb", "a+b"},
    {"equals", "+3D", "="},
    {"space", "a+20b", "a b"},
    {"8-bit", "+C3+A9", "\xc3\xa9"},
    {"nul refused", "a+00b", NULL},
    {"short escape", "a+2", NULL},
    {"bad hex", "a+zz", NULL},
    {"literal equals", "a=b", NULL},
    {"literal space", "a b", NULL},
    {"literal control", "a\tb", NULL},
    {"literal 8-bit", "a\xc3\xa9", NULL},
    {"trailing plus", "a+", NULL},
};

static void test_decode_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(decode_cases) / sizeof(decode_cases[0]); i++) {
        const struct decode_case *c = &decode_cases[i];
        char *out = smtp_xtext_decode(c->in, strlen(c->in));

        print_message("case: %s\n", c->label);
        if (c->out == NULL) {
            assert_null(out);
            assert_false(smtp_xtext_valid(c->in, strlen(c->in)));
        } else {
            assert_non_null(out);
            assert_string_equal(out, c->out);
            assert_true(smtp_xtext_valid(c->in, strlen(c->in)));
        }
        free(out);
    }
}

static void test_decode_uses_len(void **state)
{
    char *out = smtp_xtext_decode("abc+20", 3);

    (void)state;
    assert_string_equal(out, "abc");
    free(out);
    /* A "+XX" cut by len is invalid, not read past len. */
    assert_false(smtp_xtext_valid("a+20", 3));
}

static void test_encode(void **state)
{
    char *out;

    (void)state;
    out = smtp_xtext_encode("a b+c=d\r\n\xc3\xa9~!");
    assert_string_equal(out, "a+20b+2Bc+3Dd+0D+0A+C3+A9~!");
    free(out);
    out = smtp_xtext_encode("");
    assert_string_equal(out, "");
    free(out);
}

/* Every octet 1..255 survives encode then decode. */
static void test_round_trip_all_octets(void **state)
{
    char in[256];
    char *enc, *dec;

    (void)state;
    for (int i = 1; i < 256; i++)
        in[i - 1] = (char)i;
    in[255] = '\0';
    enc = smtp_xtext_encode(in);
    assert_true(smtp_xtext_valid(enc, strlen(enc)));
    dec = smtp_xtext_decode(enc, strlen(enc));
    assert_non_null(dec);
    assert_memory_equal(dec, in, 256);
    free(enc);
    free(dec);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_table),
        cmocka_unit_test(test_decode_uses_len),
        cmocka_unit_test(test_encode),
        cmocka_unit_test(test_round_trip_all_octets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
