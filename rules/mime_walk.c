/*
 * mime_walk.c - the GMime side of the MIME rules: parse one message from
 * memory, walk every part (nested message/rfc822 messages too), and hand
 * file names, content types and decoded text lines to mime_inspect().
 *
 * Policy, decided here:
 *  - The message is parsed from the caller's buffer without a copy and never
 *    serialised again; only read-only GMime calls are made (no
 *    g_mime_multipart_get_boundary(), which sets a boundary when there is
 *    none and re-encodes the header: the GMime 3.2.13 parameter-encoding
 *    loop lives there). GMime 3.2.13 can still loop on a crafted
 *    Content-Type while parsing; the daemon runs the check under a
 *    per-message deadline for that. Every loop of ours is bounded by the
 *    input or by a limit.
 *  - Parts are numbered as IMAP does (RFC 3501 section 6.4.5): the parts of
 *    a multipart are 1, 2, ...; the parts of a multipart inside part 2 are
 *    2.1, 2.2; a message/rfc822 part 2 has its body's parts as 2.1, 2.2, or
 *    its single body as 2.1. A top-level multipart itself is shown as "0".
 *  - Every MIME object counts against mime_parts_limit, multiparts and
 *    message/rfc822 parts included; each multipart or message/rfc822 level
 *    adds one to the nesting depth, checked against mime_nesting_limit. A
 *    message that breaks either is rejected with 550 5.6.0: the parts
 *    beyond were not inspected, and a filter that gives up silently is how
 *    attachments get past it. Postfix rejects deep nesting the same way.
 *  - Each object's declared type "type/subtype" (lower case) goes to
 *    attachment_type_checks; its file name (Content-Disposition filename,
 *    and the Content-Type name when it differs: mail readers disagree on
 *    which they show) to attachment_name_checks, as GMime decodes them
 *    (RFC 2231 continuations and charsets, RFC 2047 words) to UTF-8.
 *  - The content of each text leaf (text/plain, text/html...) is decoded (base64, quoted-printable,
 *    uuencode), converted from its charset to UTF-8 (unknown charsets:
 *    inspected as received), and looked up line by line, as body_checks
 *    does with raw lines, so the same patterns work: without the line end,
 *    empty lines skipped, lines longer than line_length_limit in pieces of
 *    that size (cut between UTF-8 characters). Bytes that are not UTF-8
 *    become '?'. HTML is left as is. Only the first
 *    decoded_body_size_limit bytes of decoded text per message are
 *    inspected; the rest is relayed uninspected (the explain output says
 *    so), as body_checks_size_limit does.
 *  - GMime's parser warnings sort into: ambiguous (conflicting headers or
 *    parameters, a multipart without boundary, nesting overflow: a mail
 *    reader may see another tree than we do) for ambiguous_mime_action;
 *    malformed (no message at all, invalid header names, a part without
 *    headers or content, truncated or malformed message or multipart, an
 *    invalid Content-Type) for strict_mime_checks; the rest (repeated
 *    identical headers, 8-bit headers, bad encoded words...) is explained
 *    only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <gmime/gmime.h>

#include "rules/mime_internal.h"
#include "rules/rules_internal.h"
#include "util/xalloc.h"

#define MIME_READ_CHUNK 4096
#define MIME_WARNINGS_EXPLAINED 20

enum mime_warning_class { MIME_WARNING_OTHER, MIME_WARNING_MALFORMED, MIME_WARNING_AMBIGUOUS };

static enum mime_warning_class mime_warning_class(GMimeParserWarning code, const char **what)
{
    switch (code) {
    case GMIME_CRIT_CONFLICTING_HEADER:
        *what = "conflicting headers";
        return MIME_WARNING_AMBIGUOUS;
    case GMIME_CRIT_CONFLICTING_PARAMETER:
        *what = "conflicting parameters";
        return MIME_WARNING_AMBIGUOUS;
    case GMIME_CRIT_MULTIPART_WITHOUT_BOUNDARY:
        *what = "multipart without boundary";
        return MIME_WARNING_AMBIGUOUS;
    case GMIME_CRIT_NESTING_OVERFLOW:
        *what = "nesting beyond GMime's limit";
        return MIME_WARNING_AMBIGUOUS;
    case GMIME_CRIT_INVALID_HEADER_NAME:
        *what = "invalid header name";
        return MIME_WARNING_MALFORMED;
    case GMIME_CRIT_PART_WITHOUT_HEADERS_OR_CONTENT:
        *what = "part without headers or content";
        return MIME_WARNING_MALFORMED;
    case GMIME_WARN_TRUNCATED_MESSAGE:
        *what = "truncated message";
        return MIME_WARNING_MALFORMED;
    case GMIME_WARN_MALFORMED_MESSAGE:
        *what = "malformed message";
        return MIME_WARNING_MALFORMED;
    case GMIME_WARN_MALFORMED_MULTIPART:
        *what = "multipart without parts";
        return MIME_WARNING_MALFORMED;
    case GMIME_WARN_INVALID_CONTENT_TYPE:
        *what = "invalid content type";
        return MIME_WARNING_MALFORMED;
    case GMIME_WARN_DUPLICATED_HEADER:
        *what = "repeated header";
        return MIME_WARNING_OTHER;
    case GMIME_WARN_DUPLICATED_PARAMETER:
        *what = "repeated parameter";
        return MIME_WARNING_OTHER;
    case GMIME_WARN_UNENCODED_8BIT_HEADER:
        *what = "8-bit header";
        return MIME_WARNING_OTHER;
    case GMIME_WARN_INVALID_RFC2047_HEADER_VALUE:
        *what = "invalid encoded word";
        return MIME_WARNING_OTHER;
    case GMIME_WARN_INVALID_PARAMETER:
        *what = "invalid parameter";
        return MIME_WARNING_OTHER;
    case GMIME_WARN_INVALID_ADDRESS_LIST:
        *what = "invalid address list";
        return MIME_WARNING_OTHER;
    case GMIME_WARN_PART_WITHOUT_CONTENT:
        *what = "part without content";
        return MIME_WARNING_OTHER;
    }
    *what = "parser warning";
    return MIME_WARNING_OTHER;
}

/* GMime's warning callback: remember the first ambiguity and the first
 * malformation (a crafted message can raise thousands: only a few are
 * explained). */
