/*
 * perf/micro/required_check.c - soundness check of the pcre: tables'
 * required-literal prefilter (rules/table_prefix.c table_pattern_required,
 * used by rules/table_regex.c): a lookup skips a rule whose literal is not
 * in the key, so every key a pattern matches must contain that literal
 * (ASCII case folded). Two parts:
 *
 *  1. random patterns over PCRE2's syntax (literals, escapes, quantifiers,
 *     brackets, groups, lookarounds, alternation, inline options, \Q, \c,
 *     {n}) against random keys: any key PCRE2 matches (the table's default
 *     flags, caseless and dotall) that lacks the extracted literal is a bug;
 *  2. the tables themselves: perf/rules' body_checks.pcre and
 *     header_checks.pcre (and the random patterns) opened as they are and
 *     with every pattern wrapped in "(?:...)" (no prefix, no literal taken):
 *     every key must give the same answer and value.
 *
 *   make -C perf/micro required_check && perf/micro/required_check [PERF_DIR] [ROUNDS]
 *
 * Exits 1 on the first disagreement, printing the pattern and key.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rules/table.h"
#include "rules/table_internal.h"

static const char *const pieces[] = {
    "abc",   "ab",        "a",      "b",     "c",      "A",           "B",      "x",
    "yz",    ".",         "\\.",    "\\-",   "\\/",    "\\\\",        " ",      "-",
    "#",     ":",         "?",      "*",     "+",      "{2}",         "{0,1}",  "{",
    "}",     "+?",        "*+",     "\\s",   "\\s+",   "\\b",         "\\w",    "\\d",
    "\\S*",  "[abc]",     "[^a]",   "[\\s]", "[]a]",   "[[:alpha:]]", "[a-c]+", "(ab)",
    "(a|b)", "(?:abc)?",  "(?=ab)", "(?!c)", "(?<=a)", "(?<n>b)",     "(?i)",   "(?x)",
    "(?-i)", "\\Qa.b\\E", "\\ca",   "\\c(",  "\\x41",  "\\x{42}",     "\\101",  "\\1",
    "|",     "^",         "$",      "(",     ")",      "\\K",         "\\N",
};
#define NPIECES (sizeof(pieces) / sizeof(pieces[0]))
static const char key_alphabet[] = "abcABCxyz .-/\\#:?*+{}()|\n\001";

static unsigned rnd(unsigned *seed, unsigned n)
{
    return (unsigned)rand_r(seed) % n;
}

static int fold(int ch)
{
    return ch >= 'A' && ch <= 'Z' ? ch + 32 : ch;
}

static int contains_folded(const char *key, size_t klen, const char *lit, size_t llen)
{
    for (size_t i = 0; i + llen <= klen; i++) {
        size_t j = 0;
        while (j < llen && fold((unsigned char)key[i + j]) == fold((unsigned char)lit[j]))
            j++;
        if (j == llen)
            return 1;
    }
    return 0;
}

/* Keys built from the literal and random bytes, so that matches happen. */
static size_t make_key(unsigned *seed, const char *pattern, char *key, size_t cap)
{
    size_t n = 0, want = rnd(seed, 24);
    while (n < want && n + 1 < cap) {
        if (rnd(seed, 3) == 0) {
            /* a random run of the pattern's own bytes */
            size_t plen = strlen(pattern), at = plen ? rnd(seed, (unsigned)plen) : 0;
            for (size_t k = 0; k < 4 && at + k < plen && n + 1 < cap; k++)
                key[n++] = pattern[at + k];
        } else {
            key[n++] = key_alphabet[rnd(seed, sizeof(key_alphabet) - 1)];
        }
    }
    key[n] = 0;
    return n;
}

static int check_random_patterns(unsigned rounds)
{
    unsigned seed = 20261122;
    unsigned tried = 0, with_literal = 0, matched = 0;

    for (unsigned r = 0; r < rounds; r++) {
        char pattern[256] = "";
        size_t np = 1 + rnd(&seed, 8);
        for (size_t i = 0; i < np; i++)
            strncat(pattern, pieces[rnd(&seed, NPIECES)], sizeof(pattern) - strlen(pattern) - 1);
        int code;
        PCRE2_SIZE off;
        pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED,
                                       PCRE2_CASELESS | PCRE2_DOTALL, &code, &off, NULL);
        if (re == NULL)
            continue;
        tried++;
        struct tbuf lit = {0};
        size_t llen = table_pattern_required(pattern, &lit);
        if (llen > 0)
            with_literal++;
        pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
        for (int k = 0; k < 200 && llen > 0; k++) {
            char key[64];
            size_t klen = make_key(&seed, pattern, key, sizeof(key));
            if (pcre2_match(re, (PCRE2_SPTR)key, klen, 0, 0, md, NULL) >= 0) {
                matched++;
                if (!contains_folded(key, klen, lit.s, llen)) {
                    printf("UNSOUND: pattern /%s/ literal \"%s\" key \"%s\" matches\n", pattern,
                           lit.s, key);
                    return 1;
                }
            }
        }
        pcre2_match_data_free(md);
        pcre2_code_free(re);
        tbuf_free(&lit);
    }
    printf("random patterns: %u compiled, %u with a literal, %u matching keys checked: sound\n",
           tried, with_literal, matched);
    return 0;
}

