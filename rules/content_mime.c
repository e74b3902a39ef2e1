/*
 * content_mime.c - Postfix's one-pass MIME state machine (mime_state(3)),
 * as cleanup runs it on a message it receives, re-done over a message that
 * is already complete, so that header_checks, mime_header_checks,
 * nested_header_checks and body_checks see exactly the inputs Postfix's
 * would (../shared/postfix-semantics.md section 8).
 *
 * What it reproduces, on purpose, including Postfix's quirks:
 *
 *  - Records. Postfix's smtpd stores a line longer than line_length_limit
 *    as pieces of that many bytes of the line as it came over the wire
 *    (CR LF and a stuffed leading dot included in the count); the last
 *    piece loses its line end. Each piece is a body_checks input; header
 *    pieces are glued back together. Boundaries are only recognised at the
 *    start of a line.
 *  - Headers. A line "Name:" or "Name :" starts a header; a line starting
 *    with blank or tab continues it ("\n" plus the line); the header stops
 *    growing once header_size_limit bytes long, whole pieces at a time. A
 *    non-header line in a header block ends the block.
 *  - Content-Type. Parsed as Postfix's header_token() does (comments,
 *    quoted strings keep their backslashes, RFC 2231 is not understood).
 *    A value that is neither text/, message/ nor multipart/ leaves the
 *    previous type alone, an empty one makes it "other". Every boundary=
 *    parameter of a multipart type is pushed; each push deeper than
 *    mime_nesting_limit is refused and reported instead.
 *  - Boundaries match by prefix, case-sensitively, innermost first, and
 *    pop the deeper levels; "--boundary--" ends the multipart.
 *  - body offsets (for body_checks_size_limit) restart with each body
 *    segment; a --boundary line still counts in the segment it ends.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "rules/content_internal.h"
#include "util/xalloc.h"

enum mime_state {
    ST_PRIMARY = CONTENT_HDR_PRIMARY,
    ST_MULTIPART = CONTENT_HDR_MULTIPART,
    ST_NESTED = CONTENT_HDR_NESTED,
    ST_BODY,
};

enum { CT_OTHER, CT_TEXT, CT_MESSAGE, CT_MULTIPART };
enum { STY_OTHER, STY_PLAIN, STY_RFC822, STY_PARTIAL, STY_EXTERN_BODY, STY_GLOBAL };
enum { REC_NONE, REC_NORM, REC_CONT };

struct mime_frame {
    char *boundary;
    size_t len;
    int def_ctype;
    int def_stype;
    unsigned part; /* --boundary lines seen so far: the part we are in */
};

struct mbuf {
    char *s;
    size_t len;
    size_t cap;
};

struct content_mime {
    const struct content_mime_config *cfg;
    const struct content_mime_ops *ops;
    void *ctx;
    int quiet;
    int stop;
    int state;
    int ctype;
    int stype;
    int prev_rec;
    long nesting_level; /* -1 before the first push, as Postfix since 2017 */
    struct mime_frame *stack;
    size_t depth;
    size_t stack_cap;
    int nested_seen; /* a message/rfc822 header block began inside this part */
    struct mbuf hdr;
    int hdr_truncated;
    struct content_span hdr_span;
    struct mbuf tok;
    size_t body_offset;
    int errors;
    size_t nesting_line;
    size_t line;
};

/* ---- small buffers: grow, never shrink; reused for the whole message ---- */

static void mbuf_reserve(struct mbuf *b, size_t more)
{
    if (b->len + more + 1 > b->cap)
        b->s = xgrow(b->s, &b->cap, b->len + more + 1, 1);
}

/* Postfix's vstring_strncat(): at most len bytes, and never past a NUL. */
static void mbuf_cat(struct mbuf *b, const char *text, size_t len)
{
    const char *nul = memchr(text, '\0', len);

    if (nul != NULL)
        len = (size_t)(nul - text);
    mbuf_reserve(b, len);
    memcpy(b->s + b->len, text, len);
    b->len += len;
    b->s[b->len] = '\0';
}

static void mbuf_addch(struct mbuf *b, char ch)
{
    mbuf_reserve(b, 1);
    b->s[b->len++] = ch;
    b->s[b->len] = '\0';
}

static void mbuf_reset(struct mbuf *b)
{
    b->len = 0;
    if (b->s != NULL)
        b->s[0] = '\0';
}

