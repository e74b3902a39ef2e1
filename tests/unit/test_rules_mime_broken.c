/*
 * test_rules_mime_broken.c - no MIME input, however broken or large,
 * crashes or hangs the MIME rules, and each gets the documented outcome:
 * empty and header-only messages, binary garbage (seeded, reproducible),
 * a good message truncated at every byte, 1,000 levels of multipart and
 * of message/rfc822 nesting, 10,000 parts, a decoded text far beyond
 * decoded_body_size_limit, bare LF and lone CR line ends, NUL bytes, and
 * the Content-Type parameter that makes GMime 3.2.13 re-encode for ever
 * when asked for the boundary (GMime issue 165; we never ask).
 *
 * Every test runs under alarm(): a hang fails the run instead of stalling it.
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

#include "tests/unit/test_rules_mime.h"

#define DEADLINE_SECONDS 60
#define LIT(s) s, sizeof(s) - 1

static char tmpdir[] = "/tmp/test_rules_mime_broken.XXXXXX";
static char *config;

static int setup(void **state)
{
    (void)state;
    mime_rules_process_init();
    if (mkdtemp(tmpdir) == NULL)
        return -1;
    mt_write_file(tmpdir, "names.pcre", "/\\.exe$/ REJECT executable\n");
    mt_write_file(tmpdir, "types.pcre", "/^application\\/x-evil$/ REJECT evil type\n");
    mt_write_file(tmpdir, "body.pcre", "/secret phrase/ REJECT phrase found\n");
    config = mt_asprintf("attachment_name_checks = pcre:%s/names.pcre\n"
                         "attachment_type_checks = pcre:%s/types.pcre\n"
                         "decoded_body_checks = pcre:%s/body.pcre\n",
                         tmpdir, tmpdir, tmpdir);
    alarm(DEADLINE_SECONDS);
    return 0;
}

static int teardown(void **state)
{
    char path[512];
    const char *files[] = {"names.pcre", "types.pcre", "body.pcre"};

    (void)state;
    alarm(0);
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", tmpdir, files[i]);
        unlink(path);
    }
    rmdir(tmpdir);
    free(config);
    return 0;
}

/* A growing string for generated messages. */
struct gen {
    char *text;
    size_t len;
    size_t cap;
};