static void mime_on_warning(gint64 offset, GMimeParserWarning code, const gchar *item,
                            gpointer user_data)
{
    struct mime_run *run = user_data;
    const char *what;
    enum mime_warning_class cls = mime_warning_class(code, &what);
    char *text;

    text = item != NULL && *item != '\0' ? xasprintf("%s (%.80s)", what, item) : xstrdup(what);
    rules_printable(text);
    mime_sanitize(text, strlen(text));
    if (run->warnings_explained < MIME_WARNINGS_EXPLAINED) {
        mime_explain(run, 1, "GMime: %s at byte %lld%s", text, (long long)offset,
                     cls == MIME_WARNING_AMBIGUOUS   ? ": ambiguous MIME"
                     : cls == MIME_WARNING_MALFORMED ? ": malformed MIME"
                                                     : "");
        run->warnings_explained++;
    }
    if (cls == MIME_WARNING_AMBIGUOUS) {
        run->ambiguous_count++;
        if (run->ambiguous == NULL) {
            run->ambiguous = text;
            return;
        }
    } else if (cls == MIME_WARNING_MALFORMED && run->malformed == NULL) {
        run->malformed = text;
        return;
    }
    free(text);
}

/* ---- part numbers ---- */

static size_t mime_path_push(struct mime_run *run, size_t number)
{
    size_t saved = run->path_len;
    char digits[32];
    int n = snprintf(digits, sizeof(digits), "%s%zu", saved ? "." : "", number);

    run->path = xgrow(run->path, &run->path_cap, saved + (size_t)n + 1, 1);
    memcpy(run->path + saved, digits, (size_t)n + 1);
    run->path_len = saved + (size_t)n;
    return saved;
}

static void mime_path_pop(struct mime_run *run, size_t saved)
{
    run->path_len = saved;
    if (run->path != NULL)
        run->path[saved] = '\0';
}

/* ---- decoded text ---- */

/* Look up run->line[0, len) (a line or a piece of one). */
static void mime_line_lookup(struct mime_run *run, size_t len, size_t line_no)
{
    char what[64];
    char saved;

    if (len == 0)
        return;
    saved = run->line[len];
    run->line[len] = '\0';
    mime_sanitize(run->line, len);
    snprintf(what, sizeof(what), "decoded line %zu", line_no);
    run->decoded_lines++;
    mime_inspect(run, MIME_CHECK_BODY, what, run->line);
    run->line[len] = saved;
}

