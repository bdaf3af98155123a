/* Operators of the chat-template renderer, with @huggingface/jinja's semantics: `==` is JavaScript's
 * loose equality (lists and dicts by identity), `in` on lists is strict, `+` on a string concatenates
 * JavaScript's text of the other operand, integers are 64-bit with overflow an error, `%` keeps the
 * dividend's sign. Concatenation keeps the content ranges of both sides. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "chat/jinja_internal.h"

static int put_str(jctx *c, const jnode *n, jbuf *b, const jstr *s)
{
    int r = jbuf_put_str(b, s);
    if (r == -2)
        return jerr(c, n, "string larger than %zu bytes", c->t->lim.max_output);
    return r ? jlib_oom(c, n) : 0;
}

static int num(jv v, double *d)
{
    if (v.t == JV_INT) { *d = (double)v.u.i; return 1; }
    if (v.t == JV_FLOAT) { *d = v.u.f; return 1; }
    if (v.t == JV_BOOL) { *d = v.u.b; return 1; }
    return 0;
}

/* JavaScript's Number(string) for loose equality */
static double js_str_num(const jstr *s)
{
    const char *p = s->s, *e = s->s + s->len;
    size_t w;
    while (p < e && (w = jws_len(p, e))) p += w;
    while (e > p && (w = jws_back(p, e))) e -= w;
    if (p == e)
        return 0;
    char *end;
    double d = strtod(p, &end);
    return end == e && !memchr(p, 'x', (size_t)(e - p)) ? d : NAN;
}

/* `==` is JavaScript's loose equality on the underlying values, as in @huggingface/jinja */
static int loose_eq(jv a, jv b)
{
    int an = a.t == JV_NONE || a.t == JV_UNDEF, bn = b.t == JV_NONE || b.t == JV_UNDEF;
    if (an || bn)
        return an && bn;
    double x, y;
    if (a.t == JV_STR && b.t == JV_STR)
        return a.u.s->len == b.u.s->len && memcmp(a.u.s->s, b.u.s->s, a.u.s->len) == 0;
    if (num(a, &x) && num(b, &y))
        return x == y;
    if (a.t == JV_STR && num(b, &y))
        return js_str_num(a.u.s) == y;
    if (b.t == JV_STR && num(a, &x))
        return js_str_num(b.u.s) == x;
    if (a.t != b.t)
        return 0;
    switch (a.t) {
    case JV_LIST: return a.u.l == b.u.l;
    case JV_DICT: case JV_NS: return a.u.d == b.u.d;
    case JV_FUNC: return a.u.fn == b.u.fn;
    default: return 0;
    }
}

/* `in` on a list uses strict equality */
static int strict_eq(jv a, jv b)
{
    if ((a.t == JV_INT || a.t == JV_FLOAT) && (b.t == JV_INT || b.t == JV_FLOAT)) {
        double x, y;
        num(a, &x);
        num(b, &y);
        return x == y;
    }
    if (a.t != b.t)
        return 0;
    return a.t == JV_NONE || a.t == JV_UNDEF || loose_eq(a, b);
}

static int concat(jctx *c, const jnode *n, jv a, jv b, int undef_empty, jv *out)
{
    jv sa = JV_UNDEF_V, sb = JV_UNDEF_V;
    int rc = -1;
    if (!(undef_empty && a.t == JV_UNDEF) && jlib_to_str(c, n, a, 1, &sa))
        goto out;
    if (!(undef_empty && b.t == JV_UNDEF) && jlib_to_str(c, n, b, 1, &sb))
        goto out;
    jbuf bb = {.max = c->t->lim.max_output};
    if ((sa.t == JV_STR && put_str(c, n, &bb, sa.u.s)) ||
        (sb.t == JV_STR && put_str(c, n, &bb, sb.u.s))) {
        jbuf_free(&bb);
        goto out;
    }
    if (jwork(c, n, bb.len)) {
        jbuf_free(&bb);
        goto out;
    }
    *out = jbuf_take(&bb);
    rc = out->t == JV_STR ? 0 : jerr(c, n, "out of memory");
out:
    jv_release(sa);
    jv_release(sb);
    return rc;
}

static int arith(jctx *c, const jnode *n, int op, jv a, jv b, jv *out)
{
    int isf = a.t == JV_FLOAT || b.t == JV_FLOAT;
    double x, y;
    num(a, &x);
    num(b, &y);
    switch (op) {
    case OP_LT: *out = jv_bool(x < y); return 0;
    case OP_GT: *out = jv_bool(x > y); return 0;
    case OP_LE: *out = jv_bool(x <= y); return 0;
    case OP_GE: *out = jv_bool(x >= y); return 0;
    case OP_DIV:
        if (y == 0)
            return jerr(c, n, "division by zero");
        *out = jv_float(x / y);
        return 0;
    default: break;
    }
    if (!isf) {
        int64_t i = a.u.i, j = b.u.i, r;
        switch (op) {
        case OP_ADD: if (__builtin_add_overflow(i, j, &r)) goto ovf; break;
        case OP_SUB: if (__builtin_sub_overflow(i, j, &r)) goto ovf; break;
        case OP_MUL: if (__builtin_mul_overflow(i, j, &r)) goto ovf; break;
        case OP_FLOORDIV:
        case OP_MOD:
            if (j == 0)
                return jerr(c, n, "division by zero");
            if (i == INT64_MIN && j == -1)
                goto ovf;
            if (op == OP_MOD) {
                r = i % j;   /* JavaScript's remainder: the sign of the dividend */
            } else {
                r = i / j;
                if ((i % j != 0) && ((i < 0) != (j < 0)))
                    r--;
            }
            break;
        default: return jerr(c, n, "bad operator");
        }
        *out = jv_int(r);
        return 0;
    ovf:
        return jerr(c, n, "integer overflow");
    }
    double r;
    switch (op) {
    case OP_ADD: r = x + y; break;
    case OP_SUB: r = x - y; break;
    case OP_MUL: r = x * y; break;
    case OP_FLOORDIV:
        if (y == 0)
            return jerr(c, n, "division by zero");
        r = floor(x / y);
        break;
    case OP_MOD:
        if (y == 0)
            return jerr(c, n, "division by zero");
        r = fmod(x, y);
        break;
    default: return jerr(c, n, "bad operator");
    }
    *out = jv_float(r);
    return 0;
}

