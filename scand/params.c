/*
 * params.c - typed parameters with defaults; see params.h.
 *
 * Policy: a value that does not parse, or is out of range, is an error
 * with file and line, and the caller keeps what it had (a daemon must not
 * start, and a reload must not switch, with a value it guessed). A name we
 * do not know is only a warning: an admin pasting lines from main.cf should
 * not have to delete the ones scand ignores, but should be told.
 *
 * Defaults are stored into the config after the file is read, so that
 * "$myhostname" in any value (ours or a rule's) expands to the default
 * when the file does not set it, as in Postfix.
 */
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules/content.h"
#include "rules/mime_rules.h"
#include "rules/rules.h"
#include "scand/dns.h"
#include "scand/listen.h"
#include "scand/params.h"
#include "util/msg.h"
#include "util/xalloc.h"

enum param_type {
    PARAM_STR,         /* any text */
    PARAM_ADDR,        /* host:port, checked by listen_parse_address() */
    PARAM_INT,         /* a count */
    PARAM_SIZE,        /* a byte count */
    PARAM_TIME,        /* seconds, with Postfix's units */
    PARAM_DNS_SERVERS, /* addresses with ports, checked by dns_servers_valid() */
    PARAM_NETS,        /* networks, checked by listen_acl_parse(); min 1: not empty */
};

struct param_spec {
    const char *name;
    enum param_type type;
    const char *def;
    long min;
    size_t offset;
};

#define P(name, type, def, min)                                                                    \
    {                                                                                              \
#name, type, def, min, offsetof(struct scand_params, name)                                 \
    }

/* Minimums are Postfix's where Postfix has the parameter. */
static const struct param_spec param_table[] = {
    P(listen, PARAM_ADDR, "127.0.0.1:10025", 0),
    P(relay, PARAM_ADDR, "127.0.0.1:10026", 0),
    P(hold_relay, PARAM_ADDR, "127.0.0.1:10027", 0),
    P(process_limit, PARAM_INT, "10", 1),
    P(max_use, PARAM_INT, "100", 1),
    P(user, PARAM_STR, "scand", 0),
    /* Who may connect, and who may send XFORWARD (listen.h). Postfix's
     * smtpd_authorized_xforward_hosts is empty by default; after the queue
     * scand needs XFORWARD from its Postfix, so it defaults to the peers
     * allowed to connect (README "Defaults that differ"). */
    P(authorized_client_networks, PARAM_NETS, "127.0.0.0/8, [::1]/128", 1),
    P(smtpd_authorized_xforward_hosts, PARAM_NETS, "$authorized_client_networks", 0),
    P(drain_timeout, PARAM_TIME, "60s", 0),
    P(worker_session_limit, PARAM_INT, "100", 1),
    P(data_line_limit, PARAM_SIZE, "1048576", 1),
    /* RFC 5321 4.5.3.1.4: a command line may be 512 octets; allow no less. */
    P(command_line_limit, PARAM_SIZE, "2048", 512),
    P(content_check_time_limit, PARAM_TIME, "60s", 1),
    P(content_check_attempt_limit, PARAM_INT, "3", 1),
    P(state_directory, PARAM_STR, "/var/lib/scand", 0),
    P(dns_servers, PARAM_DNS_SERVERS, "", 0),
    P(dns_query_timeout, PARAM_TIME, "5s", 1),
    P(dns_query_attempts, PARAM_INT, "2", 1),
    P(dns_cache_size, PARAM_SIZE, "10000", 0),
    P(dns_message_time_limit, PARAM_TIME, "30s", 1),
    P(myhostname, PARAM_STR, "localhost", 0),
    P(message_size_limit, PARAM_SIZE, "10240000", 0),
    P(smtpd_recipient_limit, PARAM_SIZE, "1000", 1),
    P(smtpd_timeout, PARAM_TIME, "300s", 1),
    P(line_length_limit, PARAM_SIZE, "2048", 1),
    P(hopcount_limit, PARAM_INT, "50", 1),
    P(smtp_connect_timeout, PARAM_TIME, "30s", 1),
    P(smtp_helo_timeout, PARAM_TIME, "300s", 1),
    P(smtp_xforward_timeout, PARAM_TIME, "300s", 1),
    P(smtp_mail_timeout, PARAM_TIME, "300s", 1),
    P(smtp_rcpt_timeout, PARAM_TIME, "300s", 1),
    P(smtp_data_init_timeout, PARAM_TIME, "120s", 1),
    P(smtp_data_xfer_timeout, PARAM_TIME, "180s", 1),
    P(smtp_data_done_timeout, PARAM_TIME, "600s", 1),
    P(smtp_rset_timeout, PARAM_TIME, "20s", 1),
    P(smtp_quit_timeout, PARAM_TIME, "300s", 1),
    P(smtp_connection_cache_time_limit, PARAM_TIME, "2s", 0),
};

