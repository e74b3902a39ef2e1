/*
 * fuzz_mime_rules.c - the GMime MIME rules (rules/mime_rules.h):
 * attachment names, types and decoded text on arbitrary messages, with
 * fixed small tables.
 *
 * GMime 3.2.13 can loop on some inputs; the daemon bounds that with
 * content_check_time_limit (the worker dies, Postfix retries). Here
 * libFuzzer's -timeout (tests/fuzz/run.sh) turns such a loop into a
 * reported hang rather than a stuck run.
 *
 * Input: byte 0 picks one of two configurations (defaults, or tiny limits
 * with strict_mime_checks and ambiguous_mime_action = defer); the rest is
 * the message.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_source.h"
#include "rules/mime_rules.h"
#include "util/msg.h"

static struct mime_rules *rules[2];

static const char name_text[] = "/\\.(exe|scr|bat)$/ REJECT attachment $1\n"
                                "/^(.*)\\.zip$/ WARN zip ${1}\n"
                                "/\\.hold$/ HOLD\n";
static const char type_text[] = "/^application\\/x-msdownload/ REJECT type\n"
                                "/^message\\/partial/ DISCARD\n"
                                "/^text\\/html/ INFO html\n";
static const char body_text[] = "/viagra/ REJECT spam\n"
                                "/(\\p{Cyrillic}+)/ WARN cyr $1\n"
                                "/redirect me/ REDIRECT r@example.org\n";

static struct mime_rules *load(const char *dir, int tiny)
{
    struct fuzz_source s = {0};
    struct rules_source source = {fuzz_source_get, fuzz_source_where, &s};
    struct mime_rules *r;
    char err[1024];

    fuzz_source_table(&s, dir, "attachment_name_checks", "pcre", name_text);
    fuzz_source_table(&s, dir, "attachment_type_checks", "pcre", type_text);
    fuzz_source_table(&s, dir, "decoded_body_checks", "pcre", body_text);
    if (tiny) {
        fuzz_source_set(&s, "mime_parts_limit", "5");
        fuzz_source_set(&s, "decoded_body_size_limit", "100");
        fuzz_source_set(&s, "strict_mime_checks", "yes");
        fuzz_source_set(&s, "ambiguous_mime_action", "defer");
        fuzz_source_set(&s, "mime_nesting_limit", "3");
        fuzz_source_set(&s, "line_length_limit", "40");
    }
    r = mime_rules_load(&source, err, sizeof(err));
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

    if (size == 0)
        return 0;
    mime_rules_check(rules[data[0] & 1], (const char *)data + 1, size - 1, &verdict,
                     (data[0] & 2) ? &explain : NULL);
    rules_verdict_free(&verdict);
    return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char dir[256];

    (void)argc;
    (void)argv;
    msg_open("fuzz_mime_rules", 1);
    mime_rules_process_init();
    fuzz_source_dir(dir, sizeof(dir), "mime");
    rules[0] = load(dir, 0);
    rules[1] = load(dir, 1);
    return 0;
}
