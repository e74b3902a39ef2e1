/* test_rules_table.c - indexed, inline and static tables (rules/table.h).
 * Expected answers were taken from postmap -q (Postfix 3.7.11). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "rules/table.h"

/* Write text to a fresh file named into path (a mkstemp template). */
static void write_file(char *path, const char *text)
{
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (int)strlen(text));
    close(fd);
}

struct lookup_case {
    const char *label;
    const char *key;
    const char *value; /* NULL: not found */
    int line;          /* line of the entry, for where */
};

static void check_lookups(struct table *table, const char *path, const struct lookup_case *cases,
                          size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct table_result r;
        int status = table_lookup(table, cases[i].key, &r);
        if (cases[i].value == NULL) {
            if (status != 0)
                fail_msg("%s: key \"%s\" found \"%s\", expected not found", cases[i].label,
                         cases[i].key, r.value);
            continue;
        }
        if (status != 1)
            fail_msg("%s: key \"%s\" not found (%d)", cases[i].label, cases[i].key, status);
        if (strcmp(r.value, cases[i].value) != 0)
            fail_msg("%s: key \"%s\" gave \"%s\", expected \"%s\"", cases[i].label, cases[i].key,
                     r.value, cases[i].value);
        char where[1200];
        if (path != NULL)
            snprintf(where, sizeof(where), "%s, line %d", path, cases[i].line);
        else
            snprintf(where, sizeof(where), "%s", table_spec(table));
        if (strcmp(r.where, where) != 0)
            fail_msg("%s: where \"%s\", expected \"%s\"", cases[i].label, r.where, where);
        table_result_free(&r);
    }
}

static const char indexed_text[] = "Foo.Example  REJECT  Some Text  \n" /* 1 */
                                   "# comment\n"                        /* 2 */
                                   "\n"                                 /* 3 */
                                   "foo.example second\n"               /* 4: duplicate */
                                   "bar value\n"                        /* 5 */
                                   "  continued here\n"                 /* 6 */
                                   "key\n"                              /* 7: no value */
                                   "k2 \"quoted\"  # not a comment\n"   /* 8 */
                                   "#c\n"                               /* 9 */
                                   "  after comment\n"                  /* 10 */
                                   "   # indented comment\n"            /* 11 */
                                   "\tk3\tv3\r\n"                       /* 12: continues 8 */
                                   "user@Example.COM OK\n"              /* 13 */
                                   "bad\n"                              /* 14 */
                                   "  more\n"                           /* 15 */
                                   "<> 550 no DSN\n"                    /* 16 */
                                   "last no newline";                   /* 17 */

static const struct lookup_case indexed_cases[] = {
    {"key folded, value inner space kept, trailing trimmed", "foo.example", "REJECT  Some Text", 1},
    {"query folded", "FOO.EXAMPLE", "REJECT  Some Text", 1},
    {"mixed case query", "Foo.Example", "REJECT  Some Text", 1},
    {"continuation joined with its white space", "bar", "value  continued here", 5},
    {"line without value ignored", "key", NULL, 0},
    {"# inside a value is text; continuation across comments", "k2",
     "\"quoted\"  # not a comment  after comment\tk3\tv3", 8},
    {"continuation line is not a key", "k3", NULL, 0},
    {"address key folded", "USER@example.com", "OK", 13},
    {"value on continuation line", "bad", "more", 14},
    {"null sender key", "<>", "550 no DSN", 16},
    {"last line without newline", "last", "no newline", 17},
    {"absent key", "nothere", NULL, 0},
    {"comment is not a key", "#", NULL, 0},
    {"partial key does not match", "foo", NULL, 0},
};

static void test_indexed_types(void **state)
{
    static const char *types[] = {"hash", "btree", "lmdb", "cdb", "texthash"};
    char path[] = "/tmp/test_rules_table_XXXXXX";
    (void)state;

    write_file(path, indexed_text);
    for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
        char spec[256];
        char err[512] = "";
        snprintf(spec, sizeof(spec), "%s:%s", types[t], path);
        struct table *table = table_open(spec, err, sizeof(err));
        if (table == NULL)
            fail_msg("%s: %s", spec, err);
        assert_int_equal(table_kind(table), TABLE_KIND_INDEXED);
        assert_string_equal(table_spec(table), spec);
        check_lookups(table, path, indexed_cases, sizeof(indexed_cases) / sizeof(indexed_cases[0]));
        assert_false(table_changed(table));
        table_free(table);
    }
    unlink(path);
}