#define PARAM_COUNT (sizeof(param_table) / sizeof(param_table[0]))

static const struct param_spec *param_spec_find(const char *name)
{
    for (size_t i = 0; i < PARAM_COUNT; i++)
        if (strcmp(param_table[i].name, name) == 0)
            return &param_table[i];
    return NULL;
}

/* Digits only, no sign, no blanks; -1 when malformed or above max. */
static long long params_parse_count(const char *text, long long max)
{
    long long value = 0;

    if (*text == '\0')
        return -1;
    for (const char *cp = text; *cp; cp++) {
        if (*cp < '0' || *cp > '9')
            return -1;
        if (value > (max - (*cp - '0')) / 10)
            return -1;
        value = value * 10 + (*cp - '0');
    }
    return value;
}

int params_parse_time(const char *text)
{
    size_t len = strlen(text);
    long long unit = 1;
    char *digits;
    long long value;

    if (len == 0)
        return -1;
    /* postconf(5): s (seconds), m (minutes), h (hours), d (days), w (weeks). */
    switch (text[len - 1]) {
    case 's':
        unit = 1;
        len--;
        break;
    case 'm':
        unit = 60;
        len--;
        break;
    case 'h':
        unit = 3600;
        len--;
        break;
    case 'd':
        unit = 86400;
        len--;
        break;
    case 'w':
        unit = 604800;
        len--;
        break;
    default:
        break;
    }
    digits = xstrndup(text, len);
    value = params_parse_count(digits, INT_MAX);
    free(digits);
    if (value < 0 || value > INT_MAX / unit)
        return -1;
    return (int)(value * unit);
}

/* "FILE, line N: " for a parameter, or "FILE: " when it has no line. */
static void params_where(struct config *config, const char *name, char *buf, size_t len)
{
    int line = config_line(config, name);

    if (line > 0)
        snprintf(buf, len, "%s, line %d: ", config_file(config), line);
    else
        snprintf(buf, len, "%s: ", config_file(config));
}

static int params_set_one(struct config *config, const struct param_spec *spec,
                          struct scand_params *params, char *err, size_t errlen)
{
    char *field = (char *)params + spec->offset;
    const char *value;
    char where[300];
    char why[300];
    long long number = 0;

    params_where(config, spec->name, where, sizeof(where));
    if (config_lookup(config, spec->name, &value, err, errlen) < 0)
        return -1;
    if (value == NULL)
        msg_panic("parameter %s has no default", spec->name);

