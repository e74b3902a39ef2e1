/* test_rules_table_regex.c - pcre: and regexp: tables (rules/table.h).
 * Expected answers were taken from postmap -q (Postfix 3.7.11) on the same
 * files; where scand refuses a table that Postfix loads with a warning, the
 * case says so. */
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
#include "rules/table_internal.h"

static void write_file(char *path, const char *text)
{
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (int)strlen(text));
    close(fd);
}

static struct table *open_text(const char *type, const char *text, char *path)
{
    char spec[256];
    char err[1024] = "";

    write_file(path, text);
    snprintf(spec, sizeof(spec), "%s:%s", type, path);
    struct table *table = table_open(spec, err, sizeof(err));
    if (table == NULL)
        fail_msg("%s: %s", spec, err);
    assert_int_equal(table_kind(table), TABLE_KIND_REGEX);
    return table;
}

struct lookup_case {
    const char *label;
    const char *key;
    const char *value; /* NULL: not found */
    int line;
};

static void check_lookups(struct table *table, const char *path, const struct lookup_case *cases,
                          size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const struct lookup_case *c = &cases[i];
        struct table_result r;
        int status = table_lookup(table, c->key, &r);
        if (c->value == NULL) {
            if (status != 0)
                fail_msg("%s: \"%s\" gave %d \"%s\", expected not found", c->label, c->key, status,
                         r.value);
            continue;
        }
        if (status != 1)
            fail_msg("%s: \"%s\" gave %d, expected \"%s\"", c->label, c->key, status, c->value);
        if (strcmp(r.value, c->value) != 0)
            fail_msg("%s: \"%s\" gave \"%s\", expected \"%s\"", c->label, c->key, r.value,
                     c->value);
        char where[1200];
        snprintf(where, sizeof(where), "%s, line %d", path, c->line);
        if (strcmp(r.where, where) != 0)
            fail_msg("%s: where \"%s\", expected \"%s\"", c->label, r.where, where);
        table_result_free(&r);
    }
}

/* Valid in both dialects. */
static const char common_text[] = "/^(a)(b)?c$/ r1=$1 r2=[$2] b=${1}x p=$(1)y d=$$ end\n" /* 1 */
                                  "/^ABC$/i casesens\n"                                   /* 2 */
                                  "/^Mixed$/ insens\n"                                    /* 3 */
                                  "/a\\/b/ slash\n"                                       /* 4 */
                                  "if /^if/\n"                                            /* 5 */
                                  "if !/^ifnot/\n"                                        /* 6 */
                                  "/./ inner\n"                                           /* 7 */
                                  "endif\n"                                               /* 8 */
                                  "endif\n"                                               /* 9 */
                                  "!/^[a-z]+$/ notlower\n"                                /* 10 */
                                  "/(x)|(y)/ [$1][$2]\n"                                  /* 11 */
                                  "/tw(o)z/ $2\n"                                         /* 12 */
                                  "%^pct(.)$% percent $1\n"                               /* 13 */
                                  "/^multi$/ a\n"                                         /* 14 */
                                  "  b\n"                                                 /* 15 */
                                  "# comment\n"                                           /* 16 */
                                  "/^mt$/\n"                                              /* 17 */
                                  "IF /^upif/\n"                                          /* 18 */
                                  "/^upif$/ upper keywords\n"                             /* 19 */
                                  "EndIf\n"                                               /* 20 */
                                  "/^(q)$/ ${1}${1}$1-$(1)\n";                            /* 21 */

