/*
 * table_cidr.c - cidr: tables, cidr_table(5).
 *
 * "address[/len] result", IPv4 or IPv6 (an address may be in [brackets]),
 * "!pattern" negates, "if pattern" ... "endif" nests; rules are tried top
 * to bottom and the first match wins. A rule only ever matches keys of its
 * own address family, negated or not, and a key that is not an IP address
 * (a host name, "1.2.3.04", "[::1]") matches nothing. [checked against
 * postmap -q, Postfix 3.7.11]
 *
 * Policy on bad lines: Postfix warns and skips the rule; scand refuses the
 * whole table with "FILE, line N: reason" (Postfix's wording), because a
 * skipped network rule silently changes who is let in, and the caller keeps
 * its old rules.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules/table_internal.h"
#include "util/xalloc.h"

enum cidr_op { CIDR_MATCH, CIDR_IF, CIDR_ENDIF };

struct cidr_rule {
    enum cidr_op op;
    int negated;
    int line;
    int family;
    unsigned char net[16];
    int bits;
    char *result;   /* CIDR_MATCH */
    size_t skip_to; /* CIDR_IF: index of the rule after its endif */
};

struct cidr_table {
    struct cidr_rule *rules;
    size_t count;
    size_t cap;
    const char *path;
};

static int is_space(int ch)
{
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\v' || ch == '\f';
}

static int is_alnum(int ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
}

static char *trim(char *s)
{
    size_t n;

    while (is_space((unsigned char)*s))
        s++;
    n = strlen(s);
    while (n > 0 && is_space((unsigned char)s[n - 1]))
        s[--n] = 0;
    return s;
}

/* An address as text into bytes; returns its family, or 0. */
static int cidr_address(const char *text, unsigned char *bytes)
{
    int family = strchr(text, ':') ? AF_INET6 : AF_INET;
    return inet_pton(family, text, bytes) == 1 ? family : 0;
}

/* Is any bit after the first bits set? */
static int cidr_host_bits(const unsigned char *addr, int bits, int total)
{
    for (int i = bits; i < total; i++) {
        if (addr[i / 8] & (0x80 >> (i % 8)))
            return 1;
    }
    return 0;
}

static void cidr_clear_host_bits(unsigned char *addr, int bits, int total)
{
    for (int i = bits; i < total; i++)
        addr[i / 8] &= (unsigned char)~(0x80 >> (i % 8));
}

/* Strip one pair of brackets around an address, in place. */
static char *cidr_unbracket(char *text)
{
    size_t n = strlen(text);
    if (n >= 2 && text[0] == '[' && text[n - 1] == ']') {
        text[n - 1] = 0;
        return text + 1;
    }
    return text;
}

/* Parse "address[/len]" into rule; -1 with why. */
static int cidr_parse_pattern(char *pattern, struct cidr_rule *rule, char *why, size_t whylen)
{
    char *copy = xstrdup(pattern);
    char *slash = strchr(copy, '/');
    int status = -1;

    if (slash == NULL) {
        rule->family = cidr_address(cidr_unbracket(copy), rule->net);
        if (rule->family == 0)
            snprintf(why, whylen, "bad address pattern: \"%s\"", pattern);
        else
            status = 0;
        rule->bits = rule->family == AF_INET6 ? 128 : 32;
        free(copy);
        return status;
    }
    *slash = 0;
    const char *mask = slash + 1;
    size_t digits = strspn(mask, "0123456789");
    if (digits == 0 || mask[digits] != 0 || digits > 3) {
        snprintf(why, whylen, "bad mask value in \"%s\"", pattern);
    } else if ((rule->family = cidr_address(cidr_unbracket(copy), rule->net)) == 0) {
        snprintf(why, whylen, "bad network value in \"%s\"", pattern);
    } else {
        int total = rule->family == AF_INET6 ? 128 : 32;
        rule->bits = atoi(mask);
        if (rule->bits > total) {
            snprintf(why, whylen, "bad mask length in \"%s\"", pattern);
        } else if (cidr_host_bits(rule->net, rule->bits, total)) {
            char text[INET6_ADDRSTRLEN];
            cidr_clear_host_bits(rule->net, rule->bits, total);
            inet_ntop(rule->family, rule->net, text, sizeof(text));
            snprintf(why, whylen,
                     "non-null host address bits in \"%s\", perhaps you should use \"%s/%d\" "
                     "instead",
                     pattern, text, rule->bits);
        } else {
            status = 0;
        }
    }
    free(copy);
    return status;
}

static char *cidr_negations(char *p, int *negated)
{
    for (*negated = 0; *p == '!'; p++)
        *negated = !*negated;
    return p;
}

