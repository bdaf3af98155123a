/* Library of the chat-template renderer: filters, tests, global functions and dict methods,
 * following @huggingface/jinja 0.5.13. Anything derived from message content stays marked as
 * content (see jinja_str.c and jinja_json.c for how each transformation keeps the marks). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chat/jinja_internal.h"

int jlib_oom(jctx *c, const jnode *n) { return jerr(c, n, "out of memory"); }

int jlib_put(jctx *c, const jnode *n, jbuf *b, const char *s, size_t len, int content)
{
    int r = jbuf_put(b, s, len, content);
    if (r == -2)
        return jerr(c, n, "string larger than %zu bytes", c->t->lim.max_output);
    return r ? jlib_oom(c, n) : 0;
}

int jlib_take(jctx *c, const jnode *n, jbuf *b, jv *out)
{
    if (jwork(c, n, b->len)) {
        jbuf_free(b);
        return -1;
    }
    *out = jbuf_take(b);
    return out->t == JV_STR ? 0 : jlib_oom(c, n);
}

/* ---- dicts ---- */
static int dict_list(jctx *c, const jnode *n, jdict *d, int what, jv *out)
{
    jlist *l = jlist_new();
    if (!l)
        return jlib_oom(c, n);
    for (size_t i = 0; i < d->n; i++) {
        jv item;
        if (what == 'k') {
            item = jv_retain(d->k[i]);
        } else if (what == 'v') {
            item = jv_retain(d->v[i]);
        } else {
            jlist *pair = jlist_new();
            if (!pair || jlist_push(pair, jv_retain(d->k[i])) || jlist_push(pair, jv_retain(d->v[i]))) {
                if (pair)
                    jv_release(jv_list(pair));
                jv_release(jv_list(l));
                return jlib_oom(c, n);
            }
            item = jv_list(pair);
        }
        if (jlist_push(l, item)) {
            jv_release(jv_list(l));
            return jlib_oom(c, n);
        }
    }
    *out = jv_list(l);
    return jwork(c, n, d->n);
}

jv jlib_member_builtin(jv obj, const char *name, size_t len)
{
    static const struct { const char *n; int id; } smeth[] = {
        {"upper", JF_S_UPPER}, {"lower", JF_S_LOWER}, {"strip", JF_S_STRIP}, {"title", JF_S_TITLE},
        {"capitalize", JF_S_CAPITALIZE}, {"rstrip", JF_S_RSTRIP}, {"lstrip", JF_S_LSTRIP},
        {"startswith", JF_S_STARTSWITH}, {"endswith", JF_S_ENDSWITH}, {"split", JF_S_SPLIT},
        {"replace", JF_S_REPLACE}};
    static const struct { const char *n; int id; } dmeth[] = {
        {"get", JF_D_GET}, {"items", JF_D_ITEMS}, {"keys", JF_D_KEYS}, {"values", JF_D_VALUES}};
    if (obj.t == JV_STR) {
        if (len == 6 && memcmp(name, "length", 6) == 0) {
            size_t cnt = 0;
            for (size_t i = 0; i < obj.u.s->len; i++)
                cnt += ((unsigned char)obj.u.s->s[i] & 0xC0) != 0x80;
            return jv_int((int64_t)cnt);
        }
        for (size_t i = 0; i < sizeof smeth / sizeof smeth[0]; i++)
            if (strlen(smeth[i].n) == len && memcmp(smeth[i].n, name, len) == 0)
                return jv_func(smeth[i].id, obj);
    } else if (obj.t == JV_LIST) {
        if (len == 6 && memcmp(name, "length", 6) == 0)
            return jv_int((int64_t)obj.u.l->n);
    } else if (obj.t == JV_DICT) {
        for (size_t i = 0; i < sizeof dmeth / sizeof dmeth[0]; i++)
            if (strlen(dmeth[i].n) == len && memcmp(dmeth[i].n, name, len) == 0)
                return jv_func(dmeth[i].id, obj);
    }
    return JV_UNDEF_V;
}

