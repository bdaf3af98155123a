/* Parser of the chat-template renderer: tokens to an AST, with @huggingface/jinja's grammar and
 * operator precedence (ternary < or < and < not < comparison/in < + - ~ < * / // % < ** < is-test
 * < |filter < unary sign < member/call < primary). Nesting is bounded by max_depth. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat/jinja_internal.h"

typedef struct {
    const jtok *t;
    size_t n, i;
    jarena *a;
    int depth, max_depth;
    const char *name;
    tl_err *err;
} P;

static int perr(P *p, const jtok *at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int perr(P *p, const jtok *at, const char *fmt, ...)
{
    char m[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m, sizeof m, fmt, ap);
    va_end(ap);
    if (p->err && p->err->code)
        return -1;   /* keep the first, innermost error */
    tl_errf(p->err, TL_EINVAL, "%s:%d:%d: %s", p->name, at->line, at->col, m);
    return -1;
}

static const jtok *cur(P *p) { return &p->t[p->i < p->n ? p->i : p->n - 1]; }
static int is(P *p, tok_type t) { return cur(p)->t == t; }
static int is_ident(P *p, size_t off, const char *name)
{
    if (p->i + off >= p->n)
        return 0;
    const jtok *k = &p->t[p->i + off];
    return k->t == T_IDENT && strcmp(k->s, name) == 0;
}
static int is_stmt(P *p, const char *const *names)
{
    if (!is(p, T_OPEN_STMT) || p->i + 1 >= p->n || p->t[p->i + 1].t != T_IDENT)
        return 0;
    for (; *names; names++)
        if (strcmp(p->t[p->i + 1].s, *names) == 0)
            return 1;
    return 0;
}

static int expect(P *p, tok_type t, const char *what)
{
    if (!is(p, t))
        return perr(p, cur(p), "expected %s", what);
    p->i++;
    return 0;
}

static jnode *mk(P *p, node_kind k, const jtok *at)
{
    jnode *n = jarena_alloc(p->a, sizeof *n);
    if (!n) {
        perr(p, at, "template too large");
        return NULL;
    }
    n->k = k;
    n->line = at->line;
    n->col = at->col;
    return n;
}

/* growable node list, copied into the arena when done */
typedef struct { jnode **v; size_t n, cap; } nvec;
static int nv_push(P *p, nvec *v, jnode *x)
{
    if (v->n == v->cap) {
        size_t nc = v->cap ? v->cap * 2 : 8;
        jnode **nn = realloc(v->v, nc * sizeof *nn);
        if (!nn)
            return perr(p, cur(p), "out of memory");
        v->v = nn;
        v->cap = nc;
    }
    v->v[v->n++] = x;
    return 0;
}
static jnode **nv_done(P *p, nvec *v, size_t *n)
{
    *n = v->n;
    jnode **out = NULL;
    if (v->n) {
        out = jarena_alloc(p->a, v->n * sizeof *out);
        if (out)
            memcpy(out, v->v, v->n * sizeof *out);
        else
            perr(p, cur(p), "template too large");
    }
    free(v->v);
    v->v = NULL;
    return out;
}

static jnode *expr(P *p);
static jnode *primary(P *p);
static int block(P *p, const char *const *until, jnode ***out, size_t *nout);

static int enter(P *p)
{
    if (++p->depth > p->max_depth) {
        perr(p, cur(p), "template nesting deeper than %d", p->max_depth);
        return -1;
    }
    return 0;
}

