/* test_smtp_envelope.c - MAIL/RCPT argument parsing (replies checked
 * against Postfix 3.7 smtpd) and the copy/free helpers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "smtp/smtp_envelope.h"

struct parse_case {
    const char *label;
    const char *args;
    const char *reply; /* NULL: accepted */
    const char *addr;  /* expected address when accepted */
};

static const struct parse_case mail_cases[] = {
    {"plain", "FROM:<a@b>", NULL, "a@b"},
    {"lower case keyword", "from:<a@b>", NULL, "a@b"},
    {"space after colon", "FROM: <a@b>", NULL, "a@b"},
    {"no brackets tolerated", "FROM:a@b", NULL, "a@b"},
    {"null sender", "FROM:<>", NULL, ""},
    {"source route dropped", "FROM:<@x,@y:u@d>", NULL, "u@d"},
    {"quoted local part", "FROM:<\"a b\"@c>", NULL, "\"a b\"@c"},
    {"no keyword", "", "501 5.5.4 Syntax: MAIL FROM:<address>", NULL},
    {"FROM without colon", "FROM", "501 5.5.4 Syntax: MAIL FROM:<address>", NULL},
    {"FROM: without address", "FROM:", "501 5.5.4 Syntax: MAIL FROM:<address>", NULL},
    {"TO instead of FROM", "TO:<a@b>", "501 5.5.4 Syntax: MAIL FROM:<address>", NULL},
    {"unclosed bracket", "FROM:<a@b", "501 5.1.7 Bad sender address syntax", NULL},
    {"junk after bracket", "FROM:<a@b>x", "501 5.1.7 Bad sender address syntax", NULL},
    {"space inside brackets", "FROM:<a b@c>", "501 5.1.7 Bad sender address syntax", NULL},
    {"control chars kept, as Postfix", "FROM:<a\001b\033[1m\177@c>", NULL, "a\001b\033[1m\177@c"},
    {"CR refused", "FROM:<a\rX: y@c>", "501 5.1.7 Bad sender address syntax", NULL},
    {"unknown option", "FROM:<a@b> FOO", "555 5.5.4 Unsupported option", NULL},
    {"bad BODY", "FROM:<a@b> BODY=foo", "555 5.5.4 Unsupported option", NULL},
    {"SIZE not numeric", "FROM:<a@b> SIZE=x", "501 5.5.4 Bad message size syntax", NULL},
    {"SIZE empty", "FROM:<a@b> SIZE=", "501 5.5.4 Bad message size syntax", NULL},
    {"SIZE overflow", "FROM:<a@b> SIZE=99999999999999999999999999",
     "552 5.3.4 Message size exceeds file system imposed limit", NULL},
    {"bad RET", "FROM:<a@b> RET=x", "501 5.5.4 Bad RET parameter syntax", NULL},
    {"repeated RET", "FROM:<a@b> RET=FULL RET=HDRS", "501 5.5.4 Bad RET parameter syntax", NULL},
    {"bad ENVID xtext", "FROM:<a@b> ENVID=a+2", "501 5.5.4 Bad ENVID parameter syntax", NULL},
    {"repeated ENVID", "FROM:<a@b> ENVID=a ENVID=b", "501 5.5.4 Bad ENVID parameter syntax", NULL},
    {"RCPT param at MAIL", "FROM:<a@b> NOTIFY=NEVER", "555 5.5.4 Unsupported option", NULL},
};

static const struct parse_case rcpt_cases[] = {
    {"plain", "TO:<a@b>", NULL, "a@b"},
    {"space after colon", "TO: <e@f>", NULL, "e@f"},
    {"no brackets", "to:c@d", NULL, "c@d"},
    {"source route", "TO:<@x,@y:g@h>", NULL, "g@h"},
    {"empty recipient", "TO:<>", "501 5.1.3 Bad recipient address syntax", NULL},
    {"missing TO", "<a@b>", "501 5.5.4 Syntax: RCPT TO:<address>", NULL},
    {"FROM instead of TO", "FROM:<a@b>", "501 5.5.4 Syntax: RCPT TO:<address>", NULL},
    {"unclosed", "TO:<a@b", "501 5.1.3 Bad recipient address syntax", NULL},
    {"second address", "TO:<a@b> <c@d>", "555 5.5.4 Unsupported option", NULL},
    {"bad NOTIFY", "TO:<a@b> NOTIFY=x", "501 5.5.4 Error: Bad NOTIFY parameter syntax", NULL},
    {"NEVER with others", "TO:<a@b> NOTIFY=NEVER,DELAY",
     "501 5.5.4 Error: Bad NOTIFY parameter syntax", NULL},
    {"repeated NOTIFY", "TO:<a@b> NOTIFY=SUCCESS NOTIFY=DELAY",
     "501 5.5.4 Error: Bad NOTIFY parameter syntax", NULL},
    {"ORCPT without type", "TO:<a@b> ORCPT=foo", "501 5.5.4 Error: Bad ORCPT parameter syntax",
     NULL},
    {"ORCPT bad xtext", "TO:<a@b> ORCPT=rfc822;a+2", "501 5.5.4 Error: Bad ORCPT parameter syntax",
     NULL},
    {"repeated ORCPT", "TO:<a@b> ORCPT=rfc822;a ORCPT=rfc822;b",
     "501 5.5.4 Error: Bad ORCPT parameter syntax", NULL},
    {"ORCPT empty address passes", "TO:<a@b> ORCPT=x;", NULL, "a@b"},
    {"MAIL param at RCPT", "TO:<a@b> SIZE=1", "555 5.5.4 Unsupported option", NULL},
};

