/* libFuzzer target for .pth files: zip container (libzip, stored entries only), data.pkl through the
 * restricted unpickler, storage sizes, then reading every tensor (views gathered from storages).
 *
 * Byte-level mutation of a zip almost never gives one libzip accepts (CRCs, header/directory
 * consistency), so LLVMFuzzerCustomMutator below is structure-aware: it parses the input with libzip
 * into a list of entries, changes one thing (the pickle bytes or one of its integer arguments, a
 * storage's bytes or length, an entry's name, an added/removed/copied/reordered entry, a compression
 * method, the encryption flag, a stored CRC or size, the byteorder entry) and writes a VALID zip again,
 * so what gets exercised is pth.c's entry checks and pickle.c, not libzip's refusal. Inputs that are
 * not zips, and 1 in 16 mutations, get plain LLVMFuzzerMutate (container-level fuzzing stays).
 * Deterministic given the seed argument.
 *
 * Measured 2026-11-26 on the shared 2-core EPYC (load ~1), 60 s each, -seed=1, one run after the other;
 * "parser edges" = covered edges of src/formats/{pth,pickle,dtype}.c from -print_coverage=1 (of 2773):
 *   old byte-level target, old seed small.pth      cov 1056  ft 1201  parser edges 1035   61k exec/s
 *   old byte-level target, + fuzz/make_pth_seeds.py  cov 1154  ft 2741  parser edges 1133   59k exec/s
 *   this target (custom mutator), same 4 seeds      cov 1472  ft 6198  parser edges 1451   14k exec/s
 * (pth.c 233 -> 248, pickle.c 820 -> 1119 edges vs the old target on the same seeds; the mutator itself
 * is built without coverage instrumentation, so it adds nothing to cov.) The first such run found
 * NULL-pointer UB on empty MARK groups in pickle.c ("(t" before any push, "}(u"), now fixed and tested
 * in tests/formats/test_pth_hostile.c. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zip.h>

#include "formats/pth.h"
#include "util/bytes.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tl_pth_file f;
    tl_err err = {0};
    if (tl_pth_open_mem(data, size, "fuzz", &f, &err) != 0)
        return 0;
    for (int i = 0; i < f.sd.n; i++) {
        const tl_pk_tensor *t = &f.sd.t[i];
        if ((uint64_t)t->numel * tl_dtype_size(t->dtype) > size) /* storages are inside the input */
            __builtin_trap();
        float *dst = malloc((size_t)t->numel * sizeof *dst + 1);
        if (dst)
            tl_pth_read_f32(&f, i, dst, &err);
        free(dst);
    }
    tl_pth_close(&f);
    return 0;
}

/* ---- structure-aware mutator ---- */

size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);

#define NOCOV __attribute__((no_sanitize("coverage"))) /* mutator edges are not target coverage */
#define MAX_ENT 64
#define MAX_NAME 300

typedef struct {
    char name[MAX_NAME];
    uint8_t *data;          /* as stored (raw, possibly "compressed"/"encrypted") */
    size_t len;
    uint16_t method, flags; /* flags: general purpose bits, bit 0 = encrypted */
    uint32_t crc, usize;
} ent;

typedef struct {
    ent e[MAX_ENT];
    int n;
} arc;

NOCOV static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
#define RND(n) ((size_t)(rng_next(rs) % (uint64_t)(n)))

NOCOV static uint32_t crc32_of(const uint8_t *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1)));
    }
    return ~c;
}

NOCOV static void arc_free(arc *a)
{
    for (int i = 0; i < a->n; i++)
        free(a->e[i].data);
    a->n = 0;
}