/* arguments of a call: positional then name=value */
static int args(P *p, jnode *call)
{
    nvec v = {0};
    if (expect(p, T_LPAREN, "'('"))
        return -1;
    int kw = 0;
    while (!is(p, T_RPAREN)) {
        if (is(p, T_EOF) || is(p, T_POW) || (is(p, T_MUL) && strcmp(cur(p)->s, "*") == 0)) {
            free(v.v);
            return perr(p, cur(p), is(p, T_EOF) ? "unterminated argument list" : "argument unpacking is not supported");
        }
        const jtok *at = cur(p);
        jnode *a = expr(p);
        if (!a)
            goto fail;
        if (is(p, T_EQUALS)) {
            p->i++;
            if (a->k != E_NAME) {
                perr(p, at, "expected an identifier for a keyword argument");
                goto fail;
            }
            jnode *kv = mk(p, E_KWARG, at);
            if (!kv || !(kv->a = expr(p)))
                goto fail;
            kv->s = a->s;
            kv->slen = a->slen;
            a = kv;
            kw = 1;
        } else if (kw) {
            perr(p, at, "positional arguments must come before keyword arguments");
            goto fail;
        }
        if (nv_push(p, &v, a))
            goto fail;
        if (is(p, T_COMMA))
            p->i++;
    }
    p->i++;
    call->kids = nv_done(p, &v, &call->nkids);
    return call->nkids && !call->kids ? -1 : 0;
fail:
    free(v.v);
    return -1;
}

static jnode *member(P *p, jnode *obj)
{
    while (is(p, T_DOT) || is(p, T_LBRACK)) {
        const jtok *at = cur(p);
        int computed = is(p, T_LBRACK);
        p->i++;
        jnode *m = mk(p, E_MEMBER, at);
        if (!m)
            return NULL;
        m->a = obj;
        m->op = computed;
        if (computed) {
            jnode *parts[3] = {0};
            int np = 0, slice = 0;
            while (!is(p, T_RBRACK)) {
                if (is(p, T_EOF) || np >= 3)
                    return perr(p, cur(p), np >= 3 ? "expected 0-3 arguments for a slice" : "expected ']'"), NULL;
                if (is(p, T_COLON)) {
                    np++;
                    p->i++;
                    slice = 1;
                } else {
                    if (!(parts[np++] = expr(p)))
                        return NULL;
                    if (is(p, T_COLON)) {
                        p->i++;
                        slice = 1;
                    }
                }
            }
            if (np == 0)
                return perr(p, at, "expected an index or a slice"), NULL;
            p->i++;
            if (slice) {
                jnode *s = mk(p, E_SLICE, at);
                if (!s)
                    return NULL;
                s->a = parts[0];
                s->b = parts[1];
                s->c = parts[2];
                m->b = s;
            } else {
                m->b = parts[0];
            }
        } else {
            const jtok *pt = cur(p);
            jnode *prop = primary(p);
            if (!prop)
                return NULL;
            if (prop->k != E_NAME && prop->k != E_INT)
                return perr(p, pt, "expected an identifier or integer after '.'"), NULL;
            m->b = prop;
        }
        obj = m;
    }
    return obj;
}

static jnode *call_chain(P *p, jnode *callee)
{
    while (is(p, T_LPAREN)) {
        jnode *c = mk(p, E_CALL, cur(p));
        if (!c)
            return NULL;
        c->a = callee;
        c->line = callee->line;   /* errors point at the function's name */
        c->col = callee->col;
        if (args(p, c))
            return NULL;
        if (!(callee = member(p, c)))
            return NULL;
    }
    return callee;
}

static jnode *seq(P *p, int prim);