static void run_cases(const struct parse_case *cases, size_t n, int mail)
{
    for (size_t i = 0; i < n; i++) {
        const struct parse_case *c = &cases[i];
        struct smtp_params params;
        char *addr = (char *)"untouched";
        struct smtp_parse_result res = mail ? smtp_parse_mail(c->args, &addr, &params)
                                            : smtp_parse_rcpt(c->args, &addr, &params);

        print_message("case: %s\n", c->label);
        if (c->reply == NULL) {
            assert_true(res.ok);
            assert_string_equal(addr, c->addr);
            free(addr);
            smtp_params_free(&params);
        } else {
            assert_false(res.ok);
            assert_string_equal(res.reply, c->reply);
            assert_null(addr);
        }
    }
}

static void test_mail_table(void **state)
{
    (void)state;
    run_cases(mail_cases, sizeof(mail_cases) / sizeof(mail_cases[0]), 1);
}

static void test_rcpt_table(void **state)
{
    (void)state;
    run_cases(rcpt_cases, sizeof(rcpt_cases) / sizeof(rcpt_cases[0]), 0);
}

static void test_unsupported_option_points_at_it(void **state)
{
    const char *args = "FROM:<a@b> SIZE=1  XVERP=x BODY=7BIT";
    struct smtp_params params;
    char *addr;
    struct smtp_parse_result res = smtp_parse_mail(args, &addr, &params);

    (void)state;
    assert_false(res.ok);
    assert_non_null(res.option);
    assert_int_equal(res.option_len, 7);
    assert_memory_equal(res.option, "XVERP=x", 7);
}

static void test_mail_params_kept(void **state)
{
    struct smtp_params params;
    char *addr;
    struct smtp_parse_result res = smtp_parse_mail(
        "FROM:<a@b> SIZE=1 SIZE=2 BODY=7bit BODY=8bitmime smtputf8 ret=hdrs ENVID=x+2By", &addr,
        &params);

    (void)state;
    assert_true(res.ok);
    assert_int_equal(params.size, 2);
    assert_string_equal(params.body, "8BITMIME");
    assert_true(params.smtputf8);
    assert_string_equal(params.ret, "HDRS");
    assert_string_equal(params.envid, "x+2By"); /* kept encoded */
    assert_null(params.notify);
    assert_null(params.orcpt);
    free(addr);
    smtp_params_free(&params);
}

static void test_mail_params_absent(void **state)
{
    struct smtp_params params;
    char *addr;

    (void)state;
    assert_true(smtp_parse_mail("FROM:<>", &addr, &params).ok);
    assert_int_equal(params.size, -1);
    assert_null(params.body);
    assert_false(params.smtputf8);
    assert_null(params.ret);
    assert_null(params.envid);
    free(addr);
    smtp_params_free(&params);
}

static void test_rcpt_params_kept(void **state)
{
    struct smtp_params params, copy;
    char *addr;

    (void)state;
    assert_true(
        smtp_parse_rcpt("TO:<a@b> notify=success,failure ORCPT=rfc822;a+40b", &addr, &params).ok);
    assert_string_equal(params.notify, "SUCCESS,FAILURE");
    assert_string_equal(params.orcpt, "rfc822;a+40b");
    smtp_params_copy(&copy, &params);
    smtp_params_free(&params);
    assert_string_equal(copy.notify, "SUCCESS,FAILURE");
    assert_string_equal(copy.orcpt, "rfc822;a+40b");
    assert_int_equal(copy.size, -1);
    smtp_params_free(&copy);
    free(addr);
}

static void test_xforward_helpers(void **state)
{
    struct smtp_xforward xf = {0}, copy;

    (void)state;
    xf.name = strdup("mx.example");
    xf.addr = strdup("[UNAVAILABLE]");
    smtp_xforward_copy(&copy, &xf);
    smtp_xforward_free(&xf);
    assert_null(xf.name);
    assert_string_equal(copy.name, "mx.example");
    assert_null(copy.helo);
    assert_true(smtp_xforward_unavailable(copy.addr));
    assert_true(smtp_xforward_unavailable("[TEMPUNAVAIL]"));
    assert_true(smtp_xforward_unavailable(NULL));
    assert_false(smtp_xforward_unavailable(copy.name));
    smtp_xforward_free(&copy);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mail_table),
        cmocka_unit_test(test_rcpt_table),
        cmocka_unit_test(test_unsupported_option_points_at_it),
        cmocka_unit_test(test_mail_params_kept),
        cmocka_unit_test(test_mail_params_absent),
        cmocka_unit_test(test_rcpt_params_kept),
        cmocka_unit_test(test_xforward_helpers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
