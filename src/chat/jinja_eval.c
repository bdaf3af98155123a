/* Evaluator of the chat-template renderer: statements into an output builder that remembers which
 * bytes came from message content, expressions into values, with @huggingface/jinja's semantics
 * (undefined prints as nothing, attributes of undefined are undefined, `set` is scoped to the
 * enclosing for loop, break/continue drop the current iteration's output). Bounded by the limits
 * of the template: iterations, work, nesting, string sizes. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat/jinja_internal.h"

int jerr(jctx *c, const jnode *n, const char *fmt, ...)
{
    if (c->err->code)
        return -1;   /* the innermost error stays */
    char m[320];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m, sizeof m, fmt, ap);
    va_end(ap);
    tl_errf(c->err, TL_EINVAL, "%s:%d:%d: %s", c->t->name, n ? n->line : 0, n ? n->col : 0, m);
    return -1;
}

int jwork(jctx *c, const jnode *n, uint64_t units)
{
    c->work += units;
    if (c->work > c->t->lim.max_work)
        return jerr(c, n, "rendering exceeds the work limit (%llu)", (unsigned long long)c->t->lim.max_work);
    return 0;
}

int jtruthy(jv v)
{
    switch (v.t) {
    case JV_BOOL: return v.u.b;
    case JV_INT: return v.u.i != 0;
    case JV_FLOAT: return v.u.f != 0 && !isnan(v.u.f);
    case JV_STR: return v.u.s->len > 0;
    case JV_LIST: return v.u.l->n > 0;
    case JV_DICT: return v.u.d->n > 0;
    case JV_NS: case JV_FUNC: return 1;
    default: return 0;
    }
}

static jv *lookup(jscope *s, const char *name, size_t len)
{
    for (; s; s = s->parent) {
        jv *v = jdict_get(s->vars, name, len);
        if (v)
            return v;
    }
    return NULL;
}

static int scope_set(jctx *c, const jnode *n, jscope *s, const char *name, size_t len, jv v)
{
    jv k = jv_str(name, len, NULL, 0);
    if (k.t != JV_STR) {
        jv_release(v);
        return jerr(c, n, "out of memory");
    }
    return jdict_set(s->vars, k, v) ? jerr(c, n, "out of memory") : 0;
}

static int put(jctx *c, const jnode *n, int r)
{
    if (r == -2)
        return jerr(c, n, "output larger than %zu bytes", c->t->lim.max_output);
    if (r)
        return jerr(c, n, "out of memory");
    return 0;
}

static int eval(jctx *c, jscope *s, const jnode *n, jv *out);

/* evaluates call arguments: positional values and a kwargs dict (NULL when none) */
static int eval_args(jctx *c, jscope *s, const jnode *n, jv **args, size_t *nargs, jdict **kw)
{
    *args = NULL;
    *nargs = 0;
    *kw = NULL;
    if (!n->nkids)
        return 0;
    *args = calloc(n->nkids, sizeof **args);
    if (!*args)
        return jerr(c, n, "out of memory");
    for (size_t i = 0; i < n->nkids; i++) {
        const jnode *a = n->kids[i];
        jv v;
        if (eval(c, s, a->k == E_KWARG ? a->a : a, &v))
            return -1;
        if (a->k == E_KWARG) {
            if (!*kw && !(*kw = jdict_new())) {
                jv_release(v);
                return jerr(c, a, "out of memory");
            }
            if (jdict_get(*kw, a->s, a->slen)) {
                jv_release(v);
                return jerr(c, a, "keyword argument '%s' given twice", a->s);
            }
            jv k = jv_str(a->s, a->slen, NULL, 0);
            if (k.t != JV_STR || jdict_set(*kw, k, v))
                return jerr(c, a, "out of memory");
        } else {
            (*args)[(*nargs)++] = v;
        }
    }
    return 0;
}

static void free_args(jv *args, size_t nargs, jdict *kw)
{
    for (size_t i = 0; i < nargs; i++)
        jv_release(args[i]);
    free(args);
    if (kw)
        jv_release(jv_dict(kw, JV_DICT));
}

