/*
 * table_regex.c - pcre: and regexp: tables, one line syntax, two engines.
 *
 * Syntax as pcre_table(5) and regexp_table(5): "/pattern/flags result",
 * "!/pattern/flags result", "if /pattern/flags" ... "endif" (nesting),
 * any non-alphanumeric delimiter, "\" escapes the delimiter. Results may
 * use $1, ${1}, $(1); $$ is a dollar.
 *
 * Policy on bad lines. Postfix only warns and skips most broken rules;
 * scand refuses the whole table instead ("FILE, line N: reason"), because a
 * silently missing rule is a hole in a filter, and the caller keeps its old
 * rules: a pattern that does not compile, no closing delimiter, an unknown
 * flag, a line that is neither a rule nor if/endif, and unbalanced
 * if/endif. Problems in the result text (a group the pattern does not
 * have, $0, $name, a lone $, $n in a negated rule) make Postfix drop just
 * that rule with a warning; we do the same, so a table Postfix loads gives
 * the same answers here. [checked against postmap -q, Postfix 3.7.11]
 *
 * Every pcre match runs under a match context with match and depth
 * limits; a rule that hits one is skipped with a warning and the next rule
 * is tried, as Postfix's dict_pcre.c does (its result can then differ
 * from an unbounded match only on input built to exhaust the matcher).
 *
 * Speed: a rule whose pattern is "^" and literal text (table_prefix.c)
 * keeps that prefix; a lookup compares it before running the regex and
 * counts a mismatch as "no match" without running it (sound: the regex
 * could not have matched, nor hit a limit, since the literal comes first).
 * This holds for negated rules and IF lines too. A run of at least
 * RX_RUN_MIN consecutive plain (not negated) prefixed rules is also
 * indexed by the prefix's first byte, so a lookup visits only the rules of
 * the run that start with the key's first byte, still in table order: a
 * header_checks table of 1,000 "/^Name: .../" rules costs a handful of
 * byte compares and regex runs per header.
 */
#include <regex.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "rules/table_internal.h"
#include "util/msg.h"
#include "util/xalloc.h"

/* Backtracking bounds: far above what a sane access or header pattern
 * needs, far below what a pathological one would burn. */
#define PCRE_MATCH_LIMIT 1000000
#define PCRE_DEPTH_LIMIT 10000

/* A literal a rule's every match contains is kept as up to RX_GRAMS of its
 * three-byte substrings (ASCII case folded), hashed into RX_GRAM_BITS; a
 * lookup sets the bits of every three bytes of its key once, and skips a
 * rule whose bits are not all set, with a few bit tests instead of a regex
 * call (body_checks: 200 rules on every body line). A hash collision only
 * lets the regex run. */
#define RX_GRAMS 8
#define RX_GRAM_LOG2 10
#define RX_GRAM_BITS (1 << RX_GRAM_LOG2)

/* Runs of at least RX_GRAM_RUN_MIN plain rules with grams (and no prefix)
 * get a candidate index: per gram, a bit per rule of the run whose first
 * gram it is (RX_GRAM_BITS * ceil(n / 64) words, 32 KB for 200 rules). A
 * lookup ORs the rows of the key's grams and runs, in table order, only
 * the rules whose bit is set, instead of testing every rule's grams. */
#define RX_GRAM_RUN_MIN 8

/* Shorter runs of prefixed rules are walked one by one (a byte compare
 * each); the index costs about 1 KB per run. */
#define RX_RUN_MIN 8

enum rx_op { RX_MATCH, RX_IF, RX_ENDIF };

/* One piece of a result: literal text, or a capture group reference. */
struct rx_part {
    int group; /* 0: literal text */
    char *text;
};

struct rx_rule {
    enum rx_op op;
    int negated;
    int line;
    void *re;
    struct rx_part *parts; /* RX_MATCH */
    size_t nparts;
    size_t skip_to; /* RX_IF: index of the rule after its endif */
    /* The literal every match starts with (plen 0: none known). */
    char *prefix;
    size_t plen;
    int caseless;
    /* Hashed trigrams of a literal every match contains (ngrams 0: none). */
    uint16_t grams[RX_GRAMS];
    int ngrams;
    /* Set on the first rule of an indexed run of plain prefixed rules:
     * the run ends before run_end, run holds its positions by first byte. */
    struct table_byte_index *run;
    size_t run_end;
    /* Set on the first rule of a run of plain rules with grams (see
     * RX_GRAM_RUN_MIN); the run ends before run_end. */
    struct rx_gram_run *gram_run;
};

struct rx_gram_run {
    size_t words;   /* 64-bit words per gram row: ceil(rules / 64) */
    uint64_t *rows; /* RX_GRAM_BITS rows */
    /* The grams some rule of the run is filed under (its first): a key's
     * other grams have empty rows and are not walked. */
    uint64_t filed[RX_GRAM_BITS / 64];
};

/* Where a capture group matched; start == -1 when it took no part. */
struct rx_span {
    long start;
    long end;
};