static const struct lookup_case common_cases[] = {
    {"all substitution forms and $$", "abc", "r1=a r2=[b] b=ax p=ay d=$ end", 1},
    {"unmatched optional group is empty", "ac", "r1=a r2=[] b=ax p=ay d=$ end", 1},
    {"caseless by default; $1 keeps the key's case", "ABC", "r1=A r2=[B] b=Ax p=Ay d=$ end", 1},
    {"i flag toggles to case-sensitive (rule 2 would not match abC)", "Abc",
     "r1=A r2=[b] b=Ax p=Ay d=$ end", 1},
    {"default caseless", "MIXED", "insens", 3},
    {"escaped delimiter", "a/b", "slash", 4},
    {"nested if, both true", "iffy", "inner", 7},
    {"nested if !, inner false skips to endif; later rules see it", "ifnot", NULL, 0},
    {"negated rule fires when no match", "UPPER1", "notlower", 10},
    {"first alternative group set, second empty", "x", "[x][]", 11},
    {"second alternative group", "y", "[][y]", 11},
    {"rule with out-of-range $2 dropped", "twoz", NULL, 0},
    {"other delimiter", "pctz", "percent z", 13},
    {"continuation joined", "multi", "a  b", 14},
    {"no result text gives empty", "mt", "", 17},
    {"IF/ENDIF keywords any case", "upif", "upper keywords", 19},
    {"adjacent references", "q", "qqq-q", 21},
    {"no rule matches", "zzz", NULL, 0},
};

static void test_common(void **state)
{
    static const char *types[] = {"pcre", "regexp"};
    (void)state;
    for (size_t t = 0; t < 2; t++) {
        char path[] = "/tmp/test_rules_table_regex_XXXXXX";
        struct table *table = open_text(types[t], common_text, path);
        check_lookups(table, path, common_cases, sizeof(common_cases) / sizeof(common_cases[0]));
        assert_false(table_changed(table));
        table_free(table);
        unlink(path);
    }
}

static const char pcre_text[] =
    "/^abc$/ default\n"                                           /* 1 */
    "/^A(.)B$/ dotall=$1\n"                                       /* 2 */
    "/^c.d$/s nodotall\n"                                         /* 3 */
    "/^line2$/m multiline\n"                                      /* 4 */
    "/^x y z$/x extended\n"                                       /* 5 */
    "/s(\\d+)/A anchored\n"                                       /* 6 */
    "/^end$/E endonly\n"                                          /* 7 */
    "/^(u+)/U ungreedy=$1\n"                                      /* 8 */
    "/^(?!owner-)(.*)-outgoing@(.*)/ 550 Use ${1}@${2} instead\n" /* 9 */
    "/^CaSe$/i exact\n"                                           /* 10 */
    "!/./ nothing\n";                                             /* 11 */

static const struct lookup_case pcre_cases[] = {
    {"dot matches newline by default", "a\nb", "dotall=\n", 2},
    {"s toggles dotall off", "c\nd", NULL, 0},
    {"m: ^ after a newline", "line1\nline2", "multiline", 4},
    {"x ignores pattern white space", "xyz", "extended", 5},
    {"A anchors at start", "s12", "anchored", 6},
    {"A: not anchored elsewhere", "xs12", NULL, 0},
    {"E: $ does not match before a final newline", "end\n", NULL, 0},
    {"E: plain end", "end", "endonly", 7},
    {"U makes + lazy", "uuu", "ungreedy=u", 8},
    {"pcre_table(5) example", "list-outgoing@example.com", "550 Use list@example.com instead", 9},
    {"negative lookahead", "owner-list-outgoing@example.com", NULL, 0},
    {"i: case-sensitive exact", "CaSe", "exact", 10},
    {"i: case-sensitive miss", "case", NULL, 0},
    {"negated pattern on empty key", "", "nothing", 11},
};

static void test_pcre_flags(void **state)
{
    char path[] = "/tmp/test_rules_table_regex_XXXXXX";
    (void)state;
    struct table *table = open_text("pcre", pcre_text, path);
    check_lookups(table, path, pcre_cases, sizeof(pcre_cases) / sizeof(pcre_cases[0]));
    table_free(table);
    unlink(path);
}

static const char regexp_text[] = "/^a.b$/ dot-newline\n"            /* 1 */
                                  "/^line2$/m multiline\n"           /* 2 */
                                  "/^a+c$/x basic\n"                 /* 3 */
                                  "/^a\\+c$/x basic-plus\n"          /* 4 */
                                  "/^CaSe$/i exact\n"                /* 5 */
                                  "/^([0-9]+)\\.([0-9]+)$/ $2.$1\n"; /* 6 */