/* code points of a UTF-8 string (invalid bytes count one each) */
static size_t cp_next(const jstr *s, size_t i)
{
    i++;
    while (i < s->len && ((unsigned char)s->s[i] & 0xC0) == 0x80)
        i++;
    return i;
}

static int str_chars(jctx *c, const jnode *n, const jstr *s, size_t **offs, size_t *nchars)
{
    if (jwork(c, n, s->len))
        return -1;
    size_t cnt = 0;
    for (size_t i = 0; i < s->len; i = cp_next(s, i))
        cnt++;
    *offs = malloc((cnt + 1) * sizeof **offs);
    if (!*offs)
        return jerr(c, n, "out of memory");
    size_t k = 0, i = 0;
    for (; i < s->len; i = cp_next(s, i))
        (*offs)[k++] = i;
    (*offs)[k] = s->len;
    *nchars = cnt;
    return 0;
}

static int slice_idx(int64_t n, int has, int64_t v, int64_t step, int start)
{
    /* @huggingface/jinja's slice(): Python semantics for the bounds */
    if (step > 0) {
        if (!has)
            return (int)(start ? 0 : n);
        return (int)(v < 0 ? (n + v > 0 ? n + v : 0) : (v < n ? v : n));
    }
    if (!has)
        return (int)(start ? n - 1 : -1);
    if (start)
        return (int)(v < 0 ? (n + v > -1 ? n + v : -1) : (v < n - 1 ? v : n - 1));
    return (int)(v < -1 ? (n + v > -1 ? n + v : -1) : (v < n - 1 ? v : n - 1));
}

static int eval_slice(jctx *c, jscope *s, const jnode *n, jv obj, jv *out)
{
    const jnode *sl = n->b;
    jv b[3] = {JV_UNDEF_V, JV_UNDEF_V, JV_UNDEF_V};
    const jnode *parts[3] = {sl->a, sl->b, sl->c};
    if (obj.t != JV_LIST && obj.t != JV_STR)
        return jerr(c, n, "slice of a %s (needs a list or string)", jv_type_name(obj.t));
    for (int i = 0; i < 3; i++) {
        if (parts[i] && eval(c, s, parts[i], &b[i]))
            return -1;
        if (b[i].t != JV_INT && b[i].t != JV_UNDEF) {
            jv_release(b[i]);
            return jerr(c, n, "slice bounds must be integers");
        }
    }
    int64_t step = b[2].t == JV_INT ? b[2].u.i : 1;
    if (step == 0)
        return jerr(c, n, "slice step cannot be zero");
    size_t *offs = NULL, cnt;
    if (obj.t == JV_STR) {
        if (str_chars(c, n, obj.u.s, &offs, &cnt))
            return -1;
    } else {
        cnt = obj.u.l->n;
    }
    int64_t start = slice_idx((int64_t)cnt, b[0].t == JV_INT, b[0].u.i, step, 1);
    int64_t stop = slice_idx((int64_t)cnt, b[1].t == JV_INT, b[1].u.i, step, 0);
    int dir = step > 0 ? 1 : -1;
    if (obj.t == JV_STR && step == 1) {
        *out = start < stop ? jstr_sub(obj.u.s, offs[start], offs[stop]) : jv_str("", 0, NULL, 0);
        free(offs);
        return out->t == JV_STR ? jwork(c, n, out->u.s->len) : jerr(c, n, "out of memory");
    }
    jbuf bb = {.max = c->t->lim.max_output};
    jlist *l = obj.t == JV_LIST ? jlist_new() : NULL;
    int rc = 0;
    if (obj.t == JV_LIST && !l)
        rc = jerr(c, n, "out of memory");
    for (int64_t i = start; rc == 0 && dir * i < dir * stop; i += step) {
        if ((rc = jwork(c, n, 1)))
            break;
        if (l) {
            if (jlist_push(l, jv_retain(obj.u.l->v[i])))
                rc = jerr(c, n, "out of memory");
        } else {
            rc = put(c, n, jbuf_put(&bb, obj.u.s->s + offs[i], offs[i + 1] - offs[i], obj.u.s->nspans > 0));
        }
    }
    free(offs);
    if (rc) {
        if (l)
            jv_release(jv_list(l));
        jbuf_free(&bb);
        return -1;
    }
    /* a reordered string: conservatively all content when any of it was */
    *out = l ? jv_list(l) : jbuf_take(&bb);
    return out->t == JV_UNDEF ? jerr(c, n, "out of memory") : 0;
}