struct rx_engine {
    const char *name; /* "pcre", "regexp": the prefix of Postfix's warnings */
    int default_flags;
    /* Toggle one flag letter; -1 when the letter is unknown. */
    int (*flag)(int ch, int *flags);
    void *(*compile)(const char *pattern, int flags, char *why, size_t whylen);
    int (*groups)(const void *re);
    /* 1 matched (spans filled up to nspans), 0 not, -1 error (why).
     * subject is NUL-terminated and len bytes long. */
    int (*match)(void *priv, const void *re, const char *subject, size_t len, struct rx_span *spans,
                 size_t nspans, char *why, size_t whylen);
    void (*free)(void *re);
    /* 1 when a literal prefix may be taken under flags (*anchored: the
     * pattern is anchored even without '^', *caseless: letters fold). */
    int (*prefix_mode)(int flags, int *anchored, int *caseless);
    /* 1 when table_pattern_required() reads patterns right under flags;
     * NULL: never. */
    int (*required_mode)(int flags);
};

struct rx_table {
    const struct rx_engine *engine;
    struct rx_rule *rules;
    size_t count;
    size_t cap;
    int max_groups;
    pcre2_match_context *mctx; /* pcre only */
    pcre2_match_data *mdata;   /* pcre only */
    /* Match buffers sized at load (max_groups + 1): a lookup runs once per
     * header or body line and allocates nothing. One process, one lookup
     * at a time, as the pcre match data above. */
    struct rx_span *spans;
    regmatch_t *pm; /* regexp only */
    /* The trigram bits of the key being looked up, computed when the first
     * rule with grams is reached (grams_ready), not for lookups that never
     * reach one (a header line whose name no prefixed rule has). */
    uint64_t key_grams[RX_GRAM_BITS / 64];
    int grams_ready;
    uint64_t *candidates; /* words of the largest gram run */
    size_t candidate_words;
    const char *path;
};

/* ---- pcre engine ---- */

/* A compiled pattern and whether JIT took it: pcre2_match() on a JIT
 * pattern only checks its arguments and calls the JIT code, a cost paid for
 * every rule on every header and body line, so a JIT pattern is run with
 * pcre2_jit_match() directly. The match limit applies to both; a JIT match
 * that runs out of its stack fails with PCRE2_ERROR_JIT_STACKLIMIT, which
 * skips the rule as any other match error does. */
struct pcre_re {
    pcre2_code *code;
    int jit;
};

static int pcre_flag(int ch, int *flags)
{
    switch (ch) {
    case 'i':
        *flags ^= PCRE2_CASELESS;
        return 0;
    case 'm':
        *flags ^= PCRE2_MULTILINE;
        return 0;
    case 's':
        *flags ^= PCRE2_DOTALL;
        return 0;
    case 'x':
        *flags ^= PCRE2_EXTENDED;
        return 0;
    case 'A':
        *flags ^= PCRE2_ANCHORED;
        return 0;
    case 'E':
        *flags ^= PCRE2_DOLLAR_ENDONLY;
        return 0;
    case 'U':
        *flags ^= PCRE2_UNGREEDY;
        return 0;
    default:
        return -1;
    }
}

static void *pcre_compile_re(const char *pattern, int flags, char *why, size_t whylen)
{
    int code;
    PCRE2_SIZE offset;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, (uint32_t)flags,
                                   &code, &offset, NULL);

    if (re == NULL) {
        PCRE2_UCHAR text[256];
        pcre2_get_error_message(code, text, sizeof(text));
        snprintf(why, whylen, "error in regex at offset %zu: %s", (size_t)offset, (char *)text);
        return NULL;
    }
    /* JIT is an optimisation: without it (unsupported CPU, no exec memory)
     * the interpreter gives the same answers under the same limits. */
    struct pcre_re *pre = xmalloc(sizeof(*pre));
    pre->code = re;
    pre->jit = pcre2_jit_compile(re, PCRE2_JIT_COMPLETE) == 0;
    return pre;
}

static int pcre_groups(const void *re)
{
    uint32_t n = 0;
    pcre2_pattern_info(((const struct pcre_re *)re)->code, PCRE2_INFO_CAPTURECOUNT, &n);
    return (int)n;
}

static int pcre_match_re(void *priv, const void *re, const char *subject, size_t len,
                         struct rx_span *spans, size_t nspans, char *why, size_t whylen)
{
    struct rx_table *t = priv;
    const struct pcre_re *pre = re;
    int rc = pre->jit
                 ? pcre2_jit_match(pre->code, (PCRE2_SPTR)subject, len, 0, 0, t->mdata, t->mctx)
                 : pcre2_match(pre->code, (PCRE2_SPTR)subject, len, 0, 0, t->mdata, t->mctx);