static __attribute__((format(printf, 2, 3))) void gen_add(struct gen *g, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (g->len + (size_t)n + 1 > g->cap) {
        g->cap = (g->len + (size_t)n + 1) * 2;
        g->text = realloc(g->text, g->cap);
        assert_non_null(g->text);
    }
    va_start(ap, fmt);
    vsnprintf(g->text + g->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    g->len += (size_t)n;
}

static void expect_run(const char *label, const char *extra, const char *data, size_t len,
                       const char *reply, const char *note)
{
    char *cfg = mt_asprintf("%s%s", config, extra ? extra : "");
    struct mt_result r;

    mt_run_data(cfg, data, len, &r);
    mt_expect(label, "reply", reply, r.verdict.reply);
    if (note != NULL && !mt_has_note(&r.verdict, note))
        mt_fail(label, "note \"%s\" missing", note);
    mt_result_free(&r);
    free(cfg);
}

static void test_small_broken(void **state)
{
    static const struct {
        const char *label;
        const char *data;
        size_t len;
    } cases[] = {
        {"empty", LIT("")},
        {"one CRLF", LIT("\r\n")},
        {"header without end", LIT("Subject: x")},
        {"headers only", LIT("Subject: x\r\nContent-Type: multipart/mixed; boundary=b\r\n")},
        {"NUL bytes in headers and body", LIT("Sub\0ject: x\r\n\r\nbo\0dy\r\n")},
        {"bare LF line ends", LIT("Subject: x\nContent-Type: text/plain\n\nhello\n")},
        {"lone CR line ends", LIT("Subject: x\rContent-Type: text/plain\r\rhello\r")},
        {"boundary lines only",
         LIT("Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n--b\r\n--b--")},
        {"empty boundary parameter",
         LIT("Content-Type: multipart/mixed; boundary=\"\"\r\n\r\n--\r\n--")},
        {"broken base64 text", LIT("Content-Type: text/plain\r\nContent-Transfer-Encoding: "
                                   "base64\r\n\r\n!!!*&^==\r\n====\r\n")},
        {"broken quoted-printable text",
         LIT("Content-Type: text/plain\r\nContent-Transfer-Encoding: "
             "quoted-printable\r\n\r\n=\r\n=Z"
             "Z=4\r\n")},
        {"charset name like a path",
         LIT("Content-Type: text/plain; charset=\"../../../../etc/passwd\"\r\n\r\nhello\r\n")},
        {"RFC 2231 parameter with a bad charset and bad escapes",
         LIT("Content-Type: application/x; name*0*=no-such''%ZZ%; name*1*=%C3\r\n\r\nx\r\n")},
        {"encoded word with a bad charset",
         LIT("Content-Type: application/x; name=\"=?x-bogus?Q?a=ZZ.bin?=\"\r\n\r\nx\r\n")},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *cfg = mt_asprintf("%sstrict_mime_checks = yes\n", config);
        struct mt_result r;

        expect_run(cases[i].label, NULL, cases[i].data, cases[i].len, NULL, NULL);
        mt_run_data(cfg, cases[i].data, cases[i].len, &r);
        if (r.verdict.reply != NULL &&
            strcmp(r.verdict.reply, "550 5.6.0 Message is not valid MIME") != 0)
            mt_fail(cases[i].label, "strict: reply %s", r.verdict.reply);
        mt_result_free(&r);
        free(cfg);
    }
}

/* The GMime 3.2.13 loop (issue 165): parsed and inspected without asking
 * GMime for the boundary. */
static void test_gmime_param_loop(void **state)
{
    struct gen g = {0};

    (void)state;
    gen_add(&g, "Subject: x\r\nContent-Type: multipart/mixed;\r\n ");
    for (int i = 0; i < 40; i++)
        gen_add(&g, "\xd1\x9c");
    gen_add(&g, "=\"\xd1\x9c\";\r\n\r\n--x\r\n\r\nbody\r\n");
    expect_run("GMime issue 165 parameter", NULL, g.text, g.len, NULL, NULL);
    free(g.text);
}

/* Seeded garbage: reproducible, and the seed is in the label. */
static void test_random_garbage(void **state)
{
    uint32_t seed = 12345;
    char data[4096];

    (void)state;
    for (int round = 0; round < 300; round++) {
        size_t len;
        char label[64];
        seed = seed * 1103515245u + 12345u;
        len = (seed >> 8) % sizeof(data);
        for (size_t i = 0; i < len; i++) {
            seed = seed * 1103515245u + 12345u;
            /* Mostly MIME-ish bytes, so the parser gets somewhere. */
            static const char alphabet[] = "-\r\n:;=\"boundary Content-Type multipart/mixed "
                                           "text/plain base64 name*0*=%C3 =?utf-8?B?x?=\x00\xff";
            data[i] = (seed >> 16) % 4 ? alphabet[(seed >> 8) % (sizeof(alphabet) - 1)]
                                       : (char)(seed >> 24);
        }
        snprintf(label, sizeof(label), "garbage round %d", round);
        expect_run(label, NULL, data, len, NULL, NULL);
    }
}

static void build_good(struct gen *g)
{
    gen_add(g, "From: a@example.com\r\nSubject: good\r\nMIME-Version: 1.0\r\n"
               "Content-Type: multipart/mixed; boundary=\"o\"\r\n\r\npreamble\r\n"
               "--o\r\nContent-Type: text/plain; charset=iso-8859-1\r\n"
               "Content-Transfer-Encoding: quoted-printable\r\n\r\ncaf=E9 =\r\nau lait\r\n"
               "--o\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\n"
               "Content-Type: multipart/alternative; boundary=\"i\"\r\n\r\n"
               "--i\r\nContent-Type: text/html\r\nContent-Transfer-Encoding: base64\r\n\r\n"
               "PHA+aGk8L3A+DQo=\r\n--i--\r\n"
               "--o\r\nContent-Type: application/octet-stream;\r\n name*0*=UTF-8''%%C3%%A9;\r\n"
               " name*1=\"t.zip\"\r\nContent-Disposition: attachment\r\n"
               "Content-Transfer-Encoding: base64\r\n\r\nUEsDBA==\r\n--o--\r\nepilogue\r\n");
}

/* Every prefix of a good message: whatever GMime makes of it, no crash;
 * with strict checks, the truncated ones may be rejected, never more. */
static void test_truncated_everywhere(void **state)
{
    struct gen g = {0};

    (void)state;
    build_good(&g);
    expect_run("the whole good message", "strict_mime_checks = yes\n", g.text, g.len, NULL, NULL);
    for (size_t cut = 0; cut < g.len; cut++) {
        char label[64];
        char *copy = malloc(cut + 1);
        struct mt_result r;
        char *cfg =
            mt_asprintf("%sstrict_mime_checks = yes\nambiguous_mime_action = defer\n", config);
        assert_non_null(copy);
        memcpy(copy, g.text, cut);
        snprintf(label, sizeof(label), "cut at byte %zu", cut);
        mt_run_data(cfg, copy, cut, &r);
        if (r.verdict.reply != NULL &&
            strcmp(r.verdict.reply, "550 5.6.0 Message is not valid MIME") != 0 &&
            strcmp(r.verdict.reply, "451 4.6.0 Ambiguous MIME structure") != 0)
            mt_fail(label, "reply %s", r.verdict.reply);
        mt_result_free(&r);
        free(cfg);
        free(copy);
    }
    free(g.text);
}

static void build_deep_multipart(struct gen *g, int levels, const char *leaf_name)
{
    gen_add(g, "Subject: deep\r\nContent-Type: multipart/mixed; boundary=\"b0\"\r\n\r\n");
    for (int i = 1; i < levels; i++)
        gen_add(g, "--b%d\r\nContent-Type: multipart/mixed; boundary=\"b%d\"\r\n\r\n", i - 1, i);
    gen_add(g, "--b%d\r\nContent-Type: application/octet-stream; name=\"%s\"\r\n\r\nx\r\n",
            levels - 1, leaf_name);
    for (int i = levels - 1; i >= 0; i--)
        gen_add(g, "--b%d--\r\n", i);
}

static void test_deep_multipart(void **state)
{
    struct gen g = {0};

    (void)state;
    build_deep_multipart(&g, 1000, "bottom.exe");
    expect_run("1000 levels, default mime_nesting_limit", NULL, g.text, g.len,
               "550 5.6.0 MIME nesting exceeds safety limit", NULL);
    expect_run("1000 levels, mime_nesting_limit = 2000: the bottom file name is seen",
               "mime_nesting_limit = 2000\nmime_parts_limit = 2000\n", g.text, g.len,
               "550 5.7.1 executable", NULL);
    free(g.text);
}

static void test_deep_messages(void **state)
{
    struct gen g = {0};

    (void)state;
    for (int i = 0; i < 1000; i++)
        gen_add(&g, "Subject: level %d\r\nContent-Type: message/rfc822\r\n\r\n", i);
    gen_add(&g, "Subject: bottom\r\nContent-Type: text/plain\r\n\r\nthe secret phrase\r\n");
    expect_run("1000 attached messages, default mime_nesting_limit", NULL, g.text, g.len,
               "550 5.6.0 MIME nesting exceeds safety limit", NULL);
    /* GMime stops nesting messages at its own limit and says so. */
    expect_run("1000 attached messages, mime_nesting_limit = 2000", "mime_nesting_limit = 2000\n",
               g.text, g.len, NULL, "info: ambiguous MIME: nesting beyond GMime's limit");
    expect_run("1000 attached messages, defer on ambiguity",
               "mime_nesting_limit = 2000\nambiguous_mime_action = defer\n", g.text, g.len,
               "451 4.6.0 Ambiguous MIME structure", NULL);
    free(g.text);
}

static void test_many_parts(void **state)
{
    struct gen g = {0};

    (void)state;
    gen_add(&g, "Subject: many\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n");
    for (int i = 0; i < 10000; i++)
        gen_add(&g, "--b\r\nContent-Type: text/plain; name=\"f%d.txt\"\r\n\r\nline %d\r\n", i, i);
    gen_add(&g, "--b\r\nContent-Type: application/x-evil; name=\"last.bin\"\r\n\r\nx\r\n--b--\r\n");
    expect_run("10,001 parts, default mime_parts_limit", NULL, g.text, g.len,
               "550 5.6.0 MIME part count exceeds safety limit", NULL);
    expect_run("10,001 parts, mime_parts_limit = 20000: the last part is seen",
               "mime_parts_limit = 20000\n", g.text, g.len, "550 5.7.1 evil type", NULL);
    free(g.text);
}

/* 4 MB of decoded text: only decoded_body_size_limit of it is looked at. */
static void test_big_text(void **state)
{
    struct gen g = {0};

    (void)state;
    gen_add(&g, "Subject: big\r\nContent-Type: text/plain\r\n"
                "Content-Transfer-Encoding: base64\r\n\r\n");
    for (int i = 0; i < 4 * 1024 * 1024 / 57; i++)
        gen_add(&g, "%s\r\n",
                "eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4");
    gen_add(&g, "dGhlIHNlY3JldCBwaHJhc2UNCg==\r\n");
    expect_run("phrase after 4 MB of decoded text, default limit", NULL, g.text, g.len, NULL, NULL);
    expect_run("phrase after 4 MB of decoded text, limit 8 MB",
               "decoded_body_size_limit = 8388608\n", g.text, g.len, "550 5.7.1 phrase found",
               NULL);
    free(g.text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_small_broken),   cmocka_unit_test(test_gmime_param_loop),
        cmocka_unit_test(test_random_garbage), cmocka_unit_test(test_truncated_everywhere),
        cmocka_unit_test(test_deep_multipart), cmocka_unit_test(test_deep_messages),
        cmocka_unit_test(test_many_parts),     cmocka_unit_test(test_big_text),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