static int eval_member(jctx *c, jscope *s, const jnode *n, jv *out)
{
    jv obj, prop = JV_UNDEF_V;
    if (eval(c, s, n->a, &obj))
        return -1;
    int rc = 0;
    if (n->op && n->b->k == E_SLICE) {
        rc = eval_slice(c, s, n, obj, out);
        jv_release(obj);
        return rc;
    }
    if (n->op) {
        if (eval(c, s, n->b, &prop)) {
            jv_release(obj);
            return -1;
        }
    } else if (n->b->k == E_INT) {
        prop = jv_int(n->b->i);
    } else {
        prop = jv_str(n->b->s, n->b->slen, NULL, 0);
        if (prop.t != JV_STR) {
            jv_release(obj);
            return jerr(c, n, "out of memory");
        }
    }
    *out = JV_UNDEF_V;
    if (obj.t == JV_DICT || obj.t == JV_NS) {
        if (prop.t != JV_STR) {
            rc = jerr(c, n, "cannot index a %s with a %s", jv_type_name(obj.t), jv_type_name(prop.t));
        } else {
            jv *v = jdict_get(obj.u.d, prop.u.s->s, prop.u.s->len);
            if (v)
                *out = jv_retain(*v);
            else if (obj.t == JV_DICT)
                *out = jlib_member_builtin(obj, prop.u.s->s, prop.u.s->len);
        }
    } else if (obj.t == JV_LIST || obj.t == JV_STR) {
        if (prop.t == JV_INT) {
            if (obj.t == JV_LIST) {
                int64_t k = prop.u.i < 0 ? prop.u.i + (int64_t)obj.u.l->n : prop.u.i;
                if (k >= 0 && k < (int64_t)obj.u.l->n)
                    *out = jv_retain(obj.u.l->v[k]);
            } else {
                size_t *offs, cnt;
                if (str_chars(c, n, obj.u.s, &offs, &cnt) == 0) {
                    int64_t k = prop.u.i < 0 ? prop.u.i + (int64_t)cnt : prop.u.i;
                    if (k >= 0 && k < (int64_t)cnt) {
                        *out = jstr_sub(obj.u.s, offs[k], offs[k + 1]);
                        if (out->t != JV_STR)
                            rc = jerr(c, n, "out of memory");
                    }
                    free(offs);
                } else {
                    rc = -1;
                }
            }
        } else if (prop.t == JV_STR) {
            /* `.length` of a string counts its code points */
            rc = jwork(c, n, obj.t == JV_STR ? obj.u.s->len : 1);
            if (rc == 0)
                *out = jlib_member_builtin(obj, prop.u.s->s, prop.u.s->len);
        } else {
            rc = jerr(c, n, "cannot index a %s with a %s", jv_type_name(obj.t), jv_type_name(prop.t));
        }
    } else if (prop.t != JV_STR) {
        rc = jerr(c, n, "cannot index a %s with a %s", jv_type_name(obj.t), jv_type_name(prop.t));
    }
    /* any other type: no attributes, the result is undefined (as in @huggingface/jinja) */
    jv_release(obj);
    jv_release(prop);
    return rc;
}

