/* String methods and filters of the chat-template renderer. Substrings (trim, strip) keep the exact
 * content ranges; transformations (case, replace, split, indent) mark their whole result content
 * when any input was. Whitespace is JavaScript's (jws_len); case mapping is ASCII. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat/jinja_internal.h"

/* ---- strings ---- */
jv jstr_sub(const jstr *s, size_t from, size_t to)
{
    jv_span *sp = s->nspans ? malloc(s->nspans * sizeof *sp) : NULL;
    size_t ns = 0;
    for (size_t i = 0; sp && i < s->nspans; i++) {
        size_t a = s->spans[i].off, b = a + s->spans[i].len;
        if (a < from) a = from;
        if (b > to) b = to;
        if (a < b)
            sp[ns++] = (jv_span){a - from, b - a};
    }
    if (s->nspans && !sp)
        return JV_UNDEF_V;
    jv r = jv_str(s->s + from, to - from, sp, ns);
    free(sp);
    return r;
}

int jstr_trim(jctx *c, const jnode *n, const jstr *s, int left, int right, jv *out)
{
    if (jwork(c, n, s->len))
        return -1;
    const char *a = s->s, *e = s->s + s->len;
    size_t w;
    while (left && a < e && (w = jws_len(a, e)))
        a += w;
    while (right && e > a && (w = jws_back(a, e)))
        e -= w;
    *out = jstr_sub(s, (size_t)(a - s->s), (size_t)(e - s->s));
    return out->t == JV_STR ? 0 : jlib_oom(c, n);
}

/* ASCII case mapping (non-ASCII letters are left as they are) */
int jstr_casemap(jctx *c, const jnode *n, const jstr *s, int mode, jv *out)
{
    jbuf b = {.max = c->t->lim.max_output};
    if (jlib_put(c, n, &b, s->s, s->len, s->nspans > 0))
        return -1;
    int prev_word = 0;
    for (size_t i = 0; i < b.len; i++) {
        char ch = b.s[i];
        int word = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_';
        int up = mode == 'U' || (mode == 'T' && !prev_word) || (mode == 'C' && i == 0);
        if (mode == 'L' || (mode != 'C' && mode != 'T' && !up))
            up = 0;
        if (up && ch >= 'a' && ch <= 'z')
            b.s[i] = (char)(ch - 32);
        else if (mode == 'L' && ch >= 'A' && ch <= 'Z')
            b.s[i] = (char)(ch + 32);
        prev_word = word;
    }
    return jlib_take(c, n, &b, out);
}

int jstr_starts_ends(jctx *c, const jnode *n, const jstr *s, jv arg, int end, jv *out)
{
    jv one[1] = {arg};
    jv *opts = one;
    size_t no = 1;
    if (arg.t == JV_LIST) {
        opts = arg.u.l->v;
        no = arg.u.l->n;
    } else if (arg.t != JV_STR) {
        return jerr(c, n, "%s() needs a string or a tuple of strings", end ? "endswith" : "startswith");
    }
    int r = 0;
    for (size_t i = 0; i < no; i++) {
        if (opts[i].t != JV_STR)
            return jerr(c, n, "%s() tuple elements must be strings", end ? "endswith" : "startswith");
        const jstr *p = opts[i].u.s;
        if (jwork(c, n, p->len + 1))
            return -1;
        if (p->len <= s->len && memcmp(s->s + (end ? s->len - p->len : 0), p->s, p->len) == 0)
            r = 1;
    }
    *out = jv_bool(r);
    return 0;
}

int jstr_split(jctx *c, const jnode *n, const jstr *s, jv *args, size_t nargs, jv *out)
{
    jv sep = nargs > 0 ? args[0] : JV_NONE_V;
    int64_t maxsplit = -1;
    if (sep.t != JV_STR && sep.t != JV_NONE)
        return jerr(c, n, "split() separator must be a string or none");
    if (nargs > 1) {
        if (args[1].t != JV_INT)
            return jerr(c, n, "split() maxsplit must be an integer");
        maxsplit = args[1].u.i;
    }
    if (sep.t == JV_STR && sep.u.s->len == 0)
        return jerr(c, n, "split(): empty separator");
    jlist *l = jlist_new();
    if (!l)
        return jlib_oom(c, n);
    int taint = s->nspans > 0, rc = 0;
    const char *p = s->s, *e = s->s + s->len;
    size_t w;
    if (sep.t == JV_NONE) {
        while (p < e && (w = jws_len(p, e)))
            p += w;
        while (p < e && rc == 0) {
            const char *q = p;
            if (maxsplit >= 0 && (int64_t)l->n >= maxsplit) {
                q = e;
            } else {
                while (q < e && !jws_len(q, e))
                    q++;
            }
            jv part = jv_str_taint(p, (size_t)(q - p), taint);
            rc = part.t != JV_STR || jlist_push(l, part) ? jlib_oom(c, n) : jwork(c, n, (size_t)(q - p) + 1);
            p = q;
            while (p < e && (w = jws_len(p, e)))
                p += w;
        }
    } else {
        const jstr *sp = sep.u.s;
        for (;;) {
            const char *q = (maxsplit >= 0 && (int64_t)l->n >= maxsplit) ? NULL
                                                                          : memmem(p, (size_t)(e - p), sp->s, sp->len);
            const char *stop = q ? q : e;
            jv part = jv_str_taint(p, (size_t)(stop - p), taint);
            if (part.t != JV_STR || jlist_push(l, part)) {
                rc = jlib_oom(c, n);
                break;
            }
            if ((rc = jwork(c, n, (size_t)(stop - p) + 1)) || !q)
                break;
            p = q + sp->len;
        }
    }
    if (rc) {
        jv_release(jv_list(l));
        return -1;
    }
    *out = jv_list(l);
    return 0;
}

