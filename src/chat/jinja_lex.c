/* Lexer of the chat-template renderer. It reproduces @huggingface/jinja's tokenizer: the template
 * is first preprocessed as Template() does (one trailing newline dropped, lstrip_blocks and
 * trim_blocks applied textually, {% generation %} tags removed), then split into text and tag
 * tokens with whitespace control ({%- -%} {{- -}} {#- -#}). Positions refer to the original source. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat/jinja_internal.h"

/* code point at p (UTF-8), 0 bytes on malformed input */
static size_t utf8_dec(const char *p, const char *end, uint32_t *cp)
{
    const unsigned char *u = (const unsigned char *)p;
    size_t n = (size_t)(end - p);
    if (n == 0)
        return 0;
    if (u[0] < 0x80) { *cp = u[0]; return 1; }
    if ((u[0] & 0xE0) == 0xC0 && n >= 2 && (u[1] & 0xC0) == 0x80) {
        *cp = ((uint32_t)(u[0] & 0x1F) << 6) | (u[1] & 0x3F);
        return 2;
    }
    if ((u[0] & 0xF0) == 0xE0 && n >= 3 && (u[1] & 0xC0) == 0x80 && (u[2] & 0xC0) == 0x80) {
        *cp = ((uint32_t)(u[0] & 0x0F) << 12) | ((uint32_t)(u[1] & 0x3F) << 6) | (u[2] & 0x3F);
        return 3;
    }
    if ((u[0] & 0xF8) == 0xF0 && n >= 4 && (u[1] & 0xC0) == 0x80 && (u[2] & 0xC0) == 0x80 &&
        (u[3] & 0xC0) == 0x80) {
        *cp = ((uint32_t)(u[0] & 0x07) << 18) | ((uint32_t)(u[1] & 0x3F) << 12) |
              ((uint32_t)(u[2] & 0x3F) << 6) | (u[3] & 0x3F);
        return 4;
    }
    return 0;
}

/* JavaScript's white space and line terminators (String#trim, the lexer's isWhitespace) */
static int js_space(uint32_t c)
{
    if (c <= 32)
        return c == 32 || (c >= 9 && c <= 13);
    return c == 160 || c == 5760 || (c >= 8192 && c <= 8202) || c == 8232 || c == 8233 || c == 8239 ||
           c == 8287 || c == 12288 || c == 65279;
}

size_t jws_len(const char *p, const char *end)
{
    uint32_t cp;
    size_t n = utf8_dec(p, end, &cp);
    return n && js_space(cp) ? n : 0;
}

size_t jws_back(const char *start, const char *p)
{
    const char *q = p;
    for (int i = 0; i < 4 && q > start; i++) {
        q--;
        if (((unsigned char)*q & 0xC0) != 0x80)
            break;
    }
    size_t n = jws_len(q, p);
    return n == (size_t)(p - q) ? n : 0;
}

typedef struct {
    char *s;
    uint32_t *orig;
    size_t n;
} pbuf;

static int pb_init(pbuf *b, size_t cap)
{
    b->s = malloc(cap + 1);
    b->orig = malloc((cap + 1) * sizeof *b->orig);
    b->n = 0;
    return b->s && b->orig ? 0 : -1;
}

static void pb_free(pbuf *b)
{
    free(b->s);
    free(b->orig);
}

static void pb_put(pbuf *b, const pbuf *from, size_t i)
{
    b->s[b->n] = from->s[i];
    b->orig[b->n++] = from->orig[i];
}

static int line_start(const pbuf *b, size_t i)
{
    if (i == 0)
        return 1;
    unsigned char c = (unsigned char)b->s[i - 1];
    if (c == '\n' || c == '\r')
        return 1;
    /* U+2028 / U+2029 end lines for JavaScript's multiline ^ */
    return i >= 3 && (unsigned char)b->s[i - 3] == 0xE2 && (unsigned char)b->s[i - 2] == 0x80 &&
           (c == 0xA8 || c == 0xA9);
}