/* Parses a zip with libzip into entries holding their raw stored bytes; -1 if it is not one. */
NOCOV static int arc_parse(const uint8_t *buf, size_t len, arc *a)
{
    a->n = 0;
    if (len < 4 || memcmp(buf, "PK", 2))
        return -1;
    zip_error_t ze;
    zip_error_init(&ze);
    zip_source_t *src = zip_source_buffer_create(buf, len, 0, &ze);
    zip_t *z = src ? zip_open_from_source(src, ZIP_RDONLY, &ze) : NULL;
    zip_error_fini(&ze);
    if (!z) {
        zip_source_free(src);
        return -1;
    }
    zip_int64_t n = zip_get_num_entries(z, 0);
    int rc = n <= 0 || n > MAX_ENT ? -1 : 0;
    for (zip_int64_t i = 0; !rc && i < n; i++) {
        zip_stat_t st;
        const char *name = zip_get_name(z, (zip_uint64_t)i, ZIP_FL_ENC_RAW);
        if (!name || strlen(name) >= MAX_NAME || zip_stat_index(z, (zip_uint64_t)i, ZIP_FL_ENC_RAW, &st) ||
            !(st.valid & ZIP_STAT_COMP_SIZE) || st.comp_size > len) {
            rc = -1;
            break;
        }
        ent *e = &a->e[a->n];
        memset(e, 0, sizeof *e);
        strcpy(e->name, name);
        e->method = (uint16_t)st.comp_method;
        e->flags = (st.valid & ZIP_STAT_ENCRYPTION_METHOD) && st.encryption_method != ZIP_EM_NONE;
        e->crc = st.crc;
        e->usize = (uint32_t)st.size;
        e->data = malloc(st.comp_size + 1);
        zip_file_t *zf = zip_fopen_index(z, (zip_uint64_t)i, ZIP_FL_ENCRYPTED);
        if (!e->data || !zf) {
            free(e->data);
            if (zf)
                zip_fclose(zf);
            rc = -1;
            break;
        }
        zip_int64_t got = zip_fread(zf, e->data, st.comp_size);
        zip_fclose(zf);
        e->len = got > 0 ? (size_t)got : 0;
        a->n++;
    }
    zip_discard(z);
    if (rc)
        arc_free(a);
    return rc;
}


/* Writes a plain (non-zip64) zip; its size, or 0 if it does not fit in max. */
NOCOV static size_t arc_write(const arc *a, uint8_t *out, size_t max)
{
    size_t need = 22, pos = 0;
    for (int i = 0; i < a->n; i++)
        need += 30 + 46 + 2 * strlen(a->e[i].name) + a->e[i].len;
    if (need > max || a->n == 0)
        return 0;
    uint32_t offs[MAX_ENT];
    for (int i = 0; i < a->n; i++) {
        const ent *e = &a->e[i];
        size_t nl = strlen(e->name);
        offs[i] = (uint32_t)pos;
        uint8_t *h = out + pos;
        tl_store_le32(h, 0x04034b50), tl_store_le16(h + 4, 20), tl_store_le16(h + 6, e->flags), tl_store_le16(h + 8, e->method);
        tl_store_le32(h + 10, 0), tl_store_le32(h + 14, e->crc), tl_store_le32(h + 18, (uint32_t)e->len), tl_store_le32(h + 22, e->usize);
        tl_store_le16(h + 26, (unsigned)nl), tl_store_le16(h + 28, 0);
        memcpy(h + 30, e->name, nl);
        if (e->len)
            memcpy(h + 30 + nl, e->data, e->len);
        pos += 30 + nl + e->len;
    }
    size_t cd = pos;
    for (int i = 0; i < a->n; i++) {
        const ent *e = &a->e[i];
        size_t nl = strlen(e->name);
        uint8_t *h = out + pos;
        memset(h, 0, 46);
        tl_store_le32(h, 0x02014b50), tl_store_le16(h + 4, 20), tl_store_le16(h + 6, 20), tl_store_le16(h + 8, e->flags), tl_store_le16(h + 10, e->method);
        tl_store_le32(h + 16, e->crc), tl_store_le32(h + 20, (uint32_t)e->len), tl_store_le32(h + 24, e->usize);
        tl_store_le16(h + 28, (unsigned)nl), tl_store_le32(h + 42, offs[i]);
        memcpy(h + 46, e->name, nl);
        pos += 46 + nl;
    }
    uint8_t *h = out + pos;
    memset(h, 0, 22);
    tl_store_le32(h, 0x06054b50), tl_store_le16(h + 8, (unsigned)a->n), tl_store_le16(h + 10, (unsigned)a->n);
    tl_store_le32(h + 12, (uint32_t)(pos - cd)), tl_store_le32(h + 16, (uint32_t)cd);
    return pos + 22;
}

/* An entry whose data changed: stored entries get a matching size and CRC again. */
NOCOV static void refresh(ent *e)
{
    if (e->method == ZIP_CM_STORE && !(e->flags & 1)) {
        e->usize = (uint32_t)e->len;
        e->crc = crc32_of(e->data, e->len);
    }
}

NOCOV static int set_data(ent *e, const void *p, size_t n)
{
    uint8_t *d = malloc(n + 1);
    if (!d)
        return -1;
    if (n)
        memcpy(d, p, n);
    free(e->data);
    e->data = d;
    e->len = n;
    refresh(e);
    return 0;
}

/* Mutates an entry's bytes in place with libFuzzer's own mutator, within cap bytes. */
NOCOV static int mutate_bytes(ent *e, size_t cap)
{
    uint8_t *d = malloc(cap + 1);
    if (!d)
        return -1;
    size_t n = e->len < cap ? e->len : cap;
    if (n)
        memcpy(d, e->data, n);
    n = LLVMFuzzerMutate(d, n, cap);
    free(e->data);
    e->data = d;
    e->len = n;
    refresh(e);
    return 0;
}