    switch (spec->type) {
    case PARAM_STR:
        *(char **)field = xstrdup(value);
        return 0;
    case PARAM_DNS_SERVERS:
        if (dns_servers_valid(value, why, sizeof(why)) < 0) {
            snprintf(err, errlen, "%sparameter %s: %s", where, spec->name, why);
            return -1;
        }
        *(char **)field = xstrdup(value);
        return 0;
    case PARAM_NETS: {
        struct listen_acl *acl = listen_acl_parse(value, why, sizeof(why));
        if (acl == NULL) {
            snprintf(err, errlen, "%sparameter %s: %s", where, spec->name, why);
            return -1;
        }
        number = (long long)listen_acl_size(acl);
        listen_acl_free(acl);
        if (number < spec->min) {
            snprintf(err, errlen, "%sparameter %s: empty: nobody could connect", where, spec->name);
            return -1;
        }
        *(char **)field = xstrdup(value);
        return 0;
    }
    case PARAM_ADDR: {
        struct sockaddr_storage ss;
        socklen_t sslen;
        if (listen_parse_address(value, &ss, &sslen, why, sizeof(why)) < 0) {
            snprintf(err, errlen, "%sparameter %s: %s", where, spec->name, why);
            return -1;
        }
        /* Port 0 would be a random port that Postfix cannot be told about. */
        if ((ss.ss_family == AF_INET && ((struct sockaddr_in *)&ss)->sin_port == 0) ||
            (ss.ss_family == AF_INET6 && ((struct sockaddr_in6 *)&ss)->sin6_port == 0)) {
            snprintf(err, errlen, "%sparameter %s: bad address \"%s\": port 0", where, spec->name,
                     value);
            return -1;
        }
        *(char **)field = xstrdup(value);
        return 0;
    }
    case PARAM_INT:
        number = params_parse_count(value, INT_MAX);
        break;
    case PARAM_SIZE:
        number = params_parse_count(value, LLONG_MAX < SIZE_MAX ? LLONG_MAX : (long long)SIZE_MAX);
        break;
    case PARAM_TIME:
        number = params_parse_time(value);
        if (number < 0) {
            snprintf(err, errlen, "%sparameter %s: bad time value or unit: \"%s\"", where,
                     spec->name, value);
            return -1;
        }
        break;
    }
    /* Postfix's wording (mail_conf_int.c), so the same mistake reads the same. */
    if (number < 0) {
        snprintf(err, errlen, "%sbad numerical configuration: %s = %s", where, spec->name, value);
        return -1;
    }
    if (number < spec->min) {
        snprintf(err, errlen, "%sinvalid %s parameter value %lld < %ld", where, spec->name, number,
                 spec->min);
        return -1;
    }
    if (spec->type == PARAM_SIZE)
        *(size_t *)field = (size_t)number;
    else
        *(int *)field = (int)number;
    return 0;
}

/* Parameters of rules/: restrictions, then content checks. */
static const struct rules_param *const params_rules_tables[] = {rules_params, content_params,
                                                                mime_rules_params};
#define PARAMS_RULES_TABLES (sizeof(params_rules_tables) / sizeof(params_rules_tables[0]))

static int params_rules_known(const char *name)
{
    for (size_t t = 0; t < PARAMS_RULES_TABLES; t++)
        for (const struct rules_param *rp = params_rules_tables[t]; rp->name != NULL; rp++)
            if (strcmp(rp->name, name) == 0)
                return 1;
    return 0;
}

/* A restriction class is defined as a parameter of its own name. */
static int params_is_class(struct config *config, const char *name)
{
    const char *classes = config_get(config, "smtpd_restriction_classes");
    size_t len = strlen(name);

    while (classes != NULL && *classes) {
        size_t span;
        classes += strspn(classes, ", \t\r\n");
        span = strcspn(classes, ", \t\r\n");
        if (span == len && strncmp(classes, name, len) == 0)
            return 1;
        classes += span;
    }
    return 0;
}

static void params_warn_unknown(void *ctx, const char *name, const char *raw_value, int line)
{
    struct config *config = ctx;

    (void)raw_value;
    if (param_spec_find(name) == NULL && !params_rules_known(name) &&
        !params_is_class(config, name))
        msg_warn("%s, line %d: unknown parameter %s", config_file(config), line, name);
}

static const char *params_source_get(void *ctx, const char *name)
{
    return config_get(ctx, name);
}

