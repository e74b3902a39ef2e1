/*
 * mynetworks.c - Postfix's match lists (mynetworks, relay_domains,
 * mydestination), the recipient classes behind permit_auth_destination /
 * reject_unauth_destination, and Postfix's host name and address syntax
 * checks.
 *
 * Match list policy (Postfix match_list(3), namadr_list(3),
 * domain_list(3)): patterns are tried left to right and the first that
 * matches decides; "!pattern" makes that decision "no match". A pattern is
 *   - type:table   the name (and its parents, for indexed tables) or the
 *                  address is looked up; any value found is a match;
 *   - /file/name   the file's words are patterns, in place;
 *   - a network    a.b.c.d, a.b.c.d/len, [v6], [v6]/len, v6/len (client
 *                  address lists only; host bits must be zero);
 *   - a name       matches that name, and its subdomains when the list's
 *                  parameter is in parent_domain_matches_subdomains
 *                  (".example.com" always matches subdomains only).
 * A lookup error makes the whole match an error (-1), which the caller
 * turns into Postfix's 451 4.3.0 "Temporary lookup failure".
 *
 * Recipient classes (trivial-rewrite resolve(), reduced to what scand can
 * know after the queue): a domain in mydestination (or no domain at all) is
 * local; one in relay_domains is a relay domain; everything else is
 * "default". With allow_percent_hack (Postfix's default) user%host@ours is
 * resolved as user@host. A local part that still holds '@', '!' or '%'
 * after that is source routed: never authorised unless its domain is ours.
 * Not modelled: virtual_alias_domains, virtual_mailbox_domains,
 * inet_interfaces address literals ([192.0.2.1] as "ours").
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules/rules_internal.h"
#include "util/xalloc.h"

enum match_kind {
    MATCH_NAME,
    MATCH_TABLE,
    MATCH_NET,
};

struct rules_match {
    enum match_kind kind;
    int negate;
    char *pattern; /* MATCH_NAME: lower case */
    struct table *table;
    int family; /* MATCH_NET */
    unsigned char net[16];
    int prefix;
};

/* valid_ipv4_hostaddr(): four decimal octets, leading zeros allowed, no
 * value above 255, and 0.x.y.z only as 0.0.0.0. */
int rules_valid_ipv4(const char *addr)
{
    int in_byte = 0;
    int byte_count = 0;
    int byte_val = 0;

    for (const char *cp = addr; *cp; cp++) {
        if (isdigit((unsigned char)*cp)) {
            if (!in_byte) {
                in_byte = 1;
                byte_val = 0;
                byte_count++;
            }
            byte_val = byte_val * 10 + (*cp - '0');
            if (byte_val > 255)
                return 0;
        } else if (*cp == '.') {
            if (!in_byte || cp[1] == '\0')
                return 0;
            if (byte_count == 1 && byte_val == 0 && addr[strspn(addr, "0.")] != '\0')
                return 0;
            in_byte = 0;
        } else {
            return 0;
        }
    }
    return byte_count == 4;
}

static int match_valid_ipv6(const char *addr)
{
    struct in6_addr in6;

    return inet_pton(AF_INET6, addr, &in6) == 1;
}

int rules_valid_hostaddr(const char *addr)
{
    if (strchr(addr, ':') != NULL)
        return match_valid_ipv6(addr);
    return rules_valid_ipv4(addr);
}

/* valid_mailhost_addr(): the inside of an address literal, "IPv6:" prefix
 * required for IPv6. */
int rules_valid_mailhost_addr(const char *addr)
{
    if (strncasecmp(addr, "IPv6:", 5) == 0)
        return match_valid_ipv6(addr + 5);
    return rules_valid_ipv4(addr);
}

/* valid_hostname(): labels of letters, digits, '_' and inner '-', at most
 * 63 characters each and 255 in all, no empty label, not all-numeric. */
int rules_valid_hostname(const char *name)
{
    size_t label_length = 0;
    int non_numeric = 0;

    if (*name == '\0' || strlen(name) > 255)
        return 0;
    for (const char *cp = name; *cp; cp++) {
        unsigned char ch = (unsigned char)*cp;
        if (isalnum(ch) || ch == '_') {
            if (++label_length > 63)
                return 0;
            if (!isdigit(ch))
                non_numeric = 1;
        } else if (ch == '.') {
            if (label_length == 0 || cp[1] == '\0')
                return 0;
            label_length = 0;
        } else if (ch == '-') {
            non_numeric = 1;
            label_length++;
            if (label_length == 1 || cp[1] == '\0' || cp[1] == '.')
                return 0;
        } else {
            return 0;
        }
    }
    return non_numeric;
}

static void match_lowercase(char *text)
{
    for (; *text; text++)
        *text = (char)tolower((unsigned char)*text);
}

/* "a.b.c.d[/len]", "[v6][/len]", "v6/len" -> a network; 0 when the text is
 * not an address at all, -1 (err set) when it is a broken one. */