static const struct lookup_case regexp_cases[] = {
    {"no REG_NEWLINE: dot matches newline", "a\nb", "dot-newline", 1},
    {"m: ^ after a newline", "line1\nline2", "multiline", 2},
    {"x toggles extended off: + is literal in basic", "a+c", "basic", 3},
    {"basic: GNU \\+ repeats", "aac", "basic-plus", 4},
    {"i: case-sensitive", "CaSe", "exact", 5},
    {"i: case-sensitive miss", "CASE", NULL, 0},
    {"groups swapped", "12.34", "34.12", 6},
};

static void test_regexp_flags(void **state)
{
    char path[] = "/tmp/test_rules_table_regex_XXXXXX";
    (void)state;
    struct table *table = open_text("regexp", regexp_text, path);
    check_lookups(table, path, regexp_cases, sizeof(regexp_cases) / sizeof(regexp_cases[0]));
    table_free(table);
    unlink(path);
}

/* Rules Postfix drops with a warning: the table loads, the rule is gone. */
static const char dropped_text[] = "/^(a)$/ r=$0\n"            /* 1: $0 */
                                   "/^(a)$/ r=$abc\n"          /* 2: non-numeric */
                                   "/^(a)$/ r=$ x\n"           /* 3: empty name */
                                   "/^(a)$/ r=${1\n"           /* 4: truncated */
                                   "!/^(b)$/ r=$1\n"           /* 5: $n negated */
                                   "/^(a)$/ r=$1x\n"           /* 6: "1x" is a name */
                                   "/^(a)$/ kept=$1\n"         /* 7 */
                                   "!/^(b)$/ negated $$ ok\n"; /* 8 */

static void test_dropped_rules(void **state)
{
    static const struct lookup_case cases[] = {
        {"rules 1-6 dropped, 7 answers", "a", "kept=a", 7},
        {"negated rule with only $$ kept", "c", "negated $ ok", 8},
    };
    (void)state;
    for (int t = 0; t < 2; t++) {
        char path[] = "/tmp/test_rules_table_regex_XXXXXX";
        struct table *table = open_text(t ? "regexp" : "pcre", dropped_text, path);
        check_lookups(table, path, cases, 2);
        table_free(table);
        unlink(path);
    }
}

struct error_case {
    const char *label;
    const char *type;
    const char *text;
    const char *err; /* after "PATH, " */
};

/* Postfix warns and skips these; scand refuses the table. */
static const struct error_case error_cases[] = {
    {"pcre: bad pattern", "pcre", "/ok/ x\n\n/bad(/ x\n",
     "line 3: error in regex at offset 4: missing closing parenthesis"},
    {"regexp: bad pattern", "regexp", "/bad(/ x\n", "line 1: Unmatched ( or \\("},
    /* glibc regcomp() would allocate gigabytes for these (fuzz_table_regexp). */
    {"regexp: stacked repetition", "regexp", "/^a+++++b/ x\n",
     "line 1: more than two stacked repetition operators"},
    {"regexp: count over RE_DUP_MAX", "regexp", "/a{2,300}/ x\n",
     "line 1: repetition count over 255 (RE_DUP_MAX)"},
    {"no closing delimiter", "pcre", "# c\n/x\n", "line 2: no closing regexp delimiter \"/\""},
    {"unknown flag", "pcre", "/x/q y\n", "line 1: unknown regexp option \"q\""},
    {"pcre flag unknown to regexp", "regexp", "/x/s y\n", "line 1: unknown regexp option \"s\""},
    {"no pattern after !", "pcre", "!\n", "line 1: no regexp"},
    {"unrecognized request", "regexp", "foo bar\n", "line 1: unrecognized request: \"foo bar\""},
    {"if without endif", "pcre", "if /a/\n/b/ c\n", "line 1: IF has no matching ENDIF"},
    {"innermost open if named", "pcre", "if /a/\nif /b/\nendif\nif /c/\n",
     "line 4: IF has no matching ENDIF"},
    {"endif without if", "regexp", "/a/ b\nendif\n", "line 2: ENDIF without matching IF"},
    {"line of a continued logical line is its first", "pcre", "/a/ b\n/bad(/\n  x\n",
     "line 2: error in regex at offset 4: missing closing parenthesis"},
    {"bad pattern inside if", "pcre", "if /a/\n/(/ x\nendif\n",
     "line 2: error in regex at offset 1: missing closing parenthesis"},
};

