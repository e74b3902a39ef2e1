/*
 * smtp_envelope.c - MAIL FROM / RCPT TO argument parsing, and the helpers
 * that copy and free what a transaction carries.
 *
 * Policy, as Postfix 3.7 smtpd (mail_cmd, rcpt_cmd) with its defaults:
 *
 *  - "FROM:" / "TO:" is case-insensitive and may be followed by white space
 *    before the address (strict_rfc821_envelopes = no tolerates it).
 *  - The address is normally in angle brackets; a bare address without them
 *    is tolerated, as Postfix does by default. An RFC 5321 4.1.2 source
 *    route ("<@a,@b:user@c>") is dropped. Control characters make it bad
 *    syntax. "<>" is the null sender; an empty recipient is bad syntax.
 *  - Parameters (RFC 1870 SIZE, RFC 6152 BODY, RFC 6531 SMTPUTF8, RFC 3461
 *    RET ENVID NOTIFY ORCPT) are validated (RFC 4954 AUTH= at MAIL is
 *    accepted and dropped, as Postfix without SASL does); RET, ENVID, NOTIFY and ORCPT
 *    may appear once (a repeat gets the same "Bad X parameter syntax" reply
 *    as Postfix 3.7 gives); a repeated SIZE, BODY or SMTPUTF8 overrides the
 *    earlier one, as in Postfix. An empty ORCPT address ("rfc822;") passes,
 *    as in Postfix. Anything else is
 *    "555 5.5.4 Unsupported option: X".
 *  - The SIZE limit is not checked here: that needs the configuration and
 *    is the server's job.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/xalloc.h"

#include "smtp/smtp_envelope.h"
#include "smtp/smtp_xtext.h"

#define REPLY_OK ((struct smtp_parse_result){1, NULL, NULL, 0})
#define REPLY_ERR(text) ((struct smtp_parse_result){0, (text), NULL, 0})

static const char *skip_space(const char *cp)
{
    while (*cp == ' ' || *cp == '\t')
        cp++;
    return cp;
}

static char *upper_dup(const char *s)
{
    char *out = xstrdup(s);
    char *cp;

    for (cp = out; *cp; cp++)
        *cp = (char)toupper((unsigned char)*cp);
    return out;
}

/* Take the address starting at *cpp (after "FROM:"/"TO:" and white space).
 * Returns a fresh string without brackets or source route, or NULL on bad
 * syntax; *cpp is left after the address. */
static char *take_address(const char **cpp)
{
    const char *cp = *cpp;
    const char *start, *end;
    int quoted = 0;

    if (*cp != '<') {
        /* Tolerated: a bare address up to the next white space. */
        start = cp;
        while (*cp && *cp != ' ' && *cp != '\t')
            cp++;
        end = cp;
        if (end == start || memchr(start, '<', end - start) || memchr(start, '>', end - start))
            return NULL;
    } else {
        start = ++cp;
        for (; *cp; cp++) {
            if (quoted && *cp == '\\' && cp[1] != '\0') {
                cp++;
                continue;
            }
            if (*cp == '"')
                quoted = !quoted;
            else if (!quoted && *cp == '>')
                break;
            else if (!quoted && (*cp == '<' || *cp == ' ' || *cp == '\t'))
                return NULL;
        }
        if (*cp != '>')
            return NULL;
        end = cp++;
        if (*cp != '\0' && *cp != ' ' && *cp != '\t')
            return NULL;
    }
    /* Postfix's smtpd accepts other control characters in an address (and
     * queues the mail: refusing them here would bounce it, promise 2), so
     * only CR and LF, which could split the command relayed to 10026, are
     * refused; the log neuters the rest (util/msg.c). */
    for (const char *p = start; p < end; p++)
        if (*p == '\r' || *p == '\n')
            return NULL;
    /* RFC 5321 4.1.2: a source route is accepted and ignored. */
    if (start < end && *start == '@') {
        const char *colon = memchr(start, ':', end - start);

        if (colon == NULL)
            return NULL;
        start = colon + 1;
    }
    *cpp = cp;
    return xstrndup(start, end - start);
}

/* Split off the next white-space separated parameter; NULL at the end. */
static char *next_param(const char **cpp)
{
    const char *cp = skip_space(*cpp);
    const char *start = cp;

    if (*cp == '\0')
        return NULL;
    while (*cp && *cp != ' ' && *cp != '\t')
        cp++;
    *cpp = cp;
    return xstrndup(start, cp - start);
}

