/* Internals of the chat-template renderer: values, tokens, AST, evaluation state.
 * Semantics follow @huggingface/jinja 0.5.13 (what transformers.js uses for apply_chat_template);
 * docs/chat-templates.md lists every construct and every deliberate difference. */
#ifndef TEELM_CHAT_JINJA_INTERNAL_H
#define TEELM_CHAT_JINJA_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "chat/chat_template.h"
#include "util/arena.h"
#include "util/err.h"

/* ---- values: a small tagged union; heap parts are reference counted ---- */
typedef enum { JV_UNDEF, JV_NONE, JV_BOOL, JV_INT, JV_FLOAT, JV_STR, JV_LIST, JV_DICT, JV_NS, JV_FUNC } jv_type;

typedef struct { size_t off, len; } jv_span;   /* bytes that came from message content */

typedef struct jstr {
    int rc;
    size_t len, nspans;
    jv_span *spans;
    char *s;                /* NUL-terminated copy, len bytes */
} jstr;

struct jlist;
struct jdict;
struct jfunc;

typedef struct jv {
    jv_type t;
    union {
        int b;
        int64_t i;
        double f;
        jstr *s;
        struct jlist *l;
        struct jdict *d;    /* JV_DICT and JV_NS */
        struct jfunc *fn;
    } u;
} jv;

typedef struct jlist { int rc, depth; size_t n, cap; jv *v; } jlist;
typedef struct jdict { int rc, depth; size_t n, cap; jv *k; jv *v; } jdict;   /* keys are JV_STR */
typedef struct jfunc { int rc; int id; jv self; } jfunc;

/* global functions and bound methods */
enum {
    JF_RAISE = 1, JF_RANGE, JF_NAMESPACE, JF_STRFTIME,
    JF_S_UPPER, JF_S_LOWER, JF_S_STRIP, JF_S_TITLE, JF_S_CAPITALIZE, JF_S_RSTRIP, JF_S_LSTRIP,
    JF_S_STARTSWITH, JF_S_ENDSWITH, JF_S_SPLIT, JF_S_REPLACE,
    JF_D_GET, JF_D_ITEMS, JF_D_KEYS, JF_D_VALUES,
};

#define JV_UNDEF_V ((jv){.t = JV_UNDEF})
#define JV_NONE_V ((jv){.t = JV_NONE})

jv jv_retain(jv v);
void jv_release(jv v);
jv jv_bool(int b);
jv jv_int(int64_t i);
jv jv_float(double f);
/* New string (copied); spans (may be NULL) are copied too. Returns JV_UNDEF on allocation failure. */
jv jv_str(const char *s, size_t len, const jv_span *spans, size_t nspans);
/* New string whose bytes are all content when `tainted`. */
jv jv_str_taint(const char *s, size_t len, int tainted);
jlist *jlist_new(void);
int jlist_push(jlist *l, jv v);               /* takes ownership of v */
jdict *jdict_new(void);
int jdict_set(jdict *d, jv key, jv v);        /* takes ownership of key and v; replaces */
jv *jdict_get(const jdict *d, const char *key, size_t len);
jv jv_list(jlist *l);
jv jv_dict(jdict *d, jv_type t);
jv jv_func(int id, jv self);                  /* retains self */
int jv_depth(jv v);
int jv_tainted(jv v);                         /* any content byte anywhere inside */
const char *jv_type_name(jv_type t);

/* ---- output builder: bytes plus content spans ---- */
typedef struct {
    char *s;
    size_t len, cap, max;
    jv_span *spans;
    size_t nspans, capspans;
} jbuf;

int jbuf_put(jbuf *b, const char *s, size_t len, int content);
int jbuf_put_str(jbuf *b, const jstr *s);     /* keeps its spans */
jv jbuf_take(jbuf *b);                        /* into a string value; resets b */
void jbuf_free(jbuf *b);

/* ---- tokens ---- */
typedef enum {
    T_TEXT, T_NUM, T_STR, T_IDENT, T_EQUALS, T_LPAREN, T_RPAREN, T_OPEN_STMT, T_CLOSE_STMT,
    T_OPEN_EXPR, T_CLOSE_EXPR, T_LBRACK, T_RBRACK, T_LBRACE, T_RBRACE, T_COMMA, T_DOT, T_COLON,
    T_PIPE, T_ADD, T_MUL, T_POW, T_CMP, T_UNARY, T_COMMENT, T_EOF
} tok_type;

typedef struct {
    tok_type t;
    char *s;               /* value (arena) */
    size_t len;
    int line, col;
} jtok;

/* ---- arena for tokens and AST ---- */
typedef tl_arena jarena;
void *jarena_alloc(jarena *a, size_t n); /* zeroed */
char *jarena_strdup(jarena *a, const char *s, size_t n);