static void test_load_errors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(error_cases) / sizeof(error_cases[0]); i++) {
        const struct error_case *c = &error_cases[i];
        char path[] = "/tmp/test_rules_table_regex_XXXXXX";
        char spec[256];
        char err[1024] = "";
        char want[1200];
        write_file(path, c->text);
        snprintf(spec, sizeof(spec), "%s:%s", c->type, path);
        struct table *table = table_open(spec, err, sizeof(err));
        unlink(path);
        if (table != NULL)
            fail_msg("%s: loaded", c->label);
        snprintf(want, sizeof(want), "%s, %s", path, c->err);
        if (strcmp(err, want) != 0)
            fail_msg("%s: error \"%s\", expected \"%s\"", c->label, err, want);
    }
    char err[512] = "";
    assert_null(table_open("pcre:/nonexistent/x.pcre", err, sizeof(err)));
    assert_string_equal(err, "open database /nonexistent/x.pcre: No such file or directory");
}

/* A catastrophic-backtracking pattern on a long key hits the match limit:
 * bounded, and handled as Postfix's dict_pcre does (warn, skip that rule). */
static void test_pcre_match_limit(void **state)
{
    char path[] = "/tmp/test_rules_table_regex_XXXXXX";
    char key[64];
    struct table_result r;
    (void)state;

    /* As Postfix: the rule that hits the limit is skipped, the next decides. */
    struct table *table = open_text("pcre", "/^(a+)+$/ slow\n/!/ later\n", path);
    memset(key, 'a', 40);
    strcpy(key + 40, "!");
    assert_int_equal(table_lookup(table, key, &r), 1);
    assert_string_equal(r.value, "later");
    table_result_free(&r);
    memset(key, 'a', 40);
    strcpy(key + 40, "?");
    assert_int_equal(table_lookup(table, key, &r), 0);
    assert_int_equal(table_lookup(table, "aaaa", &r), 1);
    assert_string_equal(r.value, "slow");
    table_result_free(&r);
    table_free(table);
    unlink(path);
}

/* Anchored-prefix dispatch (rules/table_prefix.c): patterns whose literal
 * prefix must not be taken, or must be taken with care. A wrong prefix
 * makes one of these lookups miss. Expected answers from postmap -q
 * (Postfix 3.7.11) on the same text, except where marked "reasoned". */
static const char prefix_common_text[] = "/^ab|cd/ alt\n"                   /* 1 */
                                         "/^(ef|gh)i/ group\n"              /* 2 */
                                         "/^j*k/ star\n"                    /* 3 */
                                         "/^lm?n/ quest\n"                  /* 4 */
                                         "/^op{2}q/ brace\n"                /* 5 */
                                         "/^rs+t/ plus\n"                   /* 6 */
                                         "/^u[v|]w/ bracket\n"              /* 7 */
                                         "/^x\\.y/ dotesc\n"                /* 8 */
                                         "/^a b/x extended\n"               /* 9 */
                                         "/^Zz/i sensitive\n"               /* 10 */
                                         "/^Yy/ insensitive\n"              /* 11 */
                                         "/^Subject: .*(spam|eggs)/ subj\n" /* 12 */
                                         "/^X-A\\/B: 1/ slash\n"            /* 13 */
                                         "!/^Nn/ negated\n";                /* 14 */