static void test_indexed_leading_whitespace(void **state)
{
    char path[] = "/tmp/test_rules_table_XXXXXX";
    char spec[256];
    char err[512] = "";
    (void)state;

    /* Postfix warns "logical line must not start with whitespace" and
     * skips the whole logical line. */
    write_file(path, "  lead val\n  more\nk1 v1\n\n  cont\n");
    snprintf(spec, sizeof(spec), "texthash:%s", path);
    struct table *table = table_open(spec, err, sizeof(err));
    assert_non_null(table);
    static const struct lookup_case cases[] = {
        {"leading white space line skipped", "lead", NULL, 0},
        {"its continuation skipped too", "more", NULL, 0},
        {"continuation across a blank line", "k1", "v1  cont", 3},
    };
    check_lookups(table, path, cases, sizeof(cases) / sizeof(cases[0]));
    table_free(table);
    unlink(path);
}

static void test_indexed_missing_file(void **state)
{
    char err[512] = "";
    (void)state;

    assert_null(table_open("hash:/nonexistent/scand/access", err, sizeof(err)));
    assert_string_equal(err, "open database /nonexistent/scand/access: No such file or directory");
    assert_null(table_open("texthash:/tmp", err, sizeof(err)));
    assert_string_equal(err, "open database /tmp: Is a directory");
}

static void test_indexed_large(void **state)
{
    char path[] = "/tmp/test_rules_table_XXXXXX";
    char spec[256];
    char err[512] = "";
    enum { N = 100000 };
    (void)state;

    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *fp = fdopen(fd, "w");
    for (int i = 0; i < N; i++)
        fprintf(fp, "Host%d.Example.com REJECT number %d\n", i, i);
    fclose(fp);
    snprintf(spec, sizeof(spec), "hash:%s", path);
    struct table *table = table_open(spec, err, sizeof(err));
    if (table == NULL)
        fail_msg("%s", err);
    for (int i = 0; i < N; i += 997) {
        char key[64];
        char want[64];
        struct table_result r;
        snprintf(key, sizeof(key), "host%d.example.COM", i);
        snprintf(want, sizeof(want), "REJECT number %d", i);
        assert_int_equal(table_lookup(table, key, &r), 1);
        assert_string_equal(r.value, want);
        table_result_free(&r);
    }
    struct table_result r;
    assert_int_equal(table_lookup(table, "host100000.example.com", &r), 0);
    table_free(table);
    unlink(path);
}

static void test_changed(void **state)
{
    char path[] = "/tmp/test_rules_table_XXXXXX";
    char spec[256];
    char err[512] = "";
    (void)state;

    write_file(path, "a b\n");
    snprintf(spec, sizeof(spec), "hash:%s", path);
    struct table *table = table_open(spec, err, sizeof(err));
    assert_non_null(table);
    assert_false(table_changed(table));
    FILE *fp = fopen(path, "a");
    fputs("c d\n", fp);
    fclose(fp);
    assert_true(table_changed(table));
    table_free(table);

    /* Same size, new mtime. */
    table = table_open(spec, err, sizeof(err));
    assert_non_null(table);
    struct timespec times[2] = {{0, UTIME_OMIT}, {12345, 0}};
    assert_int_equal(utimensat(AT_FDCWD, path, times, 0), 0);
    assert_true(table_changed(table));
    table_free(table);

    /* Removed. */
    table = table_open(spec, err, sizeof(err));
    assert_non_null(table);
    unlink(path);
    assert_true(table_changed(table));
    table_free(table);
}

struct inline_case {
    const char *label;
    const char *spec;
    const char *key;
    const char *value; /* NULL: not found */
};