static int eval_binary(jctx *c, jscope *s, const jnode *n, jv *out)
{
    jv a, b;
    if (eval(c, s, n->a, &a))
        return -1;
    if (n->op == OP_AND || n->op == OP_OR) {
        if (jtruthy(a) == (n->op == OP_OR)) {
            *out = a;
            return 0;
        }
        jv_release(a);
        return eval(c, s, n->b, out);
    }
    if (eval(c, s, n->b, &b)) {
        jv_release(a);
        return -1;
    }
    int rc = jops_binary(c, n, n->op, a, b, out);
    jv_release(a);
    jv_release(b);
    return rc;
}
static int eval_list(jctx *c, jscope *s, const jnode *n, jv *out)
{
    jlist *l = jlist_new();
    if (!l)
        return jerr(c, n, "out of memory");
    for (size_t i = 0; i < n->nkids; i++) {
        jv v;
        if (eval(c, s, n->kids[i], &v)) {
            jv_release(jv_list(l));
            return -1;
        }
        if (v.t == JV_NS) {
            jv_release(v);
            jv_release(jv_list(l));
            return jerr(c, n->kids[i], "a namespace cannot be stored in a list");
        }
        if (jlist_push(l, v)) {
            jv_release(jv_list(l));
            return jerr(c, n, "out of memory");
        }
    }
    if (l->depth > c->t->lim.max_depth) {
        jv_release(jv_list(l));
        return jerr(c, n, "value nesting deeper than %d", c->t->lim.max_depth);
    }
    *out = jv_list(l);
    return 0;
}

static int eval_dict(jctx *c, jscope *s, const jnode *n, jv *out)
{
    jdict *d = jdict_new();
    if (!d)
        return jerr(c, n, "out of memory");
    for (size_t i = 0; i < n->nkids; i++) {
        jv k, v;
        if (eval(c, s, n->kids[i], &k))
            goto fail;
        if (k.t != JV_STR) {
            jv_release(k);
            jerr(c, n->kids[i], "dict keys must be strings");
            goto fail;
        }
        if (eval(c, s, n->kids2[i], &v)) {
            jv_release(k);
            goto fail;
        }
        if (v.t == JV_NS) {
            jv_release(k);
            jv_release(v);
            jerr(c, n->kids2[i], "a namespace cannot be stored in a dict");
            goto fail;
        }
        if (jdict_set(d, k, v)) {
            jerr(c, n, "out of memory");
            goto fail;
        }
    }
    if (d->depth > c->t->lim.max_depth) {
        jerr(c, n, "value nesting deeper than %d", c->t->lim.max_depth);
        goto fail;
    }
    *out = jv_dict(d, JV_DICT);
    return 0;
fail:
    jv_release(jv_dict(d, JV_DICT));
    return -1;
}

static int eval_node(jctx *c, jscope *s, const jnode *n, jv *out);

/* Operator, filter and member chains parse iteratively into deep left-leaning trees, so the
 * evaluation depth is bounded here as well as in the parser. */
static int eval(jctx *c, jscope *s, const jnode *n, jv *out)
{
    *out = JV_UNDEF_V;
    if (c->depth >= c->t->lim.max_depth * 4)
        return jerr(c, n, "expression nesting deeper than %d", c->t->lim.max_depth * 4);
    c->depth++;
    int rc = eval_node(c, s, n, out);
    c->depth--;
    return rc;
}

