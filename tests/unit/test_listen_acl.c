/* test_listen_acl.c - who may talk to scand: authorized_client_networks and
 * smtpd_authorized_xforward_hosts lists (scand/listen.h). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "scand/listen.h"

/* A peer address as accept() gives it. */
static socklen_t peer(const char *text, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof(*ss));
    if (strchr(text, ':') == NULL) {
        struct sockaddr_in *sin = (struct sockaddr_in *)ss;
        sin->sin_family = AF_INET;
        assert_int_equal(inet_pton(AF_INET, text, &sin->sin_addr), 1);
        return sizeof(*sin);
    }
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
    sin6->sin6_family = AF_INET6;
    assert_int_equal(inet_pton(AF_INET6, text, &sin6->sin6_addr), 1);
    return sizeof(*sin6);
}

static void test_match(void **state)
{
    (void)state;
    static const struct {
        const char *label;
        const char *list;
        const char *addr;
        int want;
    } cases[] = {
        {"default: loopback v4", "127.0.0.0/8, [::1]/128", "127.0.0.1", 1},
        {"default: other loopback v4", "127.0.0.0/8, [::1]/128", "127.255.0.2", 1},
        {"default: v6 loopback", "127.0.0.0/8, [::1]/128", "::1", 1},
        {"default: outside", "127.0.0.0/8, [::1]/128", "192.0.2.7", 0},
        {"default: v6 outside", "127.0.0.0/8, [::1]/128", "2001:db8::1", 0},
        {"default: v4-mapped loopback", "127.0.0.0/8, [::1]/128", "::ffff:127.0.0.1", 1},
        {"default: v4-mapped outside", "127.0.0.0/8, [::1]/128", "::ffff:192.0.2.7", 0},
        {"host /32", "127.0.0.1/32", "127.0.0.1", 1},
        {"host /32, neighbour", "127.0.0.1/32", "127.0.0.2", 0},
        {"bare address is a /32", "192.0.2.7", "192.0.2.7", 1},
        {"bare address, other", "192.0.2.7", "192.0.2.8", 0},
        {"odd prefix inside", "192.0.2.0/25", "192.0.2.127", 1},
        {"odd prefix outside", "192.0.2.0/25", "192.0.2.128", 0},
        {"/0 matches all v4", "0.0.0.0/0", "203.0.113.9", 1},
        {"/0 v4 does not match v6", "0.0.0.0/0", "2001:db8::1", 0},
        {"v6 without brackets", "2001:db8::/32", "2001:db8:ffff::1", 1},
        {"v6 bracketed network", "[2001:db8::]/32", "2001:db9::1", 0},
        {"negation first decides", "!127.0.0.2, 127.0.0.0/8", "127.0.0.2", 0},
        {"negation, others pass", "!127.0.0.2, 127.0.0.0/8", "127.0.0.3", 1},
        {"first match wins over negation", "127.0.0.0/8 !127.0.0.2", "127.0.0.2", 1},
        {"blanks and newlines separate", "10.0.0.0/8\n\t192.0.2.7 ,, ", "192.0.2.7", 1},
        {"empty list matches nothing", "", "127.0.0.1", 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char err[256] = "";
        struct sockaddr_storage ss;
        struct listen_acl *acl = listen_acl_parse(cases[i].list, err, sizeof(err));

        if (acl == NULL)
            fail_msg("%s: parse: %s", cases[i].label, err);
        peer(cases[i].addr, &ss);
        if (listen_acl_match(acl, (struct sockaddr *)&ss) != cases[i].want)
            fail_msg("%s: %s in \"%s\": want %d", cases[i].label, cases[i].addr, cases[i].list,
                     cases[i].want);
        listen_acl_free(acl);
    }
}

static void test_parse_errors(void **state)
{
    (void)state;
    static const struct {
        const char *label;
        const char *list;
        const char *err;
    } cases[] = {
        {"host bits set", "127.0.0.1/8", "bad network \"127.0.0.1/8\": non-null host address bits"},
        {"v6 host bits", "[::1]/64", "bad network \"[::1]/64\": non-null host address bits"},
        {"prefix too long", "10.0.0.0/33", "bad network \"10.0.0.0/33\": bad prefix length"},
        {"v6 prefix too long", "[::]/129", "bad network \"[::]/129\": bad prefix length"},
        {"empty prefix", "10.0.0.0/", "bad network \"10.0.0.0/\": bad prefix length"},
        {"signed prefix", "10.0.0.0/+8", "bad network \"10.0.0.0/+8\": bad prefix length"},
        {"host name", "localhost",
         "bad network \"localhost\": expected a numeric address or network (a.b.c.d/len, "
         "[v6]/len); host names and tables are not supported here"},
        {"table", "cidr:/etc/scand/clients",
         "bad network \"cidr:/etc/scand/clients\": expected a numeric address or network "
         "(a.b.c.d/len, [v6]/len); host names and tables are not supported here"},
        {"second word bad", "127.0.0.0/8, 300.1.1.1",
         "bad network \"300.1.1.1\": expected a numeric address or network (a.b.c.d/len, "
         "[v6]/len); host names and tables are not supported here"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char err[256] = "";
        struct listen_acl *acl = listen_acl_parse(cases[i].list, err, sizeof(err));

        if (acl != NULL)
            fail_msg("%s: \"%s\" parsed", cases[i].label, cases[i].list);
        if (strcmp(err, cases[i].err) != 0)
            fail_msg("%s: got \"%s\", want \"%s\"", cases[i].label, err, cases[i].err);
    }
}

static void test_addr_text(void **state)
{
    (void)state;
    static const struct {
        const char *addr;
        const char *text;
    } cases[] = {
        {"127.0.0.2", "127.0.0.2"},
        {"::1", "::1"},
        {"::ffff:192.0.2.7", "192.0.2.7"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct sockaddr_storage ss;
        char buf[64];

        peer(cases[i].addr, &ss);
        listen_addr_text((struct sockaddr *)&ss, buf, sizeof(buf));
        assert_string_equal(buf, cases[i].text);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_match),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_addr_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