/* Where to cut a full line buffer so that no UTF-8 character is split. */
static size_t mime_piece_cut(const char *line, size_t len)
{
    size_t i = len;
    size_t back = 0;
    unsigned char lead;
    size_t need;

    while (back < 3 && i > 0 && ((unsigned char)line[i - 1] & 0xC0) == 0x80) {
        i--;
        back++;
    }
    if (i == 0)
        return len;
    lead = (unsigned char)line[i - 1];
    need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
    if (need > 1 && len - (i - 1) < need && i - 1 > 0)
        return i - 1;
    return len;
}

/* Bytes of one decoded line, which may come in several reads. A full
 * buffer (line_length_limit) is looked up as a piece. */
static void mime_line_add(struct mime_run *run, const char *text, size_t len, size_t line_no)
{
    size_t limit = run->rules->line_limit;

    while (len > 0 && !run->stop) {
        size_t take = limit - run->line_len < len ? limit - run->line_len : len;
        memcpy(run->line + run->line_len, text, take);
        run->line_len += take;
        text += take;
        len -= take;
        if (run->line_len == limit) {
            size_t cut = mime_piece_cut(run->line, run->line_len);
            mime_line_lookup(run, cut, line_no);
            memmove(run->line, run->line + cut, run->line_len - cut);
            run->line_len -= cut;
        }
    }
}

static void mime_line_end(struct mime_run *run, size_t line_no)
{
    size_t len = run->line_len;

    if (len > 0 && run->line[len - 1] == '\r')
        len--;
    if (!run->stop)
        mime_line_lookup(run, len, line_no);
    run->line_len = 0;
}

/* Split decoded bytes into lines. */
static void mime_feed(struct mime_run *run, const char *buf, size_t len, size_t *line_no)
{
    while (len > 0 && !run->stop) {
        const char *nl = memchr(buf, '\n', len);
        size_t seg = nl != NULL ? (size_t)(nl - buf) : len;
        mime_line_add(run, buf, seg, *line_no);
        if (nl == NULL)
            return;
        mime_line_end(run, *line_no);
        (*line_no)++;
        buf += seg + 1;
        len -= seg + 1;
    }
}

static int mime_charset_is_utf8(const char *charset)
{
    return charset == NULL || g_ascii_strcasecmp(charset, "utf-8") == 0 ||
           g_ascii_strcasecmp(charset, "utf8") == 0 ||
           g_ascii_strcasecmp(charset, "us-ascii") == 0 ||
           g_ascii_strcasecmp(charset, "ascii") == 0;
}

/* The decoding stream over a part's content: transfer decoding, then the
 * charset to UTF-8. */
static GMimeStream *mime_decoder(struct mime_run *run, GMimeObject *obj, GMimeDataWrapper *wrapper)
{
    GMimeStream *raw = g_mime_data_wrapper_get_stream(wrapper);
    GMimeContentEncoding encoding = g_mime_data_wrapper_get_encoding(wrapper);
    const char *charset = g_mime_object_get_content_type_parameter(obj, "charset");
    GMimeStream *stream;
    GMimeFilter *filter;

    if (raw == NULL)
        return NULL;
    g_mime_stream_reset(raw);
    stream = g_mime_stream_filter_new(raw);
    if (encoding == GMIME_CONTENT_ENCODING_BASE64 ||
        encoding == GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE ||
        encoding == GMIME_CONTENT_ENCODING_UUENCODE) {
        filter = g_mime_filter_basic_new(encoding, FALSE);
        g_mime_stream_filter_add(GMIME_STREAM_FILTER(stream), filter);
        g_object_unref(filter);
    }
    if (!mime_charset_is_utf8(charset)) {
        if ((filter = g_mime_filter_charset_new(charset, "UTF-8")) != NULL) {
            g_mime_stream_filter_add(GMIME_STREAM_FILTER(stream), filter);
            g_object_unref(filter);
        } else {
            mime_explain(run, 2, "charset \"%.60s\" unknown: text inspected as received", charset);
        }
    }
    return stream;
}