static const struct lookup_case prefix_common_cases[] = {
    {"top-level | after the prefix: no prefix", "xcd", "alt", 1},
    {"top-level |, first branch", "ab", "alt", 1},
    {"| inside a group", "ghi", "group", 2},
    {"* makes the first character optional", "k", "star", 3},
    {"? makes the last prefix character optional", "ln", "quest", 4},
    {"{n} repeats the last prefix character", "oppq", "brace", 5},
    {"+ after the prefix", "rsst", "plus", 6},
    {"| inside a bracket expression", "u|w", "bracket", 7},
    {"escaped dot is a literal prefix character", "x.y", "dotesc", 8},
    {"escaped dot does not match any character", "xzy", "negated", 14},
    {"i: case-sensitive prefix hit", "Zz", "sensitive", 10},
    {"i: case-sensitive prefix miss", "ZZ", "negated", 14},
    {"default caseless prefix, upper case key", "YY", "insensitive", 11},
    {"caseless header name", "SUBJECT: x spam", "subj", 12},
    {"escaped delimiter in the prefix, caseless", "x-a/b: 1", "slash", 13},
    {"negated rule, prefix present: no fire", "Nn", NULL, 0},
    {"negated rule, prefix present in other case: no fire", "nn", NULL, 0},
    {"negated rule, prefix absent: fires", "nothing", "negated", 14},
};

static const struct lookup_case prefix_regexp_cases[] = {
    {"x turns extended off: basic regexp, no prefix", "a b", "extended", 9},
};

/* In a POSIX bracket expression a backslash is literal: "[\]" ends at
 * the first ']' and the '|' after it is top-level (pcre reads [\]|] as
 * one class). */
static const char prefix_bracket_text[] = "/^a[\\]|]b/ brk\n"; /* 1 */

static const struct lookup_case prefix_bracket_regexp_cases[] = {
    {"regexp: | after [\\] is top-level", "x]b", "brk", 1},
    {"regexp: first branch", "a\\", "brk", 1},
};

static const struct lookup_case prefix_bracket_pcre_cases[] = {
    {"pcre: [\\]|] is one class", "a]b", "brk", 1},
    {"pcre: no top-level |", "x]b", NULL, 0},
};

static const char prefix_pcre_text[] = "/^\\Qa|\\E/ quote\n"    /* 1 */
                                       "/^b(?i)c/i inline\n"    /* 2 */
                                       "/^d(?#|)e|f/ comment\n" /* 3 */
                                       "/^c d/x xflag\n"        /* 4 */
                                       "/^g/m multi\n"          /* 5 */
                                       "/zz/ last\n"            /* 6 */
                                       "/^c[\\](]|d/ brk2\n";   /* 7 */

static const struct lookup_case prefix_pcre_cases[] = {
    {"\\Q...\\E: | is literal", "A|", "quote", 1},
    {"(?i) after the prefix: rest caseless", "bC", "inline", 2},
    {"(?i) after the prefix: prefix still case-sensitive", "Bc", NULL, 0},
    {"comment holding |, then a top-level |", "f", "comment", 3},
    {"x: white space in the prefix is ignored", "cd", "xflag", 4},
    {"m: ^ after a newline (reasoned: pcre2 multiline)", "a\ng", "multi", 5},
    {"no prefix rule still runs", "ZZ", "last", 6},
    {"\\] inside a class, then a top-level | (pcre reading)", "xd", "brk2", 7},
    {"( inside a class", "c(", "brk2", 7},
};

static void check_text(const char *type, const char *text, const struct lookup_case *cases,
                       size_t n)
{
    char path[] = "/tmp/test_rules_table_regex_XXXXXX";
    struct table *table = open_text(type, text, path);
    check_lookups(table, path, cases, n);
    table_free(table);
    unlink(path);
}