NOCOV static int find(const arc *a, const char *suffix)
{
    size_t sl = strlen(suffix);
    for (int i = 0; i < a->n; i++) {
        size_t nl = strlen(a->e[i].name);
        if (nl >= sl && !strcmp(a->e[i].name + nl - sl, suffix))
            return i;
    }
    return -1;
}

/* Sets one integer opcode argument of the pickle (sizes, strides, offsets, storage numel) to an
 * interesting value; BININT1 may grow into BININT or LONG1 so negatives and huge values appear. */
NOCOV static int tweak_int(ent *e, uint64_t *rs)
{
    size_t at[256], n = 0;
    for (size_t i = 0; i + 1 < e->len && n < 256; i++)
        if (e->data[i] == 'K' || (e->data[i] == 'J' && i + 4 < e->len) || (e->data[i] == 'M' && i + 2 < e->len))
            at[n++] = i;
    if (!n)
        return -1;
    static const int64_t vals[] = {0, 1, 2, 3, 4, 5, 7, 8, 16, 255, 256, -1, -2, 0x7fffffff, -0x7fffffff - 1,
                                   0x7fffffffffffffffll, (int64_t)0x8000000000000000ull, 0x100000000ll, 1ll << 62};
    size_t p = at[RND(n)], old = e->data[p] == 'K' ? 2 : e->data[p] == 'M' ? 3 : 5;
    int64_t v = RND(4) ? vals[RND(sizeof vals / sizeof *vals)] : (int64_t)rng_next(rs);
    uint8_t rep[10];
    size_t rl;
    if (v >= 0 && v < 256)
        rep[0] = 'K', rep[1] = (uint8_t)v, rl = 2;
    else if (v >= INT32_MIN && v <= INT32_MAX)
        rep[0] = 'J', tl_store_le32(rep + 1, (uint32_t)v), rl = 5;
    else {
        rep[0] = 0x8a, rep[1] = 8, rl = 10;
        for (int k = 0; k < 8; k++)
            rep[2 + k] = (uint8_t)((uint64_t)v >> (8 * k));
    }
    uint8_t *d = malloc(e->len - old + rl + 1);
    if (!d)
        return -1;
    memcpy(d, e->data, p);
    memcpy(d + p, rep, rl);
    memcpy(d + p + rl, e->data + p + old, e->len - p - old);
    free(e->data);
    e->data = d;
    e->len = e->len - old + rl;
    refresh(e);
    return 0;
}

/* A name pth.c looks for or should not be fooled by, built on the archive prefix. */
NOCOV static void pick_name(const arc *a, char *out, uint64_t *rs)
{
    int pk = find(a, "/data.pkl");
    char prefix[MAX_NAME] = "archive";
    if (pk >= 0)
        snprintf(prefix, sizeof prefix, "%.*s", (int)(strlen(a->e[pk].name) - 9), a->e[pk].name);
    switch (RND(10)) {
    case 0: snprintf(out, MAX_NAME, "%s/data.pkl", prefix); break;
    case 1: snprintf(out, MAX_NAME, "%s/byteorder", prefix); break;
    case 2: snprintf(out, MAX_NAME, "%s/version", prefix); break;
    case 3: snprintf(out, MAX_NAME, "other/data.pkl"); break;
    case 4: snprintf(out, MAX_NAME, "%s/x/data.pkl", prefix); break;
    case 5: snprintf(out, MAX_NAME, "data.pkl"); break;
    case 6: snprintf(out, MAX_NAME, "/data.pkl"); break;
    case 7: snprintf(out, MAX_NAME, "%s/data/", prefix); break;
    default: snprintf(out, MAX_NAME, "%s/data/%zu", prefix, RND(12)); break;
    }
}

NOCOV static int unique_name(const arc *a, const char *name)
{
    for (int i = 0; i < a->n; i++)
        if (!strcmp(a->e[i].name, name))
            return 0; /* libzip refuses duplicate names, so never write them */
    return 1;
}