static int match_parse_net(struct rules_match *m, const char *text, char *err, size_t errlen)
{
    char addr[INET6_ADDRSTRLEN + 8];
    const char *slash = strchr(text, '/');
    size_t addr_len = slash != NULL ? (size_t)(slash - text) : strlen(text);
    int max;

    if (addr_len >= 2 && text[0] == '[' && text[addr_len - 1] == ']') {
        text++;
        addr_len -= 2;
    }
    if (addr_len == 0 || addr_len >= sizeof(addr))
        return 0;
    memcpy(addr, text, addr_len);
    addr[addr_len] = '\0';
    if (inet_pton(AF_INET, addr, m->net) == 1 && rules_valid_ipv4(addr)) {
        m->family = AF_INET;
        max = 32;
    } else if (inet_pton(AF_INET6, addr, m->net) == 1) {
        m->family = AF_INET6;
        max = 128;
    } else {
        return 0;
    }
    m->prefix = max;
    if (slash != NULL) {
        char *end;
        long len;
        errno = 0;
        len = strtol(slash + 1, &end, 10);
        if (slash[1] == '\0' || *end != '\0' || errno != 0 || len < 0 || len > max) {
            snprintf(err, errlen, "bad network prefix length in \"%s\"", text);
            return -1;
        }
        m->prefix = (int)len;
    }
    for (int bit = m->prefix; bit < max; bit++) {
        if (m->net[bit / 8] & (0x80 >> (bit % 8))) {
            snprintf(err, errlen, "non-null host address bits in \"%s\"", text);
            return -1;
        }
    }
    m->kind = MATCH_NET;
    return 1;
}

static void match_add(struct rules_match_list *list, const struct rules_match *m)
{
    list->items = xrealloc(list->items, (list->count + 1) * sizeof(*list->items));
    list->items[list->count++] = *m;
}

static int match_add_pattern(struct rules *rules, struct rules_match_list *list, const char *word,
                             int depth, char *err, size_t errlen);

/* "/file/name": its words are patterns; '#' starts a comment. */
static int match_add_file(struct rules *rules, struct rules_match_list *list, const char *path,
                          int depth, char *err, size_t errlen)
{
    FILE *fp;
    char line[4096];
    int rc = 0;

    if (depth > 10) {
        snprintf(err, errlen, "%s: files nested too deeply", path);
        return -1;
    }
    if ((fp = fopen(path, "r")) == NULL) {
        snprintf(err, errlen, "open %s: %s", path, strerror(errno));
        return -1;
    }
    while (rc == 0 && fgets(line, sizeof(line), fp) != NULL) {
        size_t count;
        char **words;
        line[strcspn(line, "#")] = '\0';
        words = rules_split(line, &count);
        for (size_t i = 0; rc == 0 && i < count; i++)
            rc = match_add_pattern(rules, list, words[i], depth + 1, err, errlen);
        rules_split_free(words, count);
    }
    fclose(fp);
    return rc;
}

static int match_add_pattern(struct rules *rules, struct rules_match_list *list, const char *word,
                             int depth, char *err, size_t errlen)
{
    struct rules_match m;
    int rc;

    memset(&m, 0, sizeof(m));
    while (*word == '!') {
        m.negate = !m.negate;
        word++;
    }
    if (*word == '/')
        return match_add_file(rules, list, word, depth, err, errlen);
    if (*word != '[' && strchr(word, ':') != NULL && strchr(word, '/') == NULL &&
        !match_valid_ipv6(word)) {
        if ((m.table = rules_open_table(rules, word, err, errlen)) == NULL)
            return -1;
        m.kind = MATCH_TABLE;
        match_add(list, &m);
        return 0;
    }
    if ((rc = match_parse_net(&m, word, err, errlen)) < 0)
        return -1;
    if (rc == 0) {
        m.kind = MATCH_NAME;
        m.pattern = xstrdup(word);
        match_lowercase(m.pattern);
    }
    match_add(list, &m);
    return 0;
}

int rules_match_list_load(struct rules *rules, struct rules_match_list *list, const char *param,
                          const char *value, const char *where, int parent_style, char *err,
                          size_t errlen)
{
    size_t count;
    char **words = rules_split(value != NULL ? value : "", &count);
    char why[512];
    int rc = 0;

    memset(list, 0, sizeof(*list));
    list->param = xstrdup(param);
    list->parent_style = parent_style;
    for (size_t i = 0; rc == 0 && i < count; i++) {
        rc = match_add_pattern(rules, list, words[i], 0, why, sizeof(why));
        if (rc < 0)
            snprintf(err, errlen, "%s: parameter %s: %s", where, param, why);
    }
    rules_split_free(words, count);
    return rc;
}

void rules_match_list_free(struct rules_match_list *list)
{
    for (size_t i = 0; i < list->count; i++)
        free(list->items[i].pattern);
    free(list->items);
    free(list->param);
    memset(list, 0, sizeof(*list));
}

