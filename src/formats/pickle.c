#include "formats/pickle.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/grow.h"

#define MAX_OBJECTS (1u << 22)
#define MAX_MEMO (1u << 22)
#define MAX_NAME 255

enum { O_NONE, O_BOOL, O_INT, O_FLOAT, O_STR, O_TUPLE, O_LIST, O_DICT, O_GLOBAL, O_STORAGE, O_TENSOR };
enum { G_ORDERED_DICT, G_REBUILD_TENSOR_V2, G_REBUILD_PARAMETER, G_STORAGE };

typedef struct obj obj;
typedef struct {
    obj *storage;
    int64_t offset;
    int ndim;
    int64_t size[TL_PK_MAX_DIMS], stride[TL_PK_MAX_DIMS];
} tensor_info;

struct obj {
    int kind;
    int64_t i;            /* INT, BOOL; GLOBAL: G_*; STORAGE: numel */
    char *s;              /* STR (NUL-terminated copy); STORAGE: key */
    size_t slen;
    obj **items;          /* TUPLE, LIST; DICT: key, value, key, value... */
    size_t n, cap;
    tl_dtype dtype;       /* GLOBAL G_STORAGE, STORAGE */
    tensor_info *ti;      /* TENSOR */
};

typedef struct {
    const uint8_t *p;
    size_t len, pos, op_pos;
    const char *label;
    obj **stack;
    size_t sp, scap;
    size_t *marks;
    size_t nmarks, mcap;
    obj **memo;
    size_t memocap;
    obj **all;
    size_t nall, allcap;
    tl_err *err;
} vm;

__attribute__((format(printf, 2, 3))) static int fail(vm *v, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return tl_errf(v->err, TL_EINVAL, "%s: data.pkl offset %zu: %s", v->label, v->op_pos, msg);
}

static obj *new_obj(vm *v, int kind)
{
    if (v->nall >= MAX_OBJECTS) {
        fail(v, "more than %u objects", MAX_OBJECTS);
        return NULL;
    }
    if (TL_GROW(v->all, &v->allcap, v->nall + 1, 16)) {
        tl_errf(v->err, TL_ENOMEM, "%s: out of memory", v->label);
        return NULL;
    }
    obj *o = calloc(1, sizeof *o);
    if (!o) {
        tl_errf(v->err, TL_ENOMEM, "%s: out of memory", v->label);
        return NULL;
    }
    o->kind = kind;
    v->all[v->nall++] = o;
    return o;
}

static int push(vm *v, obj *o)
{
    if (!o)
        return v->err->code;
    if (TL_GROW(v->stack, &v->scap, v->sp + 1, 16))
        return tl_errf(v->err, TL_ENOMEM, "%s: out of memory", v->label);
    v->stack[v->sp++] = o;
    return 0;
}

/* Pops the top object; NULL (after setting the error) on an empty stack or when it is a mark's floor. */
static obj *pop(vm *v)
{
    size_t floor = v->nmarks ? v->marks[v->nmarks - 1] : 0;
    if (v->sp <= floor) {
        fail(v, "stack underflow");
        return NULL;
    }
    return v->stack[--v->sp];
}

static obj *top(vm *v)
{
    size_t floor = v->nmarks ? v->marks[v->nmarks - 1] : 0;
    if (v->sp <= floor) {
        fail(v, "stack underflow");
        return NULL;
    }
    return v->stack[v->sp - 1];
}

static int need(vm *v, size_t n)
{
    if (v->len - v->pos < n)
        return fail(v, "truncated pickle (opcode argument runs past the end)");
    return 0;
}

static uint64_t rd_le(vm *v, size_t n)
{
    uint64_t x = 0;
    for (size_t i = 0; i < n; i++)
        x |= (uint64_t)v->p[v->pos + i] << (8 * i);
    v->pos += n;
    return x;
}

/* Items above the top mark (count in *n), then pops the mark. */
static obj **pop_mark(vm *v, size_t *n)
{
    if (!v->nmarks) {
        fail(v, "no MARK on the stack");
        return NULL;
    }
    static obj *none[1];
    size_t m = v->marks[--v->nmarks];
    *n = v->sp - m;
    v->sp = m;
    return v->stack ? v->stack + m : none; /* "(t" before any push: no stack yet, and NULL means error */
}