    if (rc == PCRE2_ERROR_NOMATCH)
        return 0;
    if (rc < 0) {
        PCRE2_UCHAR text[256];
        pcre2_get_error_message(rc, text, sizeof(text));
        snprintf(why, whylen, "%s", (char *)text);
        return -1;
    }
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(t->mdata);
    uint32_t pairs = pcre2_get_ovector_count(t->mdata);
    for (size_t i = 0; i < nspans; i++) {
        if (i < pairs && i < (size_t)rc && ov[2 * i] != PCRE2_UNSET) {
            spans[i].start = (long)ov[2 * i];
            spans[i].end = (long)ov[2 * i + 1];
        } else {
            spans[i].start = spans[i].end = -1;
        }
    }
    return 1;
}

static void pcre_free_re(void *re)
{
    struct pcre_re *pre = re;

    pcre2_code_free(pre->code);
    free(pre);
}

/* Multi-line moves '^' to every line start, extended makes white space
 * and '#' mean something else: no prefix under either. */
static int pcre_prefix_mode(int flags, int *anchored, int *caseless)
{
    *anchored = (flags & PCRE2_ANCHORED) != 0;
    *caseless = (flags & PCRE2_CASELESS) != 0;
    return (flags & (PCRE2_MULTILINE | PCRE2_EXTENDED)) == 0;
}

/* Extended mode makes white space and '#' mean something else. */
static int pcre_required_mode(int flags)
{
    return (flags & PCRE2_EXTENDED) == 0;
}

static const struct rx_engine pcre_engine = {
    "pcre",
    PCRE2_CASELESS | PCRE2_DOTALL,
    pcre_flag,
    pcre_compile_re,
    pcre_groups,
    pcre_match_re,
    pcre_free_re,
    pcre_prefix_mode,
    pcre_required_mode,
};

/* ---- POSIX regexp engine ---- */

static int posix_flag(int ch, int *flags)
{
    switch (ch) {
    case 'i':
        *flags ^= REG_ICASE;
        return 0;
    case 'm':
        *flags ^= REG_NEWLINE;
        return 0;
    case 'x':
        *flags ^= REG_EXTENDED;
        return 0;
    default:
        return -1;
    }
}

/* glibc's regcomp() copies the parse tree for every repetition it expands:
 * stacked operators ("a+++++", "a{9}{9}{9}") or large counts make it allocate
 * gigabytes at load (found by fuzz_table_regexp). Refuse them up front;
 * POSIX only promises counts up to RE_DUP_MAX (255) anyway. */
static int posix_pattern_sane(const char *pattern, char *why, size_t whylen)
{
    int after_repeat = 0;

    for (const char *p = pattern; *p != '\0'; p++) {
        if (*p == '\\') {
            if (p[1] != '\0')
                p++;
            after_repeat = 0;
        } else if (*p == '[') {
            /* A bracket expression: "]" first is a literal, "[:x:]" nests. */
            const char *q = p + 1;
            if (*q == '^')
                q++;
            if (*q == ']')
                q++;
            for (; *q != '\0' && *q != ']'; q++)
                if (*q == '[' && (q[1] == ':' || q[1] == '.' || q[1] == '=')) {
                    const char *end = strchr(q + 2, q[1]);
                    if (end != NULL && end[1] == ']')
                        q = end + 1;
                }
            if (*q == '\0')
                return 0; /* regcomp reports it */
            p = q;
            after_repeat = 0;
        } else if (*p == '*' || *p == '+' || *p == '?' || *p == '{') {
            /* ".*?" (two) is common in tables written for pcre; more is not. */
            if (after_repeat >= 2) {
                snprintf(why, whylen, "more than two stacked repetition operators");
                return -1;
            }
            if (*p == '{') {
                char *end;
                for (const char *q = p + 1; *q != '\0' && *q != '}'; q++)
                    if ((*q >= '0' && *q <= '9') && strtol(q, &end, 10) > 255) {
                        snprintf(why, whylen, "repetition count over 255 (RE_DUP_MAX)");
                        return -1;
                    }
                const char *close = strchr(p, '}');
                if (close != NULL)
                    p = close;
            }
            after_repeat++;
        } else {
            after_repeat = 0;
        }
    }
    return 0;
}

static void *posix_compile_re(const char *pattern, int flags, char *why, size_t whylen)
{
    if (posix_pattern_sane(pattern, why, whylen) < 0)
        return NULL;
    regex_t *re = xmalloc(sizeof(*re));
    int rc = regcomp(re, pattern, flags);

    if (rc != 0) {
        char text[256];
        regerror(rc, re, text, sizeof(text));
        snprintf(why, whylen, "%s", text);
        free(re);
        return NULL;
    }
    return re;
}

static int posix_groups(const void *re)
{
    return (int)((const regex_t *)re)->re_nsub;
}

static int posix_match_re(void *priv, const void *re, const char *subject, size_t len,
                          struct rx_span *spans, size_t nspans, char *why, size_t whylen)
{
    regmatch_t *pm = ((struct rx_table *)priv)->pm;

    (void)len; /* regexec() reads up to the NUL */
    int rc = regexec((const regex_t *)re, subject, nspans, pm, 0);