static const struct inline_case inline_cases[] = {
    {"plain pair", "inline:{a=b, {c = d e}}", "a", "b"},
    {"braced pair trimmed, spaces in value", "inline:{a=b, {c = d e}}", "c", "d e"},
    {"absent", "inline:{a=b, {c = d e}}", "x", NULL},
    {"key folded", "inline:{A=b}", "a", "b"},
    {"query folded", "inline:{a=b}", "A", "b"},
    {"last duplicate wins", "inline:{a=b,a=c}", "a", "c"},
    {"space separates entries", "inline:{ {a=b c} d=e }", "d", "e"},
    {"braced value with space", "inline:{ {a=b c} d=e }", "a", "b c"},
    {"outer braces stripped with spaces", "inline:{ a=b }", "a", "b"},
    {"empty value allowed", "inline:{a=}", "a", ""},
    {"static plain", "static:Foo", "anything", "Foo"},
    {"static keeps case and spaces", "static:foo bar", "x", "foo bar"},
    {"static braced", "static:{ text with spaces }", "x", "text with spaces"},
};

static void test_inline_static(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(inline_cases) / sizeof(inline_cases[0]); i++) {
        const struct inline_case *c = &inline_cases[i];
        char err[512] = "";
        struct table_result r;
        struct table *table = table_open(c->spec, err, sizeof(err));
        if (table == NULL)
            fail_msg("%s: %s: %s", c->label, c->spec, err);
        assert_false(table_changed(table));
        int status = table_lookup(table, c->key, &r);
        if (c->value == NULL) {
            if (status != 0)
                fail_msg("%s: found \"%s\"", c->label, r.value);
        } else {
            if (status != 1)
                fail_msg("%s: not found", c->label);
            if (strcmp(r.value, c->value) != 0)
                fail_msg("%s: \"%s\", expected \"%s\"", c->label, r.value, c->value);
            assert_string_equal(r.where, c->spec);
            table_result_free(&r);
        }
        assert_int_equal(table_kind(table), strncmp(c->spec, "static:", 7) == 0
                                                ? TABLE_KIND_STATIC
                                                : TABLE_KIND_INDEXED);
        table_free(table);
    }
}

struct open_error_case {
    const char *label;
    const char *spec;
    const char *err;
};

static const struct open_error_case open_error_cases[] = {
    {"inline: no '='", "inline:{a}",
     "missing '=' after attribute name: \"inline:{a}\"; need \"inline:{name=value...}\""},
    {"inline: unclosed", "inline:{a=b",
     "bad syntax: \"inline:{a=b\"; need \"inline:{name=value...}\""},
    {"inline: empty", "inline:{}", "bad syntax: \"inline:{}\"; need \"inline:{name=value...}\""},
    {"inline: no braces", "inline:a=b",
     "bad syntax: \"inline:a=b\"; need \"inline:{name=value...}\""},
    {"inline: unbraced spaces around '='", "inline:{ a = b }",
     "missing '=' after attribute name: \"inline:{ a = b }\"; need \"inline:{name=value...}\""},
    {"inline: text after inner brace", "inline:{{a=b}c}",
     "syntax error after '}' in \"{a=b}c\": \"inline:{{a=b}c}\"; need \"inline:{name=value...}\""},
    {"static: empty",
     "static:", "open dictionary: expecting \"type:name\" form instead of \"static:\""},
    {"static: text after brace", "static:{a} b",
     "bad static:name syntax: syntax error after '}' in \"{a} b\""},
    {"no type", "/etc/scand/access",
     "open dictionary: expecting \"type:name\" form instead of \"/etc/scand/access\""},
    {"unknown type", "foo:/x", "unsupported table type: foo:/x"},
    {"type is case-sensitive", "HASH:/x", "unsupported table type: HASH:/x"},
};

static void test_open_errors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(open_error_cases) / sizeof(open_error_cases[0]); i++) {
        const struct open_error_case *c = &open_error_cases[i];
        char err[512] = "";
        struct table *table = table_open(c->spec, err, sizeof(err));
        if (table != NULL)
            fail_msg("%s: %s opened", c->label, c->spec);
        if (strcmp(err, c->err) != 0)
            fail_msg("%s: error \"%s\", expected \"%s\"", c->label, err, c->err);
    }
}