static void mime_inspect_text(struct mime_run *run, GMimeObject *obj)
{
    size_t limit = run->rules->decoded_limit;
    GMimeDataWrapper *wrapper = g_mime_part_get_content(GMIME_PART(obj));
    GMimeStream *stream;
    char buf[MIME_READ_CHUNK];
    size_t line_no = 1;
    size_t before = run->decoded;
    ssize_t n;

    if (run->rules->checks[MIME_CHECK_BODY].count == 0 || run->stop || wrapper == NULL)
        return;
    if (run->decoded >= limit) {
        if (!run->decoded_noted)
            mime_explain(run, 2,
                         "decoded_body_size_limit (%zu) reached: this and later text parts "
                         "are not inspected",
                         limit);
        run->decoded_noted = 1;
        return;
    }
    if ((stream = mime_decoder(run, obj, wrapper)) == NULL)
        return;
    run->line = xgrow(run->line, &run->line_cap, run->rules->line_limit + 1, 1);
    run->line_len = 0;
    while (!run->stop && run->decoded < limit) {
        size_t want = limit - run->decoded < sizeof(buf) ? limit - run->decoded : sizeof(buf);
        if ((n = g_mime_stream_read(stream, buf, want)) <= 0)
            break;
        run->decoded += (size_t)n;
        mime_feed(run, buf, (size_t)n, &line_no);
    }
    if (run->line_len > 0)
        mime_line_end(run, line_no);
    g_object_unref(stream);
    mime_explain(run, 2, "%zu decoded byte(s) inspected", run->decoded - before);
    if (run->decoded >= limit && !run->decoded_noted) {
        mime_explain(run, 2, "decoded_body_size_limit (%zu) reached: the rest is not inspected",
                     limit);
        run->decoded_noted = 1;
    }
}

/* ---- the walk ---- */

/* The value of parameter pname in a raw header value, quoted or not, with
 * folding removed; NULL when absent. (RFC 2231 "name*" forms are GMime's.) */
static char *mime_raw_param(const char *raw, const char *pname)
{
    size_t plen = strlen(pname);

    for (const char *p = raw; (p = strcasestr(p, pname)) != NULL; p += plen) {
        const char *q = p + plen;
        if (p != raw && p[-1] != ';' && !g_ascii_isspace(p[-1]))
            continue;
        while (*q == ' ' || *q == '\t')
            q++;
        if (*q++ != '=')
            continue;
        while (g_ascii_isspace(*q))
            q++;
        GString *value = g_string_new(NULL);
        if (*q == '"') {
            for (q++; *q != '\0' && *q != '"'; q++) {
                if (*q == '\\' && q[1] != '\0')
                    q++;
                if (*q != '\r' && *q != '\n')
                    g_string_append_c(value, *q);
            }
        } else {
            for (; *q != '\0' && *q != ';'; q++)
                if (*q != '\r' && *q != '\n')
                    g_string_append_c(value, *q);
        }
        char *result = xstrdup(g_strstrip(value->str));
        g_string_free(value, TRUE);
        return result;
    }
    return NULL;
}

static void mime_inspect_name(struct mime_run *run, const char *name)
{
    char *key = xstrdup(name);

    mime_sanitize(key, strlen(key));
    run->names++;
    mime_inspect(run, MIME_CHECK_NAME, "file name", key);
    free(key);
}

/* One RFC 2047 encoded word "=?charset?B|Q?text?=" at p, decoded and
 * converted to UTF-8 onto out; returns the length consumed, 0 if p does not
 * start a well-formed word. */
static size_t mime_decode_word(const char *p, GString *out)
{
    if (strncmp(p, "=?", 2) != 0) /* before p + 2: p may be the last octet */
        return 0;
    const char *charset = p + 2;
    const char *q1 = strchr(charset, '?');
    if (q1 == NULL || q1[1] == '\0' || q1[2] != '?')
        return 0;
    char enc = g_ascii_toupper(q1[1]);
    const char *text = q1 + 3;
    const char *end = strstr(text, "?=");
    if (end == NULL || (enc != 'B' && enc != 'Q'))
        return 0;
    char *cs = g_strndup(charset, (gsize)(q1 - charset));
    char *star = strchr(cs, '*'); /* RFC 2231 language suffix */
    if (star != NULL)
        *star = '\0';
    GString *raw = g_string_new(NULL);
    if (enc == 'B') {
        char *b64 = g_strndup(text, (gsize)(end - text));
        gsize n = 0;
        guchar *bytes = g_base64_decode(b64, &n);
        g_string_append_len(raw, (const char *)bytes, (gssize)n);
        g_free(bytes);
        g_free(b64);
    } else {
        for (const char *c = text; c < end; c++) {
            if (*c == '_')
                g_string_append_c(raw, ' ');
            else if (*c == '=' && c + 2 < end && g_ascii_isxdigit(c[1]) && g_ascii_isxdigit(c[2])) {
                g_string_append_c(
                    raw, (char)(g_ascii_xdigit_value(c[1]) * 16 + g_ascii_xdigit_value(c[2])));
                c += 2;
            } else
                g_string_append_c(raw, *c);
        }
    }
    char *utf8 = g_convert(raw->str, (gssize)raw->len, "UTF-8", cs, NULL, NULL, NULL);
    g_string_append(out, utf8 != NULL ? utf8 : raw->str);
    g_free(utf8);
    g_string_free(raw, TRUE);
    g_free(cs);
    return (size_t)(end + 2 - p);
}