static int make_seq(vm *v, int kind, obj **items, size_t n)
{
    obj *o = new_obj(v, kind);
    if (!o)
        return v->err->code;
    if (n) {
        o->items = malloc(n * sizeof *o->items);
        if (!o->items)
            return tl_errf(v->err, TL_ENOMEM, "%s: out of memory", v->label);
        memcpy(o->items, items, n * sizeof *items);
    }
    o->n = o->cap = n;
    return push(v, o);
}

static int append(vm *v, obj *container, obj **items, size_t n)
{
    if (!n) /* "}(u": an empty container has no items array to copy into */
        return 0;
    if (TL_GROW(container->items, &container->cap, container->n + n, 16))
        return tl_errf(v->err, TL_ENOMEM, "%s: out of memory", v->label);
    memcpy(container->items + container->n, items, n * sizeof *items);
    container->n += n;
    return 0;
}

static void printable(char *dst, size_t n, const char *src, size_t len)
{
    size_t j = 0;
    for (size_t i = 0; i < len && j + 1 < n; i++)
        dst[j++] = (src[i] >= 0x20 && src[i] < 0x7f) ? src[i] : '?';
    dst[j] = 0;
}

static const struct {
    const char *name;
    tl_dtype dt;
} storages[] = {
    {"FloatStorage", TL_DT_F32}, {"HalfStorage", TL_DT_F16}, {"BFloat16Storage", TL_DT_BF16},
    {"DoubleStorage", TL_DT_F64}, {"LongStorage", TL_DT_I64}, {"IntStorage", TL_DT_I32},
    {"ShortStorage", TL_DT_I16}, {"CharStorage", TL_DT_I8}, {"ByteStorage", TL_DT_U8},
    {"BoolStorage", TL_DT_BOOL},
};

static int op_global(vm *v)
{
    char line[2][130];
    size_t ll[2];
    for (int k = 0; k < 2; k++) {
        const uint8_t *nl = memchr(v->p + v->pos, '\n', v->len - v->pos);
        if (!nl)
            return fail(v, "truncated GLOBAL");
        ll[k] = (size_t)(nl - (v->p + v->pos));
        printable(line[k], sizeof line[k], (const char *)v->p + v->pos, ll[k] < 129 ? ll[k] : 129);
        v->pos += ll[k] + 1;
    }
    obj *o = new_obj(v, O_GLOBAL);
    if (!o)
        return v->err->code;
    const char *mod = line[0], *name = line[1];
    int known = ll[0] < 129 && ll[1] < 129;
    if (known && !strcmp(mod, "collections") && !strcmp(name, "OrderedDict"))
        o->i = G_ORDERED_DICT;
    else if (known && !strcmp(mod, "torch._utils") && !strcmp(name, "_rebuild_tensor_v2"))
        o->i = G_REBUILD_TENSOR_V2;
    else if (known && !strcmp(mod, "torch._utils") && !strcmp(name, "_rebuild_parameter"))
        o->i = G_REBUILD_PARAMETER;
    else {
        o->i = -1;
        for (size_t s = 0; known && s < sizeof storages / sizeof *storages; s++)
            if (!strcmp(mod, "torch") && !strcmp(name, storages[s].name)) {
                o->i = G_STORAGE;
                o->dtype = storages[s].dt;
            }
        if (o->i < 0)
            return fail(v, "refused pickle global '%s.%s': a state_dict of tensors needs only "
                        "collections.OrderedDict, torch._utils._rebuild_tensor_v2/_rebuild_parameter and "
                        "torch.*Storage; nothing from the file is executed", mod, name);
    }
    return push(v, o);
}

static int get_int(obj *o, int64_t *out)
{
    if (!o || (o->kind != O_INT && o->kind != O_BOOL))
        return -1;
    *out = o->i;
    return 0;
}

static int empty_dict_or_none(obj *o) { return o->kind == O_NONE || (o->kind == O_DICT && o->n == 0); }

