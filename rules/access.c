/*
 * access.c - the access(5) lookup order (see access.h).
 *
 * Policy, as Postfix 3.7's smtpd_check.c and mail_addr_find.c apply it
 * (../shared/postfix-semantics.md section 2, every point checked against
 * Postfix):
 *
 *  - The first key present in the table decides, whatever its value (a
 *    DUNNO found for "example.com" stops the search of this table; the
 *    caller then goes on with the next restriction).
 *  - Only indexed tables (hash, texthash, inline, ...) get partial keys:
 *    parent domains, address without extension, localpart@, address
 *    octets. regexp/pcre/cidr tables get the full string only; static:
 *    matches the first key anyway.
 *  - Addresses are lower-cased before any lookup (smtpd looks them up as
 *    the address resolver returns them); host names and HELO names are not
 *    (indexed tables fold them themselves, regexp tables see them as sent).
 *  - The null sender is one lookup of smtpd_null_access_lookup_key.
 *  - Numerical host names (an IPv4 or IPv6 address given as HELO) get no
 *    parent lookups; a trailing dot stays in every key.
 *  - A lookup error (-1) ends the search at once; the caller turns it into
 *    Postfix's 451 reply.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "rules/access.h"
#include "util/xalloc.h"

/* Local parts never split at the recipient delimiter (Postfix split_addr():
 * MAIL_ADDR_POSTMASTER, MAIL_ADDR_MAIL_DAEMON and the default
 * double_bounce_sender). */
static const char *const access_unsplit_localparts[] = {"postmaster", "mailer-daemon",
                                                        "double-bounce", NULL};

/* One lookup, reported to the trace. */
static int access_try(struct table *table, const char *key, struct table_result *result,
                      access_trace_fn trace, void *ctx)
{
    int rc;

    memset(result, 0, sizeof(*result));
    rc = table_lookup(table, key, result);
    if (trace != NULL)
        trace(ctx, key, rc == 1 ? result : NULL);
    return rc;
}

/* Whether partial keys (parents, octets, localpart@) are asked of this table:
 * Postfix asks them only of DICT_FLAG_FIXED tables. */
static int access_partial_keys(const struct table *table)
{
    return table_kind(table) == TABLE_KIND_INDEXED;
}

/* valid_ipv4_hostaddr(): four decimal fields of at most three digits, each
 * no more than 255. */
static int access_is_ipv4(const char *text)
{
    int fields = 0;

    for (const char *cp = text;;) {
        int value = 0;
        int digits = 0;

        while (isdigit((unsigned char)*cp) && digits < 4) {
            value = value * 10 + (*cp++ - '0');
            digits++;
        }
        if (digits == 0 || digits > 3 || value > 255)
            return 0;
        fields++;
        if (*cp == '\0')
            return fields == 4;
        if (*cp != '.' || fields == 4)
            return 0;
        cp++;
    }
}

/* valid_hostaddr(): a numerical address, which gets no subdomain magic. */
static int access_is_hostaddr(const char *text)
{
    struct in6_addr in6;

    if (strchr(text, ':') != NULL)
        return inet_pton(AF_INET6, text, &in6) == 1;
    return access_is_ipv4(text);
}

/* The parent-domain walk of check_domain_access(): after the name itself,
 * "b.example.com", "example.com", "com" (parent style) or ".b.example.com",
 * ".example.com", ".com" (dot style). */
static int access_parents(struct table *table, const char *name,
                          const struct access_options *options, struct table_result *result,
                          access_trace_fn trace, void *ctx)
{
    const char *next;
    int rc;

    for (const char *cp = name; (next = strchr(cp + 1, '.')) != NULL; cp = next) {
        const char *key = options->parent_domain_matches_subdomains ? next + 1 : next;
        if (*key == '\0')
            break;
        if ((rc = access_try(table, key, result, trace, ctx)) != 0)
            return rc;
    }
    return 0;
}

int access_lookup_hostname(struct table *table, const char *name,
                           const struct access_options *options, struct table_result *result,
                           access_trace_fn trace, void *ctx)
{
    int rc;

    if (*name == '\0')
        return 0;
    if ((rc = access_try(table, name, result, trace, ctx)) != 0)
        return rc;
    if (!access_partial_keys(table) || access_is_hostaddr(name))
        return 0;
    return access_parents(table, name, options, result, trace, ctx);
}

/* check_addr_access(): the address, then repeatedly cut at the last '.'
 * (IPv4) or ':' (IPv6). */
static int access_lookup_ipaddr(struct table *table, const char *addr, struct table_result *result,
                                access_trace_fn trace, void *ctx)
{
    char *key = xstrdup(addr);
    int delim = strchr(key, ':') != NULL ? ':' : '.';
    char *cut;
    int rc;

    rc = access_try(table, key, result, trace, ctx);
    if (access_partial_keys(table)) {
        while (rc == 0 && (cut = strrchr(key, delim)) != NULL) {
            *cut = '\0';
            rc = access_try(table, key, result, trace, ctx);
        }
    }
    free(key);
    return rc;
}