/* RFC 2047 decoding of a whole parameter value as mail readers do it:
 * adjacent encoded words joined (the white space between them dropped). */
static char *mime_decode_words(const char *value)
{
    GString *out = g_string_new(NULL);
    int after_word = 0;

    for (const char *p = value; *p != '\0';) {
        size_t used = mime_decode_word(p, out);
        if (used > 0) {
            p += used;
            after_word = 1;
            continue;
        }
        if (after_word && g_ascii_isspace(*p)) {
            const char *q = p;
            while (g_ascii_isspace(*q))
                q++;
            GString *probe = g_string_new(NULL);
            size_t next = mime_decode_word(q, probe);
            g_string_free(probe, TRUE);
            if (next > 0) {
                p = q; /* white space between two encoded words is dropped */
                continue;
            }
        }
        g_string_append_c(out, *p++);
        after_word = 0;
    }
    return g_string_free(out, FALSE);
}

/* A name of several RFC 2047 encoded words ("=?UTF-8?B?...?= =?UTF-8?B?...?=")
 * is one name to mail readers, but GMime 3.2.13 keeps only the first word:
 * decode the raw value as a whole too. NULL when that gives nothing new. */
static char *mime_whole_name(GMimeObject *obj, const char *header, const char *pname,
                             const char *decoded)
{
    GMimeHeader *h = g_mime_header_list_get_header(g_mime_object_get_header_list(obj), header);
    const char *raw = h != NULL ? g_mime_header_get_raw_value(h) : NULL;
    char *value = raw != NULL ? mime_raw_param(raw, pname) : NULL;
    char *whole = NULL;

    if (value != NULL && strstr(value, "=?") != NULL) {
        char *text = mime_decode_words(value);
        if (*text != '\0' && (decoded == NULL || strcmp(text, decoded) != 0))
            whole = xstrdup(text);
        g_free(text);
    }
    free(value);
    return whole;
}

static void mime_inspect_names(struct mime_run *run, GMimeObject *obj)
{
    const char *filename = g_mime_object_get_content_disposition_parameter(obj, "filename");
    const char *name = g_mime_object_get_content_type_parameter(obj, "name");
    char *whole;

    if (filename != NULL && *filename != '\0')
        mime_inspect_name(run, filename);
    if (!run->stop && name != NULL && *name != '\0' &&
        (filename == NULL || strcmp(name, filename) != 0))
        mime_inspect_name(run, name);
    if (!run->stop && (whole = mime_whole_name(obj, "Content-Disposition", "filename", filename))) {
        mime_inspect_name(run, whole);
        free(whole);
    }
    if (!run->stop && (whole = mime_whole_name(obj, "Content-Type", "name", name))) {
        mime_inspect_name(run, whole);
        free(whole);
    }
}

/* "type/subtype" in lower case; text/plain when GMime has none. */
static char *mime_type_key(GMimeObject *obj)
{
    GMimeContentType *ct = g_mime_object_get_content_type(obj);
    const char *type = ct != NULL ? g_mime_content_type_get_media_type(ct) : NULL;
    const char *subtype = ct != NULL ? g_mime_content_type_get_media_subtype(ct) : NULL;
    char *key = xasprintf("%s/%s", type ? type : "text", subtype ? subtype : "plain");

    for (char *cp = key; *cp; cp++)
        *cp = g_ascii_tolower(*cp);
    mime_sanitize(key, strlen(key));
    return key;
}

static void mime_walk_object(struct mime_run *run, GMimeObject *obj, size_t depth);