static void test_prefix_unsafe_patterns(void **state)
{
    (void)state;
    /* Under pcre "/^a b/x" matches "ab", which rule 1 takes first: the
     * pcre x case is in prefix_pcre_text. */
    check_text("pcre", prefix_common_text, prefix_common_cases,
               sizeof(prefix_common_cases) / sizeof(prefix_common_cases[0]));
    check_text("regexp", prefix_common_text, prefix_common_cases,
               sizeof(prefix_common_cases) / sizeof(prefix_common_cases[0]));
    check_text("regexp", prefix_common_text, prefix_regexp_cases,
               sizeof(prefix_regexp_cases) / sizeof(prefix_regexp_cases[0]));
    check_text("pcre", prefix_pcre_text, prefix_pcre_cases,
               sizeof(prefix_pcre_cases) / sizeof(prefix_pcre_cases[0]));
    check_text("regexp", prefix_bracket_text, prefix_bracket_regexp_cases,
               sizeof(prefix_bracket_regexp_cases) / sizeof(prefix_bracket_regexp_cases[0]));
    check_text("pcre", prefix_bracket_text, prefix_bracket_pcre_cases,
               sizeof(prefix_bracket_pcre_cases) / sizeof(prefix_bracket_pcre_cases[0]));
}

/* table_pattern_required(): the literal every match must contain, which the
 * lookup uses to skip rules whose literal the key lacks. Taking too much
 * would change answers (a rule skipped that would have matched), so each
 * case that gives less than the visible text says why. */
struct required_case {
    const char *pattern;
    const char *literal; /* "" when none can be proven */
};

static const struct required_case required_cases[] = {
    {"^Subject: .*viagra", "Subject: "},
    {"^Subject:.*cheap pills", "cheap pills"},
    {"foo\\.bar", "foo.bar"},
    {"abc?def", "def"},   /* c may be absent: "ab", then "def" */
    {"abcd*", "abc"},     /* d may be absent */
    {"abcd+x", "abc"},    /* d repeated: the run ends before it */
    {"xyz{2}abcd", "xy"}, /* a '{' ends the reading */
    {"[abc]hello\\d+wo", "hello"},
    {"(group|other)hello world", "hello world"},
    {"hello(?:x)?world!", "world!"},
    {"a|bcdef", ""},    /* top-level alternation */
    {"(?i)viagra", ""}, /* an inline option may change the letters */
    {"\\Qabc\\E", ""},  /* quoting is not read */
    {"\\x41bcdef", ""}, /* an escape with an argument stops the reading */
    {"^\\s*Received: from", "Received: from"},
    {"", ""},
};

static void test_pattern_required(void **state)
{
    (void)state;
    struct tbuf out = {0};
    for (size_t i = 0; i < sizeof(required_cases) / sizeof(required_cases[0]); i++) {
        const struct required_case *c = &required_cases[i];
        size_t len = table_pattern_required(c->pattern, &out);
        if (len != strlen(c->literal) || (len > 0 && memcmp(out.s, c->literal, len) != 0))
            fail_msg("pattern \"%s\": literal \"%.*s\", expected \"%s\"", c->pattern, (int)len,
                     len > 0 ? out.s : "", c->literal);
    }
    tbuf_free(&out);
}

/* A generated header_checks table of 1,000 "^Name:" rules, against the
 * same table with every pattern wrapped in a group, from which no prefix
 * can be taken: every key must give the same status, value and line. Per
 * block of 100: a run of 80 prefixed rules (every tenth case-sensitive,
 * every tenth with $1), then an if-block by header name holding a run of
 * 15 rules with a negated rule in its middle, an IF negation, a nested IF
 * with a negation, and an unprefixed rule. */
static const char *const gen_names[] = {"Subject",  "From",     "To",     "Received",
                                        "X-Mailer", "Reply-To", "Sender", "Content-Type",
                                        "Date",     "X-Spam",   "Cc"};
#define GEN_NAMES (sizeof(gen_names) / sizeof(gen_names[0]))
#define GEN_RULES 1000

struct tbuf_t {
    char *s;
    size_t len;
};

static void gen_add(struct tbuf_t *out, const char *fmt, ...)
{
    va_list ap;
    char line[512];
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    out->s = realloc(out->s, out->len + (size_t)n + 1);
    assert_non_null(out->s);
    memcpy(out->s + out->len, line, (size_t)n + 1);
    out->len += (size_t)n;
}