static int rebuild_tensor(vm *v, obj *args)
{
    obj **a = args->items;
    if (args->n != 6 && args->n != 7)
        return fail(v, "_rebuild_tensor_v2 takes 6 or 7 arguments");
    if (a[0]->kind != O_STORAGE)
        return fail(v, "_rebuild_tensor_v2: first argument is not a storage");
    if (a[2]->kind != O_TUPLE || a[3]->kind != O_TUPLE || a[2]->n != a[3]->n || a[2]->n > TL_PK_MAX_DIMS)
        return fail(v, "_rebuild_tensor_v2: size and stride must be tuples of equal length (at most 8)");
    if (a[4]->kind != O_BOOL || !empty_dict_or_none(a[5]) || (args->n == 7 && !empty_dict_or_none(a[6])))
        return fail(v, "_rebuild_tensor_v2: requires_grad must be a bool and backward hooks/metadata empty");
    tensor_info *ti = calloc(1, sizeof *ti);
    obj *t = new_obj(v, O_TENSOR);
    if (!ti || !t) {
        free(ti);
        return v->err->code ? v->err->code : tl_errf(v->err, TL_ENOMEM, "out of memory");
    }
    t->ti = ti;
    ti->storage = a[0];
    ti->ndim = (int)a[2]->n;
    if (get_int(a[1], &ti->offset))
        return fail(v, "_rebuild_tensor_v2: storage offset is not an integer");
    for (int d = 0; d < ti->ndim; d++)
        if (get_int(a[2]->items[d], &ti->size[d]) || get_int(a[3]->items[d], &ti->stride[d]))
            return fail(v, "_rebuild_tensor_v2: size and stride entries must be integers");
    return push(v, t);
}

static int op_reduce(vm *v)
{
    obj *args = pop(v), *fn = args ? pop(v) : NULL;
    if (!fn)
        return v->err->code;
    if (fn->kind != O_GLOBAL || args->kind != O_TUPLE)
        return fail(v, "REDUCE needs an allowed global and an argument tuple");
    switch (fn->i) {
    case G_ORDERED_DICT:
        if (args->n)
            return fail(v, "OrderedDict() with arguments is not supported");
        return push(v, new_obj(v, O_DICT));
    case G_REBUILD_TENSOR_V2:
        return rebuild_tensor(v, args);
    case G_REBUILD_PARAMETER:
        if (args->n != 3 || args->items[0]->kind != O_TENSOR || args->items[1]->kind != O_BOOL ||
            !empty_dict_or_none(args->items[2]))
            return fail(v, "_rebuild_parameter takes (tensor, requires_grad, empty hooks)");
        return push(v, args->items[0]);
    default:
        return fail(v, "a storage type cannot be called");
    }
}

static int op_persid(vm *v)
{
    obj *pid = pop(v);
    if (!pid)
        return v->err->code;
    obj **a = pid->items;
    if (pid->kind != O_TUPLE || pid->n != 5 || a[0]->kind != O_STR || strcmp(a[0]->s, "storage") ||
        a[1]->kind != O_GLOBAL || a[1]->i != G_STORAGE || a[2]->kind != O_STR || a[3]->kind != O_STR ||
        a[4]->kind != O_INT || a[4]->i < 0)
        return fail(v, "persistent id must be ('storage', torch.*Storage, key, location, numel)");
    if (a[2]->slen == 0 || a[2]->slen > 64 || strspn(a[2]->s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                                             "0123456789_") != a[2]->slen)
        return fail(v, "storage key must be 1-64 letters, digits or '_'");
    obj *s = new_obj(v, O_STORAGE);
    if (!s)
        return v->err->code;
    s->s = strdup(a[2]->s);
    if (!s->s)
        return tl_errf(v->err, TL_ENOMEM, "out of memory");
    s->slen = a[2]->slen;
    s->dtype = a[1]->dtype;
    s->i = a[4]->i;
    return push(v, s);
}

static int memo_put(vm *v, uint64_t idx)
{
    obj *o = top(v);
    if (!o)
        return v->err->code;
    if (idx >= MAX_MEMO)
        return fail(v, "memo index too large");
    size_t old = v->memocap;
    if (TL_GROW(v->memo, &v->memocap, (size_t)idx + 1, 16))
        return tl_errf(v->err, TL_ENOMEM, "out of memory");
    memset(v->memo + old, 0, (v->memocap - old) * sizeof *v->memo);
    v->memo[idx] = o;
    return 0;
}

static int memo_get(vm *v, uint64_t idx)
{
    if (idx >= v->memocap || !v->memo[idx])
        return fail(v, "memo entry is not defined");
    return push(v, v->memo[idx]);
}

