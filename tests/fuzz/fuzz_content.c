/*
 * fuzz_content.c - header_checks, mime_header_checks, nested_header_checks
 * and body_checks (rules/content.h) on arbitrary messages, with fixed small
 * tables that fire every kind of action, including the editing ones
 * (REPLACE, PREPEND, IGNORE) that rewrite the message.
 *
 * Input: byte 0 picks one of two configurations (Postfix's default limits,
 * or tiny ones so every limit is crossed); the rest is the message as
 * received (CRLF lines, dot-unstuffing done).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_source.h"
#include "rules/content.h"
#include "util/msg.h"

static struct content_rules *rules[2];

static const char header_text[] = "/^Subject:.*reject/ REJECT subject $0\n"
                                  "/^Subject: (.*)replace/ REPLACE Subject: ${1}replaced\n"
                                  "/^X-Ignore:/ IGNORE\n"
                                  "/^X-Prepend: (.*)/ PREPEND X-Seen: $1\n"
                                  "/^X-Hold:/ HOLD held\n"
                                  "/^X-Warn:/ WARN warned\n"
                                  "/^X-Discard:/ DISCARD\n"
                                  "/^X-Redirect:/ REDIRECT r@example.org\n"
                                  "/^X-Bcc:/ BCC b@example.org\n"
                                  "/^X-Filter:/ FILTER smtp:[127.0.0.1]:1\n"
                                  "/^X-Defer:/ 451 4.7.1 later\n"
                                  "/^X-Info:/ INFO info\n";
static const char mime_text[] = "/^Content-Type:.*name=.*\\.exe/ REJECT exe\n"
                                "/^Content-Disposition:.*x/ REPLACE Content-Disposition: y\n"
                                "/^Content-Transfer-Encoding: (.*)/ WARN cte $1\n";
static const char nested_text[] = "/^Subject:.*nested/ REJECT nested\n"
                                  "/^Received:/ IGNORE\n";
static const char body_text[] = "/^bad line/ REJECT body\n"
                                "/^replace (.*)/ REPLACE replaced $1\n"
                                "/^--/ WARN boundary\n"
                                "/^drop/ IGNORE\n"
                                "/^prepend/ PREPEND X-Body: yes\n";

static struct content_rules *load(const char *dir, int tiny)
{
    struct fuzz_source s = {0};
    struct rules_source source = {fuzz_source_get, fuzz_source_where, &s};
    struct content_rules *r;
    char err[1024];

    fuzz_source_table(&s, dir, "header_checks", "pcre", header_text);
    fuzz_source_table(&s, dir, "mime_header_checks", "pcre", mime_text);
    fuzz_source_table(&s, dir, "nested_header_checks", "pcre", nested_text);
    fuzz_source_table(&s, dir, "body_checks", "pcre", body_text);
    if (tiny) {
        fuzz_source_set(&s, "header_size_limit", "100");
        fuzz_source_set(&s, "body_checks_size_limit", "200");
        fuzz_source_set(&s, "mime_nesting_limit", "3");
        fuzz_source_set(&s, "mime_boundary_length_limit", "10");
        fuzz_source_set(&s, "line_length_limit", "40");
    }
    r = content_rules_load(&source, err, sizeof(err));
    if (r == NULL) {
        msg_error("%s", err);
        abort();
    }
    for (int i = 0; i < s.count; i++)
        free(s.values[i]);
    return r;
}

static void explain_line(void *ctx, int depth, const char *text)
{
    (void)ctx;
    (void)depth;
    (void)text;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rules_explain explain = {explain_line, NULL};
    struct rules_verdict verdict;
    char *rewritten = NULL;
    size_t rewritten_len = 0;

    if (size == 0)
        return 0;
    content_check(rules[data[0] & 1], (const char *)data + 1, size - 1, &verdict, &rewritten,
                  &rewritten_len, (data[0] & 2) ? &explain : NULL);
    rules_verdict_free(&verdict);
    free(rewritten);
    return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char dir[256];

    (void)argc;
    (void)argv;
    msg_open("fuzz_content", 1);
    fuzz_source_dir(dir, sizeof(dir), "content");
    rules[0] = load(dir, 0);
    rules[1] = load(dir, 1);
    return 0;
}