int access_lookup_client(struct table *table, const char *name, const char *addr,
                         const struct access_options *options, struct table_result *result,
                         access_trace_fn trace, void *ctx)
{
    int rc;

    if (name != NULL &&
        (rc = access_lookup_hostname(table, name, options, result, trace, ctx)) != 0)
        return rc;
    if (addr == NULL || *addr == '\0')
        return 0;
    return access_lookup_ipaddr(table, addr, result, trace, ctx);
}

static void access_lowercase(char *text)
{
    for (; *text; text++)
        *text = (char)tolower((unsigned char)*text);
}

/* split_addr(): where the extension starts in a local part, or NULL when
 * this local part is not split. */
static const char *access_extension(const char *local, size_t local_len, const char *delimiters)
{
    size_t span;

    for (const char *const *np = access_unsplit_localparts; *np != NULL; np++)
        if (strlen(*np) == local_len && strncasecmp(local, *np, local_len) == 0)
            return NULL;
    /* owner_request_special = yes (Postfix's default): owner-foo and
     * foo-request are list addresses, not extensions. */
    if (strchr(delimiters, '-') != NULL) {
        if (local_len >= 6 && strncasecmp(local, "owner-", 6) == 0)
            return NULL;
        if (local_len > 8 && strncasecmp(local + local_len - 8, "-request", 8) == 0)
            return NULL;
    }
    span = strcspn(local, delimiters);
    /* No split that would leave an empty local part. */
    if (span == 0 || span >= local_len)
        return NULL;
    return local + span;
}

/* strip_addr(): the address without its extension, or NULL when it has
 * none. address is already lower case; at points at its last '@' (or NULL). */
static char *access_strip_extension(const char *address, const char *at,
                                    const struct access_options *options)
{
    const char *delimiters = options->recipient_delimiter;
    size_t local_len = at != NULL ? (size_t)(at - address) : strlen(address);
    char *local;
    const char *ext;
    char *bare;

    if (delimiters == NULL || *delimiters == '\0')
        return NULL;
    local = xstrndup(address, local_len);
    ext = access_extension(local, local_len, delimiters);
    if (ext == NULL) {
        free(local);
        return NULL;
    }
    bare = xasprintf("%.*s%s", (int)(ext - local), local, at != NULL ? at : "");
    free(local);
    return bare;
}

/* The keys after the full address, for an indexed table (mail_addr_find
 * with MA_FIND_NOEXT | MA_FIND_DOMAIN | MA_FIND_LOCALPART_AT and parent
 * domains): user@domain, domain and parents, user+ext@, user@. */
static int access_address_partials(struct table *table, const char *lower, const char *at,
                                   const struct access_options *options,
                                   struct table_result *result, access_trace_fn trace, void *ctx)
{
    char *bare = access_strip_extension(lower, at, options);
    char *key = NULL;
    int rc = 0;

    if (bare != NULL)
        rc = access_try(table, bare, result, trace, ctx);
    if (rc == 0 && at[1] != '\0') {
        rc = access_try(table, at + 1, result, trace, ctx);
        if (rc == 0)
            rc = access_parents(table, at + 1, options, result, trace, ctx);
    }
    if (rc == 0) {
        key = xstrndup(lower, (size_t)(at - lower) + 1);
        rc = access_try(table, key, result, trace, ctx);
        free(key);
    }
    if (rc == 0 && bare != NULL) {
        const char *bare_at = strrchr(bare, '@');
        key = xstrndup(bare, (size_t)(bare_at - bare) + 1);
        rc = access_try(table, key, result, trace, ctx);
        free(key);
    }
    free(bare);
    return rc;
}

int access_lookup_address(struct table *table, const char *address,
                          const struct access_options *options, struct table_result *result,
                          access_trace_fn trace, void *ctx)
{
    char *lower;
    const char *at;
    int rc;

    if (*address == '\0') {
        const char *key = options->null_access_lookup_key;
        return access_try(table, key != NULL ? key : "<>", result, trace, ctx);
    }
    /* Postfix's resolver qualifies a bare local part with $myorigin. */
    if (strchr(address, '@') == NULL && options->myorigin != NULL && *options->myorigin != '\0')
        lower = xasprintf("%s@%s", address, options->myorigin);
    else
        lower = xstrdup(address);
    access_lowercase(lower);
    at = strrchr(lower, '@');
    rc = access_try(table, lower, result, trace, ctx);
    if (rc == 0 && at != NULL && access_partial_keys(table))
        rc = access_address_partials(table, lower, at, options, result, trace, ctx);
    free(lower);
    return rc;
}