/* Write path's rules, each pattern wrapped in (?:...) when wrap. */
static char *table_copy(const char *path, int wrap, const char *tmpl)
{
    FILE *in = fopen(path, "r");
    char *out_path = strdup(tmpl);
    int fd = mkstemp(out_path);
    FILE *out = fdopen(fd, "w");
    char line[4096];

    if (in == NULL || out == NULL) {
        perror(path);
        exit(2);
    }
    while (fgets(line, sizeof(line), in)) {
        char *p = line;
        if (*p != '/' || !wrap) {
            fputs(line, out);
            continue;
        }
        char *end = p + 1;
        while (*end && *end != '/') {
            if (*end == '\\' && end[1])
                end++;
            end++;
        }
        if (*end != '/') {
            fputs(line, out);
            continue;
        }
        fprintf(out, "/(?:%.*s)%s", (int)(end - p - 1), p + 1, end);
    }
    fclose(in);
    fclose(out);
    return out_path;
}

static int same_answers(const char *name, struct table *a, struct table *b, const char *key)
{
    struct table_result ra = {0}, rb = {0};
    int sa = table_lookup(a, key, &ra), sb = table_lookup(b, key, &rb);
    int same = sa == sb && (sa != 1 || strcmp(ra.value, rb.value) == 0);

    if (!same)
        printf("MISMATCH in %s: key \"%s\": %d \"%s\" vs wrapped %d \"%s\"\n", name, key, sa,
               sa == 1 ? ra.value : "", sb, sb == 1 ? rb.value : "");
    if (sa == 1)
        table_result_free(&ra);
    if (sb == 1)
        table_result_free(&rb);
    return same;
}

/* Keys: each rule's literal text with noise around it, plus lines of
 * ordinary mail, in both cases. */
static int check_table(const char *path, unsigned rounds)
{
    char err[512];
    char *raw = table_copy(path, 0, "/tmp/required_check_raw_XXXXXX");
    char *wrapped = table_copy(path, 1, "/tmp/required_check_wrap_XXXXXX");
    char spec[600];
    snprintf(spec, sizeof(spec), "pcre:%s", raw);
    struct table *a = table_open(spec, err, sizeof(err));
    snprintf(spec, sizeof(spec), "pcre:%s", wrapped);
    struct table *b = a ? table_open(spec, err, sizeof(err)) : NULL;
    if (a == NULL || b == NULL) {
        printf("%s: %s\n", path, err);
        return 1;
    }
    FILE *in = fopen(path, "r");
    char line[4096];
    unsigned seed = 7, keys = 0, hits = 0;
    int ok = 1;
    while (ok && fgets(line, sizeof(line), in)) {
        if (line[0] != '/')
            continue;
        struct tbuf lit = {0};
        char *end = strrchr(line, '/');
        *end = 0;
        size_t llen = table_pattern_required(line + 1, &lit);
        for (unsigned k = 0; k < rounds && ok; k++) {
            char key[512];
            const char *l = llen ? lit.s : "backlinks winner 620";
            snprintf(key, sizeof(key), "%s%s%s%s", k & 1 ? "Subject: " : "  ",
                     k & 2 ? "verify your account " : "", l,
                     k & 4 ? " http://casino508.biz/x winner" : "");
            if (k & 8)
                for (char *q = key; *q; q++)
                    *q = (char)(rnd(&seed, 2)
                                    ? *q ^ 0x20 * ((*q | 0x20) >= 'a' && (*q | 0x20) <= 'z')
                                    : *q);
            ok = same_answers(path, a, b, key);
            struct table_result r;
            if (table_lookup(a, key, &r) == 1) {
                hits++;
                table_result_free(&r);
            }
            keys++;
        }
        tbuf_free(&lit);
    }
    fclose(in);
    table_free(a);
    table_free(b);
    unlink(raw);
    unlink(wrapped);
    free(raw);
    free(wrapped);
    if (ok)
        printf("%s: %u keys (%u hits), same answers as the wrapped table\n", path, keys, hits);
    return !ok;
}

/* A table of random patterns that compile, most with a literal (some
 * inside "if" blocks, negated or not), against its wrapped copy, on random
 * keys. */