    if (rc != 0) {
        if (rc != REG_NOMATCH)
            regerror(rc, re, why, whylen);
        return rc == REG_NOMATCH ? 0 : -1;
    }
    for (size_t i = 0; i < nspans; i++) {
        if (pm[i].rm_so >= 0) {
            spans[i].start = (long)pm[i].rm_so;
            spans[i].end = (long)pm[i].rm_eo;
        } else {
            spans[i].start = spans[i].end = -1;
        }
    }
    return 1;
}

static void posix_free_re(void *re)
{
    regfree(re);
    free(re);
}

/* REG_NEWLINE moves '^' to every line start; without REG_EXTENDED the
 * pattern is a basic regexp (other metacharacters): no prefix. */
static int posix_prefix_mode(int flags, int *anchored, int *caseless)
{
    *anchored = 0;
    *caseless = (flags & REG_ICASE) != 0;
    return (flags & REG_NEWLINE) == 0 && (flags & REG_EXTENDED) != 0;
}

static const struct rx_engine posix_engine = {
    "regexp",     REG_EXTENDED | REG_ICASE, posix_flag,    posix_compile_re,
    posix_groups, posix_match_re,           posix_free_re, posix_prefix_mode,
    NULL,
};

/* ---- parsing ---- */

static int is_space(int ch)
{
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\v' || ch == '\f';
}

static int is_alnum(int ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
}

/* What went wrong on a line: the text, and whether it fails the table
 * (else the rule is dropped with a warning, as Postfix does). */
struct rx_fault {
    char why[512];
    int fatal;
};

static int rx_fail(struct rx_fault *fault, int fatal, const char *fmt, const char *arg)
{
    snprintf(fault->why, sizeof(fault->why), fmt, arg);
    fault->fatal = fatal;
    return -1;
}

/* Keep the literal prefix of a compiled pattern, when one is proven. */
static void rx_take_prefix(const struct rx_engine *engine, const char *pattern, int flags,
                           struct rx_rule *rule)
{
    int anchored;
    struct tbuf text = {0};

    if (!engine->prefix_mode(flags, &anchored, &rule->caseless))
        return;
    if ((rule->plen = table_pattern_prefix(pattern, anchored, &text)) > 0)
        rule->prefix = text.s;
    else
        tbuf_free(&text);
}

static inline int gram_fold(int ch)
{
    return ch >= 'A' && ch <= 'Z' ? ch + ('a' - 'A') : ch;
}

/* The bit of three bytes, already folded, packed as b0 << 16 | b1 << 8 | b2
 * (multiplicative hashing: the top bits of the product). */
static inline unsigned gram_hash24(uint32_t packed)
{
    return (packed * 0x9E3779B1u) >> (32 - RX_GRAM_LOG2);
}

static inline unsigned gram_hash(const unsigned char *p)
{
    return gram_hash24((uint32_t)gram_fold(p[0]) << 16 | (uint32_t)gram_fold(p[1]) << 8 |
                       (uint32_t)gram_fold(p[2]));
}

/* Keep trigrams of a literal every match contains, when one is proven:
 * all of them for a short literal, RX_GRAMS spread over a long one. */
static void rx_take_required(const struct rx_engine *engine, const char *pattern, int flags,
                             struct rx_rule *rule)
{
    struct tbuf text = {0};
    size_t len;

    if (engine->required_mode == NULL || !engine->required_mode(flags))
        return;
    if ((len = table_pattern_required(pattern, &text)) >= 3) {
        size_t n = len - 2 < RX_GRAMS ? len - 2 : RX_GRAMS;
        for (size_t i = 0; i < n; i++) {
            size_t at = n == 1 ? 0 : i * (len - 3) / (n - 1);
            rule->grams[i] = (uint16_t)gram_hash((const unsigned char *)text.s + at);
        }
        rule->ngrams = (int)n;
    }
    tbuf_free(&text);
}

/* "[!...]<d>pattern<d>flags": compile it; *cursor moves past the flags. */
static int rx_parse_pattern(const struct rx_engine *engine, char **cursor, struct rx_rule *rule,
                            struct rx_fault *fault)
{
    char *p = *cursor;
    char delim[2] = {0, 0};
    int flags = engine->default_flags;

    rule->negated = 0;
    for (; *p == '!' || is_space((unsigned char)*p); p++) {
        if (*p == '!')
            rule->negated = !rule->negated;
    }
    if (*p == 0)
        return rx_fail(fault, 1, "no regexp%s", "");
    delim[0] = *p++;
    char *pattern = p;
    while (*p && *p != delim[0]) {
        if (*p == '\\' && p[1] != 0)
            p++;
        p++;
    }
    if (*p == 0)
        return rx_fail(fault, 1, "no closing regexp delimiter \"%s\"", delim);
    *p++ = 0;
    for (; *p && !is_space((unsigned char)*p); p++) {
        char letter[2] = {*p, 0};
        if (engine->flag((unsigned char)*p, &flags) < 0)
            return rx_fail(fault, 1, "unknown regexp option \"%s\"", letter);
    }
    if ((rule->re = engine->compile(pattern, flags, fault->why, sizeof(fault->why))) == NULL) {
        fault->fatal = 1;
        return -1;
    }
    rx_take_prefix(engine, pattern, flags, rule);
    rx_take_required(engine, pattern, flags, rule);
    *cursor = p;
    return 0;
}

