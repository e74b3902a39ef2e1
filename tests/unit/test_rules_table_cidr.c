/* test_rules_table_cidr.c - cidr: tables (rules/table.h). Expected answers
 * were taken from postmap -q (Postfix 3.7.11) on the same file; Postfix
 * skips the bad lines with a warning where scand refuses the table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "rules/table.h"

static void write_file(char *path, const char *text)
{
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (int)strlen(text));
    close(fd);
}

static const char cidr_text[] = "10.0.0.0/8  ten\n"                               /* 1 */
                                "!10.0.0.0/8 notten-v4-only\n"                    /* 2 */
                                "2001:db8::/32 v6\n"                              /* 3 */
                                "[2001:db9::]/32 bracket\n"                       /* 4 */
                                "if !2001:db8::/32\n"                             /* 5 */
                                "::1 loopback6\n"                                 /* 6 */
                                "IF 2001:dbb::/32\n"                              /* 7 */
                                "::/0 nested\n"                                   /* 8 */
                                "endif\n"                                         /* 9 */
                                "endif\n"                                         /* 10 */
                                "::/0 all6\n"                                     /* 11 */
                                "0.0.0.0/0 never: rule 2 takes every other v4\n"; /* 12 */

static const char cidr_text2[] = "192.168.0.0/16 first wins\n" /* 1 */
                                 "192.168.1.0/24 hidden\n"     /* 2 */
                                 "[1.2.3.4] bracketed host\n"  /* 3 */
                                 "1.2.3.5/32 slash32\n"        /* 4 */
                                 "1.2.3.128/25 upper half\n"   /* 5 */
                                 "172.16.0.0/12\ta  \n"        /* 6 */
                                 "  b \n"                      /* 7 */
                                 "0.0.0.0/0 any v4\n";         /* 8 */

struct lookup_case {
    const char *label;
    int text; /* 1: cidr_text, 2: cidr_text2 */
    const char *key;
    const char *value; /* NULL: not found */
    int line;
};

static const struct lookup_case cases[] = {
    {"v4 in network", 1, "10.1.2.3", "ten", 1},
    {"v4 negated rule matches outside", 1, "192.168.1.1", "notten-v4-only", 2},
    {"v6 network", 1, "2001:db8::1", "v6", 3},
    {"v6 upper-case key", 1, "2001:DB8:1::1", "v6", 3},
    {"bracketed v6 network", 1, "2001:db9:ffff::1", "bracket", 4},
    {"negated if, inner exact", 1, "::1", "loopback6", 6},
    {"nested if, upper-case keyword", 1, "2001:dbb::5", "nested", 8},
    {"inner if false: its rules skipped", 1, "2001:dbc::1", "all6", 11},
    {"outer negated if false: block skipped", 1, "2001:db8:ffff::1", "v6", 3},
    {"v4-mapped v6 is v6, not v4", 1, "::ffff:10.1.1.1", "all6", 11},
    {"host name never matches", 1, "mail.example.com", NULL, 0},
    {"leading zero octet is no address", 1, "010.1.2.3", NULL, 0},
    {"three octets is no address", 1, "10.1.2", NULL, 0},
    {"bracketed key is no address", 1, "[::1]", NULL, 0},
    {"trailing dot is no address", 1, "10.1.2.3.", NULL, 0},
    {"empty key", 1, "", NULL, 0},
    {"first match wins over a more specific later one", 2, "192.168.1.7", "first wins", 1},
    {"bracketed v4 host", 2, "1.2.3.4", "bracketed host", 3},
    {"/32", 2, "1.2.3.5", "slash32", 4},
    {"/25 lower edge", 2, "1.2.3.128", "upper half", 5},
    {"/25 upper edge", 2, "1.2.3.255", "upper half", 5},
    {"/25 just below", 2, "1.2.3.127", "any v4", 8},
    {"/12 edge, continuation joined", 2, "172.31.255.255", "a    b", 6},
    {"/12 just above", 2, "172.32.0.0", "any v4", 8},
    {"/0 takes every v4", 2, "255.255.255.255", "any v4", 8},
    {"/0 v4 does not take v6", 2, "::2", NULL, 0},
};

