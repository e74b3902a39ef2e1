/* test_config.c - main.cf syntax (scand/config.h), against postconf(5). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "scand/config.h"

static struct config *load(const char *text)
{
    char err[512] = "";
    struct config *config = config_load_string(text, "t.conf", err, sizeof(err));
    if (config == NULL)
        fail_msg("unexpected error: %s", err);
    return config;
}

/* The error text for input that must not load. */
static void load_error(const char *text, const char *want)
{
    char err[512] = "";
    struct config *config = config_load_string(text, "t.conf", err, sizeof(err));
    if (config != NULL) {
        config_free(config);
        fail_msg("loaded, expected error \"%s\"", want);
    }
    assert_string_equal(err, want);
}

static void test_name_value_whitespace(void **state)
{
    (void)state;
    struct config *c = load("a=1\nb   =   two words   \nc =\nd= x=y\n");
    assert_string_equal(config_get(c, "a"), "1");
    assert_string_equal(config_get(c, "b"), "two words");
    assert_string_equal(config_get(c, "c"), "");
    assert_string_equal(config_get(c, "d"), "x=y");
    assert_null(config_get(c, "nope"));
    assert_int_equal(config_line(c, "b"), 2);
    assert_int_equal(config_line(c, "nope"), 0);
    assert_string_equal(config_file(c), "t.conf");
    config_free(c);
}

static void test_comments_and_blank_lines(void **state)
{
    (void)state;
    struct config *c = load("# top\n\n   \n  # indented comment\na = 1 # not a comment\n\t\nb = 2");
    /* postconf(5): '#' starts a comment only as a line's first non-blank. */
    assert_string_equal(config_get(c, "a"), "1 # not a comment");
    assert_string_equal(config_get(c, "b"), "2");
    assert_int_equal(config_line(c, "a"), 5);
    assert_int_equal(config_line(c, "b"), 7);
    config_free(c);
}

static void test_continuation_lines(void **state)
{
    (void)state;
    struct config *c = load("list = one,\n    two,\n\tthree\nnext = x\n");
    assert_string_equal(config_get(c, "list"), "one, two, three");
    assert_int_equal(config_line(c, "list"), 1);
    assert_int_equal(config_line(c, "next"), 4);
    config_free(c);
}

static void test_comment_inside_continuation(void **state)
{
    (void)state;
    /* readlline(3): comment and blank lines between continuation lines are
     * skipped, so one item of a long list can be commented out. */
    struct config *c = load("list = one\n# two\n\n    three\n");
    assert_string_equal(config_get(c, "list"), "one three");
    config_free(c);
}

static void test_crlf_line_ends(void **state)
{
    (void)state;
    struct config *c = load("a = 1\r\nb = 2\r\n");
    assert_string_equal(config_get(c, "a"), "1");
    assert_string_equal(config_get(c, "b"), "2");
    config_free(c);
}

static void test_last_assignment_wins(void **state)
{
    (void)state;
    struct config *c = load("a = 1\nb = x\na = 2\n");
    assert_string_equal(config_get(c, "a"), "2");
    assert_int_equal(config_line(c, "a"), 3);
    config_free(c);
}

static void test_expand_forms(void **state)
{
    (void)state;
    struct config *c = load("name = host\n"
                            "plain = $name.example\n"
                            "curly = ${name}x\n"
                            "paren = $(name)x\n"
                            "dollar = a$$b $$name\n"
                            "nested = <$curly>\n"
                            "underscore = $my_name_2!\n"
                            "my_name_2 = u\n");
    assert_string_equal(config_get(c, "plain"), "host.example");
    assert_string_equal(config_get(c, "curly"), "hostx");
    assert_string_equal(config_get(c, "paren"), "hostx");
    assert_string_equal(config_get(c, "dollar"), "a$b $name");
    assert_string_equal(config_get(c, "nested"), "<hostx>");
    /* Lookup time, not file order: a later definition is seen. */
    assert_string_equal(config_get(c, "underscore"), "u!");
    config_free(c);
}