static int eval_node(jctx *c, jscope *s, const jnode *n, jv *out)
{
    if (jwork(c, n, 1))
        return -1;
    switch (n->k) {
    case E_STR:
        *out = jv_str(n->s, n->slen, NULL, 0);
        return out->t == JV_STR ? 0 : jerr(c, n, "out of memory");
    case E_INT: *out = jv_int(n->i); return 0;
    case E_FLOAT: *out = jv_float(n->f); return 0;
    case E_NAME: {
        jv *v = lookup(s, n->s, n->slen);
        if (v)
            *out = jv_retain(*v);
        return 0;
    }
    case E_LIST: case E_TUPLE: return eval_list(c, s, n, out);
    case E_DICT: return eval_dict(c, s, n, out);
    case E_MEMBER: return eval_member(c, s, n, out);
    case E_CALL: {
        jv fn, *args;
        size_t nargs;
        jdict *kw;
        int rc = eval_args(c, s, n, &args, &nargs, &kw);
        if (rc == 0 && (rc = eval(c, s, n->a, &fn)) == 0) {
            if (fn.t != JV_FUNC)
                rc = jerr(c, n, "cannot call a %s", jv_type_name(fn.t));
            else
                rc = jlib_call(c, n, fn.u.fn, args, nargs, kw, out);
            jv_release(fn);
        }
        free_args(args, nargs, kw);
        return rc;
    }
    case E_FILTER: {
        jv operand, *args = NULL;
        size_t nargs = 0;
        jdict *kw = NULL;
        if (eval(c, s, n->a, &operand))
            return -1;
        int rc = eval_args(c, s, n, &args, &nargs, &kw);
        if (rc == 0)
            rc = jlib_filter(c, n, operand, args, nargs, kw, n->op, out);
        jv_release(operand);
        free_args(args, nargs, kw);
        return rc;
    }
    case E_TEST: {
        jv v;
        int r;
        if (eval(c, s, n->a, &v))
            return -1;
        int rc = jlib_test(c, n, v, n->s, &r);
        jv_release(v);
        if (rc == 0)
            *out = jv_bool(n->op ? !r : r);
        return rc;
    }
    case E_UNARY: {
        jv v;
        if (eval(c, s, n->a, &v))
            return -1;
        int rc = 0;
        if (n->op == OP_NOT) {
            *out = jv_bool(!jtruthy(v));
        } else if (v.t == JV_INT || v.t == JV_BOOL) {
            int64_t i = v.t == JV_BOOL ? v.u.b : v.u.i;
            if (n->op == OP_NEG && i == INT64_MIN)
                rc = jerr(c, n, "integer overflow");
            else
                *out = jv_int(n->op == OP_NEG ? -i : i);
        } else if (v.t == JV_FLOAT) {
            *out = jv_float(n->op == OP_NEG ? -v.u.f : v.u.f);
        } else {
            rc = jerr(c, n, "unary sign on a %s", jv_type_name(v.t));
        }
        jv_release(v);
        return rc;
    }
    case E_BINARY: return eval_binary(c, s, n, out);
    case E_TERNARY: {
        jv cond;
        if (eval(c, s, n->a, &cond))
            return -1;
        int t = jtruthy(cond);
        jv_release(cond);
        return eval(c, s, t ? n->b : n->c, out);
    }
    case E_SELECT: {
        jv cond;
        if (eval(c, s, n->b, &cond))
            return -1;
        int t = jtruthy(cond);
        jv_release(cond);
        return t ? eval(c, s, n->a, out) : 0;
    }
    case E_KWARG: case E_SLICE:
    default:
        return jerr(c, n, "unexpected expression");
    }
}

static int render(jctx *c, jscope *s, jnode *const *body, size_t nbody, jbuf *out);

static int bind(jctx *c, jscope *s, const jnode *target, jv v)
{
    if (target->k == E_NAME)
        return scope_set(c, target, s, target->s, target->slen, jv_retain(v));
    if (v.t != JV_LIST)
        return jerr(c, target, "cannot unpack a %s", jv_type_name(v.t));
    if (v.u.l->n != target->nkids)
        return jerr(c, target, "too %s values to unpack", v.u.l->n < target->nkids ? "few" : "many");
    for (size_t i = 0; i < target->nkids; i++) {
        if (target->kids[i]->k != E_NAME)
            return jerr(c, target->kids[i], "can only unpack into identifiers");
        if (scope_set(c, target, s, target->kids[i]->s, target->kids[i]->slen, jv_retain(v.u.l->v[i])))
            return -1;
    }
    return 0;
}

static int loop_var(jctx *c, const jnode *n, jscope *s, jlist *items, size_t i)
{
    jdict *d = jdict_new();
    if (!d)
        return jerr(c, n, "out of memory");
    size_t len = items->n;
    struct { const char *k; jv v; } f[] = {
        {"index", jv_int((int64_t)i + 1)}, {"index0", jv_int((int64_t)i)},
        {"revindex", jv_int((int64_t)(len - i))}, {"revindex0", jv_int((int64_t)(len - i - 1))},
        {"first", jv_bool(i == 0)}, {"last", jv_bool(i + 1 == len)}, {"length", jv_int((int64_t)len)},
        {"previtem", i > 0 ? jv_retain(items->v[i - 1]) : JV_UNDEF_V},
        {"nextitem", i + 1 < len ? jv_retain(items->v[i + 1]) : JV_UNDEF_V},
    };
    int rc = 0;
    for (size_t k = 0; k < sizeof f / sizeof f[0]; k++) {
        jv key = rc ? JV_UNDEF_V : jv_str(f[k].k, strlen(f[k].k), NULL, 0);
        if (rc || key.t != JV_STR || jdict_set(d, key, f[k].v)) {
            if (!rc && key.t != JV_STR)
                jv_release(f[k].v);
            if (rc)
                jv_release(f[k].v);
            rc = -1;
        }
    }
    if (rc) {
        jv_release(jv_dict(d, JV_DICT));
        return jerr(c, n, "out of memory");
    }
    return scope_set(c, n, s, "loop", 4, jv_dict(d, JV_DICT));
}