/* /^[ \t]*({[#%-])/gm -> "$1" */
static void lstrip_blocks(const pbuf *in, pbuf *out)
{
    for (size_t i = 0; i < in->n;) {
        if (line_start(in, i)) {
            size_t j = i;
            while (j < in->n && (in->s[j] == ' ' || in->s[j] == '\t'))
                j++;
            if (j > i && j + 1 < in->n && in->s[j] == '{' &&
                (in->s[j + 1] == '#' || in->s[j + 1] == '%' || in->s[j + 1] == '-'))
                i = j;
        }
        if (i < in->n)
            pb_put(out, in, i++);
    }
}

/* /([#%-]})\n/g -> "$1" */
static void trim_blocks(const pbuf *in, pbuf *out)
{
    for (size_t i = 0; i < in->n; i++) {
        if (in->s[i] == '\n' && i >= 2 && in->s[i - 1] == '}' &&
            (in->s[i - 2] == '#' || in->s[i - 2] == '%' || in->s[i - 2] == '-'))
            continue;
        pb_put(out, in, i);
    }
}

static size_t re_space(const pbuf *b, size_t i)
{
    return jws_len(b->s + i, b->s + b->n);
}

/* /{%(-?)\s*(?:end)?generation\s*(-?)%}(\s*)/gs: the tag goes, '-' trims as usual */
static void strip_generation(const pbuf *in, pbuf *out)
{
    size_t last = 0;
    for (size_t i = 0; i + 1 < in->n; i++) {
        if (in->s[i] != '{' || in->s[i + 1] != '%')
            continue;
        size_t j = i + 2, w;
        int lstrip = 0, rstrip = 0;
        if (j < in->n && in->s[j] == '-') { lstrip = 1; j++; }
        while (j < in->n && (w = re_space(in, j))) j += w;
        if (j + 3 <= in->n && memcmp(in->s + j, "end", 3) == 0 && j + 13 <= in->n &&
            memcmp(in->s + j + 3, "generation", 10) == 0)
            j += 3;
        if (j + 10 > in->n || memcmp(in->s + j, "generation", 10) != 0)
            continue;
        j += 10;
        while (j < in->n && (w = re_space(in, j))) j += w;
        if (j < in->n && in->s[j] == '-') { rstrip = 1; j++; }
        if (j + 2 > in->n || in->s[j] != '%' || in->s[j + 1] != '}')
            continue;
        j += 2;
        size_t after = j;
        while (after < in->n && (w = re_space(in, after))) after += w;
        size_t end = i;
        while (lstrip && end > last && (w = jws_back(in->s + last, in->s + end)))
            end -= w;
        for (size_t k = last; k < end; k++)
            pb_put(out, in, k);
        if (!rstrip)
            for (size_t k = j; k < after; k++)
                pb_put(out, in, k);
        last = after;
        i = after - 1;
    }
    for (size_t k = last; k < in->n; k++)
        pb_put(out, in, k);
}

typedef struct {
    const char *name;
    const char *src;
    size_t srclen;
    size_t *lines;      /* offsets of line starts */
    size_t nlines;
    tl_err *err;
} lexpos;

static void where(const lexpos *lp, size_t off, int *line, int *col)
{
    size_t lo = 0, hi = lp->nlines;
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (lp->lines[mid] <= off)
            lo = mid;
        else
            hi = mid;
    }
    *line = (int)lo + 1;
    *col = (int)(off - lp->lines[lo]) + 1;
}