int jstr_replace(jctx *c, const jnode *n, const jstr *s, jv *args, size_t nargs, jdict *kw, jv *out)
{
    if (nargs < 2)
        return jerr(c, n, "replace() needs two arguments");
    if (args[0].t != JV_STR || args[1].t != JV_STR)
        return jerr(c, n, "replace() arguments must be strings");
    jv cnt = nargs > 2 ? args[2] : JV_NONE_V;
    jv *kc = kw ? jdict_get(kw, "count", 5) : NULL;
    if (nargs <= 2 && kc)
        cnt = *kc;
    if (cnt.t != JV_INT && cnt.t != JV_NONE)
        return jerr(c, n, "replace() count must be an integer or none");
    int64_t left = cnt.t == JV_INT && cnt.u.i >= 0 ? cnt.u.i : -1;
    const jstr *old = args[0].u.s, *nw = args[1].u.s;
    int taint = s->nspans > 0 || nw->nspans > 0;
    jbuf b = {.max = c->t->lim.max_output};
    const char *p = s->s, *e = s->s + s->len;
    if (old->len == 0) {
        /* inserts before every code point and at the end */
        for (;;) {
            if (left != 0) {
                if (jlib_put(c, n, &b, nw->s, nw->len, taint))
                    return -1;
                if (left > 0)
                    left--;
            }
            if (p >= e)
                break;
            const char *q = p + 1;
            while (q < e && ((unsigned char)*q & 0xC0) == 0x80)
                q++;
            if (jlib_put(c, n, &b, p, (size_t)(q - p), taint))
                return -1;
            p = q;
        }
        return jlib_take(c, n, &b, out);
    }
    while (p < e) {
        const char *q = left != 0 ? memmem(p, (size_t)(e - p), old->s, old->len) : NULL;
        if (!q)
            break;
        if (jlib_put(c, n, &b, p, (size_t)(q - p), taint) || jlib_put(c, n, &b, nw->s, nw->len, taint))
            return -1;
        p = q + old->len;
        if (left > 0)
            left--;
    }
    if (jlib_put(c, n, &b, p, (size_t)(e - p), taint))
        return -1;
    return jlib_take(c, n, &b, out);
}

int jstr_indent_filter(jctx *c, const jnode *n, const jstr *s, jv *args, size_t nargs, jdict *kw, jv *out)
{
    jv width = nargs > 0 ? args[0] : jlib_kwarg(kw, "width");
    jv first = nargs > 1 ? args[1] : jlib_kwarg(kw, "first"), blank = nargs > 2 ? args[2] : jlib_kwarg(kw, "blank");
    char spaces[64];
    const char *ind = "    ";
    size_t il = 4;
    if (width.t == JV_INT) {
        il = width.u.i < 0 ? 0 : width.u.i > 63 ? 63 : (size_t)width.u.i;
        memset(spaces, ' ', il);
        ind = spaces;
    } else if (width.t == JV_STR) {
        ind = width.u.s->s;
        il = width.u.s->len;
    } else if (width.t != JV_UNDEF) {
        return jerr(c, n, "indent: width must be an integer or a string");
    }
    jbuf b = {.max = c->t->lim.max_output};
    int taint = s->nspans > 0;
    size_t i = 0, line = 0;
    for (;;) {
        const char *nl = memchr(s->s + i, '\n', s->len - i);
        size_t end = nl ? (size_t)(nl - s->s) : s->len;
        int doit = !((line == 0 && !jtruthy(first)) || (end == i && !jtruthy(blank)));
        if ((doit && jlib_put(c, n, &b, ind, il, 0)) || jlib_put(c, n, &b, s->s + i, end - i, taint) ||
            (nl && jlib_put(c, n, &b, "\n", 1, taint))) {
            jbuf_free(&b);
            return -1;
        }
        if (!nl)
            break;
        i = end + 1;
        line++;
    }
    return jlib_take(c, n, &b, out);
}