static const char *opname(uint8_t op)
{
    switch (op) {
    case 'i': return "INST";
    case 'o': return "OBJ";
    case 0x81: return "NEWOBJ";
    case 0x92: return "NEWOBJ_EX";
    case 0x93: return "STACK_GLOBAL";
    case 'R': return "REDUCE";
    case 'P': return "PERSID";
    case 'S': return "STRING";
    case 'V': return "UNICODE";
    case 'T': return "BINSTRING";
    case 'U': return "SHORT_BINSTRING";
    case 'B': return "BINBYTES";
    case 'C': return "SHORT_BINBYTES";
    case 0x8c: return "SHORT_BINUNICODE";
    case 0x8d: return "BINUNICODE8";
    case 0x95: return "FRAME";
    case 0x94: return "MEMOIZE";
    case 'I': return "INT";
    case 'L': return "LONG";
    case 'F': return "FLOAT";
    case 'g': return "GET";
    case 'p': return "PUT";
    case '0': return "POP";
    case '1': return "POP_MARK";
    case '2': return "DUP";
    case 'd': return "DICT";
    case 'l': return "LIST";
    case 0x8b: return "LONG4";
    case 0x82: return "EXT1";
    case 0x83: return "EXT2";
    case 0x84: return "EXT4";
    case 0x8f: return "EMPTY_SET";
    case 0x90: return "ADDITEMS";
    case 0x91: return "FROZENSET";
    case 0x96: return "BYTEARRAY8";
    case 0x97: return "NEXT_BUFFER";
    case 0x98: return "READONLY_BUFFER";
    default: return "unknown";
    }
}

static int step(vm *v, obj **result)
{
    v->op_pos = v->pos;
    uint8_t op = v->p[v->pos++];
    size_t n;
    obj **items, *o, *k, *d;
    switch (op) {
    case 0x80: /* PROTO */
        if (need(v, 1))
            return v->err->code;
        if (v->p[v->pos] != 2) {
            return fail(v, "pickle protocol %d is not supported (torch.save writes protocol 2)", v->p[v->pos]);
        }
        v->pos++;
        return 0;
    case 'c':
        return op_global(v);
    case 'q':
        return need(v, 1) ? v->err->code : memo_put(v, rd_le(v, 1));
    case 'r':
        return need(v, 4) ? v->err->code : memo_put(v, rd_le(v, 4));
    case 'h':
        return need(v, 1) ? v->err->code : memo_get(v, rd_le(v, 1));
    case 'j':
        return need(v, 4) ? v->err->code : memo_get(v, rd_le(v, 4));
    case '(':
        if (TL_GROW(v->marks, &v->mcap, v->nmarks + 1, 16))
            return tl_errf(v->err, TL_ENOMEM, "out of memory");
        v->marks[v->nmarks++] = v->sp;
        return 0;
    case ')':
        return make_seq(v, O_TUPLE, NULL, 0);
    case 't':
        items = pop_mark(v, &n);
        return items ? make_seq(v, O_TUPLE, items, n) : v->err->code;
    case 0x85: case 0x86: case 0x87: { /* TUPLE1..3 */
        obj *it[3];
        n = (size_t)(op - 0x84);
        for (size_t i = n; i-- > 0;)
            if (!(it[i] = pop(v)))
                return v->err->code;
        return make_seq(v, O_TUPLE, it, n);
    }
    case '}':
        return push(v, new_obj(v, O_DICT));
    case ']':
        return push(v, new_obj(v, O_LIST));
    case 'N':
        return push(v, new_obj(v, O_NONE));
    case 0x88: case 0x89:
        if (!(o = new_obj(v, O_BOOL)))
            return v->err->code;
        o->i = op == 0x88;
        return push(v, o);
    case 'K': case 'M': case 'J':
        n = op == 'K' ? 1 : op == 'M' ? 2 : 4;
        if (need(v, n) || !(o = new_obj(v, O_INT)))
            return v->err->code;
        o->i = op == 'J' ? (int64_t)(int32_t)(uint32_t)rd_le(v, 4) : (int64_t)rd_le(v, n);
        return push(v, o);
    case 0x8a: /* LONG1 */
        if (need(v, 1))
            return v->err->code;
        n = v->p[v->pos++];
        if (n > 8)
            return fail(v, "LONG1 integer wider than 64 bits");
        if (need(v, n) || !(o = new_obj(v, O_INT)))
            return v->err->code;
        {
            uint64_t x = rd_le(v, n);
            if (n && n < 8 && (x >> (8 * n - 1)) & 1)
                x |= ~(uint64_t)0 << (8 * n); /* sign-extend */
            o->i = (int64_t)x;
        }
        return push(v, o);
    case 'G': /* BINFLOAT: data only */
        if (need(v, 8) || !(o = new_obj(v, O_FLOAT)))
            return v->err->code;
        v->pos += 8;
        return push(v, o);
    case 'X': /* BINUNICODE */
        if (need(v, 4))
            return v->err->code;
        n = (size_t)rd_le(v, 4);
        if (need(v, n) || !(o = new_obj(v, O_STR)))
            return v->err->code;
        if (!(o->s = malloc(n + 1)))
            return tl_errf(v->err, TL_ENOMEM, "out of memory");
        memcpy(o->s, v->p + v->pos, n);
        o->s[n] = 0;
        o->slen = n;
        v->pos += n;
        return push(v, o);
    case 'R':
        return op_reduce(v);
    case 'Q':
        return op_persid(v);
    case 'b': /* BUILD: only the OrderedDict's _metadata state, which is ignored */
        if (!(o = pop(v)) || !(d = top(v)))
            return v->err->code;
        if (d->kind != O_DICT || (o->kind != O_DICT && o->kind != O_NONE))
            return fail(v, "BUILD is only accepted for a dict's metadata");
        return 0;
    case 's':
        if (!(o = pop(v)) || !(k = pop(v)) || !(d = top(v)))
            return v->err->code;
        if (d->kind != O_DICT)
            return fail(v, "SETITEM on something that is not a dict");
        {
            obj *kv[2] = {k, o};
            return append(v, d, kv, 2);
        }
    case 'u':
        if (!(items = pop_mark(v, &n)) || !(d = top(v)))
            return v->err->code;
        if (d->kind != O_DICT || n % 2)
            return fail(v, "SETITEMS needs a dict and key/value pairs");
        return append(v, d, items, n);
    case 'a':
        if (!(o = pop(v)) || !(d = top(v)))
            return v->err->code;
        if (d->kind != O_LIST)
            return fail(v, "APPEND on something that is not a list");
        return append(v, d, &o, 1);
    case 'e':
        if (!(items = pop_mark(v, &n)) || !(d = top(v)))
            return v->err->code;
        if (d->kind != O_LIST)
            return fail(v, "APPENDS on something that is not a list");
        return append(v, d, items, n);
    case '.':
        if (!(*result = pop(v)))
            return v->err->code;
        if (v->pos != v->len)
            return fail(v, "data after STOP");
        return 0;
    default: {
        return fail(v, "unsupported pickle opcode 0x%02x (%s): torch.save state_dicts use only protocol-2 data opcodes",
                    op, opname(op));
    }
    }
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(((const tl_pk_tensor *)a)->name, ((const tl_pk_tensor *)b)->name);
}

