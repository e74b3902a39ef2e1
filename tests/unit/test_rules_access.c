/*
 * test_rules_access.c - the access(5) lookup order (rules/access.h), one
 * labelled case per edge of postfix-semantics.md section 2. Each case
 * records the keys tried, in order, and the result: "key|key|...
 * => VALUE" or "=> not found". The orders were checked against Postfix
 * 3.7.11 (postmap -q and a private smtpd) where postfix-semantics.md marks
 * them [checked].
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "rules/access.h"
#include "util/xalloc.h"

enum lookup {
    BY_ADDRESS,
    BY_HOSTNAME,
    BY_CLIENT,
};

struct access_case {
    const char *label;
    enum lookup by;
    const char *table; /* spec; "PCRE:" prefix = pcre file with this content */
    const char *delimiter;
    int dot_style; /* smtpd_access_maps not in parent_domain_matches_subdomains */
    const char *null_key;
    const char *myorigin;
    const char *input;       /* address or host name */
    const char *client_addr; /* BY_CLIENT */
    const char *expect;
};

static const struct access_case cases[] = {
    /* 2.2 addresses */
    {"full address first, lower-cased", BY_ADDRESS,
     "inline:{user+ext@example.com=FULL, user@example.com=BARE}", "+", 0, NULL, NULL,
     "User+Ext@Example.COM", NULL, "user+ext@example.com => FULL"},
    {"address without extension second", BY_ADDRESS, "inline:{user@example.com=BARE}", "+", 0, NULL,
     NULL, "user+ext@example.com", NULL, "user+ext@example.com|user@example.com => BARE"},
    {"no recipient_delimiter: no bare address", BY_ADDRESS, "inline:{user@example.com=BARE}", "", 0,
     NULL, NULL, "user+ext@example.com", NULL,
     "user+ext@example.com|example.com|com|user+ext@ => not found"},
    {"domain then parents (parent style)", BY_ADDRESS, "inline:{example.com=DOM}", "+", 0, NULL,
     NULL, "u@a.b.example.com", NULL,
     "u@a.b.example.com|a.b.example.com|b.example.com|example.com => DOM"},
    {"dot style: parents with a leading dot", BY_ADDRESS, "inline:{x=y}", "", 1, NULL, NULL,
     "u@a.b.example.com", NULL,
     "u@a.b.example.com|a.b.example.com|.b.example.com|.example.com|.com|u@ => not found"},
    {"dot style: .example.com matches a subdomain", BY_ADDRESS, "inline:{.example.com=SUB}", "", 1,
     NULL, NULL, "u@mx.example.com", NULL, "u@mx.example.com|mx.example.com|.example.com => SUB"},
    {"parent style never asks .example.com", BY_ADDRESS, "inline:{.example.com=SUB}", "", 0, NULL,
     NULL, "u@mx.example.com", NULL,
     "u@mx.example.com|mx.example.com|example.com|com|u@ => not found"},
    {"the first key found decides, DUNNO too", BY_ADDRESS,
     "inline:{example.com=DUNNO, com=REJECT, u@=REJECT}", "", 0, NULL, NULL, "u@example.com", NULL,
     "u@example.com|example.com => DUNNO"},
    {"localpart with extension, then without", BY_ADDRESS, "inline:{user@=LOCAL}", "+", 0, NULL,
     NULL, "user+ext@example.com", NULL,
     "user+ext@example.com|user@example.com|example.com|com|user+ext@|user@ => LOCAL"},
    {"user+ext@ before user@", BY_ADDRESS, "inline:{user+ext@=EXT, user@=LOCAL}", "+", 0, NULL,
     NULL, "user+ext@example.com", NULL,
     "user+ext@example.com|user@example.com|example.com|com|user+ext@ => EXT"},
    {"MAILER-DAEMON is never split", BY_ADDRESS, "inline:{x=y}", "-", 0, NULL, NULL,
     "MAILER-DAEMON@example.com", NULL,
     "mailer-daemon@example.com|example.com|com|mailer-daemon@ => not found"},
    {"owner- is a list, not an extension", BY_ADDRESS, "inline:{x=y}", "-", 0, NULL, NULL,
     "owner-list@example.com", NULL,
     "owner-list@example.com|example.com|com|owner-list@ => not found"},
    {"-request is a list, not an extension", BY_ADDRESS, "inline:{x=y}", "-", 0, NULL, NULL,
     "list-request@example.com", NULL,
     "list-request@example.com|example.com|com|list-request@ => not found"},
    {"a leading delimiter does not split", BY_ADDRESS, "inline:{x=y}", "+", 0, NULL, NULL,
     "+tag@example.com", NULL, "+tag@example.com|example.com|com|+tag@ => not found"},
    {"several delimiters: the first one splits", BY_ADDRESS, "inline:{a@example.com=BARE}", "+-", 0,
     NULL, NULL, "a-b+c@example.com", NULL, "a-b+c@example.com|a@example.com => BARE"},
    {"a delimiter only in the domain does not split", BY_ADDRESS, "inline:{x=y}", "-", 0, NULL,
     NULL, "u@my-domain.example", NULL,
     "u@my-domain.example|my-domain.example|example|u@ => not found"},
    {"null sender: only the null key", BY_ADDRESS, "inline:{<>=NULL}", "+", 0, NULL, NULL, "", NULL,
     "<> => NULL"},
    {"null sender: smtpd_null_access_lookup_key", BY_ADDRESS, "inline:{<>=NULL}", "", 0, "<bounce>",
     NULL, "", NULL, "<bounce> => not found"},
    {"null sender in a pcre table: one query", BY_ADDRESS, "PCRE:/^<>$/ NULL\n", "", 0, NULL, NULL,
     "", NULL, "<> => NULL"},
    {"pcre table: only the full address", BY_ADDRESS, "PCRE:/^nomatch/ X\n", "+", 0, NULL, NULL,
     "user+ext@example.com", NULL, "user+ext@example.com => not found"},
    {"pcre table sees the address in lower case", BY_ADDRESS, "PCRE:/^(.*)bounces@/ B $1\n", "", 0,
     NULL, NULL, "List-Bounces@Example.com", NULL, "list-bounces@example.com => B list-"},
    {"a bare local part is qualified with myorigin", BY_ADDRESS, "inline:{u@=LOCAL}", "", 0, NULL,
     "origin.example", "U", NULL, "u@origin.example|origin.example|example|u@ => LOCAL"},
    {"static: matches the first key", BY_ADDRESS, "static:OK", "+", 0, NULL, NULL,
     "a+b@example.com", NULL, "a+b@example.com => OK"},
    /* 2.3 host names */
    {"host name then parents", BY_HOSTNAME, "inline:{example=TLD}", "", 0, NULL, NULL,
     "mail.evil.example", NULL, "mail.evil.example|evil.example|example => TLD"},
    {"host name: dot style", BY_HOSTNAME, "inline:{x=y}", "", 1, NULL, NULL, "mail.evil.example",
     NULL, "mail.evil.example|.evil.example|.example => not found"},
    {"a trailing dot stays in every key", BY_HOSTNAME, "inline:{evil.example=R}", "", 0, NULL, NULL,
     "mail.evil.example.", NULL, "mail.evil.example.|evil.example.|example. => not found"},
    {"numerical HELO: the exact string only", BY_HOSTNAME, "inline:{203.0.113=R, 203=R}", "", 0,
     NULL, NULL, "203.0.113.7", NULL, "203.0.113.7 => not found"},
    {"IPv6 HELO: the exact string only", BY_HOSTNAME, "inline:{x=y}", "", 0, NULL, NULL,
     "2001:db8::1", NULL, "2001:db8::1 => not found"},
    {"address literal: looked up with brackets", BY_HOSTNAME, "inline:{[203.0.113.5]=LIT}", "", 0,
     NULL, NULL, "[203.0.113.5]", NULL, "[203.0.113.5] => LIT"},
    {"localhost never matches localhost.localdomain", BY_HOSTNAME,
     "inline:{localhost.localdomain=R}", "", 0, NULL, NULL, "localhost", NULL,
     "localhost => not found"},
    {"host names are passed as sent (the table folds)", BY_HOSTNAME, "inline:{mx.example.com=OK}",
     "", 0, NULL, NULL, "MX.Example.COM", NULL, "MX.Example.COM => OK"},
    {"pcre table: the host name only", BY_HOSTNAME, "PCRE:/^nomatch/ X\n", "", 0, NULL, NULL,
     "mail.evil.example", NULL, "mail.evil.example => not found"},
    /* 2.4 clients */
    {"client: a name match wins over the address", BY_CLIENT,
     "inline:{mx.example.com=OK, 192.0.2.7=REJECT}", "", 0, NULL, NULL, "mx.example.com",
     "192.0.2.7", "mx.example.com => OK"},
    {"client: then the address with octets stripped", BY_CLIENT, "inline:{192.0=NET}", "", 0, NULL,
     NULL, "mx.example.com", "192.0.2.7",
     "mx.example.com|example.com|com|192.0.2.7|192.0.2|192.0 => NET"},
    {"client: unknown is a name like any other", BY_CLIENT, "inline:{unknown=UNK}", "", 0, NULL,
     NULL, "unknown", "192.0.2.7", "unknown => UNK"},
    {"client: IPv6 cut at the last colon", BY_CLIENT, "inline:{x=y}", "", 0, NULL, NULL, "unknown",
     "2001:db8:2::9", "unknown|2001:db8:2::9|2001:db8:2:|2001:db8:2|2001:db8|2001 => not found"},
    {"client: DUNNO for the address stops the octets", BY_CLIENT,
     "inline:{192.0.2.7=DUNNO, 192.0.2=REJECT}", "", 0, NULL, NULL, "unknown", "192.0.2.7",
     "unknown|192.0.2.7 => DUNNO"},
    {"client: pcre gets the name, then the address", BY_CLIENT, "PCRE:/^192\\.0\\.2\\./ NET\n", "",
     0, NULL, NULL, "mx.example.com", "192.0.2.7", "mx.example.com|192.0.2.7 => NET"},
    {"client: cidr gets the address", BY_CLIENT, "CIDR:192.0.2.0/24 NET\n", "", 0, NULL, NULL,
     "mx.example.com", "192.0.2.7", "mx.example.com|192.0.2.7 => NET"},
};