static int render_for(jctx *c, jscope *parent, const jnode *n, jbuf *out)
{
    jscope s = {.parent = parent, .vars = jdict_new()};
    if (!s.vars)
        return jerr(c, n, "out of memory");
    jv it = JV_UNDEF_V, keys = JV_UNDEF_V;
    jlist *items = jlist_new();
    int rc = items ? 0 : jerr(c, n, "out of memory");
    if (rc == 0)
        rc = eval(c, &s, n->b, &it);
    if (rc == 0 && it.t == JV_DICT) {
        keys = jlib_member_builtin(it, "keys", 4);
        jv k;
        rc = keys.t == JV_FUNC ? jlib_call(c, n, keys.u.fn, NULL, 0, NULL, &k) : jerr(c, n, "out of memory");
        jv_release(it);
        it = rc == 0 ? k : JV_UNDEF_V;
    }
    if (rc == 0 && it.t != JV_LIST)
        rc = jerr(c, n->b, "cannot iterate over a %s", jv_type_name(it.t));
    for (size_t i = 0; rc == 0 && i < it.u.l->n; i++) {
        jv cur = it.u.l->v[i];
        if (n->a->k == E_TUPLE && (cur.t != JV_LIST || cur.u.l->n != n->a->nkids)) {
            rc = jerr(c, n->a, cur.t != JV_LIST ? "cannot unpack a %s" : "wrong number of values to unpack",
                      jv_type_name(cur.t));
            break;
        }
        if (n->c) {
            jscope ls = {.parent = &s, .vars = jdict_new()};
            jv t = JV_UNDEF_V;
            rc = ls.vars ? bind(c, &ls, n->a, cur) : jerr(c, n, "out of memory");
            if (rc == 0)
                rc = eval(c, &ls, n->c, &t);
            int keep = rc == 0 && jtruthy(t);
            jv_release(t);
            if (ls.vars)
                jv_release(jv_dict(ls.vars, JV_DICT));
            if (!keep)
                continue;
        }
        if (jlist_push(items, jv_retain(cur)))
            rc = jerr(c, n, "out of memory");
    }
    int ran = 0;
    for (size_t i = 0; rc == 0 && i < items->n; i++) {
        if (++c->iterations > c->t->lim.max_iterations) {
            rc = jerr(c, n, "more than %llu loop iterations", (unsigned long long)c->t->lim.max_iterations);
            break;
        }
        if ((rc = loop_var(c, n, &s, items, i)) || (rc = bind(c, &s, n->a, items->v[i])))
            break;
        size_t mark = out->len, mspans = out->nspans;
        size_t mlast = mspans ? out->spans[mspans - 1].len : 0;
        rc = render(c, &s, n->kids, n->nkids, out);
        if (rc == 1 || rc == 2) {
            /* @huggingface/jinja drops what the interrupted iteration rendered */
            out->len = mark;
            out->nspans = mspans;
            if (mspans)
                out->spans[mspans - 1].len = mlast;
            if (out->s)
                out->s[mark] = 0;
            if (rc == 1) {
                rc = 0;
                break;
            }
            rc = 0;
            continue;
        }
        ran = 1;
    }
    if (rc == 0 && !ran)
        rc = render(c, &s, n->kids2, n->nkids2, out);
    jv_release(it);
    jv_release(keys);
    if (items)
        jv_release(jv_list(items));
    jv_release(jv_dict(s.vars, JV_DICT));
    return rc;
}