static int cidr_keyword(const char *line, const char *word)
{
    size_t n = strlen(word);
    return strncasecmp(line, word, n) == 0 && !is_alnum((unsigned char)line[n]);
}

/* One logical line into rule; -1 with why. */
static int cidr_parse_line(char *line, struct cidr_rule *rule, char *why, size_t whylen)
{
    char *p = line;

    if (cidr_keyword(p, "endif")) {
        rule->op = CIDR_ENDIF;
        if (*trim(p + 5) != 0) {
            snprintf(why, whylen, "garbage after ENDIF");
            return -1;
        }
        return 0;
    }
    if (cidr_keyword(p, "if")) {
        rule->op = CIDR_IF;
        p = cidr_negations(trim(p + 2), &rule->negated);
        return cidr_parse_pattern(p, rule, why, whylen);
    }
    rule->op = CIDR_MATCH;
    p = cidr_negations(p, &rule->negated);
    char *key = p;
    p += strcspn(p, " \t\r\n\v\f");
    if (*p)
        *p++ = 0;
    char *value = trim(p);
    if (*value == 0) {
        snprintf(why, whylen, "no lookup result");
        return -1;
    }
    if (cidr_parse_pattern(key, rule, why, whylen) < 0)
        return -1;
    rule->result = xstrdup(value);
    return 0;
}

static int cidr_if_op(void *ctx, size_t i, int *line, size_t **skip_to)
{
    struct cidr_rule *rule = &((struct cidr_table *)ctx)->rules[i];

    *line = rule->line;
    *skip_to = &rule->skip_to;
    return rule->op == CIDR_IF ? 1 : rule->op == CIDR_ENDIF ? -1 : 0;
}

static void cidr_table_free(void *priv)
{
    struct cidr_table *t = priv;

    for (size_t i = 0; i < t->count; i++)
        free(t->rules[i].result);
    free(t->rules);
    free(t);
}

static int cidr_load(struct cidr_table *t, struct table_lines *lines, char *err, size_t errlen)
{
    char why[512];

    while (table_lines_next(lines)) {
        struct cidr_rule rule = {0};
        rule.line = lines->first_line;
        if (cidr_parse_line(lines->line.s, &rule, why, sizeof(why)) < 0) {
            free(rule.result);
            snprintf(err, errlen, "%s, line %d: %s", lines->path, lines->first_line, why);
            return -1;
        }
        t->rules = xgrow(t->rules, &t->cap, t->count + 1, sizeof(*t->rules));
        t->rules[t->count++] = rule;
    }
    return table_link_ifs(t->path, t->count, cidr_if_op, t, "ENDIF without IF", err, errlen);
}

/* Does addr (of family) fall in the rule's network, negation applied?
 * Another family never matches. */
static int cidr_matches(const struct cidr_rule *rule, int family, const unsigned char *addr)
{
    if (rule->family != family)
        return 0;
    int whole = rule->bits / 8;
    int rest = rule->bits % 8;
    int in = memcmp(addr, rule->net, (size_t)whole) == 0 &&
             (rest == 0 || ((addr[whole] ^ rule->net[whole]) & (0xff00 >> rest)) == 0);
    return in != rule->negated;
}

static int cidr_lookup(struct table *table, const char *key, struct table_result *result)
{
    struct cidr_table *t = table->priv;
    unsigned char addr[16];
    int family = cidr_address(key, addr);

    if (family == 0)
        return 0;
    for (size_t i = 0; i < t->count;) {
        const struct cidr_rule *rule = &t->rules[i];
        if (rule->op == CIDR_ENDIF) {
            i++;
        } else if (rule->op == CIDR_IF) {
            i = cidr_matches(rule, family, addr) ? i + 1 : rule->skip_to;
        } else if (cidr_matches(rule, family, addr)) {
            result->value = xstrdup(rule->result);
            result->where = table_where(t->path, rule->line);
            return 1;
        } else {
            i++;
        }
    }
    return 0;
}

static const struct table_ops cidr_ops = {cidr_lookup, cidr_table_free};

int table_open_cidr(struct table *table, const char *name, char *err, size_t errlen)
{
    struct table_lines lines;

    if (table_lines_for(table, "cidr", name, &lines, err, errlen) < 0)
        return -1;
    struct cidr_table *t = xcalloc(1, sizeof(*t));
    t->path = lines.path;
    int status = cidr_load(t, &lines, err, errlen);
    table_lines_close(&lines);
    if (status < 0) {
        cidr_table_free(t);
        return -1;
    }
    table->kind = TABLE_KIND_CIDR;
    table->ops = &cidr_ops;
    table->priv = t;
    return 0;
}