struct trace {
    char text[2048];
};

static void trace_key(void *ctx, const char *key, const struct table_result *result)
{
    struct trace *t = ctx;
    size_t len = strlen(t->text);

    (void)result;
    snprintf(t->text + len, sizeof(t->text) - len, "%s%s", len ? "|" : "", key);
}

/* "PCRE:" and "CIDR:" specs are written to a temporary file first. */
static struct table *open_case_table(const struct access_case *c, char *path, size_t pathlen)
{
    char err[512];
    char spec[512];
    struct table *table;

    path[0] = '\0';
    if (strncmp(c->table, "PCRE:", 5) == 0 || strncmp(c->table, "CIDR:", 5) == 0) {
        int fd;
        snprintf(path, pathlen, "/tmp/test_rules_access.XXXXXX");
        fd = mkstemp(path);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, c->table + 5, strlen(c->table + 5)),
                         (ssize_t)strlen(c->table + 5));
        close(fd);
        snprintf(spec, sizeof(spec), "%s:%s", c->table[0] == 'P' ? "pcre" : "cidr", path);
    } else {
        snprintf(spec, sizeof(spec), "%s", c->table);
    }
    table = table_open(spec, err, sizeof(err));
    if (table == NULL)
        fail_msg("%s: table_open(%s): %s", c->label, spec, err);
    return table;
}