static jnode *primary(P *p)
{
    const jtok *t = cur(p);
    if (enter(p))
        return NULL;
    jnode *n = NULL;
    switch (t->t) {
    case T_NUM: {
        p->i++;
        if (strchr(t->s, '.')) {
            n = mk(p, E_FLOAT, t);
            if (n)
                n->f = strtod(t->s, NULL);
        } else {
            n = mk(p, E_INT, t);
            errno = 0;
            long long v = strtoll(t->s, NULL, 10);
            if (n && (errno == ERANGE || v > (1LL << 53) || v < -(1LL << 53)))
                return perr(p, t, "integer literal out of range"), NULL;
            if (n)
                n->i = v;
        }
        break;
    }
    case T_STR: {
        size_t total = 0, k = p->i;
        while (k < p->n && p->t[k].t == T_STR)
            total += p->t[k++].len;
        n = mk(p, E_STR, t);
        char *s = n ? jarena_alloc(p->a, total + 1) : NULL;
        if (!s)
            return perr(p, t, "template too large"), NULL;
        size_t off = 0;
        while (is(p, T_STR)) {
            memcpy(s + off, cur(p)->s, cur(p)->len);
            off += cur(p)->len;
            p->i++;
        }
        n->s = s;
        n->slen = total;
        break;
    }
    case T_IDENT:
        p->i++;
        n = mk(p, E_NAME, t);
        if (n) {
            n->s = t->s;
            n->slen = t->len;
        }
        break;
    case T_LPAREN:
        p->i++;
        n = seq(p, 0);
        if (n && expect(p, T_RPAREN, "')'"))
            n = NULL;
        break;
    case T_LBRACK: {
        p->i++;
        nvec v = {0};
        while (!is(p, T_RBRACK)) {
            jnode *e = is(p, T_EOF) ? NULL : expr(p);
            if (!e || nv_push(p, &v, e)) {
                if (!e)
                    perr(p, cur(p), "expected ']'");
                free(v.v);
                return NULL;
            }
            if (is(p, T_COMMA))
                p->i++;
        }
        p->i++;
        n = mk(p, E_LIST, t);
        if (!n) {
            free(v.v);
            return NULL;
        }
        n->kids = nv_done(p, &v, &n->nkids);
        break;
    }
    case T_LBRACE: {
        p->i++;
        nvec ks = {0}, vs = {0};
        while (!is(p, T_RBRACE)) {
            jnode *k = is(p, T_EOF) ? NULL : expr(p);
            jnode *v = NULL;
            if (k && expect(p, T_COLON, "':' in a dict literal") == 0)
                v = expr(p);
            if (!k || !v || nv_push(p, &ks, k) || nv_push(p, &vs, v)) {
                if (!k)
                    perr(p, cur(p), "expected '}'");
                free(ks.v);
                free(vs.v);
                return NULL;
            }
            if (is(p, T_COMMA))
                p->i++;
        }
        p->i++;
        n = mk(p, E_DICT, t);
        if (!n) {
            free(ks.v);
            free(vs.v);
            return NULL;
        }
        n->kids = nv_done(p, &ks, &n->nkids);
        n->kids2 = nv_done(p, &vs, &n->nkids2);
        break;
    }
    default:
        perr(p, t, "unexpected token '%s'", t->t == T_EOF ? "end of template" : t->s);
        return NULL;
    }
    p->depth--;
    return n;
}

static jnode *callmember(P *p)
{
    jnode *m = primary(p);
    if (m)
        m = member(p, m);
    if (m && is(p, T_LPAREN))
        m = call_chain(p, m);
    return m;
}

static jnode *unary_sign(P *p)
{
    const jtok *t = cur(p);
    if ((t->t == T_UNARY || t->t == T_ADD) && (strcmp(t->s, "-") == 0 || strcmp(t->s, "+") == 0)) {
        p->i++;
        if (enter(p))
            return NULL;
        jnode *n = mk(p, E_UNARY, t);
        if (!n || !(n->a = unary_sign(p)))
            return NULL;
        n->op = t->s[0] == '-' ? OP_NEG : OP_POS;
        p->depth--;
        return n;
    }
    return callmember(p);
}

static jnode *filter_expr(P *p)
{
    jnode *operand = unary_sign(p);
    while (operand && is(p, T_PIPE)) {
        p->i++;
        const jtok *t = cur(p);
        if (t->t != T_IDENT)
            return perr(p, t, "expected a filter name"), NULL;
        p->i++;
        jnode *f = mk(p, E_FILTER, t);
        if (!f)
            return NULL;
        f->s = t->s;
        f->slen = t->len;
        f->a = operand;
        if (is(p, T_LPAREN)) {
            f->op = 1;
            if (args(p, f))
                return NULL;
        }
        operand = f;
    }
    return operand;
}