static int to_state_dict(vm *v, obj *root, tl_pk_state_dict *sd)
{
    const char *L = v->label;
    if (root->kind != O_DICT)
        return tl_errf(v->err, TL_EINVAL, "%s: data.pkl does not hold a dict (not a state_dict)", L);
    size_t n = root->n / 2;
    sd->t = calloc(n ? n : 1, sizeof *sd->t);
    if (!sd->t)
        return tl_errf(v->err, TL_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        obj *k = root->items[2 * i], *t = root->items[2 * i + 1];
        char pk[80];
        if (k->kind != O_STR)
            return tl_errf(v->err, TL_EINVAL, "%s: state_dict key #%zu is not a string", L, i);
        printable(pk, sizeof pk, k->s, k->slen);
        if (k->slen == 0 || k->slen > MAX_NAME)
            return tl_errf(v->err, TL_EINVAL, "%s: state_dict key '%s' has a bad length", L, pk);
        for (size_t j = 0; j < k->slen; j++)
            if (k->s[j] <= 0x20 || k->s[j] >= 0x7f)
                return tl_errf(v->err, TL_EINVAL, "%s: state_dict key '%s' has characters other than printable ASCII", L, pk);
        if (t->kind != O_TENSOR)
            return tl_errf(v->err, TL_EINVAL, "%s: state_dict entry '%s' is not a tensor", L, pk);
        tl_pk_tensor *x = &sd->t[sd->n];
        tensor_info *ti = t->ti;
        obj *st = ti->storage;
        x->dtype = st->dtype;
        x->storage_numel = st->i;
        x->offset = ti->offset;
        x->ndim = ti->ndim;
        memcpy(x->size, ti->size, sizeof x->size);
        memcpy(x->stride, ti->stride, sizeof x->stride);
        if (!(x->name = strdup(k->s)) || !(x->storage_key = strdup(st->s))) {
            free(x->name);
            x->name = NULL;
            return tl_errf(v->err, TL_ENOMEM, "out of memory");
        }
        sd->n++;
        /* the view must lie inside its storage */
        int64_t numel = 1, last = x->offset;
        int bad = x->offset < 0;
        for (int d = 0; d < x->ndim && !bad; d++)
            bad = x->size[d] < 0 || x->stride[d] < 0 || __builtin_mul_overflow(numel, x->size[d], &numel);
        for (int d = 0; d < x->ndim && !bad && numel > 0; d++) {
            int64_t span;
            bad = __builtin_mul_overflow(x->size[d] - 1, x->stride[d], &span) || __builtin_add_overflow(last, span, &last);
        }
        if (bad || (numel > 0 && last >= x->storage_numel))
            return tl_errf(v->err, TL_EINVAL, "%s: tensor '%s': view (offset, sizes, strides) does not fit in its "
                           "storage of %lld elements", L, pk, (long long)x->storage_numel);
        /* more elements than the storage means overlapping or expanded (stride 0) views, which
         * state_dicts do not contain; refusing them bounds the memory a small file can claim */
        if (numel > x->storage_numel)
            return tl_errf(v->err, TL_EINVAL, "%s: tensor '%s': view has %lld elements, more than its storage of %lld "
                           "(overlapping or expanded views are not supported)", L, pk, (long long)numel,
                           (long long)x->storage_numel);
        x->numel = numel;
    }
    tl_pk_tensor *sorted = malloc((sd->n ? (size_t)sd->n : 1) * sizeof *sorted);
    if (!sorted)
        return tl_errf(v->err, TL_ENOMEM, "out of memory");
    memcpy(sorted, sd->t, (size_t)sd->n * sizeof *sorted);
    qsort(sorted, (size_t)sd->n, sizeof *sorted, cmp_names);
    int rc = 0;
    for (int i = 1; i < sd->n && !rc; i++)
        if (!strcmp(sorted[i].name, sorted[i - 1].name))
            rc = tl_errf(v->err, TL_EINVAL, "%s: state_dict key '%.128s' appears twice", L, sorted[i].name);
    free(sorted);
    return rc;
}