static void rx_add_part(struct rx_rule *rule, size_t *cap, int group, const char *text, size_t len)
{
    rule->parts = xgrow(rule->parts, cap, rule->nparts + 1, sizeof(*rule->parts));
    rule->parts[rule->nparts].group = group;
    rule->parts[rule->nparts].text = group ? NULL : xstrndup(text, len);
    rule->nparts++;
}

/* The name of a $ reference at p (just after the '$'): sets *name, *len
 * and returns the text after it, or NULL with the reason in fault. */
static const char *rx_ref_name(const char *p, const char **name, size_t *len,
                               struct rx_fault *fault)
{
    if (*p == '{' || *p == '(') {
        char open = *p;
        char close = open == '{' ? '}' : ')';
        int depth = 1;
        const char *q = p + 1;
        for (; *q; q++) {
            if (*q == open)
                depth++;
            else if (*q == close && --depth == 0)
                break;
        }
        if (*q == 0) {
            rx_fail(fault, 0, "truncated macro reference: \"%s\"", p - 1);
            return NULL;
        }
        *name = p + 1;
        *len = (size_t)(q - p - 1);
        p = q + 1;
    } else {
        const char *q = p;
        while (is_alnum((unsigned char)*q) || *q == '_')
            q++;
        *name = p;
        *len = (size_t)(q - p);
        p = q;
    }
    if (*len == 0) {
        rx_fail(fault, 0, "empty macro name%s", "");
        return NULL;
    }
    return p;
}

/* The group number a reference names, checked against the pattern. */
static int rx_ref_group(const char *name, size_t len, int groups, struct rx_fault *fault)
{
    char text[64];
    int n = 0;

    snprintf(text, sizeof(text), "%.*s", (int)(len < 60 ? len : 60), name);
    for (size_t i = 0; i < len; i++) {
        if (name[i] < '0' || name[i] > '9')
            return rx_fail(fault, 0, "non-numeric replacement index \"%s\"", text);
        n = n > 100000 ? n : n * 10 + (name[i] - '0');
    }
    if (n < 1 || n > groups)
        return rx_fail(fault, 0, "out of range replacement index \"%s\"", text);
    return n;
}

/* Split the result into literal text and group references. */
static int rx_parse_result(struct rx_rule *rule, const char *text, int groups,
                           struct rx_fault *fault)
{
    size_t cap = 0;
    const char *p = text;
    const char *lit = text;

    while ((p = strchr(p, '$')) != NULL) {
        if (p > lit)
            rx_add_part(rule, &cap, 0, lit, (size_t)(p - lit));
        if (p[1] == '$') {
            rx_add_part(rule, &cap, 0, "$", 1);
            lit = p = p + 2;
            continue;
        }
        const char *name;
        size_t len;
        const char *after = rx_ref_name(p + 1, &name, &len, fault);
        if (after == NULL)
            return -1;
        int group = rx_ref_group(name, len, groups, fault);
        if (group < 0)
            return -1;
        if (rule->negated)
            return rx_fail(fault, 0, "$number found in negative match replacement text%s", "");
        rx_add_part(rule, &cap, group, NULL, 0);
        lit = p = after;
    }
    if (*lit)
        rx_add_part(rule, &cap, 0, lit, strlen(lit));
    return 0;
}

/* Is the line the keyword word followed by a non-alphanumeric? */
static int rx_keyword(const char *line, const char *word)
{
    size_t n = strlen(word);
    return strncasecmp(line, word, n) == 0 && !is_alnum((unsigned char)line[n]);
}

static void rx_rule_clear(const struct rx_engine *engine, struct rx_rule *rule)
{
    if (rule->re != NULL)
        engine->free(rule->re);
    for (size_t i = 0; i < rule->nparts; i++)
        free(rule->parts[i].text);
    free(rule->parts);
    free(rule->prefix);
    table_byte_index_free(rule->run);
    if (rule->gram_run != NULL) {
        free(rule->gram_run->rows);
        free(rule->gram_run);
    }
    memset(rule, 0, sizeof(*rule));
}

/* Parse one logical line into rule. 0: a rule, 1: nothing to keep, -1:
 * fault (fatal or a dropped rule). */
static int rx_parse_line(const struct rx_engine *engine, const char *path, int lineno, char *line,
                         struct rx_rule *rule, struct rx_fault *fault)
{
    char *p = line;