static int check_random_table(unsigned rules, unsigned keys)
{
    char path[] = "/tmp/required_check_table_XXXXXX";
    int fd = mkstemp(path);
    FILE *out = fdopen(fd, "w");
    unsigned seed = 99, written = 0;
    char **kept = calloc(rules, sizeof(*kept));

    while (written < rules) {
        char pattern[256] = "";
        size_t np = 1 + rnd(&seed, 6);
        for (size_t i = 0; i < np; i++)
            strncat(pattern, pieces[rnd(&seed, NPIECES)], sizeof(pattern) - strlen(pattern) - 1);
        /* (?x) with '#' or an open \Q would swallow the wrapper's ')'. */
        if (strchr(pattern, '/') != NULL || strstr(pattern, "(?x)") != NULL ||
            strstr(pattern, "\\Q") != NULL)
            continue;
        int code;
        PCRE2_SIZE off;
        /* A tag of the rule's own (a literal the prefilter can take unless
         * the pieces hide it) so that keys reach rules all over the table. */
        snprintf(pattern + strlen(pattern), sizeof(pattern) - strlen(pattern), "k%uk", written);
        pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED,
                                       PCRE2_CASELESS | PCRE2_DOTALL, &code, &off, NULL);
        if (re == NULL)
            continue;
        /* A rule that matches without its tag would answer every key. */
        pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
        int general = pcre2_match(re, (PCRE2_SPTR) "zz", 2, 0, 0, md, NULL) >= 0;
        pcre2_match_data_free(md);
        pcre2_code_free(re);
        if (general)
            continue;
        if (written % 100 == 75)
            fprintf(out, "if /abc/\n");
        if (written % 100 == 90)
            fprintf(out, "endif\n");
        if (written % 50 == 25)
            fprintf(out, "if !/zzz%u/\n", written);
        fprintf(out, "/%s/ r%u\n", pattern, written);
        if (written % 50 == 40)
            fprintf(out, "endif\n");
        kept[written++] = strdup(pattern);
    }
    fclose(out);
    char *wrapped = table_copy(path, 1, "/tmp/required_check_twrap_XXXXXX");
    char spec[600], err[512];
    snprintf(spec, sizeof(spec), "pcre:%s", path);
    struct table *a = table_open(spec, err, sizeof(err));
    snprintf(spec, sizeof(spec), "pcre:%s", wrapped);
    struct table *b = a ? table_open(spec, err, sizeof(err)) : NULL;
    int ok = a != NULL && b != NULL;
    if (!ok)
        printf("random table: %s\n", err);
    unsigned hits = 0, distinct = 0;
    char seen[400] = {0};
    for (unsigned k = 0; ok && k < keys; k++) {
        char key[200] = "";
        size_t n = 0;
        for (int part = 0; part < 3; part++) {
            char piece[64];
            unsigned target = rnd(&seed, written);
            make_key(&seed, kept[target], piece, sizeof(piece));
            n += (size_t)snprintf(key + n, sizeof(key) - n, "%s%s", piece,
                                  rnd(&seed, 2) ? "" : kept[target]);
            n += (size_t)snprintf(key + n, sizeof(key) - n, "K%uK", target);
        }
        ok = same_answers("random table", a, b, key);
        struct table_result r;
        if (ok && table_lookup(a, key, &r) == 1) {
            unsigned v = (unsigned)atoi(r.value + 1);
            hits++;
            if (v < 400)
                seen[v] = 1;
            table_result_free(&r);
        }
    }
    for (unsigned i = 0; i < 400; i++)
        distinct += seen[i];
    if (ok)
        printf("random table: %u rules, %u keys (%u hits by %u different rules), same answers as "
               "the wrapped table\n",
               written, keys, hits, distinct);
    if (a)
        table_free(a);
    if (b)
        table_free(b);
    if (getenv("KEEP_TABLE") != NULL)
        printf("tables kept: %s %s\n", path, wrapped);
    else {
        unlink(path);
        unlink(wrapped);
    }
    free(wrapped);
    for (unsigned i = 0; i < written; i++)
        free(kept[i]);
    free(kept);
    return !ok;
}

int main(int argc, char **argv)
{
    const char *perf = argc > 1 ? argv[1] : "perf";
    unsigned rounds = argc > 2 ? (unsigned)atoi(argv[2]) : 20000;
    char path[512];
    int bad = check_random_patterns(rounds);

    snprintf(path, sizeof(path), "%s/rules/body_checks.pcre", perf);
    bad |= check_table(path, 16);
    snprintf(path, sizeof(path), "%s/rules/header_checks.pcre", perf);
    bad |= check_table(path, 16);
    bad |= check_random_table(400, rounds);
    return bad;
}