static jnode *test_expr(P *p)
{
    jnode *operand = filter_expr(p);
    while (operand && is_ident(p, 0, "is")) {
        p->i++;
        int neg = is_ident(p, 0, "not");
        if (neg)
            p->i++;
        const jtok *t = cur(p);
        if (t->t != T_IDENT)
            return perr(p, t, "expected a test name"), NULL;
        p->i++;
        jnode *n = mk(p, E_TEST, t);
        if (!n)
            return NULL;
        n->a = operand;
        n->s = t->s;
        n->slen = t->len;
        n->op = neg;
        operand = n;
    }
    return operand;
}

static jnode *binary(P *p, jnode *l, const jtok *at, int op, jnode *(*next)(P *))
{
    jnode *n = mk(p, E_BINARY, at);
    if (!n || !(n->b = next(p)))
        return NULL;
    n->a = l;
    n->op = op;
    return n;
}

static jnode *power(P *p)
{
    jnode *l = test_expr(p);
    while (l && is(p, T_POW)) {
        const jtok *at = cur(p);
        p->i++;
        l = binary(p, l, at, OP_POW, test_expr);
    }
    return l;
}

static jnode *mult(P *p)
{
    jnode *l = power(p);
    while (l && is(p, T_MUL)) {
        const jtok *at = cur(p);
        p->i++;
        int op = at->s[0] == '*' ? OP_MUL : at->s[0] == '%' ? OP_MOD : at->len == 2 ? OP_FLOORDIV : OP_DIV;
        l = binary(p, l, at, op, power);
    }
    return l;
}

static jnode *additive(P *p)
{
    jnode *l = mult(p);
    while (l && is(p, T_ADD)) {
        const jtok *at = cur(p);
        p->i++;
        l = binary(p, l, at, at->s[0] == '+' ? OP_ADD : at->s[0] == '-' ? OP_SUB : OP_CAT, mult);
    }
    return l;
}

static jnode *comparison(P *p)
{
    jnode *l = additive(p);
    while (l) {
        const jtok *at = cur(p);
        int op;
        if (is_ident(p, 0, "not") && is_ident(p, 1, "in")) {
            op = OP_NOTIN;
            p->i += 2;
        } else if (is_ident(p, 0, "in")) {
            op = OP_IN;
            p->i++;
        } else if (is(p, T_CMP)) {
            const char *s = at->s;
            op = s[0] == '=' ? OP_EQ : s[0] == '!' ? OP_NE : s[0] == '<' ? (s[1] ? OP_LE : OP_LT) : (s[1] ? OP_GE : OP_GT);
            p->i++;
        } else {
            break;
        }
        l = binary(p, l, at, op, additive);
    }
    return l;
}

static jnode *negation(P *p)
{
    if (is_ident(p, 0, "not")) {
        const jtok *at = cur(p);
        p->i++;
        if (enter(p))
            return NULL;
        jnode *n = mk(p, E_UNARY, at);
        if (!n || !(n->a = negation(p)))
            return NULL;
        n->op = OP_NOT;
        p->depth--;
        return n;
    }
    return comparison(p);
}

static jnode *and_expr(P *p)
{
    jnode *l = negation(p);
    while (l && is_ident(p, 0, "and")) {
        const jtok *at = cur(p);
        p->i++;
        l = binary(p, l, at, OP_AND, negation);
    }
    return l;
}

static jnode *or_expr(P *p)
{
    jnode *l = and_expr(p);
    while (l && is_ident(p, 0, "or")) {
        const jtok *at = cur(p);
        p->i++;
        l = binary(p, l, at, OP_OR, and_expr);
    }
    return l;
}