static int has_prefix(const char *s, const char *prefix)
{
    return strncasecmp(s, prefix, strlen(prefix)) == 0;
}

static int all_digits(const char *s)
{
    if (*s == '\0')
        return 0;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s))
            return 0;
    return 1;
}

/* RFC 3461 4.1: NOTIFY="NEVER" / 1#( "SUCCESS" / "FAILURE" / "DELAY" ). */
static int valid_notify(const char *value)
{
    const char *cp = value;
    int never = 0, count = 0;

    while (1) {
        size_t len = strcspn(cp, ",");

        if (len == 5 && strncasecmp(cp, "NEVER", 5) == 0)
            never = 1;
        else if (!((len == 7 && strncasecmp(cp, "SUCCESS", 7) == 0) ||
                   (len == 7 && strncasecmp(cp, "FAILURE", 7) == 0) ||
                   (len == 5 && strncasecmp(cp, "DELAY", 5) == 0)))
            return 0;
        count++;
        if (cp[len] == '\0')
            break;
        cp += len + 1;
    }
    return !(never && count > 1);
}

/* RFC 3461 4.2: ORCPT=addr-type ";" xtext. addr-type is an atom; the
 * "utf-8" type of RFC 6533 may carry raw UTF-8 as well. */
static int valid_orcpt(const char *value)
{
    const char *semi = strchr(value, ';');
    const char *cp;

    if (semi == NULL || semi == value)
        return 0;
    for (cp = value; cp < semi; cp++)
        if (!isalnum((unsigned char)*cp) && *cp != '-')
            return 0;
    if (semi - value == 5 && strncasecmp(value, "utf-8", 5) == 0) {
        for (cp = semi + 1; *cp; cp++)
            if ((unsigned char)*cp < 33 || *cp == 127)
                return 0;
        return 1;
    }
    return smtp_xtext_valid(semi + 1, strlen(semi + 1));
}

static struct smtp_parse_result mail_param(const char *arg, struct smtp_params *params)
{
    if (strcasecmp(arg, "BODY=8BITMIME") == 0 || strcasecmp(arg, "BODY=7BIT") == 0) {
        free(params->body);
        params->body = upper_dup(arg + 5);
    } else if (has_prefix(arg, "SIZE=")) {
        if (!all_digits(arg + 5))
            return REPLY_ERR("501 5.5.4 Bad message size syntax");
        errno = 0;
        params->size = strtoll(arg + 5, NULL, 10);
        if (errno == ERANGE)
            return REPLY_ERR("552 5.3.4 Message size exceeds file system imposed limit");
    } else if (strcasecmp(arg, "SMTPUTF8") == 0) {
        params->smtputf8 = 1;
    } else if (has_prefix(arg, "RET=")) {
        if (params->ret)
            return REPLY_ERR("501 5.5.4 Bad RET parameter syntax");
        if (strcasecmp(arg + 4, "FULL") != 0 && strcasecmp(arg + 4, "HDRS") != 0)
            return REPLY_ERR("501 5.5.4 Bad RET parameter syntax");
        params->ret = upper_dup(arg + 4);
    } else if (has_prefix(arg, "ENVID=")) {
        if (params->envid)
            return REPLY_ERR("501 5.5.4 Bad ENVID parameter syntax");
        /* RFC 3461 4.4: at most 100 characters. */
        if (arg[6] == '\0' || strlen(arg + 6) > 100 || !smtp_xtext_valid(arg + 6, strlen(arg + 6)))
            return REPLY_ERR("501 5.5.4 Bad ENVID parameter syntax");
        params->envid = xstrdup(arg + 6);
    } else if (has_prefix(arg, "AUTH=")) {
        /* RFC 4954 5: Postfix without SASL accepts and ignores it; we never
         * advertise AUTH, so only an odd client sends it. Not passed on. */
    } else {
        return REPLY_ERR(NULL);
    }
    return REPLY_OK;
}

static struct smtp_parse_result rcpt_param(const char *arg, struct smtp_params *params)
{
    if (has_prefix(arg, "NOTIFY=")) {
        if (params->notify)
            return REPLY_ERR("501 5.5.4 Error: Bad NOTIFY parameter syntax");
        if (!valid_notify(arg + 7))
            return REPLY_ERR("501 5.5.4 Error: Bad NOTIFY parameter syntax");
        params->notify = upper_dup(arg + 7);
    } else if (has_prefix(arg, "ORCPT=")) {
        if (params->orcpt)
            return REPLY_ERR("501 5.5.4 Error: Bad ORCPT parameter syntax");
        /* RFC 3461 4.2: at most 500 characters. */
        if (strlen(arg + 6) > 500 || !valid_orcpt(arg + 6))
            return REPLY_ERR("501 5.5.4 Error: Bad ORCPT parameter syntax");
        params->orcpt = xstrdup(arg + 6);
    } else {
        return REPLY_ERR(NULL);
    }
    return REPLY_OK;
}

