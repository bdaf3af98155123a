/* Printing of the chat-template renderer: tojson (Python json.dumps layout, JSON.stringify
 * escapes) and the text values print as, JavaScript's Number#toString for floats. JSON built from
 * content is content as a whole: escaping moves bytes around. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat/jinja_internal.h"

void jlib_fmt_num(double f, char *buf, size_t cap)
{
    if (isnan(f)) { snprintf(buf, cap, "NaN"); return; }
    if (isinf(f)) { snprintf(buf, cap, f < 0 ? "-Infinity" : "Infinity"); return; }
    if (f == 0) { snprintf(buf, cap, "0"); return; }
    char tmp[40];
    int prec;
    for (prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*e", prec - 1, f);
        if (strtod(tmp, NULL) == f)
            break;
    }
    /* tmp = d.ddde[+-]XX: rebuild JavaScript's Number#toString from digits and exponent */
    char digits[24];
    size_t nd = 0;
    const char *p = tmp;
    int neg = *p == '-';
    if (neg)
        p++;
    for (; *p && *p != 'e'; p++)
        if (*p >= '0' && *p <= '9')
            digits[nd++] = *p;
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    int e = atoi(p + 1);
    char *o = buf;
    size_t left = cap;
#define OUT(...) do { int w_ = snprintf(o, left, __VA_ARGS__); if (w_ < 0 || (size_t)w_ >= left) return; o += w_; left -= (size_t)w_; } while (0)
    if (neg)
        OUT("-");
    if (e >= 21 || e < -7) {
        OUT("%c", digits[0]);
        if (nd > 1)
            OUT(".%.*s", (int)nd - 1, digits + 1);
        OUT("e%c%d", e < 0 ? '-' : '+', e < 0 ? -e : e);
    } else if (e >= 0) {
        if ((int)nd <= e + 1) {
            OUT("%.*s", (int)nd, digits);
            for (int i = (int)nd; i <= e; i++)
                OUT("0");
        } else {
            OUT("%.*s.%.*s", e + 1, digits, (int)nd - e - 1, digits + e + 1);
        }
    } else {
        OUT("0.");
        for (int i = -1; i > e; i--)
            OUT("0");
        OUT("%.*s", (int)nd, digits);
    }
#undef OUT
}

static int json_str(jctx *c, const jnode *n, jbuf *b, const jstr *s, int ascii, int content)
{
    if (jlib_put(c, n, b, "\"", 1, 0))
        return -1;
    for (size_t i = 0; i < s->len;) {
        unsigned char ch = (unsigned char)s->s[i];
        char esc[16];
        const char *rep = NULL;
        size_t rl = 0, adv = 1;
        switch (ch) {
        case '"': rep = "\\\""; break;
        case '\\': rep = "\\\\"; break;
        case '\b': rep = "\\b"; break;
        case '\f': rep = "\\f"; break;
        case '\n': rep = "\\n"; break;
        case '\r': rep = "\\r"; break;
        case '\t': rep = "\\t"; break;
        default:
            if (ch < 0x20) {
                snprintf(esc, sizeof esc, "\\u%04x", ch);
                rep = esc;
            } else if (ascii && ch >= 0x7f) {
                uint32_t cp = ch;
                size_t l = ch < 0x80 ? 1 : ch >= 0xF0 ? 4 : ch >= 0xE0 ? 3 : ch >= 0xC0 ? 2 : 1;
                if (l > 1 && i + l <= s->len) {
                    cp = ch & (0xFF >> (l + 1));
                    for (size_t k = 1; k < l; k++)
                        cp = (cp << 6) | ((unsigned char)s->s[i + k] & 0x3F);
                } else {
                    l = 1;
                    cp = 0xFFFD;
                }
                adv = l;
                if (cp > 0xFFFF)
                    snprintf(esc, sizeof esc, "\\u%04x\\u%04x", 0xD800 + ((cp - 0x10000) >> 10),
                             0xDC00 + ((cp - 0x10000) & 0x3FF));
                else
                    snprintf(esc, sizeof esc, "\\u%04x", cp);
                rep = esc;
            }
        }
        if (rep) {
            rl = strlen(rep);
            if (jlib_put(c, n, b, rep, rl, content))
                return -1;
            i += adv;
            continue;
        }
        size_t j = i + 1;
        while (j < s->len) {
            unsigned char d = (unsigned char)s->s[j];
            if (d < 0x20 || d == '"' || d == '\\' || (ascii && d >= 0x7f))
                break;
            j++;
        }
        if (jlib_put(c, n, b, s->s + i, j - i, content))
            return -1;
        i = j;
    }
    return jlib_put(c, n, b, "\"", 1, 0);
}

static int pad(jctx *c, const jnode *n, jbuf *b, int indent, int depth)
{
    if (jlib_put(c, n, b, "\n", 1, 0))
        return -1;
    for (int i = 0; i < indent * depth; i++)
        if (jlib_put(c, n, b, " ", 1, 0))
            return -1;
    return 0;
}