/* Postfix 3.7's inline form of pattern tables: one braced rule per line;
 * where and errors name the rules text as Postfix does. */
struct inline_rules_case {
    const char *label;
    const char *spec;
    const char *key;
    const char *value; /* NULL: not found, or (err set) no table */
    const char *where; /* or the error */
};

static const struct inline_rules_case inline_rules_cases[] = {
    {"pcre rules with substitution", "pcre:{ {/^a(b)c$/ got $1}, {/x/ y} }", "abc", "got b",
     "{ {/^a(b)c$/ got $1}, {/x/ y} }, line 1"},
    {"pcre second rule", "pcre:{ {/^a(b)c$/ got $1}, {/x/ y} }", "x", "y",
     "{ {/^a(b)c$/ got $1}, {/x/ y} }, line 2"},
    {"pcre if/endif items", "pcre:{{if /x/}, {/./ in}, {endif}}", "x", "in",
     "{{if /x/}, {/./ in}, {endif}}, line 2"},
    {"regexp rules", "regexp:{{/^B/ bee}}", "bad", "bee", "{{/^B/ bee}}, line 1"},
    {"cidr rules", "cidr:{{10.0.0.0/8 OK}, {::/0 v6}}", "::1", "v6",
     "{{10.0.0.0/8 OK}, {::/0 v6}}, line 2"},
    {"cidr no match", "cidr:{{10.0.0.0/8 OK}}", "11.0.0.1", NULL, NULL},
};

static const struct inline_rules_case inline_rules_errors[] = {
    {"item without braces", "pcre:{{/x/ y} z}", NULL, NULL,
     "pcre map: no '{' at start of text in \"z\""},
    {"rules not in braces", "regexp:{/x/ y}", NULL, NULL,
     "regexp map: no '{' at start of text in \"/x/\""},
    {"bad rule names the rules text and line", "cidr:{{10.0.0.1/8 OK}}", NULL, NULL,
     "{{10.0.0.1/8 OK}}, line 1: non-null host address bits in \"10.0.0.1/8\", perhaps you "
     "should use \"10.0.0.0/8\" instead"},
    {"bad regex", "regexp:{{/(/ OK}}", NULL, NULL, "{{/(/ OK}}, line 1: Unmatched ( or \\("},
    {"unbalanced", "pcre:{{/x/ y}", NULL, NULL, "pcre map: missing '}' in \"{{/x/ y}\""},
};

static void test_inline_rules(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(inline_rules_cases) / sizeof(inline_rules_cases[0]); i++) {
        const struct inline_rules_case *c = &inline_rules_cases[i];
        char err[512] = "";
        struct table_result r;
        struct table *table = table_open(c->spec, err, sizeof(err));
        if (table == NULL)
            fail_msg("%s: %s", c->label, err);
        assert_false(table_changed(table));
        int status = table_lookup(table, c->key, &r);
        if (c->value == NULL) {
            assert_int_equal(status, 0);
        } else {
            if (status != 1)
                fail_msg("%s: not found", c->label);
            assert_string_equal(r.value, c->value);
            assert_string_equal(r.where, c->where);
            table_result_free(&r);
        }
        table_free(table);
    }
    for (size_t i = 0; i < sizeof(inline_rules_errors) / sizeof(inline_rules_errors[0]); i++) {
        const struct inline_rules_case *c = &inline_rules_errors[i];
        char err[512] = "";
        if (table_open(c->spec, err, sizeof(err)) != NULL)
            fail_msg("%s: opened", c->label);
        if (strcmp(err, c->where) != 0)
            fail_msg("%s: \"%s\", expected \"%s\"", c->label, err, c->where);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_indexed_types),
        cmocka_unit_test(test_indexed_leading_whitespace),
        cmocka_unit_test(test_indexed_missing_file),
        cmocka_unit_test(test_indexed_large),
        cmocka_unit_test(test_changed),
        cmocka_unit_test(test_inline_static),
        cmocka_unit_test(test_open_errors),
        cmocka_unit_test(test_inline_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