/* "Unsupported option: X" echoes the client's text, which a static reply
 * cannot hold: the result points at the option inside args instead
 * (smtp_envelope.h), and the server writes the full reply. */
static struct smtp_parse_result
parse_common(const char *args, const char *keyword, const char *syntax_reply,
             const char *addr_reply, int allow_null, char **addr, struct smtp_params *params,
             struct smtp_parse_result (*param)(const char *, struct smtp_params *))
{
    const char *cp = skip_space(args);
    struct smtp_parse_result res;
    const char *start;
    char *arg;

    *addr = NULL;
    smtp_params_init(params);
    if (!has_prefix(cp, keyword))
        return REPLY_ERR(syntax_reply);
    cp = skip_space(cp + strlen(keyword));
    if (*cp == '\0')
        return REPLY_ERR(syntax_reply);
    if ((*addr = take_address(&cp)) == NULL)
        return REPLY_ERR(addr_reply);
    if (!allow_null && **addr == '\0') {
        free(*addr);
        *addr = NULL;
        return REPLY_ERR(addr_reply);
    }
    for (start = skip_space(cp); (arg = next_param(&cp)) != NULL; start = skip_space(cp)) {
        res = param(arg, params);
        free(arg);
        if (!res.ok) {
            free(*addr);
            *addr = NULL;
            smtp_params_free(params);
            if (res.reply == NULL) {
                res.reply = "555 5.5.4 Unsupported option";
                res.option = start;
                res.option_len = (size_t)(cp - start);
            }
            return res;
        }
    }
    return REPLY_OK;
}

struct smtp_parse_result smtp_parse_mail(const char *args, char **addr, struct smtp_params *params)
{
    return parse_common(args, "FROM:", "501 5.5.4 Syntax: MAIL FROM:<address>",
                        "501 5.1.7 Bad sender address syntax", 1, addr, params, mail_param);
}

struct smtp_parse_result smtp_parse_rcpt(const char *args, char **addr, struct smtp_params *params)
{
    return parse_common(args, "TO:", "501 5.5.4 Syntax: RCPT TO:<address>",
                        "501 5.1.3 Bad recipient address syntax", 0, addr, params, rcpt_param);
}

void smtp_params_init(struct smtp_params *params)
{
    memset(params, 0, sizeof(*params));
    params->size = -1;
}

void smtp_params_free(struct smtp_params *params)
{
    free(params->body);
    free(params->ret);
    free(params->envid);
    free(params->notify);
    free(params->orcpt);
    smtp_params_init(params);
}

static char *dup_or_null(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

void smtp_params_copy(struct smtp_params *dst, const struct smtp_params *src)
{
    dst->size = src->size;
    dst->body = dup_or_null(src->body);
    dst->smtputf8 = src->smtputf8;
    dst->ret = dup_or_null(src->ret);
    dst->envid = dup_or_null(src->envid);
    dst->notify = dup_or_null(src->notify);
    dst->orcpt = dup_or_null(src->orcpt);
}

void smtp_xforward_free(struct smtp_xforward *xf)
{
    free(xf->name);
    free(xf->addr);
    free(xf->port);
    free(xf->proto);
    free(xf->helo);
    free(xf->ident);
    free(xf->source);
    memset(xf, 0, sizeof(*xf));
}

void smtp_xforward_copy(struct smtp_xforward *dst, const struct smtp_xforward *src)
{
    dst->name = dup_or_null(src->name);
    dst->addr = dup_or_null(src->addr);
    dst->port = dup_or_null(src->port);
    dst->proto = dup_or_null(src->proto);
    dst->helo = dup_or_null(src->helo);
    dst->ident = dup_or_null(src->ident);
    dst->source = dup_or_null(src->source);
}

int smtp_xforward_unavailable(const char *value)
{
    return value == NULL || strcmp(value, "[UNAVAILABLE]") == 0 ||
           strcmp(value, "[TEMPUNAVAIL]") == 0;
}