static int render_set(jctx *c, jscope *s, const jnode *n)
{
    jv v;
    if (n->b) {
        if (eval(c, s, n->b, &v))
            return -1;
    } else {
        jbuf b = {.max = c->t->lim.max_output};
        int rc = render(c, s, n->kids, n->nkids, &b);
        if (rc) {
            jbuf_free(&b);
            return rc;
        }
        v = jbuf_take(&b);
        if (v.t != JV_STR)
            return jerr(c, n, "out of memory");
    }
    int rc = 0;
    const jnode *t = n->a;
    if (t->k == E_NAME || t->k == E_TUPLE) {
        rc = bind(c, s, t, v);
    } else if (t->k == E_MEMBER && !t->op && t->b->k == E_NAME) {
        jv obj;
        rc = eval(c, s, t->a, &obj);
        if (rc == 0 && obj.t != JV_NS)
            rc = jerr(c, t, "can only assign attributes of a namespace, not of a %s", jv_type_name(obj.t));
        else if (rc == 0 && (v.t == JV_NS || jv_depth(v) + 1 > c->t->lim.max_depth))
            rc = v.t == JV_NS ? jerr(c, t, "a namespace cannot hold a namespace")
                              : jerr(c, t, "value nesting deeper than %d", c->t->lim.max_depth);
        if (rc == 0) {
            jv k = jv_str(t->b->s, t->b->slen, NULL, 0);
            if (k.t != JV_STR || jdict_set(obj.u.d, k, jv_retain(v)))
                rc = jerr(c, t, "out of memory");
        }
        jv_release(obj);
    } else {
        rc = jerr(c, t, "cannot assign to this expression");
    }
    jv_release(v);
    return rc;
}

static int render(jctx *c, jscope *s, jnode *const *body, size_t nbody, jbuf *out)
{
    if (++c->depth > c->t->lim.max_depth * 4) {
        c->depth--;
        return jerr(c, nbody ? body[0] : NULL, "template nesting too deep");
    }
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < nbody; i++) {
        const jnode *n = body[i];
        if ((rc = jwork(c, n, 1)))
            break;
        switch (n->k) {
        case N_TEXT:
            rc = put(c, n, jbuf_put(out, n->s, n->slen, 0));
            if (rc == 0)
                rc = jwork(c, n, n->slen);
            break;
        case N_OUTPUT: {
            jv v, str;
            if ((rc = eval(c, s, n->a, &v)))
                break;
            if (v.t != JV_NONE && v.t != JV_UNDEF) {
                rc = jlib_to_str(c, n->a, v, 0, &str);
                if (rc == 0) {
                    rc = put(c, n, jbuf_put_str(out, str.u.s));
                    if (rc == 0)
                        rc = jwork(c, n, str.u.s->len);
                    jv_release(str);
                }
            }
            jv_release(v);
            break;
        }
        case N_IF: {
            jv t;
            if ((rc = eval(c, s, n->a, &t)))
                break;
            int yes = jtruthy(t);
            jv_release(t);
            rc = yes ? render(c, s, n->kids, n->nkids, out) : render(c, s, n->kids2, n->nkids2, out);
            break;
        }
        case N_FOR: rc = render_for(c, s, n, out); break;
        case N_SET: rc = render_set(c, s, n); break;
        case N_BREAK: rc = 1; break;
        case N_CONTINUE: rc = 2; break;
        default: rc = jerr(c, n, "unexpected statement"); break;
        }
    }
    c->depth--;
    return rc;
}

static int set_str(jctx *c, jscope *s, const char *name, const char *v, size_t len, int content)
{
    jv x = jv_str_taint(v ? v : "", v ? len : 0, content);
    if (x.t != JV_STR)
        return jerr(c, NULL, "out of memory");
    return scope_set(c, NULL, s, name, strlen(name), x);
}

static int valid_role(const char *r)
{
    size_t n = r ? strlen(r) : 0;
    if (n == 0 || n > 32)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((r[i] >= 'a' && r[i] <= 'z') || (r[i] >= 'A' && r[i] <= 'Z') || (r[i] >= '0' && r[i] <= '9') ||
              r[i] == '_' || r[i] == '-'))
            return 0;
    return 1;
}