/* toJSON() of @huggingface/jinja: Python's json.dumps separators (", ", ": "), or "," with indent */
int jlib_tojson(jctx *c, const jnode *n, jbuf *b, jv v, int indent, int ascii, const char *isep,
                const char *ksep, int undef_null, int depth)
{
    if (depth > c->t->lim.max_depth)
        return jerr(c, n, "value nesting deeper than %d", c->t->lim.max_depth);
    if (jwork(c, n, 1))
        return -1;
    char tmp[64];
    int content = jv_tainted(v);
    switch (v.t) {
    case JV_NONE: return jlib_put(c, n, b, "null", 4, 0);
    case JV_UNDEF: return undef_null ? jlib_put(c, n, b, "null", 4, 0) : jlib_put(c, n, b, "undefined", 9, 0);
    case JV_BOOL: return jlib_put(c, n, b, v.u.b ? "true" : "false", v.u.b ? 4 : 5, 0);
    case JV_INT:
        snprintf(tmp, sizeof tmp, "%lld", (long long)v.u.i);
        return jlib_put(c, n, b, tmp, strlen(tmp), 0);
    case JV_FLOAT:
        if (!isfinite(v.u.f))
            return jlib_put(c, n, b, "null", 4, 0);
        jlib_fmt_num(v.u.f, tmp, sizeof tmp);
        return jlib_put(c, n, b, tmp, strlen(tmp), 0);
    case JV_STR: return json_str(c, n, b, v.u.s, ascii, content);
    case JV_LIST: {
        if (jlib_put(c, n, b, "[", 1, 0))
            return -1;
        for (size_t i = 0; i < v.u.l->n; i++) {
            if (i && jlib_put(c, n, b, isep, strlen(isep), 0))
                return -1;
            if (indent && pad(c, n, b, indent, depth + 1))
                return -1;
            if (jlib_tojson(c, n, b, v.u.l->v[i], indent, ascii, isep, ksep, undef_null, depth + 1))
                return -1;
        }
        if (indent && v.u.l->n && pad(c, n, b, indent, depth))
            return -1;
        return jlib_put(c, n, b, "]", 1, 0);
    }
    case JV_DICT: case JV_NS: {
        if (jlib_put(c, n, b, "{", 1, 0))
            return -1;
        for (size_t i = 0; i < v.u.d->n; i++) {
            if (i && jlib_put(c, n, b, isep, strlen(isep), 0))
                return -1;
            if (indent && pad(c, n, b, indent, depth + 1))
                return -1;
            if (json_str(c, n, b, v.u.d->k[i].u.s, ascii, v.u.d->k[i].u.s->nspans > 0) ||
                jlib_put(c, n, b, ksep, strlen(ksep), 0) ||
                jlib_tojson(c, n, b, v.u.d->v[i], indent, ascii, isep, ksep, undef_null, depth + 1))
                return -1;
        }
        if (indent && v.u.d->n && pad(c, n, b, indent, depth))
            return -1;
        return jlib_put(c, n, b, "}", 1, 0);
    }
    default:
        return jerr(c, n, "cannot convert a %s to JSON", jv_type_name(v.t));
    }
}

/* The whole JSON text is content when any string in it is: escaping moves bytes around. */
int jlib_tojson_value(jctx *c, const jnode *n, jv v, int indent, int ascii, const char *isep,
                        const char *ksep, int undef_null, jv *out)
{
    jbuf b = {.max = c->t->lim.max_output};
    if (jlib_tojson(c, n, &b, v, indent, ascii, isep, ksep, undef_null, 0)) {
        jbuf_free(&b);
        return -1;
    }
    if (jv_tainted(v)) {
        jv r = jv_str_taint(b.s ? b.s : "", b.len, 1);
        jbuf_free(&b);
        if (r.t != JV_STR)
            return jlib_oom(c, n);
        *out = r;
        return jwork(c, n, r.u.s->len);
    }
    return jlib_take(c, n, &b, out);
}

int jlib_to_str(jctx *c, const jnode *n, jv v, int js_number, jv *out)
{
    char tmp[64];
    switch (v.t) {
    case JV_STR: *out = jv_retain(v); return 0;
    case JV_INT: snprintf(tmp, sizeof tmp, "%lld", (long long)v.u.i); break;
    case JV_FLOAT:
        if (!js_number && v.u.f == 0 && signbit(v.u.f))
            snprintf(tmp, sizeof tmp, "-0.0");
        else if (!js_number && isfinite(v.u.f) && v.u.f == floor(v.u.f) && fabs(v.u.f) < 1e21)
            snprintf(tmp, sizeof tmp, "%.1f", v.u.f);
        else
            jlib_fmt_num(v.u.f, tmp, sizeof tmp);
        break;
    case JV_BOOL: snprintf(tmp, sizeof tmp, "%s", v.u.b ? "true" : "false"); break;
    case JV_NONE: case JV_UNDEF:
        if (js_number)
            return jerr(c, n, "cannot use %s as a string", jv_type_name(v.t));
        *out = jv_str("", 0, NULL, 0);
        return out->t == JV_STR ? 0 : jlib_oom(c, n);
    case JV_LIST: case JV_DICT: case JV_NS:
        if (js_number)
            return jerr(c, n, "cannot concatenate a %s", jv_type_name(v.t));
        return jlib_tojson_value(c, n, v, 0, 0, ", ", ": ", 0, out);
    default:
        return jerr(c, n, "cannot print a %s", jv_type_name(v.t));
    }
    *out = jv_str(tmp, strlen(tmp), NULL, 0);
    return out->t == JV_STR ? 0 : jlib_oom(c, n);
}