static int contains(jctx *c, const jnode *n, jv needle, jv hay, int *res)
{
    if (hay.t == JV_LIST) {
        *res = 0;
        for (size_t i = 0; i < hay.u.l->n && !*res; i++)
            *res = strict_eq(hay.u.l->v[i], needle);
        return jwork(c, n, hay.u.l->n);
    }
    if (needle.t == JV_STR && hay.t == JV_STR) {
        *res = needle.u.s->len == 0 ||
               memmem(hay.u.s->s, hay.u.s->len, needle.u.s->s, needle.u.s->len) != NULL;
        return jwork(c, n, hay.u.s->len);
    }
    if (needle.t == JV_STR && hay.t == JV_DICT) {
        *res = jdict_get(hay.u.d, needle.u.s->s, needle.u.s->len) != NULL;
        return 0;
    }
    return jerr(c, n, "'in' between a %s and a %s", jv_type_name(needle.t), jv_type_name(hay.t));
}

/* a OP b for every operator but and/or; takes neither operand */
int jops_binary(jctx *c, const jnode *n, int op, jv a, jv b, jv *out)
{
    int rc = 0, r = 0;
    int an = a.t == JV_INT || a.t == JV_FLOAT, bn = b.t == JV_INT || b.t == JV_FLOAT;
    if (op == OP_EQ || op == OP_NE) {
        rc = jwork(c, n, (a.t == JV_STR ? a.u.s->len : 0) + (b.t == JV_STR ? b.u.s->len : 0));
        if (rc == 0)
            *out = jv_bool(loose_eq(a, b) == (op == OP_EQ));
    } else if (an && bn && op != OP_CAT && op != OP_POW) {
        rc = op == OP_IN || op == OP_NOTIN ? jerr(c, n, "'in' between numbers") : arith(c, n, op, a, b, out);
    } else if (a.t == JV_UNDEF || b.t == JV_UNDEF) {
        if (b.t == JV_UNDEF && (op == OP_IN || op == OP_NOTIN))
            *out = jv_bool(op == OP_NOTIN);
        else if (op == OP_CAT && a.t != JV_NONE && b.t != JV_NONE)
            rc = concat(c, n, a, b, 1, out);
        else
            rc = jerr(c, n, "operator on an undefined value");
    } else if (a.t == JV_NONE || b.t == JV_NONE) {
        rc = jerr(c, n, "operator on none");
    } else if (op == OP_CAT) {
        rc = concat(c, n, a, b, 0, out);
    } else if (op == OP_POW) {
        double x, y;
        if (!num(a, &x) || !num(b, &y)) {
            rc = jerr(c, n, "'**' needs numbers");
        } else {
            double pw = pow(x, y);
            if ((x == 0 && y < 0) || !isfinite(pw))
                rc = jerr(c, n, "'**' result is not a finite number");
            else if (a.t == JV_FLOAT || b.t == JV_FLOAT || y < 0 || fabs(pw) > 9007199254740992.0)
                *out = jv_float(pw);
            else
                *out = jv_int((int64_t)pw);
        }
    } else if (a.t == JV_LIST && b.t == JV_LIST && op == OP_ADD) {
        jlist *l = jlist_new();
        rc = l ? jwork(c, n, a.u.l->n + b.u.l->n) : jerr(c, n, "out of memory");
        for (size_t i = 0; rc == 0 && i < a.u.l->n + b.u.l->n; i++) {
            jv v = i < a.u.l->n ? a.u.l->v[i] : b.u.l->v[i - a.u.l->n];
            if (jlist_push(l, jv_retain(v)))
                rc = jerr(c, n, "out of memory");
        }
        if (l && rc == 0 && l->depth > c->t->lim.max_depth)
            rc = jerr(c, n, "value nesting deeper than %d", c->t->lim.max_depth);
        if (rc == 0)
            *out = jv_list(l);
        else if (l)
            jv_release(jv_list(l));
    } else if (op == OP_IN || op == OP_NOTIN) {
        rc = contains(c, n, a, b, &r);
        if (rc == 0)
            *out = jv_bool(r == (op == OP_IN));
    } else if ((a.t == JV_STR || b.t == JV_STR) && op == OP_ADD) {
        rc = concat(c, n, a, b, 0, out);
    } else {
        rc = jerr(c, n, "unsupported operator between a %s and a %s", jv_type_name(a.t), jv_type_name(b.t));
    }
    return rc;
}