int tl_pickle_state_dict(const uint8_t *data, size_t len, const char *label, tl_pk_state_dict *sd, tl_err *err)
{
    memset(sd, 0, sizeof *sd);
    vm v = {.p = data, .len = len, .label = label, .err = err};
    if (len > TL_PK_MAX_BYTES)
        return tl_errf(err, TL_EINVAL, "%s: data.pkl of %zu bytes is larger than the limit", label, len);
    obj *result = NULL;
    int rc = 0;
    while (!rc && !result) {
        if (v.pos >= v.len) {
            rc = tl_errf(err, TL_EINVAL, "%s: data.pkl ends without STOP (truncated?)", label);
            break;
        }
        rc = step(&v, &result);
    }
    if (!rc)
        rc = to_state_dict(&v, result, sd);
    for (size_t i = 0; i < v.nall; i++) {
        free(v.all[i]->s);
        free(v.all[i]->items);
        free(v.all[i]->ti);
        free(v.all[i]);
    }
    free(v.all);
    free(v.stack);
    free(v.marks);
    free(v.memo);
    if (rc)
        tl_pk_state_dict_free(sd);
    return rc;
}

void tl_pk_state_dict_free(tl_pk_state_dict *sd)
{
    for (int i = 0; sd && i < sd->n; i++) {
        free(sd->t[i].name);
        free(sd->t[i].storage_key);
    }
    if (sd) {
        free(sd->t);
        memset(sd, 0, sizeof *sd);
    }
}

int tl_pk_contiguous(const tl_pk_tensor *t)
{
    /* an empty tensor has no layout; its other sizes may be huge (the parser's numel is 0 then), and
     * multiplying them below would overflow */
    for (int d = 0; d < t->ndim; d++)
        if (t->size[d] == 0)
            return 1;
    int64_t expect = 1;
    for (int d = t->ndim - 1; d >= 0; d--) {
        if (t->size[d] != 1 && t->stride[d] != expect)
            return 0;
        if (__builtin_mul_overflow(expect, t->size[d], &expect))
            return 0;
    }
    return 1;
}