static void test_expand_undefined_is_empty(void **state)
{
    (void)state;
    struct config *c = load("a = [$nothing][${nothing}][$(nothing)]\n");
    assert_string_equal(config_get(c, "a"), "[][][]");
    config_free(c);
}

static void test_expand_conditionals(void **state)
{
    (void)state;
    struct config *c = load("set = yes\n"
                            "empty =\n"
                            "q_set = [${set?on}]\n"
                            "q_empty = [${empty?on}]\n"
                            "q_unset = [${unset?on}]\n"
                            "c_set = [${set:off}]\n"
                            "c_empty = [${empty:off}]\n"
                            "c_unset = [$(unset:off)]\n"
                            "q_expands = [${set?$set-$$}]\n"
                            "q_nested = [${set?${empty:inner}}]\n");
    assert_string_equal(config_get(c, "q_set"), "[on]");
    assert_string_equal(config_get(c, "q_empty"), "[]");
    assert_string_equal(config_get(c, "q_unset"), "[]");
    assert_string_equal(config_get(c, "c_set"), "[]");
    assert_string_equal(config_get(c, "c_empty"), "[off]");
    assert_string_equal(config_get(c, "c_unset"), "[off]");
    assert_string_equal(config_get(c, "q_expands"), "[yes-$]");
    assert_string_equal(config_get(c, "q_nested"), "[inner]");
    config_free(c);
}

/* Postfix >= 3.0 forms. Every expectation here is what Postfix 3.7's
 * "postconf -xh" printed for the same value (the oracle). */