/* ---- AST ---- */
typedef enum {
    N_TEXT, N_OUTPUT, N_IF, N_FOR, N_SET, N_BREAK, N_CONTINUE,
    E_STR, E_INT, E_FLOAT, E_NAME, E_LIST, E_TUPLE, E_DICT, E_MEMBER, E_SLICE, E_CALL, E_KWARG,
    E_FILTER, E_TEST, E_UNARY, E_BINARY, E_TERNARY, E_SELECT
} node_kind;

enum { OP_AND = 1, OP_OR, OP_NOT, OP_IN, OP_NOTIN, OP_EQ, OP_NE, OP_LT, OP_GT, OP_LE, OP_GE,
       OP_ADD, OP_SUB, OP_CAT, OP_MUL, OP_DIV, OP_FLOORDIV, OP_MOD, OP_POW, OP_NEG, OP_POS };

typedef struct jnode {
    node_kind k;
    int line, col;
    int op;                /* operator; for E_MEMBER 1 = computed; E_FILTER 1 = called; E_TEST 1 = negated */
    char *s;               /* text, name, string literal */
    size_t slen;
    int64_t i;
    double f;
    struct jnode *a, *b, *c;
    struct jnode **kids;   /* body / args / elements / dict keys */
    size_t nkids;
    struct jnode **kids2;  /* else-branch / dict values */
    size_t nkids2;
} jnode;

struct tl_chat_template {
    jarena arena;
    jnode **body;
    size_t nbody;
    tl_chat_limits lim;
    char name[64];
};

int jinja_lex(const char *src, size_t len, jarena *a, jtok **toks, size_t *ntoks, const char *name, tl_err *err);
int jinja_parse(const jtok *toks, size_t n, jarena *a, int max_depth, jnode ***body, size_t *nbody,
                const char *name, tl_err *err);

/* ---- evaluation ---- */
typedef struct jscope { struct jscope *parent; jdict *vars; } jscope;

typedef struct {
    const tl_chat_template *t;
    const tl_chat_input *in;
    tl_err *err;
    uint64_t work, iterations;
    int depth;
} jctx;

int jinja_render(const tl_chat_template *t, const tl_chat_input *in, jbuf *out, tl_err *err);
/* Records a render error at node n (line:col of the template) and returns -1. */
int jerr(jctx *c, const jnode *n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int jwork(jctx *c, const jnode *n, uint64_t units);
int jtruthy(jv v);
int jops_binary(jctx *c, const jnode *n, int op, jv a, jv b, jv *out);   /* jinja_ops.c */

/* library (jinja_lib.c): filters, tests, methods, JSON, printing */
int jlib_filter(jctx *c, const jnode *n, jv operand, jv *args, size_t nargs, jdict *kwargs, int called, jv *out);
int jlib_test(jctx *c, const jnode *n, jv v, const char *name, int *out);
int jlib_call(jctx *c, const jnode *n, jfunc *f, jv *args, size_t nargs, jdict *kwargs, jv *out);
jv jlib_member_builtin(jv obj, const char *name, size_t len);   /* bound method / length, or undefined */
int jlib_tojson(jctx *c, const jnode *n, jbuf *b, jv v, int indent, int ascii, const char *isep,
                const char *ksep, int undef_null, int depth);
/* The text a value prints as ({{ v }}, ~, +, |string); tainted when derived from content. */
int jlib_to_str(jctx *c, const jnode *n, jv v, int js_number, jv *out);
int jlib_tojson_value(jctx *c, const jnode *n, jv v, int indent, int ascii, const char *isep,
                      const char *ksep, int undef_null, jv *out);   /* a string value, tainted as a whole */
void jlib_fmt_num(double f, char *buf, size_t cap);
int jlib_oom(jctx *c, const jnode *n);
jv jlib_kwarg(jdict *kw, const char *name);                                           /* or undefined */
int jlib_put(jctx *c, const jnode *n, jbuf *b, const char *s, size_t len, int content);  /* errors named */
int jlib_take(jctx *c, const jnode *n, jbuf *b, jv *out);                             /* counts work */

/* strings (jinja_str.c) */
jv jstr_sub(const jstr *s, size_t from, size_t to);   /* keeps content spans; undefined on OOM */
int jstr_trim(jctx *c, const jnode *n, const jstr *s, int left, int right, jv *out);
int jstr_casemap(jctx *c, const jnode *n, const jstr *s, int mode, jv *out);   /* 'U' 'L' 'T'itle 'C'apitalize */
int jstr_starts_ends(jctx *c, const jnode *n, const jstr *s, jv arg, int end, jv *out);
int jstr_split(jctx *c, const jnode *n, const jstr *s, jv *args, size_t nargs, jv *out);
int jstr_replace(jctx *c, const jnode *n, const jstr *s, jv *args, size_t nargs, jdict *kw, jv *out);
int jstr_indent_filter(jctx *c, const jnode *n, const jstr *s, jv *args, size_t nargs, jdict *kw, jv *out);              /* JavaScript Number#toString */
size_t jws_len(const char *p, const char *end);                 /* whitespace code point at p, bytes */
size_t jws_back(const char *start, const char *p);              /* whitespace code point ending at p */

#endif