static const char *params_source_get_raw(void *ctx, const char *name)
{
    return config_get_raw(ctx, name);
}

static void params_source_where(void *ctx, const char *name, char *buf, size_t len)
{
    struct config *config = ctx;
    int line = config_line(config, name);

    if (line > 0)
        snprintf(buf, len, "%s, line %d", config_file(config), line);
    else
        snprintf(buf, len, "%s", config_file(config));
}

/* Compile the restrictions the file names: errors carry file:line. */
static int params_load_rules(struct scand_params *params, char *err, size_t errlen)
{
    struct rules_source source = {
        .get = params_source_get,
        .where = params_source_where,
        .ctx = params->config,
    };

    params->rules = rules_load_raw(&source, params_source_get_raw, err, errlen);
    if (params->rules == NULL)
        return -1;
    params->content = content_rules_load(&source, err, errlen);
    if (params->content == NULL)
        return -1;
    params->mime = mime_rules_load(&source, err, errlen);
    return params->mime != NULL ? 0 : -1;
}

void params_dns_config(const struct scand_params *params, struct dns_config *config)
{
    memset(config, 0, sizeof(*config));
    config->servers = params->dns_servers;
    config->query_timeout_ms =
        params->dns_query_timeout > INT_MAX / 1000 ? INT_MAX : params->dns_query_timeout * 1000;
    config->query_attempts = params->dns_query_attempts;
    config->cache_size = params->dns_cache_size;
    config->message_time_limit = params->dns_message_time_limit;
}

int params_tables_changed(const struct scand_params *params)
{
    return (params->rules != NULL && rules_changed(params->rules)) ||
           (params->content != NULL && content_rules_changed(params->content)) ||
           (params->mime != NULL && mime_rules_changed(params->mime));
}

void params_free(struct scand_params *params)
{
    for (size_t i = 0; i < PARAM_COUNT; i++) {
        const struct param_spec *spec = &param_table[i];
        if (spec->type == PARAM_STR || spec->type == PARAM_ADDR || spec->type == PARAM_NETS ||
            spec->type == PARAM_DNS_SERVERS) {
            char **field = (char **)((char *)params + spec->offset);
            free(*field);
            *field = NULL;
        }
    }
    if (params->rules != NULL)
        rules_free(params->rules);
    if (params->content != NULL)
        content_rules_free(params->content);
    if (params->mime != NULL)
        mime_rules_free(params->mime);
    config_free(params->config);
    free(params->config_path);
    memset(params, 0, sizeof(*params));
}

int params_load(const char *path, struct scand_params *params, char *err, size_t errlen)
{
    struct scand_params fresh;
    struct config *config;

    memset(&fresh, 0, sizeof(fresh));
    if (path != NULL)
        config = config_load_file(path, err, errlen);
    else
        config = config_load_string("", "built-in defaults", err, errlen);
    if (config == NULL)
        return -1;
    fresh.config = config;
    fresh.config_path = path ? xstrdup(path) : NULL;

    config_walk(config, params_warn_unknown, config);
    for (size_t i = 0; i < PARAM_COUNT; i++)
        if (config_line(config, param_table[i].name) == 0)
            config_set(config, param_table[i].name, param_table[i].def);
    for (size_t t = 0; t < PARAMS_RULES_TABLES; t++)
        for (const struct rules_param *rp = params_rules_tables[t]; rp->name != NULL; rp++)
            if (config_line(config, rp->name) == 0 && rp->default_value != NULL)
                config_set(config, rp->name, rp->default_value);
    for (size_t i = 0; i < PARAM_COUNT; i++) {
        if (params_set_one(config, &param_table[i], &fresh, err, errlen) < 0) {
            params_free(&fresh);
            return -1;
        }
    }
    if (params_load_rules(&fresh, err, errlen) < 0) {
        params_free(&fresh);
        return -1;
    }
    *params = fresh;
    return 0;
}