static int strftime_now(jctx *c, const jnode *n, jv *args, size_t nargs, jv *out)
{
    static const char *const mon[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    static const char *const month[] = {"January", "February", "March", "April", "May", "June", "July",
                                        "August", "September", "October", "November", "December"};
    if (nargs < 1 || args[0].t != JV_STR)
        return jerr(c, n, "strftime_now() needs a format string");
    time_t t = (time_t)c->in->now;
    struct tm tm;
    if (!gmtime_r(&t, &tm))
        return jerr(c, n, "strftime_now(): time out of range");
    const jstr *f = args[0].u.s;
    jbuf b = {.max = c->t->lim.max_output};
    for (size_t i = 0; i < f->len; i++) {
        char tmp[16];
        const char *rep = NULL;
        if (f->s[i] == '%' && i + 1 < f->len) {
            switch (f->s[i + 1]) {
            case 'Y': snprintf(tmp, sizeof tmp, "%d", tm.tm_year + 1900); rep = tmp; break;
            case 'm': snprintf(tmp, sizeof tmp, "%02d", tm.tm_mon + 1); rep = tmp; break;
            case 'd': snprintf(tmp, sizeof tmp, "%02d", tm.tm_mday); rep = tmp; break;
            case 'H': snprintf(tmp, sizeof tmp, "%02d", tm.tm_hour); rep = tmp; break;
            case 'M': snprintf(tmp, sizeof tmp, "%02d", tm.tm_min); rep = tmp; break;
            case 'b': rep = mon[tm.tm_mon]; break;
            case 'B': rep = month[tm.tm_mon]; break;
            case '%': rep = "%"; break;
            default: break;
            }
        }
        if (rep) {
            if (jlib_put(c, n, &b, rep, strlen(rep), f->nspans > 0))
                return -1;
            i++;
        } else if (jlib_put(c, n, &b, f->s + i, 1, f->nspans > 0)) {
            return -1;
        }
    }
    return jlib_take(c, n, &b, out);
}

static int namespace_fn(jctx *c, const jnode *n, jv *args, size_t nargs, jdict *kw, jv *out)
{
    if (nargs > 1)
        return jerr(c, n, "namespace() takes at most one positional argument");
    jdict *d = jdict_new();
    if (!d)
        return jlib_oom(c, n);
    int rc = 0;
    if (nargs == 1) {
        if (args[0].t != JV_DICT)
            rc = jerr(c, n, "namespace() argument must be a dict");
        for (size_t i = 0; rc == 0 && i < args[0].u.d->n; i++)
            if (jdict_set(d, jv_retain(args[0].u.d->k[i]), jv_retain(args[0].u.d->v[i])))
                rc = jlib_oom(c, n);
    }
    for (size_t i = 0; rc == 0 && kw && i < kw->n; i++) {
        if (kw->v[i].t == JV_NS)
            rc = jerr(c, n, "a namespace cannot hold a namespace");
        else if (jdict_set(d, jv_retain(kw->k[i]), jv_retain(kw->v[i])))
            rc = jlib_oom(c, n);
    }
    if (rc) {
        jv_release(jv_dict(d, JV_NS));
        return -1;
    }
    *out = jv_dict(d, JV_NS);
    return 0;
}

static int range_fn(jctx *c, const jnode *n, jv *args, size_t nargs, jv *out)
{
    int64_t a = 0, b, st = 1;
    if (nargs < 1 || nargs > 3)
        return jerr(c, n, "range() takes 1 to 3 arguments");
    for (size_t i = 0; i < nargs; i++)
        if (args[i].t != JV_INT)
            return jerr(c, n, "range() arguments must be integers");
    if (nargs == 1) {
        b = args[0].u.i;
    } else {
        a = args[0].u.i;
        b = args[1].u.i;
        if (nargs == 3)
            st = args[2].u.i;
    }
    if (st == 0)
        return jerr(c, n, "range() step must not be zero");
    double count = st > 0 ? ((double)b - (double)a) / (double)st : ((double)a - (double)b) / (double)-st;
    if (count > (double)c->t->lim.max_iterations)
        return jerr(c, n, "range() longer than %llu", (unsigned long long)c->t->lim.max_iterations);
    jlist *l = jlist_new();
    if (!l)
        return jlib_oom(c, n);
    for (int64_t i = a; st > 0 ? i < b : i > b; i += st) {
        if (jwork(c, n, 1) || jlist_push(l, jv_int(i))) {
            jv_release(jv_list(l));
            return c->err->code ? -1 : jlib_oom(c, n);
        }
    }
    *out = jv_list(l);
    return 0;
}

int jlib_call(jctx *c, const jnode *n, jfunc *f, jv *args, size_t nargs, jdict *kw, jv *out)
{
    jv self = f->self;
    *out = JV_UNDEF_V;
    switch (f->id) {
    case JF_RAISE: {
        const char *msg = "(no message)";
        if (nargs > 0 && args[0].t == JV_STR)
            msg = args[0].u.s->nspans ? "(message withheld: it contains conversation content)" : args[0].u.s->s;
        if (c->err->code)
            return -1;
        tl_errf(c->err, TL_EPOLICY, "%s:%d:%d: template refused the conversation: %.300s", c->t->name, n->line,
                n->col, msg);
        return -1;
    }
    case JF_RANGE: return range_fn(c, n, args, nargs, out);
    case JF_NAMESPACE: return namespace_fn(c, n, args, nargs, kw, out);
    case JF_STRFTIME: return strftime_now(c, n, args, nargs, out);
    case JF_S_UPPER: return jstr_casemap(c, n, self.u.s, 'U', out);
    case JF_S_LOWER: return jstr_casemap(c, n, self.u.s, 'L', out);
    case JF_S_TITLE: return jstr_casemap(c, n, self.u.s, 'T', out);
    case JF_S_CAPITALIZE: return jstr_casemap(c, n, self.u.s, 'C', out);
    case JF_S_STRIP: return jstr_trim(c, n, self.u.s, 1, 1, out);
    case JF_S_LSTRIP: return jstr_trim(c, n, self.u.s, 1, 0, out);
    case JF_S_RSTRIP: return jstr_trim(c, n, self.u.s, 0, 1, out);
    case JF_S_STARTSWITH: case JF_S_ENDSWITH:
        if (nargs < 1)
            return jerr(c, n, "startswith()/endswith() need an argument");
        return jstr_starts_ends(c, n, self.u.s, args[0], f->id == JF_S_ENDSWITH, out);
    case JF_S_SPLIT: return jstr_split(c, n, self.u.s, args, nargs, out);
    case JF_S_REPLACE: return jstr_replace(c, n, self.u.s, args, nargs, kw, out);
    case JF_D_GET: {
        if (nargs < 1 || args[0].t != JV_STR)
            return jerr(c, n, "get() key must be a string");
        jv *v = jdict_get(self.u.d, args[0].u.s->s, args[0].u.s->len);
        *out = v ? jv_retain(*v) : nargs > 1 ? jv_retain(args[1]) : JV_NONE_V;
        return 0;
    }
    case JF_D_ITEMS: return dict_list(c, n, self.u.d, 'i', out);
    case JF_D_KEYS: return dict_list(c, n, self.u.d, 'k', out);
    case JF_D_VALUES: return dict_list(c, n, self.u.d, 'v', out);
    default: return jerr(c, n, "unknown function");
    }
}

/* ---- tests ---- */
int jlib_test(jctx *c, const jnode *n, jv v, const char *name, int *out)
{
    int r;
    if (!strcmp(name, "defined")) r = v.t != JV_UNDEF;
    else if (!strcmp(name, "undefined")) r = v.t == JV_UNDEF;
    else if (!strcmp(name, "none")) r = v.t == JV_NONE;
    else if (!strcmp(name, "string")) r = v.t == JV_STR;
    else if (!strcmp(name, "boolean")) r = v.t == JV_BOOL;
    else if (!strcmp(name, "true")) r = v.t == JV_BOOL && v.u.b;
    else if (!strcmp(name, "false")) r = v.t == JV_BOOL && !v.u.b;
    else if (!strcmp(name, "number")) r = v.t == JV_INT || v.t == JV_FLOAT;
    else if (!strcmp(name, "integer")) r = v.t == JV_INT;
    else if (!strcmp(name, "iterable")) r = v.t == JV_LIST || v.t == JV_STR;
    else if (!strcmp(name, "mapping")) r = v.t == JV_DICT;
    else if (!strcmp(name, "sequence")) r = v.t == JV_LIST || v.t == JV_DICT || v.t == JV_STR;
    else if (!strcmp(name, "callable")) r = v.t == JV_FUNC;
    else if (!strcmp(name, "odd") || !strcmp(name, "even")) {
        if (v.t != JV_INT)
            return jerr(c, n, "test '%s' needs an integer, not a %s", name, jv_type_name(v.t));
        r = (v.u.i % 2 != 0) == (name[0] == 'o');
    } else if (!strcmp(name, "lower") || !strcmp(name, "upper")) {
        r = 0;
        if (v.t == JV_STR) {
            r = 1;
            for (size_t i = 0; i < v.u.s->len; i++) {
                char ch = v.u.s->s[i];
                if (name[0] == 'l' ? (ch >= 'A' && ch <= 'Z') : (ch >= 'a' && ch <= 'z'))
                    r = 0;
            }
        }
    } else {
        return jerr(c, n, "unknown test '%s'", name);
    }
    *out = r;
    return 0;
}

/* selectattr/rejectattr test with an argument (equalto/eq) or none */
static int attr_test(jctx *c, const jnode *n, jv a, jv test, jv arg, int *r)
{
    if (test.t == JV_UNDEF) {
        *r = jtruthy(a);
        return 0;
    }
    const char *name = test.u.s->s;
    if (!strcmp(name, "equalto") || !strcmp(name, "eq")) {
        if (a.t == JV_STR && arg.t == JV_STR)
            *r = a.u.s->len == arg.u.s->len && memcmp(a.u.s->s, arg.u.s->s, a.u.s->len) == 0;
        else if ((a.t == JV_INT || a.t == JV_FLOAT) && (arg.t == JV_INT || arg.t == JV_FLOAT))
            *r = (a.t == JV_INT ? (double)a.u.i : a.u.f) == (arg.t == JV_INT ? (double)arg.u.i : arg.u.f);
        else if (a.t == JV_BOOL && arg.t == JV_BOOL)
            *r = a.u.b == arg.u.b;
        else
            *r = a.t == arg.t && (a.t == JV_NONE || a.t == JV_UNDEF ||
                                  (a.t == JV_LIST && a.u.l == arg.u.l) || (a.t == JV_DICT && a.u.d == arg.u.d));
        return 0;
    }
    return jlib_test(c, n, a, name, r);
}

jv jlib_kwarg(jdict *kw, const char *k)
{
    jv *v = kw ? jdict_get(kw, k, strlen(k)) : NULL;
    return v ? *v : JV_UNDEF_V;
}

static int filter_tojson(jctx *c, const jnode *n, jv v, jdict *kw, jv *out)
{
    jv indent = jlib_kwarg(kw, "indent"), ascii = jlib_kwarg(kw, "ensure_ascii"), seps = jlib_kwarg(kw, "separators");
    if (indent.t != JV_UNDEF && indent.t != JV_NONE && indent.t != JV_INT)
        return jerr(c, n, "tojson: indent must be an integer");
    if (ascii.t != JV_UNDEF && ascii.t != JV_BOOL)
        return jerr(c, n, "tojson: ensure_ascii must be a boolean");
    if (jlib_kwarg(kw, "sort_keys").t == JV_BOOL && jlib_kwarg(kw, "sort_keys").u.b)
        return jerr(c, n, "tojson: sort_keys is not supported");
    int ind = indent.t == JV_INT ? (int)(indent.u.i < 0 ? 0 : indent.u.i > 16 ? 16 : indent.u.i) : 0;
    const char *isep = ind ? "," : ", ", *ksep = ": ";
    if (seps.t == JV_LIST) {
        if (seps.u.l->n != 2 || seps.u.l->v[0].t != JV_STR || seps.u.l->v[1].t != JV_STR)
            return jerr(c, n, "tojson: separators must be two strings");
        isep = seps.u.l->v[0].u.s->s;
        ksep = seps.u.l->v[1].u.s->s;
    } else if (seps.t != JV_UNDEF && seps.t != JV_NONE) {
        return jerr(c, n, "tojson: separators must be two strings");
    }
    return jlib_tojson_value(c, n, v, ind, ascii.t == JV_BOOL && ascii.u.b, isep, ksep, 1, out);
}

static int join(jctx *c, const jnode *n, jv v, jv sep, jv *out)
{
    if (sep.t != JV_UNDEF && sep.t != JV_STR)
        return jerr(c, n, "join: separator must be a string");
    jbuf b = {.max = c->t->lim.max_output};
    if (v.t == JV_STR) {
        const jstr *s = v.u.s;
        for (size_t i = 0; i < s->len;) {
            size_t j = i + 1;
            while (j < s->len && ((unsigned char)s->s[j] & 0xC0) == 0x80)
                j++;
            if ((i && sep.t == JV_STR && jlib_put(c, n, &b, sep.u.s->s, sep.u.s->len, sep.u.s->nspans > 0)) ||
                jlib_put(c, n, &b, s->s + i, j - i, s->nspans > 0))
                goto fail;
            i = j;
        }
        return jlib_take(c, n, &b, out);
    }
    for (size_t i = 0; i < v.u.l->n; i++) {
        jv e = v.u.l->v[i], str;
        if (i && sep.t == JV_STR) {
            int r = jbuf_put_str(&b, sep.u.s);
            if (r) {
                jerr(c, n, r == -2 ? "string too large" : "out of memory");
                goto fail;
            }
        }
        if (e.t == JV_NONE || e.t == JV_UNDEF)
            continue;   /* JavaScript's Array#join prints null/undefined as "" */
        if (e.t != JV_STR && e.t != JV_INT && e.t != JV_FLOAT && e.t != JV_BOOL) {
            jerr(c, n, "join: cannot join a %s", jv_type_name(e.t));
            goto fail;
        }
        if (jlib_to_str(c, n, e, 1, &str))
            goto fail;
        int r = jbuf_put_str(&b, str.u.s);
        jv_release(str);
        if (r) {
            jerr(c, n, r == -2 ? "string too large" : "out of memory");
            goto fail;
        }
    }
    return jlib_take(c, n, &b, out);
fail:
    jbuf_free(&b);
    return -1;
}

/* selectattr, rejectattr and map read attributes: every item must be a dict (or a namespace). */
/* A new list for the results of a filter over v, whose items must all be dicts (else msg); NULL
 * with the error reported. */
static jlist *dicts_result(jctx *c, const jnode *n, jv v, const char *msg)
{
    for (size_t i = 0; i < v.u.l->n; i++)
        if (v.u.l->v[i].t != JV_DICT && v.u.l->v[i].t != JV_NS) {
            jerr(c, n, "%s", msg);
            return NULL;
        }
    jlist *l = jlist_new();
    if (!l)
        jlib_oom(c, n);
    return l;
}

/* item's attribute name (a string value), or NULL */
static jv *attr_of(jv item, jv name) { return jdict_get(item.u.d, name.u.s->s, name.u.s->len); }

/* The filter's result l, or its failure rc (reported; l released); work is what it cost. */
static int list_result(jctx *c, const jnode *n, jlist *l, int rc, size_t work, jv *out)
{
    if (rc) {
        jv_release(jv_list(l));
        return -1;
    }
    *out = jv_list(l);
    return jwork(c, n, work);
}

static int sel_attr(jctx *c, const jnode *n, jv v, jv *args, size_t nargs, int select, jv *out)
{
    if (nargs < 1 || args[0].t != JV_STR)
        return jerr(c, n, "selectattr/rejectattr need an attribute name");
    for (size_t i = 0; i < nargs; i++)
        if (n->kids[i]->k != E_STR)
            return jerr(c, n, "arguments of selectattr/rejectattr must be string literals");
    jv test = nargs > 1 ? args[1] : JV_UNDEF_V, arg = nargs > 2 ? args[2] : JV_UNDEF_V;
    jlist *l = dicts_result(c, n, v, "selectattr/rejectattr apply to a list of dicts");
    if (!l)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < v.u.l->n && !rc; i++) {
        jv it = v.u.l->v[i], *a = attr_of(it, args[0]);
        int r = 0;
        if (a && attr_test(c, n, *a, test, arg, &r))
            rc = -1;
        else if (r == select && jlist_push(l, jv_retain(it)))
            rc = jlib_oom(c, n);
    }
    return list_result(c, n, l, rc, v.u.l->n, out);
}