    memset(rule, 0, sizeof(*rule));
    rule->line = lineno;
    if (!is_alnum((unsigned char)*p)) {
        rule->op = RX_MATCH;
        if (rx_parse_pattern(engine, &p, rule, fault) < 0)
            return -1;
        while (is_space((unsigned char)*p))
            p++;
        if (*p == 0)
            msg_warn("%s map %s, line %d: no replacement text: using empty string", engine->name,
                     path, rule->line);
        if (rx_parse_result(rule, p, engine->groups(rule->re), fault) < 0)
            return -1;
        return 0;
    }
    if (rx_keyword(p, "if")) {
        rule->op = RX_IF;
        p += 2;
        if (rx_parse_pattern(engine, &p, rule, fault) < 0)
            return -1;
        while (is_space((unsigned char)*p))
            p++;
        if (*p)
            msg_warn("%s map %s, line %d: ignoring extra text after IF statement: \"%s\"",
                     engine->name, path, rule->line, p);
        return 0;
    }
    if (rx_keyword(p, "endif")) {
        rule->op = RX_ENDIF;
        p += 5;
        while (is_space((unsigned char)*p))
            p++;
        if (*p)
            msg_warn("%s map %s, line %d: ignoring extra text after ENDIF", engine->name, path,
                     rule->line);
        return 0;
    }
    return rx_fail(fault, 1, "unrecognized request: \"%.40s\"", line);
}

static int rx_if_op(void *ctx, size_t i, int *line, size_t **skip_to)
{
    struct rx_rule *rule = &((struct rx_table *)ctx)->rules[i];

    *line = rule->line;
    *skip_to = &rule->skip_to;
    return rule->op == RX_IF ? 1 : rule->op == RX_ENDIF ? -1 : 0;
}

static void rx_table_free(void *priv)
{
    struct rx_table *t = priv;

    for (size_t i = 0; i < t->count; i++)
        rx_rule_clear(t->engine, &t->rules[i]);
    free(t->rules);
    free(t->spans);
    free(t->pm);
    free(t->candidates);
    if (t->mdata != NULL)
        pcre2_match_data_free(t->mdata);
    if (t->mctx != NULL)
        pcre2_match_context_free(t->mctx);
    free(t);
}

/* A rule an indexed run may hold: it fires exactly when it matches, and
 * it cannot match unless the key starts with its prefix. */
static int rx_runnable(const struct rx_rule *rule)
{
    return rule->op == RX_MATCH && !rule->negated && rule->plen > 0;
}

/* Index every run of at least RX_RUN_MIN runnable rules by first byte. */
static void rx_index_runs(struct rx_table *t)
{
    unsigned char *first = xmalloc(t->count + 1);

    for (size_t i = 0; i < t->count;) {
        size_t end = i;
        while (end < t->count && rx_runnable(&t->rules[end]))
            end++;
        if (end - i >= RX_RUN_MIN) {
            for (size_t j = i; j < end; j++)
                first[j - i] =
                    (unsigned char)table_prefix_byte((unsigned char)t->rules[j].prefix[0]);
            t->rules[i].run = table_byte_index_new(first, end - i);
            t->rules[i].run_end = end;
        }
        i = end > i ? end : i + 1;
    }
    free(first);
}

/* A rule a gram run may hold: it fires exactly when it matches, and it
 * cannot match unless the key has its grams. */
static int rx_gram_runnable(const struct rx_rule *rule)
{
    return rule->op == RX_MATCH && !rule->negated && rule->plen == 0 && rule->ngrams > 0;
}

static struct rx_gram_run *rx_gram_run_new(const struct rx_rule *rules, size_t n)
{
    struct rx_gram_run *run = xmalloc(sizeof(*run));

    run->words = (n + 63) / 64;
    run->rows = xcalloc((size_t)RX_GRAM_BITS * run->words, sizeof(*run->rows));
    memset(run->filed, 0, sizeof(run->filed));
    for (size_t i = 0; i < n; i++) {
        unsigned g = rules[i].grams[0];
        run->rows[g * run->words + i / 64] |= (uint64_t)1 << (i % 64);
        run->filed[g / 64] |= (uint64_t)1 << (g % 64);
    }
    return run;
}

/* Index every run of at least RX_GRAM_RUN_MIN gram-runnable rules. */
static void rx_index_gram_runs(struct rx_table *t)
{
    for (size_t i = 0; i < t->count;) {
        size_t end = i;
        while (end < t->count && rx_gram_runnable(&t->rules[end]))
            end++;
        if (end - i >= RX_GRAM_RUN_MIN) {
            struct rx_gram_run *run = rx_gram_run_new(&t->rules[i], end - i);
            t->rules[i].gram_run = run;
            t->rules[i].run_end = end;
            if (run->words > t->candidate_words) {
                free(t->candidates);
                t->candidate_words = run->words;
                t->candidates = xcalloc(run->words, sizeof(*t->candidates));
            }
        }
        i = end > i ? end : i + 1;
    }
}