static int globals(jctx *c, jscope *g, const tl_chat_input *in)
{
    static const struct { const char *n; int v; } bools[] = {
        {"true", 1}, {"false", 0}, {"True", 1}, {"False", 0}};
    for (size_t i = 0; i < 4; i++)
        if (scope_set(c, NULL, g, bools[i].n, strlen(bools[i].n), jv_bool(bools[i].v)))
            return -1;
    if (scope_set(c, NULL, g, "none", 4, JV_NONE_V) || scope_set(c, NULL, g, "None", 4, JV_NONE_V))
        return -1;
    static const struct { const char *n; int id; } fns[] = {
        {"raise_exception", JF_RAISE}, {"range", JF_RANGE}, {"namespace", JF_NAMESPACE},
        {"strftime_now", JF_STRFTIME}};
    for (size_t i = 0; i < 4; i++) {
        jv f = jv_func(fns[i].id, JV_UNDEF_V);
        if (f.t != JV_FUNC || scope_set(c, NULL, g, fns[i].n, strlen(fns[i].n), f))
            return jerr(c, NULL, "out of memory");
    }
    jlist *msgs = jlist_new();
    if (!msgs)
        return jerr(c, NULL, "out of memory");
    for (size_t i = 0; i < in->n_messages; i++) {
        const tl_chat_msg *m = &in->messages[i];
        if (!valid_role(m->role)) {
            jv_release(jv_list(msgs));
            return tl_errf(c->err, TL_EINVAL, "messages[%zu].role: must be 1-32 characters of [A-Za-z0-9_-]", i), -1;
        }
        jdict *d = jdict_new();
        jv k1 = jv_str("role", 4, NULL, 0), v1 = jv_str(m->role, strlen(m->role), NULL, 0);
        jv k2 = jv_str("content", 7, NULL, 0), v2 = jv_str_taint(m->content ? m->content : "", m->content ? m->content_len : 0, 1);
        int bad = !d || k1.t != JV_STR || v1.t != JV_STR || k2.t != JV_STR || v2.t != JV_STR;
        if (bad || jdict_set(d, k1, v1) || jdict_set(d, k2, v2) || jlist_push(msgs, jv_dict(d, JV_DICT))) {
            if (bad) {
                jv_release(k1); jv_release(v1); jv_release(k2); jv_release(v2);
                if (d)
                    jv_release(jv_dict(d, JV_DICT));
            }
            jv_release(jv_list(msgs));
            return jerr(c, NULL, "out of memory");
        }
    }
    if (scope_set(c, NULL, g, "messages", 8, jv_list(msgs)))
        return -1;
    if (set_str(c, g, "bos_token", in->bos_token, in->bos_token ? strlen(in->bos_token) : 0, 0) ||
        set_str(c, g, "eos_token", in->eos_token, in->eos_token ? strlen(in->eos_token) : 0, 0))
        return -1;
    if (scope_set(c, NULL, g, "add_generation_prompt", 21, jv_bool(in->add_generation_prompt)) ||
        scope_set(c, NULL, g, "tools", 5, JV_NONE_V))
        return -1;
    return 0;
}

int jinja_render(const tl_chat_template *t, const tl_chat_input *in, jbuf *out, tl_err *err)
{
    tl_err local = {0};
    if (!err)
        err = &local;
    err->code = 0;
    err->msg[0] = 0;
    jctx c = {.t = t, .in = in, .err = err};
    jscope g = {.vars = jdict_new()};
    if (!g.vars)
        return tl_errf(err, TL_ENOMEM, "%s: out of memory", t->name);
    out->max = t->lim.max_output;
    int rc = globals(&c, &g, in);
    if (rc == 0) {
        rc = render(&c, &g, t->body, t->nbody, out);
        if (rc > 0)
            rc = jerr(&c, NULL, "break or continue outside a loop");
    }
    jv_release(jv_dict(g.vars, JV_DICT));
    if (rc) {
        jbuf_free(out);
        return err->code ? err->code : TL_EINVAL;
    }
    return 0;
}