NOCOV static int mutate_arc(arc *a, size_t max, uint64_t *rs)
{
    int pk = find(a, "/data.pkl");
    int i = (int)RND(a->n);
    ent *e = &a->e[i];
    size_t cap = max > 256 ? max / 2 : 128;
    switch (RND(20)) {
    case 0: case 1: case 2: case 3: case 4: case 5: /* the pickle's bytes */
        return pk < 0 ? -1 : mutate_bytes(&a->e[pk], cap);
    case 6: case 7: case 8: /* one integer of the pickle */
        return pk < 0 ? -1 : tweak_int(&a->e[pk], rs);
    case 9: /* a storage's bytes */
        return mutate_bytes(e, e->len + 16 < cap ? e->len + 16 : cap);
    case 10: { /* a storage's length: cut, zero, or grow by a few elements */
        size_t n = RND(3) == 0 ? 0 : RND(2) ? RND(e->len + 1) : e->len + 1 + RND(16);
        uint8_t *tmp = calloc(n + 1, 1);
        if (!tmp)
            return -1;
        memcpy(tmp, e->data, n < e->len ? n : e->len);
        int rc = set_data(e, tmp, n);
        free(tmp);
        return rc;
    }
    case 11: { /* rename: a meaningful name, or libFuzzer's bytes */
        char nm[MAX_NAME];
        if (RND(2))
            pick_name(a, nm, rs);
        else {
            size_t n = strlen(e->name);
            memcpy(nm, e->name, n);
            n = LLVMFuzzerMutate((uint8_t *)nm, n, MAX_NAME - 1);
            nm[n] = 0;
        }
        if (!nm[0] || !unique_name(a, nm))
            return -1;
        strcpy(e->name, nm);
        return 0;
    }
    case 12: /* remove an entry */
        if (a->n < 2)
            return -1;
        free(e->data);
        memmove(e, e + 1, (size_t)(a->n - i - 1) * sizeof *e);
        a->n--;
        return 0;
    case 13: case 14: { /* add an entry: a copy of another under a new name, or a small byteorder/version */
        if (a->n >= MAX_ENT)
            return -1;
        ent *ne = &a->e[a->n];
        memset(ne, 0, sizeof *ne);
        pick_name(a, ne->name, rs);
        if (!unique_name(a, ne->name))
            return -1;
        static const char *small[] = {"little", "big", "littl", "little\n", "", "3\n", "LITTLE"};
        const char *s = small[RND(sizeof small / sizeof *small)];
        int rc = RND(2) ? set_data(ne, e->data, e->len) : set_data(ne, s, strlen(s));
        if (!rc)
            a->n++;
        return rc;
    }
    case 15: { /* swap two entries (order of data.pkl vs storages, first-match lookups) */
        int j = (int)RND(a->n);
        ent t = a->e[i];
        a->e[i] = a->e[j];
        a->e[j] = t;
        return 0;
    }
    case 16: { /* compression method */
        static const uint16_t m[] = {ZIP_CM_STORE, ZIP_CM_DEFLATE, ZIP_CM_BZIP2, ZIP_CM_LZMA, ZIP_CM_XZ, 99, 1};
        e->method = m[RND(sizeof m / sizeof *m)];
        refresh(e);
        return 0;
    }
    case 17: /* traditional PKWARE encryption flag */
        e->flags ^= 1;
        refresh(e);
        return 0;
    case 18: /* a wrong CRC or uncompressed size in the headers: caught when the entry is read */
        if (RND(2))
            e->crc ^= 1u << RND(32);
        else
            e->usize = RND(2) ? e->usize + 1 + (uint32_t)RND(8) : (uint32_t)RND(e->usize + 1);
        return 0;
    default: { /* byteorder entry: set or add */
        int b = find(a, "/byteorder");
        static const char *bo[] = {"little", "big", "littlE", "little!"};
        const char *s = bo[RND(sizeof bo / sizeof *bo)];
        if (b >= 0)
            return set_data(&a->e[b], s, strlen(s));
        if (pk < 0 || a->n >= MAX_ENT)
            return -1;
        ent *ne = &a->e[a->n];
        memset(ne, 0, sizeof *ne);
        snprintf(ne->name, MAX_NAME, "%.*s/byteorder", (int)(strlen(a->e[pk].name) - 9), a->e[pk].name);
        if (set_data(ne, s, strlen(s)))
            return -1;
        a->n++;
        return 0;
    }
    }
}

NOCOV size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed)
{
    uint64_t state = seed, *rs = &state;
    arc *a = calloc(1, sizeof *a);
    uint8_t *out = malloc(max_size + 1);
    size_t n = 0;
    if (a && out && RND(16) && arc_parse(data, size, a) == 0) {
        int steps = 1 + (RND(4) == 0) + (RND(8) == 0);
        int ok = 1;
        for (int s = 0; s < steps && ok; s++)
            ok = mutate_arc(a, max_size, rs) == 0;
        if (ok)
            n = arc_write(a, out, max_size);
        if (n)
            memcpy(data, out, n);
        arc_free(a);
    }
    free(a);
    free(out);
    return n ? n : LLVMFuzzerMutate(data, size, max_size);
}