/* One line "[lead]/pattern/flags result", the pattern wrapped on demand. */
static void gen_line(struct tbuf_t *out, const char *lead, const char *pattern, const char *flags,
                     const char *result, const char *type, int wrap)
{
    const char *open = !wrap ? "" : strcmp(type, "pcre") == 0 ? "(?:" : "(";
    const char *close = wrap ? ")" : "";
    gen_add(out, "%s/%s%s%s/%s %s\n", lead, open, pattern, close, flags, result);
}

/* The header name rule i tests: the block's name inside its if-block. */
static const char *gen_name(int i)
{
    return i % 100 >= 80 ? gen_names[(i / 100) % GEN_NAMES] : gen_names[i % GEN_NAMES];
}

/* A plain rule: case-sensitive, with $1 (wrapping shifts regexp groups by
 * one), or neither. */
static void gen_plain(struct tbuf_t *out, int i, const char *type, int wrap)
{
    char pattern[256], result[128];
    int shift = wrap && strcmp(type, "regexp") == 0;

    if (i % 10 == 3) {
        snprintf(pattern, sizeof(pattern), "^%s: .*w%d\\b", gen_name(i), i);
        snprintf(result, sizeof(result), "cs%d", i);
        gen_line(out, "", pattern, "i", result, type, wrap);
    } else if (i % 10 == 5) {
        snprintf(pattern, sizeof(pattern), "^%s:.*(w%d|v%d)( |$)", gen_name(i), i, i);
        snprintf(result, sizeof(result), "grp%d=$%d", i, 1 + shift);
        gen_line(out, "", pattern, "", result, type, wrap);
    } else {
        snprintf(pattern, sizeof(pattern), "^%s: .*w%d\\b", gen_name(i), i);
        snprintf(result, sizeof(result), "r%d", i);
        gen_line(out, "", pattern, "", result, type, wrap);
    }
}

static void gen_block(struct tbuf_t *out, int base, const char *type, int wrap)
{
    const char *name = gen_names[(base / 100) % GEN_NAMES];
    char pattern[256], result[128];

    for (int i = base; i < base + 80; i++)
        gen_plain(out, i, type, wrap);
    snprintf(pattern, sizeof(pattern), "^%s:", name);
    gen_line(out, "if ", pattern, "", "", type, wrap);
    for (int i = base + 80; i < base + 96; i++) {
        if (i != base + 88) {
            gen_plain(out, i, type, wrap);
            continue;
        }
        snprintf(pattern, sizeof(pattern), "^%s: n%d keep", name, i);
        snprintf(result, sizeof(result), "neg%d", i);
        gen_line(out, "!", pattern, "", result, type, wrap);
    }
    gen_add(out, "endif\n");
    snprintf(pattern, sizeof(pattern), "^%s:", name);
    gen_line(out, "if !", pattern, "", "", type, wrap);
    snprintf(pattern, sizeof(pattern), "^X-Other: o%d", base + 96);
    snprintf(result, sizeof(result), "other%d", base + 96);
    gen_line(out, "", pattern, "", result, type, wrap);
    gen_add(out, "endif\n");
    snprintf(pattern, sizeof(pattern), "^%s: x%d", name, base + 98);
    gen_line(out, "if ", pattern, "", "", type, wrap);
    snprintf(pattern, sizeof(pattern), "^%s: x%d keep", name, base + 98);
    snprintf(result, sizeof(result), "negif%d", base + 98);
    gen_line(out, "!", pattern, "", result, type, wrap);
    gen_add(out, "endif\n");
    snprintf(pattern, sizeof(pattern), "u%d$", base + 99);
    snprintf(result, sizeof(result), "tail%d", base + 99);
    gen_line(out, "", pattern, "", result, type, wrap);
}