static int map_attr(jctx *c, const jnode *n, jv v, jdict *kw, jv *out)
{
    jv attr = jlib_kwarg(kw, "attribute"), def = jlib_kwarg(kw, "default");
    if (attr.t != JV_STR)
        return jerr(c, n, "map: only map(attribute='name') is supported");
    jlist *l = dicts_result(c, n, v, "map: items must be dicts");
    if (!l)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < v.u.l->n && !rc; i++) {
        jv *a = attr_of(v.u.l->v[i], attr);
        if (jlist_push(l, a ? jv_retain(*a) : jv_retain(def)))
            rc = jlib_oom(c, n);
    }
    return list_result(c, n, l, rc, v.u.l->n, out);
}

int jlib_filter(jctx *c, const jnode *n, jv v, jv *args, size_t nargs, jdict *kw, int called, jv *out)
{
    const char *f = n->s;
    *out = JV_UNDEF_V;
    if (!strcmp(f, "safe"))
        return *out = jv_retain(v), 0;
    if (!strcmp(f, "tojson"))
        return filter_tojson(c, n, v, called ? kw : NULL, out);
    if (!strcmp(f, "default") && called) {
        jv def = nargs > 0 ? args[0] : JV_UNDEF_V, boolean = nargs > 1 ? args[1] : jlib_kwarg(kw, "boolean");
        if (boolean.t != JV_UNDEF && boolean.t != JV_BOOL)
            return jerr(c, n, "default: the boolean flag must be a boolean");
        if (v.t == JV_UNDEF || (boolean.t == JV_BOOL && boolean.u.b && !jtruthy(v))) {
            if (def.t == JV_UNDEF && nargs == 0) {
                *out = jv_str("", 0, NULL, 0);
                return out->t == JV_STR ? 0 : jlib_oom(c, n);
            }
            *out = jv_retain(def);
        } else {
            *out = jv_retain(v);
        }
        return 0;
    }
    if ((!strcmp(f, "int") || !strcmp(f, "float"))) {
        int isint = f[0] == 'i';
        jv def = called && nargs > 0 ? args[0] : called ? jlib_kwarg(kw, "default") : JV_UNDEF_V;
        if (v.t == JV_STR) {
            char *end;
            const char *p = v.u.s->s;
            size_t w;
            while ((w = jws_len(p, v.u.s->s + v.u.s->len)))
                p += w;
            if (isint) {
                long long x = strtoll(p, &end, 10);
                if (end == p)
                    *out = def.t != JV_UNDEF ? jv_retain(def) : jv_int(0);
                else
                    *out = jv_int(x);
            } else {
                double x = strtod(p, &end);
                if (end == p)
                    *out = def.t != JV_UNDEF ? jv_retain(def) : jv_float(0);
                else
                    *out = jv_float(x);
            }
            return 0;
        }
        if (v.t == JV_INT || v.t == JV_FLOAT || v.t == JV_BOOL) {
            double x = v.t == JV_INT ? (double)v.u.i : v.t == JV_FLOAT ? v.u.f : v.u.b;
            if (isint && v.t == JV_FLOAT && !(fabs(x) < 9.2e18))
                return jerr(c, n, "int: value out of range");
            *out = isint ? (v.t == JV_INT ? v : jv_int((int64_t)trunc(x))) : jv_float(x);
            return 0;
        }
        return jerr(c, n, "cannot apply filter '%s' to a %s", f, jv_type_name(v.t));
    }
    if (!strcmp(f, "join") && (called || v.t == JV_LIST)) {
        if (v.t != JV_LIST && v.t != JV_STR)
            return jerr(c, n, "cannot apply filter 'join' to a %s", jv_type_name(v.t));
        return join(c, n, v, called && nargs > 0 ? args[0] : jlib_kwarg(kw, "separator"), out);
    }
    if (v.t == JV_LIST) {
        jlist *l = v.u.l;
        if (!called) {
            if (!strcmp(f, "list")) return *out = jv_retain(v), 0;
            if (!strcmp(f, "first")) return *out = l->n ? jv_retain(l->v[0]) : JV_UNDEF_V, 0;
            if (!strcmp(f, "last")) return *out = l->n ? jv_retain(l->v[l->n - 1]) : JV_UNDEF_V, 0;
            if (!strcmp(f, "length")) return *out = jv_int((int64_t)l->n), 0;
            if (!strcmp(f, "string")) return jlib_tojson_value(c, n, v, 0, 0, ", ", ": ", 0, out);
            if (!strcmp(f, "reverse")) {
                jlist *r = jlist_new();
                for (size_t i = 0; r && i < l->n; i++)
                    if (jlist_push(r, jv_retain(l->v[l->n - 1 - i]))) {
                        jv_release(jv_list(r));
                        r = NULL;
                    }
                if (!r)
                    return jlib_oom(c, n);
                *out = jv_list(r);
                return jwork(c, n, l->n);
            }
        } else {
            if (!strcmp(f, "selectattr") || !strcmp(f, "rejectattr"))
                return sel_attr(c, n, v, args, nargs, f[0] == 's', out);
            if (!strcmp(f, "map"))
                return map_attr(c, n, v, kw, out);
        }
        return jerr(c, n, "unsupported list filter '%s'", f);
    }
    if (v.t == JV_STR) {
        const jstr *s = v.u.s;
        if (!called) {
            if (!strcmp(f, "length"))
                return *out = jlib_member_builtin(v, "length", 6), jwork(c, n, s->len);
            if (!strcmp(f, "upper")) return jstr_casemap(c, n, s, 'U', out);
            if (!strcmp(f, "lower")) return jstr_casemap(c, n, s, 'L', out);
            if (!strcmp(f, "title")) return jstr_casemap(c, n, s, 'T', out);
            if (!strcmp(f, "capitalize")) return jstr_casemap(c, n, s, 'C', out);
            if (!strcmp(f, "trim")) return jstr_trim(c, n, s, 1, 1, out);
            if (!strcmp(f, "string")) return *out = jv_retain(v), 0;
            if (!strcmp(f, "indent")) return jstr_indent_filter(c, n, s, NULL, 0, NULL, out);
        } else {
            if (!strcmp(f, "indent")) return jstr_indent_filter(c, n, s, args, nargs, kw, out);
            if (!strcmp(f, "replace")) return jstr_replace(c, n, s, args, nargs, kw, out);
        }
        return jerr(c, n, "unsupported string filter '%s'", f);
    }
    if (v.t == JV_INT || v.t == JV_FLOAT || v.t == JV_BOOL) {
        if (!called && !strcmp(f, "string")) {
            if (v.t == JV_BOOL)
                return jlib_to_str(c, n, v, 1, out);
            return jlib_to_str(c, n, v, 0, out);
        }
        if (!called && !strcmp(f, "abs") && v.t != JV_BOOL) {
            if (v.t == JV_INT && v.u.i == INT64_MIN)
                return jerr(c, n, "integer overflow");
            *out = v.t == JV_INT ? jv_int(v.u.i < 0 ? -v.u.i : v.u.i) : jv_float(fabs(v.u.f));
            return 0;
        }
        if (!called && !strcmp(f, "bool") && v.t == JV_BOOL)
            return *out = v, 0;
        return jerr(c, n, "unsupported filter '%s' on a %s", f, jv_type_name(v.t));
    }
    if (v.t == JV_DICT) {
        if (!called && !strcmp(f, "items")) return dict_list(c, n, v.u.d, 'i', out);
        if (!called && !strcmp(f, "length")) return *out = jv_int((int64_t)v.u.d->n), 0;
        jv m = jlib_member_builtin(v, f, strlen(f));
        if (m.t == JV_FUNC) {
            int rc = jlib_call(c, n, m.u.fn, args, nargs, kw, out);
            jv_release(m);
            return rc;
        }
        return jerr(c, n, "unsupported dict filter '%s'", f);
    }
    return jerr(c, n, "cannot apply filter '%s' to a %s", f, jv_type_name(v.t));
}
