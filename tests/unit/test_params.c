/* test_params.c - typed parameters and their defaults (scand/params.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "scand/params.h"

/* Write text to a fresh file; the caller unlinks path. */
static void write_conf(char *path, const char *text)
{
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (int)strlen(text));
    close(fd);
}

static void load_text(const char *text, struct scand_params *p)
{
    char path[] = "/tmp/test_params_XXXXXX";
    char err[1024] = "";
    write_conf(path, text);
    int status = params_load(path, p, err, sizeof(err));
    unlink(path);
    if (status < 0)
        fail_msg("unexpected error: %s", err);
}

/* Load text that must fail; err must be "PATH, line N: " + want. */
static void load_error(const char *text, int line, const char *want)
{
    char path[] = "/tmp/test_params_XXXXXX";
    char err[1024] = "";
    char expect[1200];
    struct scand_params p;

    memset(&p, 0x5a, sizeof(p));
    write_conf(path, text);
    int status = params_load(path, &p, err, sizeof(err));
    unlink(path);
    if (status == 0)
        fail_msg("loaded, expected error \"%s\"", want);
    snprintf(expect, sizeof(expect), "%s, line %d: %s", path, line, want);
    assert_string_equal(err, expect);
    /* params.h: *params is left untouched on error. */
    assert_int_equal(p.process_limit, 0x5a5a5a5a);
}

static void assert_defaults(const struct scand_params *p)
{
    assert_string_equal(p->listen, "127.0.0.1:10025");
    assert_string_equal(p->relay, "127.0.0.1:10026");
    assert_int_equal(p->process_limit, 10);
    assert_int_equal(p->max_use, 100);
    assert_string_equal(p->user, "scand");
    assert_int_equal(p->drain_timeout, 60);
    assert_int_equal(p->worker_session_limit, 100);
    assert_int_equal(p->data_line_limit, 1048576);
    assert_int_equal(p->command_line_limit, 2048);
    assert_string_equal(p->myhostname, "localhost");
    assert_int_equal(p->message_size_limit, 10240000);
    assert_int_equal(p->smtpd_recipient_limit, 1000);
    assert_int_equal(p->smtpd_timeout, 300);
    assert_int_equal(p->line_length_limit, 2048);
    assert_int_equal(p->hopcount_limit, 50);
    assert_int_equal(p->smtp_connect_timeout, 30);
    assert_int_equal(p->smtp_helo_timeout, 300);
    assert_int_equal(p->smtp_xforward_timeout, 300);
    assert_int_equal(p->smtp_mail_timeout, 300);
    assert_int_equal(p->smtp_rcpt_timeout, 300);
    assert_int_equal(p->smtp_data_init_timeout, 120);
    assert_int_equal(p->smtp_data_xfer_timeout, 180);
    assert_int_equal(p->smtp_data_done_timeout, 600);
    assert_int_equal(p->smtp_rset_timeout, 20);
    assert_int_equal(p->smtp_quit_timeout, 300);
}

static void test_builtin_defaults(void **state)
{
    (void)state;
    struct scand_params p;
    char err[256];
    assert_int_equal(params_load(NULL, &p, err, sizeof(err)), 0);
    assert_null(p.config_path);
    assert_non_null(p.config);
    assert_defaults(&p);
    /* Defaults are visible to $name and to rules reading the config. */
    assert_string_equal(config_get(p.config, "myhostname"), "localhost");
    params_free(&p);
}

static void test_empty_file_gives_defaults(void **state)
{
    (void)state;
    struct scand_params p;
    load_text("# nothing\n", &p);
    assert_non_null(p.config_path);
    assert_defaults(&p);
    params_free(&p);
}

static void test_every_field(void **state)
{
    (void)state;
    struct scand_params p;
    load_text("listen = [::1]:21201\n"
              "relay = 127.0.0.1:21202\n"
              "process_limit = 3\n"
              "max_use = 7\n"
              "user = nobody\n"
              "drain_timeout = 2m\n"
              "worker_session_limit = 11\n"
              "data_line_limit = 4096\n"
              "command_line_limit = 1000\n"
              "myhostname = filter.example\n"
              "message_size_limit = 0\n"
              "smtpd_recipient_limit = 5\n"
              "smtpd_timeout = 1h\n"
              "line_length_limit = 999\n"
              "hopcount_limit = 9\n"
              "smtp_connect_timeout = 1\n"
              "smtp_helo_timeout = 2s\n"
              "smtp_xforward_timeout = 3\n"
              "smtp_mail_timeout = 4\n"
              "smtp_rcpt_timeout = 5\n"
              "smtp_data_init_timeout = 6\n"
              "smtp_data_xfer_timeout = 7\n"
              "smtp_data_done_timeout = 1d\n"
              "smtp_rset_timeout = 1w\n"
              "smtp_quit_timeout = 10\n",
              &p);
    assert_string_equal(p.listen, "[::1]:21201");
    assert_string_equal(p.relay, "127.0.0.1:21202");
    assert_int_equal(p.process_limit, 3);
    assert_int_equal(p.max_use, 7);
    assert_string_equal(p.user, "nobody");
    assert_int_equal(p.drain_timeout, 120);
    assert_int_equal(p.worker_session_limit, 11);
    assert_int_equal(p.data_line_limit, 4096);
    assert_int_equal(p.command_line_limit, 1000);
    assert_string_equal(p.myhostname, "filter.example");
    assert_int_equal(p.message_size_limit, 0);
    assert_int_equal(p.smtpd_recipient_limit, 5);
    assert_int_equal(p.smtpd_timeout, 3600);
    assert_int_equal(p.line_length_limit, 999);
    assert_int_equal(p.hopcount_limit, 9);
    assert_int_equal(p.smtp_connect_timeout, 1);
    assert_int_equal(p.smtp_helo_timeout, 2);
    assert_int_equal(p.smtp_xforward_timeout, 3);
    assert_int_equal(p.smtp_mail_timeout, 4);
    assert_int_equal(p.smtp_rcpt_timeout, 5);
    assert_int_equal(p.smtp_data_init_timeout, 6);
    assert_int_equal(p.smtp_data_xfer_timeout, 7);
    assert_int_equal(p.smtp_data_done_timeout, 86400);
    assert_int_equal(p.smtp_rset_timeout, 604800);
    assert_int_equal(p.smtp_quit_timeout, 10);
    params_free(&p);
}