static struct table *gen_table(const char *type, int wrap, char *path)
{
    struct tbuf_t text = {0};
    for (int base = 0; base < GEN_RULES; base += 100)
        gen_block(&text, base, type, wrap);
    gen_line(&text, "", "^Zulu", "", "zcatch", type, wrap);
    gen_line(&text, "", ".", "", "catchall-not-empty", type, wrap);
    struct table *table = open_text(type, text.s, path);
    free(text.s);
    return table;
}

static int where_line(const char *where)
{
    const char *p = strrchr(where, ' ');
    return p == NULL ? -1 : atoi(p + 1);
}

static void compare_key(struct table *fast, struct table *slow, const char *key)
{
    struct table_result a, b;
    int sa = table_lookup(fast, key, &a);
    int sb = table_lookup(slow, key, &b);
    if (sa != sb)
        fail_msg("\"%s\": prefix path %d, reference %d", key, sa, sb);
    if (sa != 1)
        return;
    if (strcmp(a.value, b.value) != 0 || where_line(a.where) != where_line(b.where))
        fail_msg("\"%s\": prefix path \"%s\" (%s), reference \"%s\" (%s)", key, a.value, a.where,
                 b.value, b.where);
    table_result_free(&a);
    table_result_free(&b);
}

static void flip_case(char *s)
{
    for (; *s; s++) {
        if (*s >= 'a' && *s <= 'z')
            *s = (char)(*s - 'a' + 'A');
        else if (*s >= 'A' && *s <= 'Z')
            *s = (char)(*s - 'A' + 'a');
    }
}

static void test_prefix_matches_reference(void **state)
{
    static const char *types[] = {"pcre", "regexp"};
    static const char *fixed[] = {"",
                                  "Z",
                                  "Zulu time",
                                  "zulu",
                                  "Subject:",
                                  "Subject: ",
                                  "X-Other: o96",
                                  "X-Other: o196",
                                  "Subject: n88",
                                  "Subject: n88 keep",
                                  "x u99",
                                  "u999",
                                  "Unknown: w1",
                                  "\tSubject: w0",
                                  "Subject : w0"};
    static const char *forms[] = {"%s: a w%d b", "%s:w%d",  "%s: n%d", "%s: n%d keep",
                                  "%s: v%d",     "%s: o%d", "%s: x%d", "%s: x%d keep"};
    (void)state;
    for (size_t t = 0; t < 2; t++) {
        char fast_path[] = "/tmp/test_rules_table_regex_XXXXXX";
        char slow_path[] = "/tmp/test_rules_table_regex_XXXXXX";
        struct table *fast = gen_table(types[t], 0, fast_path);
        struct table *slow = gen_table(types[t], 1, slow_path);
        char key[256];

        for (size_t k = 0; k < sizeof(fixed) / sizeof(fixed[0]); k++)
            compare_key(fast, slow, fixed[k]);
        for (int i = 0; i < GEN_RULES; i++) {
            const char *name = gen_name(i);
            for (size_t f = 0; f < sizeof(forms) / sizeof(forms[0]); f++) {
                snprintf(key, sizeof(key), forms[f], name, i);
                compare_key(fast, slow, key);
                flip_case(key);
                compare_key(fast, slow, key);
            }
            snprintf(key, sizeof(key), "%s: w%d", gen_name(i + 1), i);
            compare_key(fast, slow, key);
            /* Several rules of one run match: the first must win. */
            snprintf(key, sizeof(key), "%s: w%d w%d w%d", name, i + (int)GEN_NAMES, i + 1, i);
            compare_key(fast, slow, key);
        }
        table_free(fast);
        table_free(slow);
        unlink(fast_path);
        unlink(slow_path);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_common),
        cmocka_unit_test(test_pcre_flags),
        cmocka_unit_test(test_regexp_flags),
        cmocka_unit_test(test_dropped_rules),
        cmocka_unit_test(test_load_errors),
        cmocka_unit_test(test_pcre_match_limit),
        cmocka_unit_test(test_prefix_unsafe_patterns),
        cmocka_unit_test(test_prefix_matches_reference),
        cmocka_unit_test(test_pattern_required),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