static jnode *expr(P *p)
{
    if (enter(p))
        return NULL;
    jnode *a = or_expr(p);
    if (a && is_ident(p, 0, "if")) {
        const jtok *at = cur(p);
        p->i++;
        jnode *test = or_expr(p);
        if (!test)
            return NULL;
        if (is_ident(p, 0, "else")) {
            p->i++;
            jnode *n = mk(p, E_TERNARY, at);
            if (!n || !(n->c = expr(p)))
                return NULL;
            n->a = test;
            n->b = a;
            a = n;
        } else {
            jnode *n = mk(p, E_SELECT, at);
            if (!n)
                return NULL;
            n->a = a;
            n->b = test;
            a = n;
        }
    }
    p->depth--;
    return a;
}

/* a, b, c  -> tuple (for loop targets, set targets and values, parentheses) */
static jnode *seq(P *p, int prim)
{
    const jtok *at = cur(p);
    jnode *first = prim ? primary(p) : expr(p);
    if (!first || !is(p, T_COMMA))
        return first;
    nvec v = {0};
    if (nv_push(p, &v, first))
        return NULL;
    while (is(p, T_COMMA)) {
        p->i++;
        jnode *e = prim ? primary(p) : expr(p);
        if (!e || nv_push(p, &v, e)) {
            free(v.v);
            return NULL;
        }
    }
    jnode *t = mk(p, E_TUPLE, at);
    if (!t) {
        free(v.v);
        return NULL;
    }
    t->kids = nv_done(p, &v, &t->nkids);
    return t->kids ? t : NULL;
}

static int end_tag(P *p, const char *name)
{
    if (expect(p, T_OPEN_STMT, "'{%'"))
        return -1;
    if (!is_ident(p, 0, name))
        return perr(p, cur(p), "expected '%s'", name);
    p->i++;
    return expect(p, T_CLOSE_STMT, "'%}'");
}

static jnode *if_stmt(P *p, const jtok *at)
{
    static const char *const until[] = {"elif", "else", "endif", NULL};
    static const char *const endif[] = {"endif", NULL};
    jnode *n = mk(p, N_IF, at);
    if (!n || !(n->a = expr(p)) || expect(p, T_CLOSE_STMT, "'%}'"))
        return NULL;
    if (block(p, until, &n->kids, &n->nkids))
        return NULL;
    if (is_stmt(p, (const char *const[]){"elif", NULL})) {
        const jtok *e = &p->t[p->i + 1];
        p->i += 2;
        if (enter(p))
            return NULL;
        jnode *alt = if_stmt(p, e);
        p->depth--;
        if (!alt)
            return NULL;
        n->kids2 = jarena_alloc(p->a, sizeof *n->kids2);
        if (!n->kids2)
            return perr(p, e, "template too large"), NULL;
        n->kids2[0] = alt;
        n->nkids2 = 1;
    } else if (is_stmt(p, (const char *const[]){"else", NULL})) {
        p->i += 2;
        if (expect(p, T_CLOSE_STMT, "'%}'") || block(p, endif, &n->kids2, &n->nkids2))
            return NULL;
    }
    return n;
}