static void test_expand_postfix3_forms(void **state)
{
    (void)state;
    static const struct {
        const char *value;
        const char *want;
    } cases[] = {
        {"[${set?{on}}]", "[on]"},
        {"[${empty?{on}}]", "[]"},
        {"[${set:{off}}]", "[]"},
        {"[${empty:{off}}]", "[off]"},
        {"[${set?{one}:{two}}]", "[one]"},
        {"[${empty?{one}:{two}}]", "[two]"},
        {"[${empty?{one}:two}]", "[two]"},
        {"[${set?  {one}  :  {two}  }]", "[one]"},
        {"[${set?a b }]", "[a b ]"},
        {"[${set? a b }]", "[ a b ]"},
        {"[${ set}]", "[yes]"},
        {"[${set ?x}]", "[x]"},
        {"[${{$n5} == {5}?{eq}:{ne}}]", "[eq]"},
        {"[${{$n5} < {10}?{lt}:{ge}}]", "[lt]"},
        {"[${{abc} < {abd}?{lt}:{ge}}]", "[lt]"},
        {"[${{05} == {5}?{eq}:{ne}}]", "[eq]"},
        {"[${{x} != {y}?{ne}}]", "[ne]"},
        {"[${{9} >= {10}:{no}}]", "[no]"},
        {"[${{a}=={a}}]", "[true]"},
        {"[${{a}=={b}}]", "[]"},
        {"[${{a}=={b}?x}x]", "[x]"},
        {"[${{1}<{2} ? {y} : {n}}]", "[y]"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *text;
        if (asprintf(&text, "set = yes\nempty =\nn5 = 5\nv = %s\n", cases[i].value) < 0)
            fail();
        struct config *c = load(text);
        const char *got = config_get(c, "v");
        if (got == NULL || strcmp(got, cases[i].want) != 0)
            fail_msg("%s: got \"%s\", want \"%s\"", cases[i].value, got ? got : "(error)",
                     cases[i].want);
        config_free(c);
        free(text);
    }
}

static void test_expand_postfix3_errors(void **state)
{
    (void)state;
    /* Postfix: '":" expected' and 'unexpected input', a fatal error. */
    static const char *const cases[] = {
        "${set?{one}x}", "${{1}<{2}?{y}:{n}x}", "${{1} ~ {2}?x}", "${{1}<?x}", "${{1}<{2}x}",
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *text;
        const char *value;
        char err[512];
        if (asprintf(&text, "set = yes\nv = %s\n", cases[i]) < 0)
            fail();
        struct config *c = load(text);
        if (config_lookup(c, "v", &value, err, sizeof(err)) != -1)
            fail_msg("%s: expanded to \"%s\", want an error", cases[i], value);
        assert_non_null(strstr(err, "t.conf, line 2: parameter v: "));
        config_free(c);
        free(text);
    }
}

static void test_expand_recursion_limit(void **state)
{
    (void)state;
    struct config *c = load("x = 1\na = $b\nb = ${a}\nself = $self\n");
    const char *value = "unset";
    char err[512] = "";

    assert_null(config_get(c, "a"));
    assert_null(config_get(c, "self"));
    assert_int_equal(config_lookup(c, "a", &value, err, sizeof(err)), -1);
    assert_null(value);
    assert_non_null(strstr(err, "t.conf, line 2: parameter a: macro expansion nested too deeply"));
    /* The others are not affected. */
    assert_string_equal(config_get(c, "x"), "1");
    config_free(c);
}

static void test_expand_deep_but_finite(void **state)
{
    (void)state;
    char *text = NULL;
    size_t size = 0;
    FILE *fp = open_memstream(&text, &size);
    /* 90 levels of nesting is fine, the limit is 100. */
    for (int i = 0; i < 90; i++)
        fprintf(fp, "p%d = $p%d\n", i, i + 1);
    fprintf(fp, "p90 = end\n");
    fclose(fp);
    struct config *c = load(text);
    assert_string_equal(config_get(c, "p0"), "end");
    config_free(c);
    free(text);
}

static void test_expand_size_bounded(void **state)
{
    (void)state;
    char *text = NULL;
    size_t size = 0;
    FILE *fp = open_memstream(&text, &size);
    /* Each level doubles: 2^40 bytes unless expansion is bounded. */
    for (int i = 0; i < 40; i++)
        fprintf(fp, "p%d = $p%d$p%d\n", i, i + 1, i + 1);
    fprintf(fp, "p40 = xxxxxxxx\n");
    fclose(fp);
    struct config *c = load(text);
    char err[512] = "";
    const char *value;
    assert_int_equal(config_lookup(c, "p0", &value, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "t.conf, line 1: parameter p0: macro expansion too long"));
    config_free(c);
    free(text);
}

static void test_expand_syntax_errors(void **state)
{
    (void)state;
    struct config *c = load("ok = 1\ntrunc = ${ok\nbare = x$\nweird = ${ok!x}\nempty = ${}\n");
    char err[512] = "";
    const char *value;

    assert_int_equal(config_lookup(c, "trunc", &value, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "t.conf, line 2: parameter trunc: truncated macro reference"));
    assert_int_equal(config_lookup(c, "bare", &value, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "t.conf, line 3: parameter bare: empty macro name"));
    assert_int_equal(config_lookup(c, "weird", &value, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "t.conf, line 4: parameter weird: bad macro reference"));
    assert_int_equal(config_lookup(c, "empty", &value, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "t.conf, line 5: parameter empty: empty macro name"));
    assert_int_equal(config_lookup(c, "ok", &value, err, sizeof(err)), 1);
    assert_string_equal(value, "1");
    assert_int_equal(config_lookup(c, "missing", &value, err, sizeof(err)), 0);
    assert_null(value);
    config_free(c);
}

static void test_error_missing_equals(void **state)
{
    (void)state;
    load_error("a = 1\n# c\njust some words\n",
               "t.conf, line 3: missing '=' after attribute name: \"just some words\"");
    /* split_nameval(3): the name ends at white space. */
    load_error("two words = x\n", "t.conf, line 1: missing '=' after attribute name: \"two "
                                  "words = x\"");
}

static void test_error_empty_name(void **state)
{
    (void)state;
    load_error("a = 1\n= value\n", "t.conf, line 2: missing attribute name: \"= value\"");
}

static void test_error_leading_continuation(void **state)
{
    (void)state;
    load_error("# comment\n\n   orphan = 1\na = 2\n",
               "t.conf, line 3: logical line must not start with whitespace: \"   orphan = 1\"");
}

static void test_error_line_of_logical_line(void **state)
{
    (void)state;
    /* A bad logical line is reported at the line it starts on. */
    load_error("a = 1\nbroken\n  still broken\nb = 2\n",
               "t.conf, line 2: missing '=' after attribute name: \"broken still broken\"");
}

struct walk {
    char text[256];
};

static void walk_visit(void *ctx, const char *name, const char *raw, int line)
{
    struct walk *wp = ctx;
    size_t used = strlen(wp->text);
    snprintf(wp->text + used, sizeof(wp->text) - used, "%s=%s@%d;", name, raw, line);
}

static void test_set_and_walk(void **state)
{
    (void)state;
    struct config *c = load("b = 2\na = $d\nb = 3\n");
    const char *before = config_get(c, "a");
    struct walk w = {""};

    assert_string_equal(before, "");
    config_set(c, "d", "default");
    assert_int_equal(config_line(c, "d"), 0);
    /* A new value is seen by values that refer to it... */
    assert_string_equal(config_get(c, "a"), "default");
    /* ...and what was handed out earlier stays valid (config.h). */
    assert_string_equal(before, "");

    config_walk(c, walk_visit, &w);
    /* File order of the final values; config_set names are not walked. */
    assert_string_equal(w.text, "a=$d@2;b=3@3;");
    config_free(c);
}

static void test_load_file(void **state)
{
    (void)state;
    char path[] = "/tmp/test_config_XXXXXX";
    int fd = mkstemp(path);
    char err[512] = "";
    assert_true(fd >= 0);
    const char *text = "# scand\nmyhostname = filter.example\nbad line\n";
    assert_int_equal(write(fd, text, strlen(text)), (int)strlen(text));
    close(fd);

    assert_null(config_load_file(path, err, sizeof(err)));
    char want[600];
    snprintf(want, sizeof(want), "%s, line 3: missing '=' after attribute name: \"bad line\"",
             path);
    assert_string_equal(err, want);

    FILE *fp = fopen(path, "w");
    fputs("myhostname = filter.example\n", fp);
    fclose(fp);
    struct config *c = config_load_file(path, err, sizeof(err));
    assert_non_null(c);
    assert_string_equal(config_get(c, "myhostname"), "filter.example");
    assert_string_equal(config_file(c), path);
    config_free(c);
    unlink(path);

    assert_null(config_load_file("/nonexistent/scand.conf", err, sizeof(err)));
    assert_string_equal(err, "/nonexistent/scand.conf: cannot open: No such file or directory");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_name_value_whitespace),
        cmocka_unit_test(test_comments_and_blank_lines),
        cmocka_unit_test(test_continuation_lines),
        cmocka_unit_test(test_comment_inside_continuation),
        cmocka_unit_test(test_crlf_line_ends),
        cmocka_unit_test(test_last_assignment_wins),
        cmocka_unit_test(test_expand_forms),
        cmocka_unit_test(test_expand_undefined_is_empty),
        cmocka_unit_test(test_expand_conditionals),
        cmocka_unit_test(test_expand_postfix3_forms),
        cmocka_unit_test(test_expand_postfix3_errors),
        cmocka_unit_test(test_expand_recursion_limit),
        cmocka_unit_test(test_expand_deep_but_finite),
        cmocka_unit_test(test_expand_size_bounded),
        cmocka_unit_test(test_expand_syntax_errors),
        cmocka_unit_test(test_error_missing_equals),
        cmocka_unit_test(test_error_empty_name),
        cmocka_unit_test(test_error_leading_continuation),
        cmocka_unit_test(test_error_line_of_logical_line),
        cmocka_unit_test(test_set_and_walk),
        cmocka_unit_test(test_load_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