/* ---- Postfix's is_header_buf(): the length of the name, or 0 ---- */

static size_t mime_is_header(const char *text, size_t len)
{
    size_t name = 0;
    int state = 0; /* 0 start, 1 in name, 2 blanks after the name */

    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c == ':')
            return state != 0 ? name : 0;
        if (c == ' ' || c == '\t') {
            if (state == 0)
                return 0;
            state = 2;
            continue;
        }
        if (c == 0 || c > 0x7e || c < 0x20 || state == 2)
            return 0;
        state = 1;
        name++;
    }
    return 0;
}

/* The headers Postfix's header_opts marks HDR_OPT_MIME. */
static int mime_is_mime_header(const char *name, size_t len)
{
    static const char *const names[] = {
        "Content-Description", "Content-Disposition", "Content-ID", "Content-Transfer-Encoding",
        "Content-Type",        "MIME-Version",        NULL,
    };

    for (size_t i = 0; names[i] != NULL; i++)
        if (strlen(names[i]) == len && strncasecmp(name, names[i], len) == 0)
            return 1;
    return 0;
}

/* ---- Postfix's header_token() for Content-Type ---- */

#define TOK_TOKEN 256
#define TOK_QSTRING 257
#define MIME_MAX_TOKEN 3
#define RFC2045_TSPECIALS "()<>@,;:\\\"/[]?="

struct mime_token {
    int type;
    size_t off;
};