static int lex_err(const lexpos *lp, size_t orig, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int lex_err(const lexpos *lp, size_t orig, const char *fmt, ...)
{
    char m[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m, sizeof m, fmt, ap);
    va_end(ap);
    int line, col;
    where(lp, orig, &line, &col);
    return tl_errf(lp->err, TL_EINVAL, "%s:%d:%d: %s", lp->name, line, col, m);
}

typedef struct {
    jtok *v;
    size_t n, cap;
} tokv;

static int push(tokv *tv, jarena *a, const lexpos *lp, tok_type t, const char *s, size_t len, size_t orig)
{
    if (tv->n == tv->cap) {
        size_t nc = tv->cap ? tv->cap * 2 : 256;
        jtok *nv = realloc(tv->v, nc * sizeof *nv);
        if (!nv)
            return tl_errf(lp->err, TL_ENOMEM, "%s: out of memory", lp->name);
        tv->v = nv;
        tv->cap = nc;
    }
    jtok *k = &tv->v[tv->n];
    k->t = t;
    k->s = jarena_strdup(a, s, len);
    if (!k->s)
        return tl_errf(lp->err, TL_ENOMEM, "%s: template too large", lp->name);
    k->len = len;
    where(lp, orig, &k->line, &k->col);
    tv->n++;
    return 0;
}

/* A tag opened with '-' strips the white space at the end of the text before it; a text that was
 * only white space goes. */
static void trim_text_before(tokv *tv)
{
    if (!tv->n || tv->v[tv->n - 1].t != T_TEXT)
        return;
    jtok *k = &tv->v[tv->n - 1];
    size_t w;
    while (k->len && (w = jws_back(k->s, k->s + k->len)))
        k->len -= w;
    if (!k->len)
        tv->n--;
}

static int is_word(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }

/* The end of a number's digits at pos, and of its fraction when frac allows one (not after a dot:
 * "x.0.1" is two attribute steps). */
static size_t number_end(const char *s, size_t n, size_t pos, int frac)
{
    while (pos < n && is_digit(s[pos]))
        pos++;
    if (frac && pos + 1 < n && s[pos] == '.' && is_digit(s[pos + 1])) {
        pos++;
        while (pos < n && is_digit(s[pos]))
            pos++;
    }
    return pos;
}

static void put_utf8(char *out, size_t *n, uint32_t cp)
{
    if (cp < 0x80) {
        out[(*n)++] = (char)cp;
    } else if (cp < 0x800) {
        out[(*n)++] = (char)(0xC0 | (cp >> 6));
        out[(*n)++] = (char)(0x80 | (cp & 0x3F));
    } else {
        out[(*n)++] = (char)(0xE0 | (cp >> 12));
        out[(*n)++] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[(*n)++] = (char)(0x80 | (cp & 0x3F));
    }
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int tokenize(const pbuf *b, jarena *a, const lexpos *lp, tokv *tv)
{
    const char *s = b->s;
    size_t n = b->n, pos = 0;
    int curly = 0;
    char *tmp = malloc(n + 1);   /* string literal decoding: never longer than its source */
    if (!tmp)
        return tl_errf(lp->err, TL_ENOMEM, "%s: out of memory", lp->name);
    int rc = 0;
#define ORIG(i) ((size_t)b->orig[(i) < n ? (i) : n])
#define FAIL(i, ...) do { rc = lex_err(lp, ORIG(i), __VA_ARGS__); goto out; } while (0)
#define PUSH(t, p, l, at) do { if ((rc = push(tv, a, lp, t, p, l, ORIG(at)))) goto out; } while (0)
    while (pos < n) {
        tok_type last = tv->n ? tv->v[tv->n - 1].t : T_EOF;
        if (last == T_EOF || last == T_CLOSE_STMT || last == T_CLOSE_EXPR || last == T_COMMENT) {
            size_t end = pos;
            while (end < n) {
                if (s[end] == '{' && end + 1 < n && (s[end + 1] == '%' || s[end + 1] == '{' || s[end + 1] == '#'))
                    break;
                end++;
            }
            if (end > pos) {
                PUSH(T_TEXT, s + pos, end - pos, pos);
                pos = end;
                continue;
            }
        }
        if (s[pos] == '{' && pos + 1 < n) {
            char nx = s[pos + 1];
            if (nx == '#') {
                size_t start = pos;
                pos += 2;
                int before = pos < n && s[pos] == '-';
                if (before)
                    pos++;
                const char *e = NULL;
                for (size_t k = pos; k + 1 < n; k++)
                    if (s[k] == '#' && s[k + 1] == '}') { e = s + k; break; }
                if (!e)
                    FAIL(start, "missing end of comment tag");
                size_t clen = (size_t)(e - (s + pos));
                int after = clen > 0 && s[pos + clen - 1] == '-';
                if (before)
                    trim_text_before(tv);
                PUSH(T_COMMENT, "", 0, start);
                pos = (size_t)(e - s) + 2;
                size_t w;
                while (after && pos < n && (w = jws_len(s + pos, s + n)))
                    pos += w;
                continue;
            }
            if (pos + 2 < n && s[pos + 2] == '-' && (nx == '%' || nx == '{')) {
                trim_text_before(tv);
                PUSH(nx == '%' ? T_OPEN_STMT : T_OPEN_EXPR, nx == '%' ? "{%" : "{{", 2, pos);
                if (nx == '{')
                    curly = 0;
                pos += 3;
                continue;
            }
        }
        size_t w;
        while ((w = jws_len(s + pos, s + n))) {
            pos += w;
            if (pos >= n)
                FAIL(pos, "unexpected end of template inside a tag");
        }
        char ch = s[pos];
        if (ch == '-' && pos + 2 < n && s[pos + 2] == '}' && (s[pos + 1] == '%' || s[pos + 1] == '}')) {
            int stmt = s[pos + 1] == '%';
            PUSH(stmt ? T_CLOSE_STMT : T_CLOSE_EXPR, stmt ? "%}" : "}}", 2, pos);
            pos += 3;
            while (pos < n && (w = jws_len(s + pos, s + n)))
                pos += w;
            continue;
        }
        if (ch == '-' || ch == '+') {
            if (last == T_TEXT || last == T_EOF)
                FAIL(pos, "unexpected character '%c'", ch);
            if (!(last == T_IDENT || last == T_NUM || last == T_STR || last == T_RPAREN || last == T_RBRACK)) {
                size_t start = pos++;
                int digits = pos < n && is_digit(s[pos]);
                pos = number_end(s, n, pos, digits);
                if (pos >= n)
                    FAIL(pos, "unexpected end of template inside a tag");
                PUSH(digits ? T_NUM : T_UNARY, s + start, pos - start, start);
                continue;
            }
        }
        static const struct { const char *seq; tok_type t; } rules[] = {
            {"{%", T_OPEN_STMT}, {"%}", T_CLOSE_STMT}, {"{{", T_OPEN_EXPR}, {"}}", T_CLOSE_EXPR},
            {"(", T_LPAREN}, {")", T_RPAREN}, {"{", T_LBRACE}, {"}", T_RBRACE}, {"[", T_LBRACK},
            {"]", T_RBRACK}, {",", T_COMMA}, {".", T_DOT}, {":", T_COLON}, {"|", T_PIPE},
            {"<=", T_CMP}, {">=", T_CMP}, {"==", T_CMP}, {"!=", T_CMP}, {"<", T_CMP}, {">", T_CMP},
            {"+", T_ADD}, {"-", T_ADD}, {"~", T_ADD}, {"**", T_POW}, {"*", T_MUL}, {"//", T_MUL},
            {"/", T_MUL}, {"%", T_MUL}, {"=", T_EQUALS},
        };
        int matched = 0;
        for (size_t r = 0; r < sizeof rules / sizeof rules[0]; r++) {
            size_t l = strlen(rules[r].seq);
            if (rules[r].t == T_CLOSE_EXPR && curly > 0)
                continue;
            if (pos + l <= n && memcmp(s + pos, rules[r].seq, l) == 0) {
                PUSH(rules[r].t, rules[r].seq, l, pos);
                if (rules[r].t == T_OPEN_EXPR)
                    curly = 0;
                else if (rules[r].t == T_LBRACE)
                    curly++;
                else if (rules[r].t == T_RBRACE)
                    curly--;
                pos += l;
                matched = 1;
                break;
            }
        }
        if (matched)
            continue;
        if (ch == '\'' || ch == '"') {
            size_t start = pos++, tn = 0;
            for (;;) {
                if (pos >= n)
                    FAIL(start, "unterminated string literal");
                char c = s[pos];
                if (c == ch)
                    break;
                pos++;
                if (c != '\\') {
                    tmp[tn++] = c;
                    continue;
                }
                if (pos >= n)
                    FAIL(start, "unterminated string literal");
                char e = s[pos++];
                if (e == 'x' || e == 'u') {
                    size_t hl = e == 'x' ? 2 : 4;
                    uint32_t cp = 0;
                    for (size_t k = 0; k < hl; k++) {
                        int h = pos + k < n ? hexval(s[pos + k]) : -1;
                        if (h < 0)
                            FAIL(pos - 2, "invalid hexadecimal escape sequence");
                        cp = cp * 16 + (uint32_t)h;
                    }
                    if (cp >= 0xD800 && cp <= 0xDFFF)
                        FAIL(pos - 2, "surrogate escapes are not supported");
                    pos += hl;
                    put_utf8(tmp, &tn, cp);   /* at most 3 bytes for <= 6 source bytes */
                    continue;
                }
                const char *from = "ntrbfv'\"\\", *to = "\n\t\r\b\f\v'\"\\";
                const char *f = e ? strchr(from, e) : NULL;
                if (!f)
                    FAIL(pos - 2, "unexpected escaped character");
                tmp[tn++] = to[f - from];
            }
            PUSH(T_STR, tmp, tn, start);
            pos++;
            continue;
        }
        if (is_digit(ch)) {
            size_t start = pos;
            pos = number_end(s, n, pos, last != T_DOT);
            if (pos >= n)
                FAIL(pos, "unexpected end of template inside a tag");
            PUSH(T_NUM, s + start, pos - start, start);
            continue;
        }
        if (is_word(ch)) {
            size_t start = pos;
            while (pos < n && is_word(s[pos]))
                pos++;
            if (pos >= n)
                FAIL(pos, "unexpected end of template inside a tag");
            PUSH(T_IDENT, s + start, pos - start, start);
            continue;
        }
        FAIL(pos, "unexpected character 0x%02x", (unsigned char)ch);
    }
    PUSH(T_EOF, "", 0, n);
out:
    free(tmp);
    return rc;
#undef ORIG
#undef FAIL
#undef PUSH
}

int jinja_lex(const char *src, size_t len, jarena *a, jtok **toks, size_t *ntoks, const char *name, tl_err *err)
{
    lexpos lp = {.name = name, .src = src, .srclen = len, .err = err};
    pbuf p0 = {0}, p1 = {0}, p2 = {0}, p3 = {0};
    tokv tv = {0};
    int rc = TL_ENOMEM;
    size_t nl = 1;
    for (size_t i = 0; i < len; i++)
        nl += src[i] == '\n';
    lp.lines = malloc(nl * sizeof *lp.lines);
    if (!lp.lines || pb_init(&p0, len) || pb_init(&p1, len) || pb_init(&p2, len) || pb_init(&p3, len)) {
        tl_errf(err, TL_ENOMEM, "%s: out of memory", name);
        goto out;
    }
    lp.lines[lp.nlines++] = 0;
    for (size_t i = 0; i < len; i++)
        if (src[i] == '\n')
            lp.lines[lp.nlines++] = i + 1;
    memcpy(p0.s, src, len);
    for (size_t i = 0; i < len; i++)
        p0.orig[i] = (uint32_t)i;
    p0.n = len;
    if (p0.n && p0.s[p0.n - 1] == '\n')
        p0.n--;
    p0.orig[p0.n] = (uint32_t)p0.n;
    lstrip_blocks(&p0, &p1);
    p1.orig[p1.n] = (uint32_t)len;
    trim_blocks(&p1, &p2);
    p2.orig[p2.n] = (uint32_t)len;
    strip_generation(&p2, &p3);
    p3.orig[p3.n] = (uint32_t)len;
    rc = tokenize(&p3, a, &lp, &tv);
out:
    pb_free(&p0);
    pb_free(&p1);
    pb_free(&p2);
    pb_free(&p3);
    free(lp.lines);
    if (rc) {
        free(tv.v);
        return rc;
    }
    *toks = tv.v;
    *ntoks = tv.n;
    return 0;
}