static void mime_walk_children(struct mime_run *run, GMimeObject *obj, size_t depth)
{
    if (GMIME_IS_MULTIPART(obj)) {
        GMimeMultipart *multipart = GMIME_MULTIPART(obj);
        int count = g_mime_multipart_get_count(multipart);
        for (int i = 0; i < count && !run->stop; i++) {
            size_t saved = mime_path_push(run, (size_t)i + 1);
            mime_walk_object(run, g_mime_multipart_get_part(multipart, i), depth + 1);
            mime_path_pop(run, saved);
        }
    } else if (GMIME_IS_MESSAGE_PART(obj)) {
        GMimeMessage *message = g_mime_message_part_get_message(GMIME_MESSAGE_PART(obj));
        GMimeObject *body = message != NULL ? g_mime_message_get_mime_part(message) : NULL;
        if (body == NULL)
            return;
        if (GMIME_IS_MULTIPART(body)) {
            mime_walk_object(run, body, depth + 1);
        } else {
            size_t saved = mime_path_push(run, 1);
            mime_walk_object(run, body, depth + 1);
            mime_path_pop(run, saved);
        }
    }
}

static void mime_walk_object(struct mime_run *run, GMimeObject *obj, size_t depth)
{
    const struct mime_rules *rules = run->rules;
    char *type;

    if (run->stop || obj == NULL)
        return;
    if (++run->parts > rules->parts_limit) {
        mime_explain(run, 1, "more than mime_parts_limit (%zu) MIME parts: inspection stops",
                     rules->parts_limit);
        run->limit_reply = xstrdup("550 5.6.0 MIME part count exceeds safety limit");
        run->stop = 1;
        return;
    }
    if (depth > rules->nesting_limit) {
        mime_explain(run, 1, "part %s: MIME nesting deeper than mime_nesting_limit (%zu)",
                     run->path_len ? run->path : "0", rules->nesting_limit);
        run->limit_reply = xstrdup("550 5.6.0 MIME nesting exceeds safety limit");
        run->stop = 1;
        return;
    }
    type = mime_type_key(obj);
    mime_explain(run, 1, "part %s: %s", run->path_len ? run->path : "0", type);
    run->types++;
    mime_inspect(run, MIME_CHECK_TYPE, "content type", type);
    mime_inspect_names(run, obj);
    if (GMIME_IS_PART(obj) && strncmp(type, "text/", 5) == 0)
        mime_inspect_text(run, obj);
    free(type);
    mime_walk_children(run, obj, depth);
}

static GMimeParserOptions *mime_parser_options(struct mime_run *run)
{
    GMimeParserOptions *options = g_mime_parser_options_new();

    /* Decode what mail readers decode: encoded words inside quoted
     * parameters, unquoted values with blanks. */
    g_mime_parser_options_set_rfc2047_compliance_mode(options, GMIME_RFC_COMPLIANCE_LOOSE);
    g_mime_parser_options_set_parameter_compliance_mode(options, GMIME_RFC_COMPLIANCE_LOOSE);
    g_mime_parser_options_set_warning_callback(options, mime_on_warning, run);
    return options;
}

void mime_walk(struct mime_run *run, const char *data, size_t len)
{
    GByteArray *array;
    GMimeStream *stream;
    GMimeParser *parser;
    GMimeParserOptions *options;
    GMimeMessage *message;
    GMimeObject *body;

    if (len > G_MAXUINT) {
        run->malformed = xstrdup("message too large for the MIME parser");
        return;
    }
    /* The stream reads the caller's bytes in place: it is never written, and
     * it does not own them (set_owner FALSE; freed with g_byte_array_free(,
     * FALSE) below, which leaves the data alone). */
    array = len > 0 ? g_byte_array_new_take((guint8 *)data, len) : g_byte_array_new();
    stream = g_mime_stream_mem_new_with_byte_array(array);
    g_mime_stream_mem_set_owner(GMIME_STREAM_MEM(stream), FALSE);
    parser = g_mime_parser_new_with_stream(stream);
    options = mime_parser_options(run);
    message = g_mime_parser_construct_message(parser, options);
    body = message != NULL ? g_mime_message_get_mime_part(message) : NULL;
    if (message == NULL) {
        mime_explain(run, 1, "GMime could not parse the message");
        if (run->malformed == NULL)
            run->malformed = xstrdup("not a MIME message");
    } else if (body == NULL) {
        mime_explain(run, 1, "the message has no body part");
    } else if (GMIME_IS_MULTIPART(body)) {
        mime_walk_object(run, body, 0);
    } else {
        size_t saved = mime_path_push(run, 1);
        mime_walk_object(run, body, 0);
        mime_path_pop(run, saved);
    }
    if (message != NULL)
        g_object_unref(message);
    g_object_unref(parser);
    g_object_unref(stream);
    g_mime_parser_options_free(options);
    /* FALSE: the data is the caller's; an empty array's segment is GLib's. */
    g_byte_array_free(array, len == 0);
}