static void test_expansion_in_values(void **state)
{
    (void)state;
    struct scand_params p;
    load_text("base = 21250\nlisten = 127.0.0.1:$base\n"
              "smtpd_timeout = ${short:5m}\nbanner = $myhostname\n",
              &p);
    assert_string_equal(p.listen, "127.0.0.1:21250");
    assert_int_equal(p.smtpd_timeout, 300);
    /* $myhostname sees the default when the file does not set it. */
    assert_string_equal(config_get(p.config, "banner"), "localhost");
    params_free(&p);
}

static void test_parse_time(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int want;
    } cases[] = {
        {"0", 0},     {"300", 300},        {"300s", 300},  {"5m", 300},
        {"2h", 7200}, {"1d", 86400},       {"1w", 604800}, {"", -1},
        {"s", -1},    {"-1", -1},          {"+1", -1},     {" 1", -1},
        {"1 ", -1},   {"1x", -1},          {"1.5h", -1},   {"1ms", -1},
        {"10S", -1},  {"99999999999", -1}, {"4000w", -1},  {"2147483647", 2147483647},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int got = params_parse_time(cases[i].text);
        if (got != cases[i].want)
            fail_msg("params_parse_time(\"%s\") = %d, want %d", cases[i].text, got, cases[i].want);
    }
}

static void test_bad_values(void **state)
{
    (void)state;
    load_error("# c\nprocess_limit = 0\n", 2, "invalid process_limit parameter value 0 < 1");
    load_error("process_limit = -3\n", 1, "bad numerical configuration: process_limit = -3");
    load_error("max_use = ten\n", 1, "bad numerical configuration: max_use = ten");
    load_error("a = 1\nmessage_size_limit = 10MB\n", 2,
               "bad numerical configuration: message_size_limit = 10MB");
    load_error("process_limit = 99999999999\n", 1,
               "bad numerical configuration: process_limit = 99999999999");
    load_error("smtpd_timeout = 5 minutes\n", 1,
               "parameter smtpd_timeout: bad time value or unit: \"5 minutes\"");
    load_error("smtpd_timeout = 0\n", 1, "invalid smtpd_timeout parameter value 0 < 1");
    load_error("drain_timeout = -1s\n", 1,
               "parameter drain_timeout: bad time value or unit: \"-1s\"");
    load_error("command_line_limit = 100\n", 1,
               "invalid command_line_limit parameter value 100 < 512");
    load_error("x = 1\n\nrelay = localhost:10026\n", 3,
               "parameter relay: bad address \"localhost:10026\": \"localhost\" is not a "
               "numeric IP address");
    load_error("listen = 127.0.0.1:0\n", 1,
               "parameter listen: bad address \"127.0.0.1:0\": port 0");
    load_error("listen = 127.0.0.1\n", 1,
               "parameter listen: bad address \"127.0.0.1\": expected host:port or "
               "[host]:port");
    load_error("a = $b\nb = $a\nprocess_limit = $a\n", 3,
               "parameter process_limit: macro expansion nested too deeply (a loop?): \"$b\"");
}

static void test_syntax_error_from_config(void **state)
{
    (void)state;
    load_error("process_limit = 2\n  \n  more\nbroken line\n", 4,
               "missing '=' after attribute name: \"broken line\"");
}

static void test_unknown_name_is_not_an_error(void **state)
{
    (void)state;
    struct scand_params p;
    /* Logs "FILE, line 1: unknown parameter smtpd_banner" and goes on. */
    load_text("smtpd_banner = $myhostname ESMTP\nprocess_limit = 2\n", &p);
    assert_int_equal(p.process_limit, 2);
    assert_string_equal(config_get(p.config, "smtpd_banner"), "localhost ESMTP");
    params_free(&p);
}

static void test_missing_file(void **state)
{
    (void)state;
    struct scand_params p;
    char err[256];
    assert_int_equal(params_load("/nonexistent/scand.conf", &p, err, sizeof(err)), -1);
    assert_string_equal(err, "/nonexistent/scand.conf: cannot open: No such file or directory");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_builtin_defaults),
        cmocka_unit_test(test_empty_file_gives_defaults),
        cmocka_unit_test(test_every_field),
        cmocka_unit_test(test_expansion_in_values),
        cmocka_unit_test(test_parse_time),
        cmocka_unit_test(test_bad_values),
        cmocka_unit_test(test_syntax_error_from_config),
        cmocka_unit_test(test_unknown_name_is_not_an_error),
        cmocka_unit_test(test_missing_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