static int is_lwsp(int ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

static int is_ctl(int ch)
{
    return ch < 0x20 || ch == 0x7f;
}

static void mime_skip_comment(const unsigned char **pp)
{
    const unsigned char *cp = *pp;
    int level = 1;
    int ch;

    while ((ch = *cp) != 0) {
        cp++;
        if (ch == '(') {
            level++;
        } else if (ch == ')') {
            if (--level == 0)
                break;
        } else if (ch == '\\') {
            if (*cp == 0)
                break;
            cp++;
        }
    }
    *pp = cp;
}

static void mime_quoted(struct mbuf *buf, const unsigned char **pp, int keep)
{
    const unsigned char *cp = *pp;
    int ch;

    while ((ch = *cp) != 0) {
        cp++;
        if (ch == '"')
            break;
        if (ch == '\n') { /* unfold */
            if (keep)
                while (buf->len > 0 && is_lwsp((unsigned char)buf->s[buf->len - 1]))
                    buf->s[--buf->len] = '\0';
            continue;
        }
        if (ch == '\\') {
            if (keep)
                mbuf_addch(buf, (char)ch);
            if (*cp == 0)
                break;
            ch = *cp++;
        }
        if (keep)
            mbuf_addch(buf, (char)ch);
    }
    *pp = cp;
}

/* Tokens up to and past the next ';'. Returns how many were stored (at most
 * MIME_MAX_TOKEN), or -1 when the input ran out before any. */
static long mime_tokens(struct content_mime *m, struct mime_token *tok, const char **ptr)
{
    const unsigned char *cp = (const unsigned char *)*ptr;
    long count = 0;
    int ch = 0;

    mbuf_reset(&m->tok);
    while ((ch = *cp) != 0) {
        cp++;
        if (is_lwsp(ch))
            continue;
        if (ch == ';')
            break;
        if (ch == '(') {
            mime_skip_comment(&cp);
            continue;
        }
        int keep = count < MIME_MAX_TOKEN;
        if (keep)
            tok[count].off = m->tok.len;
        if (ch == '"') {
            if (keep)
                tok[count].type = TOK_QSTRING;
            mime_quoted(&m->tok, &cp, keep);
        } else if (strchr(RFC2045_TSPECIALS, ch) != NULL || is_ctl(ch)) {
            if (keep) {
                tok[count].type = ch;
                mbuf_addch(&m->tok, (char)ch);
            }
        } else {
            if (keep) {
                tok[count].type = TOK_TOKEN;
                mbuf_addch(&m->tok, (char)ch);
            }
            while ((ch = *cp) != 0 && !is_lwsp(ch) && !is_ctl(ch) &&
                   strchr(RFC2045_TSPECIALS, ch) == NULL) {
                cp++;
                if (keep)
                    mbuf_addch(&m->tok, (char)ch);
            }
        }
        if (keep) {
            mbuf_addch(&m->tok, '\0');
            count++;
        }
    }
    if (count == 0 && ch == 0)
        return -1;
    *ptr = (const char *)cp;
    return count;
}

static int tok_is(const struct content_mime *m, const struct mime_token *tok, const char *word)
{
    return tok->type == TOK_TOKEN && strcasecmp(m->tok.s + tok->off, word) == 0;
}

/* ---- the boundary stack ---- */

static void mime_push(struct content_mime *m, int def_ctype, int def_stype, const char *boundary)
{
    struct mime_frame *f;
    size_t len = strlen(boundary);

    if (len > m->cfg->boundary_length_limit)
        len = m->cfg->boundary_length_limit;
    m->stack = xgrow(m->stack, &m->stack_cap, m->depth + 1, sizeof(*m->stack));
    f = &m->stack[m->depth++];
    f->boundary = xstrndup(boundary, len);
    f->len = len;
    f->def_ctype = def_ctype;
    f->def_stype = def_stype;
    f->part = 0;
    m->nesting_level++;
}

static void mime_pop(struct content_mime *m)
{
    free(m->stack[--m->depth].boundary);
    m->nesting_level--;
}

static void mime_set_state(struct content_mime *m, int state)
{
    m->state = state;
    if (state == ST_BODY)
        m->body_offset = 0;
}

static void mime_set_type(struct content_mime *m, int state, int ctype, int stype)
{
    mime_set_state(m, state);
    m->ctype = ctype;
    m->stype = stype;
}

/* ---- Content-Type ---- */

static void mime_multipart(struct content_mime *m, const struct mime_token *tok, long count,
                           const char **cp)
{
    int def_ctype = CT_TEXT;
    int def_stype = STY_PLAIN;
    struct mime_token param[MIME_MAX_TOKEN];

    m->ctype = CT_MULTIPART;
    if (count >= 3 && tok[1].type == '/' && tok_is(m, &tok[2], "digest")) {
        def_ctype = CT_MESSAGE;
        def_stype = STY_RFC822;
    }
    /* Every boundary= parameter, as Postfix: several same-level boundaries
     * are illegal, and pushing each keeps the part headers in view whichever
     * one the sender uses. */
    while ((count = mime_tokens(m, param, cp)) >= 0) {
        if (count < 3 || !tok_is(m, &param[0], "boundary") || param[1].type != '=')
            continue;
        if (m->nesting_level > (long)m->cfg->nesting_limit) {
            if (m->cfg->report_nesting && !(m->errors & CONTENT_MIME_ERR_NESTING)) {
                m->errors |= CONTENT_MIME_ERR_NESTING;
                m->nesting_line = m->hdr_span.line;
            }
        } else {
            mime_push(m, def_ctype, def_stype, m->tok.s + param[2].off);
        }
    }
}

static void mime_content_type(struct content_mime *m)
{
    struct mime_token tok[MIME_MAX_TOKEN];
    const char *cp = m->hdr.s + strlen("Content-Type") + 1;
    long count = mime_tokens(m, tok, &cp);

    if (count <= 0) {
        m->ctype = CT_OTHER;
        return;
    }
    if (tok_is(m, &tok[0], "text")) {
        m->ctype = CT_TEXT;
        m->stype =
            count >= 3 && tok[1].type == '/' && tok_is(m, &tok[2], "plain") ? STY_PLAIN : STY_OTHER;
    } else if (tok_is(m, &tok[0], "message")) {
        m->ctype = CT_MESSAGE;
        m->stype = STY_OTHER;
        if (count >= 3 && tok[1].type == '/') {
            if (tok_is(m, &tok[2], "rfc822"))
                m->stype = STY_RFC822;
            else if (tok_is(m, &tok[2], "partial"))
                m->stype = STY_PARTIAL;
            else if (tok_is(m, &tok[2], "external-body"))
                m->stype = STY_EXTERN_BODY;
            else if (tok_is(m, &tok[2], "global"))
                m->stype = STY_GLOBAL;
        }
    } else if (tok_is(m, &tok[0], "multipart")) {
        mime_multipart(m, tok, count, &cp);
    }
    /* Any other type leaves the current one alone, as Postfix does. */
}

/* ---- records ---- */

static void mime_answer(struct content_mime *m, enum content_mime_next next)
{
    if (next == CONTENT_MIME_QUIET)
        m->quiet = 1;
    else if (next == CONTENT_MIME_STOP)
        m->quiet = m->stop = 1;
}

static void mime_flush_header(struct content_mime *m, size_t name_len)
{
    int is_mime = mime_is_mime_header(m->hdr.s, name_len);

    if (!m->cfg->disable_mime && name_len == strlen("Content-Type") &&
        strncasecmp(m->hdr.s, "Content-Type", name_len) == 0)
        mime_content_type(m);
    if (!m->quiet)
        mime_answer(m, m->ops->header(m->ctx, m, (enum content_hdr_class)m->state, is_mime,
                                      m->hdr.s, m->hdr.len, m->hdr_truncated, &m->hdr_span));
    mbuf_reset(&m->hdr);
    m->hdr_truncated = 0;
    m->prev_rec = REC_NONE;
}

/* A continuation piece or line: whole, while the header is short enough. */
static void mime_header_more(struct content_mime *m, const char *text, size_t len, int newline,
                             const struct content_span *span)
{
    if (m->hdr.len < m->cfg->header_size_limit) {
        if (newline)
            mbuf_addch(&m->hdr, '\n');
        mbuf_cat(&m->hdr, text, len);
    } else {
        m->hdr_truncated = 1;
    }
    m->hdr_span.content_end = span->content_end;
    m->hdr_span.end = span->end;
}

static void mime_body_out(struct content_mime *m, const char *text, size_t len,
                          const struct content_span *span)
{
    if (!m->quiet && m->ops->body != NULL)
        mime_answer(m, m->ops->body(m->ctx, m, text, len, m->body_offset, span));
    m->body_offset += len + 1;
}

/* The end of a header block: an empty line, or a line that is no header. */
static void mime_end_of_headers(struct content_mime *m, size_t len)
{
    if (len == 0) {
        m->body_offset = 0;
        if (m->ctype == CT_MESSAGE) {
            if (m->stype == STY_RFC822 || m->stype == STY_GLOBAL) {
                mime_set_type(m, ST_NESTED, CT_TEXT, STY_PLAIN);
                m->nested_seen = 1;
            } else {
                mime_set_state(m, ST_BODY);
            }
        } else if (m->ctype == CT_MULTIPART) {
            mime_set_type(m, ST_BODY, CT_OTHER, STY_OTHER);
        } else {
            mime_set_state(m, ST_BODY);
        }
        return;
    }
    /* Postfix inserts an empty line after primary headers that end in
     * garbage; it counts as a body record (never looked up). */
    if (m->state == ST_PRIMARY)
        m->body_offset += 1;
    mime_set_state(m, ST_BODY);
}

static void mime_boundary(struct content_mime *m, const char *text, size_t len)
{
    for (size_t i = m->depth; i-- > 0;) {
        struct mime_frame *f = &m->stack[i];
        if (len < 2 + f->len || memcmp(text + 2, f->boundary, f->len) != 0)
            continue;
        while (m->depth > i + 1)
            mime_pop(m);
        if (len >= 4 + f->len && memcmp(text + 2 + f->len, "--", 2) == 0) {
            mime_pop(m);
            mime_set_type(m, ST_BODY, CT_OTHER, STY_OTHER);
        } else {
            f->part++;
            m->nested_seen = 0;
            mime_set_type(m, ST_MULTIPART, f->def_ctype, f->def_stype);
        }
        return;
    }
}

static void mime_record(struct content_mime *m, const char *text, size_t len, int rec,
                        const struct content_span *span)
{
    size_t name_len;

    m->line = span->line;
    if (m->state != ST_BODY) {
        if (m->hdr.len > 0) {
            if (m->prev_rec == REC_CONT) {
                mime_header_more(m, text, len, 0, span);
                m->prev_rec = rec;
                return;
            }
            if (len > 0 && (text[0] == ' ' || text[0] == '\t')) {
                mime_header_more(m, text, len, 1, span);
                m->prev_rec = rec;
                return;
            }
            mime_flush_header(m, mime_is_header(m->hdr.s, m->hdr.len));
        }
        if ((name_len = mime_is_header(text, len)) > 0) {
            /* "Name : value" becomes "Name: value". */
            size_t rest = name_len;
            while (rest < len && (text[rest] == ' ' || text[rest] == '\t'))
                rest++;
            mbuf_reset(&m->hdr);
            mbuf_cat(&m->hdr, text, name_len);
            mbuf_cat(&m->hdr, text + rest, len - rest);
            m->hdr_span = *span;
            m->prev_rec = rec;
            return;
        }
        mime_end_of_headers(m, len);
    }
    if (m->depth > 0 && m->prev_rec != REC_CONT && len > 2 && text[0] == '-' && text[1] == '-')
        mime_boundary(m, text, len);
    mime_body_out(m, text, len, span);
    m->prev_rec = rec;
}

/* One physical line [start, end), end after its LF (or the end of data):
 * the records Postfix's smtpd would have stored for it. */
static void mime_line(struct content_mime *m, const char *data, size_t start, size_t end,
                      size_t line)
{
    size_t limit = m->cfg->line_length_limit;
    size_t dot = end > start && data[start] == '.' ? 1 : 0; /* stuffed on the wire */
    size_t wire = dot + (end - start);
    int has_lf = end > start && data[end - 1] == '\n';
    struct content_span span;

    span.line = line;
    for (size_t w = 0, w_end; w < wire && !m->stop; w = w_end) {
        w_end = w + limit < wire ? w + limit : wire;
        int last;
        span.start = w == 0 ? start : start + w - dot;
        span.end = start + w_end - dot;
        /* Postfix's smtp_get() repairs a piece that ends between CR and
         * LF: the LF is read too and the line ends there. */
        if (w_end < wire && span.end > span.start && data[span.end - 1] == '\r' &&
            data[span.end] == '\n') {
            w_end++;
            span.end++;
        }
        last = w_end == wire;
        span.content_end = span.end;
        if (last && has_lf) {
            span.content_end--;
            if (span.content_end > span.start && data[span.content_end - 1] == '\r')
                span.content_end--;
        }
        mime_record(m, data + span.start, span.content_end - span.start, last ? REC_NORM : REC_CONT,
                    &span);
    }
}

int content_mime_scan(const struct content_mime_config *cfg, const char *data, size_t len,
                      const struct content_mime_ops *ops, void *ctx)
{
    struct content_mime m;
    size_t pos = 0;
    size_t line = 0;

    memset(&m, 0, sizeof(m));
    m.cfg = cfg;
    m.ops = ops;
    m.ctx = ctx;
    m.nesting_level = -1;
    mime_set_type(&m, ST_PRIMARY, CT_TEXT, STY_PLAIN);
    while (pos < len && !m.stop) {
        const char *lf = memchr(data + pos, '\n', len - pos);
        size_t end = lf != NULL ? (size_t)(lf - data) + 1 : len;
        mime_line(&m, data, pos, end, ++line);
        pos = end;
    }
    if (!m.stop && m.state != ST_BODY && m.hdr.len > 0)
        mime_flush_header(&m, mime_is_header(m.hdr.s, m.hdr.len));
    while (m.depth > 0)
        mime_pop(&m);
    free(m.stack);
    free(m.hdr.s);
    free(m.tok.s);
    return m.errors;
}

/* ---- --explain ---- */

static void mime_part_path(const struct content_mime *m, char *buf, size_t len)
{
    size_t used = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < m->depth && used < len; i++) {
        int n = snprintf(buf + used, len - used, "%s%u", i ? "." : "", m->stack[i].part);
        if (n < 0)
            break;
        used += (size_t)n;
    }
}

void content_mime_where(const struct content_mime *mime, char *buf, size_t len)
{
    char path[128];
    const char *nested = mime->nested_seen ? "the message attached in " : "";

    mime_part_path(mime, path, sizeof(path));
    switch (mime->state) {
    case ST_PRIMARY:
        snprintf(buf, len, "primary headers");
        break;
    case ST_MULTIPART:
        snprintf(buf, len, "headers of part %s", path);
        break;
    case ST_NESTED:
        snprintf(buf, len, "headers of %s%s%s", *path ? "the message attached in part " : "", path,
                 *path ? "" : "the attached message");
        break;
    default:
        if (mime->depth == 0)
            snprintf(buf, len, "%s", mime->nested_seen ? "body of the attached message" : "body");
        else if (mime->stack[mime->depth - 1].part == 0)
            snprintf(buf, len, "preamble of multipart %s", path);
        else
            snprintf(buf, len, "body of %spart %s", nested, path);
        break;
    }
}

size_t content_mime_nesting_line(const struct content_mime *mime)
{
    return mime->nesting_line;
}