static jnode *statement(P *p)
{
    static const char *const endfor_else[] = {"endfor", "else", NULL};
    static const char *const endfor[] = {"endfor", NULL};
    static const char *const endset[] = {"endset", NULL};
    const jtok *open = cur(p);
    p->i++;
    const jtok *t = cur(p);
    if (t->t != T_IDENT)
        return perr(p, t, "expected a statement name"), NULL;
    p->i++;
    jnode *n = NULL;
    if (strcmp(t->s, "set") == 0) {
        n = mk(p, N_SET, t);
        if (!n || !(n->a = seq(p, 0)))
            return NULL;
        if (is(p, T_EQUALS)) {
            p->i++;
            if (!(n->b = seq(p, 0)) || expect(p, T_CLOSE_STMT, "'%}'"))
                return NULL;
        } else {
            if (expect(p, T_CLOSE_STMT, "'%}' or '='") || block(p, endset, &n->kids, &n->nkids) ||
                end_tag(p, "endset"))
                return NULL;
        }
    } else if (strcmp(t->s, "if") == 0) {
        if (!(n = if_stmt(p, t)) || end_tag(p, "endif"))
            return NULL;
    } else if (strcmp(t->s, "for") == 0) {
        n = mk(p, N_FOR, t);
        const jtok *vt = cur(p);
        if (!n || !(n->a = seq(p, 1)))
            return NULL;
        if (n->a->k != E_NAME && n->a->k != E_TUPLE)
            return perr(p, vt, "expected a loop variable or tuple"), NULL;
        for (size_t k = 0; n->a->k == E_TUPLE && k < n->a->nkids; k++)
            if (n->a->kids[k]->k != E_NAME)
                return perr(p, vt, "loop targets must be identifiers"), NULL;
        if (!is_ident(p, 0, "in"))
            return perr(p, cur(p), "expected 'in' after the loop variable"), NULL;
        p->i++;
        jnode *it = expr(p);
        if (!it || expect(p, T_CLOSE_STMT, "'%}'"))
            return NULL;
        if (it->k == E_SELECT) {
            n->b = it->a;
            n->c = it->b;
        } else {
            n->b = it;
        }
        if (block(p, endfor_else, &n->kids, &n->nkids))
            return NULL;
        if (is_stmt(p, (const char *const[]){"else", NULL})) {
            p->i += 2;
            if (expect(p, T_CLOSE_STMT, "'%}'") || block(p, endfor, &n->kids2, &n->nkids2))
                return NULL;
        }
        if (end_tag(p, "endfor"))
            return NULL;
    } else if (strcmp(t->s, "break") == 0 || strcmp(t->s, "continue") == 0) {
        n = mk(p, t->s[0] == 'b' ? N_BREAK : N_CONTINUE, t);
        if (!n || expect(p, T_CLOSE_STMT, "'%}'"))
            return NULL;
    } else {
        (void)open;
        return perr(p, t, "unsupported statement '%s'", t->s), NULL;
    }
    return n;
}

/* statements until one of `until` (NULL = end of template) */
static int block(P *p, const char *const *until, jnode ***out, size_t *nout)
{
    if (enter(p))
        return -1;
    nvec v = {0};
    for (;;) {
        if (is(p, T_EOF)) {
            if (until) {
                free(v.v);
                return perr(p, cur(p), "missing '{%% %s %%}'", until[until[1] && until[2] ? 2 : 0]);
            }
            break;
        }
        if (until && is_stmt(p, until))
            break;
        const jtok *t = cur(p);
        jnode *n = NULL;
        if (t->t == T_COMMENT) {
            p->i++;
            continue;
        } else if (t->t == T_TEXT) {
            p->i++;
            n = mk(p, N_TEXT, t);
            if (n) {
                n->s = t->s;
                n->slen = t->len;
            }
        } else if (t->t == T_OPEN_STMT) {
            n = statement(p);
        } else if (t->t == T_OPEN_EXPR) {
            p->i++;
            n = mk(p, N_OUTPUT, t);
            if (n && (!(n->a = expr(p)) || expect(p, T_CLOSE_EXPR, "'}}'")))
                n = NULL;
        } else {
            perr(p, t, "unexpected token '%s'", t->s);
        }
        if (!n || nv_push(p, &v, n)) {
            free(v.v);
            return -1;
        }
    }
    *out = nv_done(p, &v, nout);
    p->depth--;
    return *nout && !*out ? -1 : 0;
}

int jinja_parse(const jtok *toks, size_t n, jarena *a, int max_depth, jnode ***body, size_t *nbody,
                const char *name, tl_err *err)
{
    P p = {.t = toks, .n = n, .a = a, .max_depth = max_depth, .name = name, .err = err};
    if (err)
        err->code = 0;
    return block(&p, NULL, body, nbody) ? (err && err->code ? err->code : TL_EINVAL) : 0;
}