static void test_lookups(void **state)
{
    char path1[] = "/tmp/test_rules_table_cidr_XXXXXX";
    char path2[] = "/tmp/test_rules_table_cidr_XXXXXX";
    char spec[256];
    char err[1024] = "";
    struct table *tables[3];
    const char *paths[3] = {NULL, path1, path2};
    (void)state;

    write_file(path1, cidr_text);
    write_file(path2, cidr_text2);
    for (int t = 1; t <= 2; t++) {
        snprintf(spec, sizeof(spec), "cidr:%s", paths[t]);
        tables[t] = table_open(spec, err, sizeof(err));
        if (tables[t] == NULL)
            fail_msg("%s", err);
        assert_int_equal(table_kind(tables[t]), TABLE_KIND_CIDR);
    }
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct lookup_case *c = &cases[i];
        struct table_result r;
        int status = table_lookup(tables[c->text], c->key, &r);
        if (c->value == NULL) {
            if (status != 0)
                fail_msg("%s: \"%s\" gave \"%s\"", c->label, c->key, r.value);
            continue;
        }
        if (status != 1)
            fail_msg("%s: \"%s\" not found", c->label, c->key);
        if (strcmp(r.value, c->value) != 0)
            fail_msg("%s: \"%s\" gave \"%s\", expected \"%s\"", c->label, c->key, r.value,
                     c->value);
        char where[1200];
        snprintf(where, sizeof(where), "%s, line %d", paths[c->text], c->line);
        assert_string_equal(r.where, where);
        table_result_free(&r);
    }
    table_free(tables[1]);
    table_free(tables[2]);
    unlink(path1);
    unlink(path2);
}

struct error_case {
    const char *label;
    const char *text;
    const char *err; /* after "PATH, " */
};

static const struct error_case error_cases[] = {
    {"host bits v4", "# c\n192.168.1.1/24 x\n",
     "line 2: non-null host address bits in \"192.168.1.1/24\", perhaps you should use "
     "\"192.168.1.0/24\" instead"},
    {"host bits v6", "2001:db8::1/32 h\n",
     "line 1: non-null host address bits in \"2001:db8::1/32\", perhaps you should use "
     "\"2001:db8::/32\" instead"},
    {"mask too long v4", "1.2.3.0/33 x\n", "line 1: bad mask length in \"1.2.3.0/33\""},
    {"mask too long v6", "::1/129 x\n", "line 1: bad mask length in \"::1/129\""},
    {"mask not a number", "1.2.3.4/x y\n", "line 1: bad mask value in \"1.2.3.4/x\""},
    {"bad network", "1.2.3/24 y\n", "line 1: bad network value in \"1.2.3/24\""},
    {"bad address", "foo bad\n", "line 1: bad address pattern: \"foo\""},
    {"! before if is an address", "!if 1.0.0.0/8\n", "line 1: bad address pattern: \"if\""},
    {"no result", "10.0.0.0/8\n", "line 1: no lookup result"},
    {"text after the if pattern", "IF 10.0.0.0/8 extra\nendif\n",
     "line 1: bad mask value in \"10.0.0.0/8 extra\""},
    {"garbage after endif", "if 10.0.0.0/8\nendif more\n", "line 2: garbage after ENDIF"},
    {"endif without if", "1.2.3.4 x\nendif\n", "line 2: ENDIF without IF"},
    {"if without endif", "if 1.2.3.4\n1.2.3.4 x\n", "line 1: IF has no matching ENDIF"},
};

static void test_load_errors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(error_cases) / sizeof(error_cases[0]); i++) {
        const struct error_case *c = &error_cases[i];
        char path[] = "/tmp/test_rules_table_cidr_XXXXXX";
        char spec[256];
        char err[1024] = "";
        char want[1200];
        write_file(path, c->text);
        snprintf(spec, sizeof(spec), "cidr:%s", path);
        struct table *table = table_open(spec, err, sizeof(err));
        unlink(path);
        if (table != NULL)
            fail_msg("%s: loaded", c->label);
        snprintf(want, sizeof(want), "%s, %s", path, c->err);
        if (strcmp(err, want) != 0)
            fail_msg("%s: error \"%s\", expected \"%s\"", c->label, err, want);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lookups),
        cmocka_unit_test(test_load_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
