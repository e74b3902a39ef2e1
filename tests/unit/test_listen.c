/* test_listen.c - address parsing and the listening socket (scand/listen.h). */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "scand/listen.h"

static void test_parse_good(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int family;
        const char *addr;
        int port;
    } cases[] = {
        {"127.0.0.1:10025", AF_INET, "127.0.0.1", 10025},
        {"[127.0.0.1]:10026", AF_INET, "127.0.0.1", 10026},
        {"0.0.0.0:1", AF_INET, "0.0.0.0", 1},
        {"127.0.0.1:0", AF_INET, "127.0.0.1", 0},
        {"[::1]:10025", AF_INET6, "::1", 10025},
        {"[2001:db8::7]:65535", AF_INET6, "2001:db8::7", 65535},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct sockaddr_storage ss;
        socklen_t len = 0;
        char err[256] = "";
        char text[INET6_ADDRSTRLEN];
        int port;

        if (listen_parse_address(cases[i].text, &ss, &len, err, sizeof(err)) < 0)
            fail_msg("%s: %s", cases[i].text, err);
        assert_int_equal(ss.ss_family, cases[i].family);
        if (cases[i].family == AF_INET) {
            struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
            assert_int_equal(len, sizeof(*sin));
            inet_ntop(AF_INET, &sin->sin_addr, text, sizeof(text));
            port = ntohs(sin->sin_port);
        } else {
            struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
            assert_int_equal(len, sizeof(*sin6));
            inet_ntop(AF_INET6, &sin6->sin6_addr, text, sizeof(text));
            port = ntohs(sin6->sin6_port);
        }
        assert_string_equal(text, cases[i].addr);
        assert_int_equal(port, cases[i].port);
    }
}

static void test_parse_bad(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        const char *err;
    } cases[] = {
        {"", "bad address \"\": expected host:port or [host]:port"},
        {"127.0.0.1", "bad address \"127.0.0.1\": expected host:port or [host]:port"},
        {"127.0.0.1:", "bad address \"127.0.0.1:\": bad port \"\""},
        {"127.0.0.1:65536", "bad address \"127.0.0.1:65536\": bad port \"65536\""},
        {"127.0.0.1:+25", "bad address \"127.0.0.1:+25\": bad port \"+25\""},
        {"127.0.0.1: 25", "bad address \"127.0.0.1: 25\": bad port \" 25\""},
        {"127.0.0.1:smtp", "bad address \"127.0.0.1:smtp\": bad port \"smtp\""},
        {"localhost:25", "bad address \"localhost:25\": \"localhost\" is not a numeric IP address"},
        {"256.0.0.1:25", "bad address \"256.0.0.1:25\": \"256.0.0.1\" is not a numeric IP address"},
        {"::1:25", "bad address \"::1:25\": an IPv6 address needs brackets: [::1]:port"},
        {"[::1]25", "bad address \"[::1]25\": expected host:port or [host]:port"},
        {"[::1:25", "bad address \"[::1:25\": expected host:port or [host]:port"},
        {"[]:25", "bad address \"[]:25\": \"\" is not a numeric IP address"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct sockaddr_storage ss;
        socklen_t len = 0;
        char err[256] = "";
        if (listen_parse_address(cases[i].text, &ss, &len, err, sizeof(err)) == 0)
            fail_msg("\"%s\" parsed, expected an error", cases[i].text);
        assert_string_equal(err, cases[i].err);
    }
}

static void test_bind_ephemeral(void **state)
{
    (void)state;
    char err[256] = "";
    int fd = listen_bind("127.0.0.1:0", err, sizeof(err));
    if (fd < 0)
        fail_msg("%s", err);
    struct sockaddr_in sin;
    socklen_t len = sizeof(sin);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
    assert_int_equal(sin.sin_family, AF_INET);
    assert_int_equal(ntohl(sin.sin_addr.s_addr), INADDR_LOOPBACK);
    assert_true(ntohs(sin.sin_port) != 0);
    char text[64];
    snprintf(text, sizeof(text), "127.0.0.1:%d", ntohs(sin.sin_port));
    assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);
    assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    int on = 0;
    socklen_t onlen = sizeof(on);
    assert_int_equal(getsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, &onlen), 0);
    assert_true(on);
    int accepting = 0;
    onlen = sizeof(accepting);
    assert_int_equal(getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &onlen), 0);
    assert_true(accepting);

    /* A client can connect, and a second bind of the same port fails with
     * the address in the message. */
    int client = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(connect(client, (struct sockaddr *)&sin, sizeof(sin)), 0);
    close(client);
    assert_int_equal(listen_bind(text, err, sizeof(err)), -1);
    char want[128];
    snprintf(want, sizeof(want), "%s: bind: Address already in use", text);
    assert_string_equal(err, want);
    close(fd);
}

static void test_bind_bad_address(void **state)
{
    (void)state;
    char err[256] = "";
    assert_int_equal(listen_bind("nowhere:25", err, sizeof(err)), -1);
    assert_string_equal(err, "bad address \"nowhere:25\": \"nowhere\" is not a numeric IP address");
    /* 192.0.2.1 (RFC 5737) is not ours: bind must fail, and say where. */
    assert_int_equal(listen_bind("192.0.2.1:21299", err, sizeof(err)), -1);
    assert_string_equal(err, "192.0.2.1:21299: bind: Cannot assign requested address");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_good),
        cmocka_unit_test(test_parse_bad),
        cmocka_unit_test(test_bind_ephemeral),
        cmocka_unit_test(test_bind_bad_address),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