/* Read every rule; -1 with err on the first fatal line. */
static int rx_load(struct rx_table *t, struct table_lines *lines, char *err, size_t errlen)
{
    struct rx_rule rule;
    struct rx_fault fault;

    while (table_lines_next(lines)) {
        fault.fatal = 0;
        int rc =
            rx_parse_line(t->engine, lines->path, lines->first_line, lines->line.s, &rule, &fault);
        if (rc < 0) {
            rx_rule_clear(t->engine, &rule);
            if (fault.fatal) {
                snprintf(err, errlen, "%s, line %d: %s", lines->path, lines->first_line, fault.why);
                return -1;
            }
            msg_warn("%s map %s, line %d: %s: skipping this rule", t->engine->name, lines->path,
                     lines->first_line, fault.why);
            continue;
        }
        if (rule.re != NULL && t->engine->groups(rule.re) > t->max_groups)
            t->max_groups = t->engine->groups(rule.re);
        t->rules = xgrow(t->rules, &t->cap, t->count + 1, sizeof(*t->rules));
        t->rules[t->count++] = rule;
    }
    if (table_link_ifs(t->path, t->count, rx_if_op, t, "ENDIF without matching IF", err, errlen) <
        0)
        return -1;
    rx_index_runs(t);
    rx_index_gram_runs(t);
    return 0;
}

/* ---- lookup ---- */

static char *rx_expand(const struct rx_rule *rule, const char *subject, const struct rx_span *spans)
{
    struct tbuf out = {0};

    tbuf_add(&out, "", 0);
    for (size_t i = 0; i < rule->nparts; i++) {
        const struct rx_part *part = &rule->parts[i];
        if (part->group == 0)
            tbuf_add(&out, part->text, strlen(part->text));
        else if (spans[part->group].start >= 0)
            tbuf_add(&out, subject + spans[part->group].start,
                     (size_t)(spans[part->group].end - spans[part->group].start));
    }
    return out.s;
}

/* Set the trigram bits of key in t->key_grams, once per lookup. */
static void rx_key_grams(struct rx_table *t, const char *key, size_t klen)
{
    if (t->grams_ready)
        return;
    t->grams_ready = 1;
    memset(t->key_grams, 0, sizeof(t->key_grams));
    if (klen < 3)
        return;
    /* Each byte folded once, shifted through its three trigrams. */
    const unsigned char *k = (const unsigned char *)key;
    uint32_t packed = (uint32_t)gram_fold(k[0]) << 8 | (uint32_t)gram_fold(k[1]);
    for (size_t i = 2; i < klen; i++) {
        packed = (packed << 8 | (uint32_t)gram_fold(k[i])) & 0xFFFFFFu;
        unsigned h = gram_hash24(packed);
        t->key_grams[h / 64] |= (uint64_t)1 << (h % 64);
    }
}

/* 0 when the key lacks one of the rule's trigrams: its literal, and so any
 * match, is not in the key. */
static inline int rx_grams_present(struct rx_table *t, const struct rx_rule *rule, const char *key,
                                   size_t klen)
{
    rx_key_grams(t, key, klen);
    for (int i = 0; i < rule->ngrams; i++) {
        unsigned h = rule->grams[i];
        if ((t->key_grams[h / 64] & ((uint64_t)1 << (h % 64))) == 0)
            return 0;
    }
    return 1;
}

/* Run rule's regex on key (klen bytes, measured once per lookup, not once
 * per rule); 0 at once when key lacks the rule's prefix or required
 * literal (the regex could not match). */
static inline int rx_try(struct rx_table *t, const struct rx_rule *rule, const char *key,
                         size_t klen, struct rx_span *spans, size_t nspans, char *why,
                         size_t whylen)
{
    if (rule->plen > 0 && !table_prefix_match(rule->prefix, rule->plen, rule->caseless, key))
        return 0;
    if (rule->ngrams > 0 && !rx_grams_present(t, rule, key, klen))
        return 0;
    return t->engine->match(t, rule->re, key, klen, spans, nspans, why, whylen);
}

/* Postfix (dict_pcre.c) warns and goes on with the next rule: a rule that
 * cannot be evaluated (match or depth limit) neither fires nor opens its
 * if-block. */
static void rx_warn_skipped(const struct rx_table *t, const struct rx_rule *rule, const char *why)
{
    msg_warn("%s map %s, line %d: %s; rule skipped", t->engine->name, t->path, rule->line, why);
}

static void rx_fire(const struct rx_table *t, const struct rx_rule *rule, const char *key,
                    const struct rx_span *spans, struct table_result *result)
{
    result->value = rx_expand(rule, key, spans);
    result->where = table_where(t->path, rule->line);
}

/* The indexed run starting at rules[start]: only its rules whose prefix
 * starts with key's first byte can match; try those in table order. */
static int rx_run_lookup(struct rx_table *t, size_t start, const char *key, size_t klen,
                         struct rx_span *spans, size_t nspans, struct table_result *result)
{
    size_t n;
    const uint32_t *items =
        table_byte_index_get(t->rules[start].run, table_prefix_byte((unsigned char)key[0]), &n);
    char why[256];

