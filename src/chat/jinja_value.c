/* Values of the chat-template renderer, the output builder and the parse arena. */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "chat/jinja_internal.h"
#include "util/grow.h"

jv jv_retain(jv v)
{
    switch (v.t) {
    case JV_STR: v.u.s->rc++; break;
    case JV_LIST: v.u.l->rc++; break;
    case JV_DICT: case JV_NS: v.u.d->rc++; break;
    case JV_FUNC: v.u.fn->rc++; break;
    default: break;
    }
    return v;
}

void jv_release(jv v)
{
    switch (v.t) {
    case JV_STR:
        if (--v.u.s->rc == 0) {
            /* strings may hold prompt text */
            OPENSSL_cleanse(v.u.s->s, v.u.s->len);
            free(v.u.s->s);
            free(v.u.s->spans);
            free(v.u.s);
        }
        break;
    case JV_LIST:
        if (--v.u.l->rc == 0) {
            for (size_t i = 0; i < v.u.l->n; i++)
                jv_release(v.u.l->v[i]);
            free(v.u.l->v);
            free(v.u.l);
        }
        break;
    case JV_DICT: case JV_NS:
        if (--v.u.d->rc == 0) {
            for (size_t i = 0; i < v.u.d->n; i++) {
                jv_release(v.u.d->k[i]);
                jv_release(v.u.d->v[i]);
            }
            free(v.u.d->k);
            free(v.u.d->v);
            free(v.u.d);
        }
        break;
    case JV_FUNC:
        if (--v.u.fn->rc == 0) {
            jv_release(v.u.fn->self);
            free(v.u.fn);
        }
        break;
    default: break;
    }
}

jv jv_bool(int b) { return (jv){.t = JV_BOOL, .u.b = b != 0}; }
jv jv_int(int64_t i) { return (jv){.t = JV_INT, .u.i = i}; }
jv jv_float(double f) { return (jv){.t = JV_FLOAT, .u.f = f}; }

jv jv_str(const char *s, size_t len, const jv_span *spans, size_t nspans)
{
    jstr *j = calloc(1, sizeof *j);
    if (!j)
        return JV_UNDEF_V;
    j->s = malloc(len + 1);
    if (!j->s || (nspans && !(j->spans = malloc(nspans * sizeof *spans)))) {
        free(j->s);
        free(j);
        return JV_UNDEF_V;
    }
    if (len)
        memcpy(j->s, s, len);
    j->s[len] = 0;
    j->len = len;
    if (nspans)
        memcpy(j->spans, spans, nspans * sizeof *spans);
    j->nspans = nspans;
    j->rc = 1;
    return (jv){.t = JV_STR, .u.s = j};
}

jv jv_str_taint(const char *s, size_t len, int tainted)
{
    jv_span sp = {0, len};
    return jv_str(s, len, &sp, tainted && len ? 1 : 0);
}

jlist *jlist_new(void)
{
    jlist *l = calloc(1, sizeof *l);
    if (l)
        l->rc = 1;
    return l;
}

int jlist_push(jlist *l, jv v)
{
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 4;
        jv *nv = realloc(l->v, nc * sizeof *nv);
        if (!nv) {
            jv_release(v);
            return -1;
        }
        l->v = nv;
        l->cap = nc;
    }
    int d = jv_depth(v) + 1;
    if (d > l->depth)
        l->depth = d;
    l->v[l->n++] = v;
    return 0;
}

jdict *jdict_new(void)
{
    jdict *d = calloc(1, sizeof *d);
    if (d)
        d->rc = 1;
    return d;
}

jv *jdict_get(const jdict *d, const char *key, size_t len)
{
    for (size_t i = 0; i < d->n; i++)
        if (d->k[i].u.s->len == len && memcmp(d->k[i].u.s->s, key, len) == 0)
            return &d->v[i];
    return NULL;
}

int jdict_set(jdict *d, jv key, jv v)
{
    int dep = jv_depth(v) + 1;
    if (dep > d->depth)
        d->depth = dep;
    jv *old = jdict_get(d, key.u.s->s, key.u.s->len);
    if (old) {
        jv_release(*old);
        *old = v;
        jv_release(key);
        return 0;
    }
    if (d->n == d->cap) {
        size_t nc = d->cap ? d->cap * 2 : 4;
        jv *nk = realloc(d->k, nc * sizeof *nk);
        if (nk)
            d->k = nk;
        jv *nv = nk ? realloc(d->v, nc * sizeof *nv) : NULL;
        if (!nv) {
            jv_release(key);
            jv_release(v);
            return -1;
        }
        d->v = nv;
        d->cap = nc;
    }
    d->k[d->n] = key;
    d->v[d->n++] = v;
    return 0;
}