static void test_lookup_order(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct access_case *c = &cases[i];
        struct access_options options = {
            .recipient_delimiter = c->delimiter,
            .parent_domain_matches_subdomains = !c->dot_style,
            .null_access_lookup_key = c->null_key,
            .myorigin = c->myorigin,
        };
        struct table_result result;
        struct trace trace;
        char path[256];
        char got[2300];
        struct table *table = open_case_table(c, path, sizeof(path));
        int rc;

        memset(&trace, 0, sizeof(trace));
        memset(&result, 0, sizeof(result));
        switch (c->by) {
        case BY_ADDRESS:
            rc = access_lookup_address(table, c->input, &options, &result, trace_key, &trace);
            break;
        case BY_HOSTNAME:
            rc = access_lookup_hostname(table, c->input, &options, &result, trace_key, &trace);
            break;
        default:
            rc = access_lookup_client(table, c->input, c->client_addr, &options, &result, trace_key,
                                      &trace);
            break;
        }
        snprintf(got, sizeof(got), "%s => %s", trace.text,
                 rc == 1   ? result.value
                 : rc == 0 ? "not found"
                           : "error");
        if (strcmp(got, c->expect) != 0)
            fail_msg("%s:\n  expected %s\n  got      %s", c->label, c->expect, got);
        if (rc == 1)
            table_result_free(&result);
        table_free(table);
        if (path[0])
            unlink(path);
    }
}

/* Without a trace the answer is the same. */
static void test_no_trace(void **state)
{
    char err[256];
    struct table *table = table_open("inline:{example.com=DOM}", err, sizeof(err));
    struct access_options options = {.parent_domain_matches_subdomains = 1};
    struct table_result result;

    (void)state;
    assert_non_null(table);
    memset(&result, 0, sizeof(result));
    assert_int_equal(
        access_lookup_address(table, "a@mx.example.com", &options, &result, NULL, NULL), 1);
    assert_string_equal(result.value, "DOM");
    table_result_free(&result);
    table_free(table);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lookup_order),
        cmocka_unit_test(test_no_trace),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