/* match_hostname() for a plain pattern. */
static int match_name(const struct rules_match_list *list, const char *name, const char *pattern)
{
    size_t name_len = strlen(name);
    size_t pattern_len = strlen(pattern);
    const char *tail;

    if (strcasecmp(name, pattern) == 0)
        return 1;
    if (pattern_len >= name_len)
        return 0;
    tail = name + name_len - pattern_len;
    if (pattern[0] == '.')
        return strcasecmp(tail, pattern) == 0;
    return list->parent_style && tail[-1] == '.' && strcasecmp(tail, pattern) == 0;
}

static int match_lookup(struct table *table, const char *key)
{
    struct table_result result;
    int rc;

    memset(&result, 0, sizeof(result));
    rc = table_lookup(table, key, &result);
    if (rc != 0)
        table_result_free(&result);
    return rc;
}

/* match_hostname() for a table: the name, then (indexed tables only) its
 * parents in the list's style. */
static int match_name_table(const struct rules_match_list *list, struct table *table,
                            const char *name)
{
    const char *next;
    int rc = match_lookup(table, name);

    if (rc != 0 || table_kind(table) != TABLE_KIND_INDEXED)
        return rc;
    for (const char *cp = name; (next = strchr(cp + 1, '.')) != NULL; cp = next) {
        const char *key = list->parent_style ? next + 1 : next;
        if (*key == '\0')
            break;
        if ((rc = match_lookup(table, key)) != 0)
            return rc;
    }
    return 0;
}

static int match_net(const struct rules_match *m, const char *addr)
{
    unsigned char bytes[16];
    int family = strchr(addr, ':') != NULL ? AF_INET6 : AF_INET;

    if (family != m->family || inet_pton(family, addr, bytes) != 1)
        return 0;
    for (int bit = 0; bit < m->prefix; bit++) {
        unsigned char mask = (unsigned char)(0x80 >> (bit % 8));
        if ((bytes[bit / 8] & mask) != (m->net[bit / 8] & mask))
            return 0;
    }
    return 1;
}

static int match_decide(const struct rules_match *m, int rc)
{
    if (rc < 0)
        return -1;
    return m->negate ? 0 : 1;
}

int rules_match_namaddr(const struct rules_match_list *list, const char *name, const char *addr)
{
    for (size_t i = 0; i < list->count; i++) {
        const struct rules_match *m = &list->items[i];
        int rc = 0;
        switch (m->kind) {
        case MATCH_NAME:
            rc = (name != NULL && match_name(list, name, m->pattern)) ||
                 (addr != NULL && strcasecmp(addr, m->pattern) == 0);
            break;
        case MATCH_TABLE:
            if (name != NULL)
                rc = match_name_table(list, m->table, name);
            if (rc == 0 && addr != NULL)
                rc = match_lookup(m->table, addr);
            break;
        case MATCH_NET:
            rc = addr != NULL && match_net(m, addr);
            break;
        }
        if (rc != 0)
            return match_decide(m, rc);
    }
    return 0;
}

int rules_match_domain(const struct rules_match_list *list, const char *domain)
{
    for (size_t i = 0; i < list->count; i++) {
        const struct rules_match *m = &list->items[i];
        int rc = 0;
        if (m->kind == MATCH_NAME)
            rc = match_name(list, domain, m->pattern);
        else if (m->kind == MATCH_TABLE)
            rc = match_name_table(list, m->table, domain);
        if (rc != 0)
            return match_decide(m, rc);
    }
    return 0;
}

/* The recipient as resolve() sees it: lower case, one trailing dot off the
 * domain, user%host@ours rewritten to user@host. Returns the local part
 * and domain (domain NULL when there is none). */
static char *match_resolve(const struct rules *rules, const char *recipient, char **domain, int *rc)
{
    char *addr = xstrdup(recipient);
    size_t len;
    char *at;

    match_lowercase(addr);
    *rc = 0;
    for (int hops = 0; hops < 20; hops++) {
        char *percent;
        if ((at = strrchr(addr, '@')) == NULL) {
            *domain = NULL;
            return addr;
        }
        *at = '\0';
        *domain = at + 1;
        len = strlen(*domain);
        if (len > 1 && (*domain)[len - 1] == '.' && (*domain)[len - 2] != '.')
            (*domain)[len - 1] = '\0';
        if (!rules->allow_percent_hack || (percent = strrchr(addr, '%')) == NULL)
            return addr;
        if ((*rc = rules_match_domain(&rules->mydestination, *domain)) != 1)
            return addr;
        *percent = '@';
    }
    return addr;
}

int rules_auth_destination(const struct rules *rules, const char *recipient)
{
    char *domain;
    int rc;
    char *local = match_resolve(rules, recipient, &domain, &rc);

    if (rc >= 0 && domain == NULL)
        rc = 1; /* a bare local part is qualified with $myorigin: ours */
    else if (rc >= 0 && *domain == '\0')
        rc = 1;
    else if (rc >= 0 && (rc = rules_match_domain(&rules->mydestination, domain)) == 0) {
        /* Source-routed mail for someone else: uncertain destination. */
        if (local[strcspn(local, "@!%")] != '\0')
            rc = 0;
        else
            rc = rules_match_domain(&rules->relay_domains, domain);
    }
    free(local);
    return rc;
}