jv jv_list(jlist *l) { return (jv){.t = JV_LIST, .u.l = l}; }
jv jv_dict(jdict *d, jv_type t) { return (jv){.t = t, .u.d = d}; }

jv jv_func(int id, jv self)
{
    jfunc *f = calloc(1, sizeof *f);
    if (!f)
        return JV_UNDEF_V;
    f->rc = 1;
    f->id = id;
    f->self = jv_retain(self);
    return (jv){.t = JV_FUNC, .u.fn = f};
}

int jv_depth(jv v)
{
    switch (v.t) {
    case JV_LIST: return v.u.l->depth;
    case JV_DICT: case JV_NS: return v.u.d->depth;
    case JV_FUNC: return jv_depth(v.u.fn->self) + 1;
    default: return 0;
    }
}

int jv_tainted(jv v)
{
    switch (v.t) {
    case JV_STR: return v.u.s->nspans > 0;
    case JV_LIST:
        for (size_t i = 0; i < v.u.l->n; i++)
            if (jv_tainted(v.u.l->v[i]))
                return 1;
        return 0;
    case JV_DICT: case JV_NS:
        for (size_t i = 0; i < v.u.d->n; i++)
            if (jv_tainted(v.u.d->k[i]) || jv_tainted(v.u.d->v[i]))
                return 1;
        return 0;
    case JV_FUNC: return jv_tainted(v.u.fn->self);
    default: return 0;
    }
}

const char *jv_type_name(jv_type t)
{
    static const char *const n[] = {"undefined", "none", "boolean", "integer", "float", "string",
                                    "list", "dict", "namespace", "function"};
    return n[t];
}

/* ---- output builder ---- */
static int put_span(jbuf *b, size_t off, size_t len)
{
    if (!len)
        return 0;
    if (b->nspans && b->spans[b->nspans - 1].off + b->spans[b->nspans - 1].len == off) {
        b->spans[b->nspans - 1].len += len;
        return 0;
    }
    if (TL_GROW(b->spans, &b->capspans, b->nspans + 1, 64))
        return -1;
    b->spans[b->nspans++] = (jv_span){off, len};
    return 0;
}

/* Returns -1 on allocation failure, -2 over the size limit. */
int jbuf_put(jbuf *b, const char *s, size_t len, int content)
{
    if (len > b->max - b->len)
        return -2;
    if (TL_GROW_SECRET(b->s, &b->cap, b->len + len + 1, 64)) /* prompt text: no unwiped copy left */
        return -1;
    if (len)
        memcpy(b->s + b->len, s, len);
    if (content && put_span(b, b->len, len))
        return -1;
    b->len += len;
    b->s[b->len] = 0;
    return 0;
}

int jbuf_put_str(jbuf *b, const jstr *s)
{
    size_t base = b->len;
    int r = jbuf_put(b, s->s, s->len, 0);
    if (r)
        return r;
    for (size_t i = 0; i < s->nspans; i++)
        if (put_span(b, base + s->spans[i].off, s->spans[i].len))
            return -1;
    return 0;
}

jv jbuf_take(jbuf *b)
{
    jv v = jv_str(b->s ? b->s : "", b->len, b->spans, b->nspans);
    size_t max = b->max;
    jbuf_free(b);
    b->max = max;
    return v;
}

void jbuf_free(jbuf *b)
{
    if (b->s)
        OPENSSL_cleanse(b->s, b->cap);
    free(b->s);
    free(b->spans);
    size_t max = b->max;
    memset(b, 0, sizeof *b);
    b->max = max;
}

/* ---- arena ---- */
void *jarena_alloc(jarena *a, size_t n)
{
    void *p = tl_arena_alloc(a, n);
    if (!p)
        return NULL;
    memset(p, 0, n);
    return p;
}

char *jarena_strdup(jarena *a, const char *s, size_t n)
{
    char *p = jarena_alloc(a, n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = 0;
    }
    return p;
}