    for (size_t k = 0; k < n; k++) {
        const struct rx_rule *rule = &t->rules[start + items[k]];
        int rc = rx_try(t, rule, key, klen, spans, nspans, why, sizeof(why));
        if (rc < 0) {
            rx_warn_skipped(t, rule, why);
        } else if (rc > 0) {
            rx_fire(t, rule, key, spans, result);
            return 1;
        }
    }
    return 0;
}

/* The gram run starting at rules[start]: its rules whose first gram the
 * key has are the candidates; try those in table order (rx_try checks
 * every gram). */
static int rx_gram_run_lookup(struct rx_table *t, size_t start, const char *key, size_t klen,
                              struct rx_span *spans, size_t nspans, struct table_result *result)
{
    const struct rx_gram_run *run = t->rules[start].gram_run;
    uint64_t *cand = t->candidates;
    char why[256];

    rx_key_grams(t, key, klen);
    memset(cand, 0, run->words * sizeof(*cand));
    for (size_t w = 0; w < RX_GRAM_BITS / 64; w++) {
        for (uint64_t bits = t->key_grams[w] & run->filed[w]; bits != 0; bits &= bits - 1) {
            const uint64_t *row = run->rows + (w * 64 + (size_t)__builtin_ctzll(bits)) * run->words;
            for (size_t k = 0; k < run->words; k++)
                cand[k] |= row[k];
        }
    }
    for (size_t k = 0; k < run->words; k++) {
        for (uint64_t bits = cand[k]; bits != 0; bits &= bits - 1) {
            const struct rx_rule *rule = &t->rules[start + k * 64 + (size_t)__builtin_ctzll(bits)];
            int rc = rx_try(t, rule, key, klen, spans, nspans, why, sizeof(why));
            if (rc < 0) {
                rx_warn_skipped(t, rule, why);
            } else if (rc > 0) {
                rx_fire(t, rule, key, spans, result);
                return 1;
            }
        }
    }
    return 0;
}

static int rx_lookup(struct table *table, const char *key, struct table_result *result)
{
    struct rx_table *t = table->priv;
    size_t nspans = (size_t)t->max_groups + 1;
    struct rx_span *spans = t->spans;
    size_t klen = strlen(key);
    char why[256];
    int status = 0;

    t->grams_ready = 0;

    for (size_t i = 0; i < t->count && status == 0;) {
        const struct rx_rule *rule = &t->rules[i];
        if (rule->op == RX_ENDIF) {
            i++;
            continue;
        }
        if (rule->run != NULL) {
            status = rx_run_lookup(t, i, key, klen, spans, nspans, result);
            i = rule->run_end;
            continue;
        }
        if (rule->gram_run != NULL) {
            status = rx_gram_run_lookup(t, i, key, klen, spans, nspans, result);
            i = rule->run_end;
            continue;
        }
        int rc = rx_try(t, rule, key, klen, spans, nspans, why, sizeof(why));
        if (rc < 0) {
            rx_warn_skipped(t, rule, why);
            i = rule->op == RX_IF ? rule->skip_to : i + 1;
        } else if (rule->op == RX_IF) {
            i = rc != rule->negated ? i + 1 : rule->skip_to;
        } else if (rc != rule->negated) {
            rx_fire(t, rule, key, spans, result);
            status = 1;
        } else {
            i++;
        }
    }
    return status;
}

static const struct table_ops rx_ops = {rx_lookup, rx_table_free};

static int rx_open(struct table *table, const char *name, const struct rx_engine *engine, char *err,
                   size_t errlen)
{
    struct table_lines lines;

    if (table_lines_for(table, engine->name, name, &lines, err, errlen) < 0)
        return -1;
    struct rx_table *t = xcalloc(1, sizeof(*t));
    t->engine = engine;
    t->path = lines.path;
    int status = rx_load(t, &lines, err, errlen);
    table_lines_close(&lines);
    if (status < 0) {
        rx_table_free(t);
        return -1;
    }
    if (engine == &pcre_engine) {
        t->mctx = pcre2_match_context_create(NULL);
        pcre2_set_match_limit(t->mctx, PCRE_MATCH_LIMIT);
        pcre2_set_depth_limit(t->mctx, PCRE_DEPTH_LIMIT);
        t->mdata = pcre2_match_data_create((uint32_t)t->max_groups + 1, NULL);
        if (t->mctx == NULL || t->mdata == NULL)
            msg_fatal("out of memory creating pcre2 match data");
    }
    t->spans = xcalloc((size_t)t->max_groups + 1, sizeof(*t->spans));
    if (engine != &pcre_engine)
        t->pm = xcalloc((size_t)t->max_groups + 1, sizeof(*t->pm));
    table->kind = TABLE_KIND_REGEX;
    table->ops = &rx_ops;
    table->priv = t;
    return 0;
}

int table_open_pcre(struct table *table, const char *name, char *err, size_t errlen)
{
    return rx_open(table, name, &pcre_engine, err, errlen);
}

int table_open_regexp(struct table *table, const char *name, char *err, size_t errlen)
{
    return rx_open(table, name, &posix_engine, err, errlen);
}
