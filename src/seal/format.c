#include "seal/format.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "model/params.h"
#include "seal/crypto.h"
#include "seal/seal.h"
#include "util/bytes.h"
#include "util/json_fields.h"

static int all_zero(const uint8_t *p, size_t n)
{
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++)
        acc |= p[i];
    return acc == 0;
}

int tl_seal_header_parse(const uint8_t raw[TL_SEAL_HEADER_LEN], tl_seal_header *h, tl_err *err)
{
    memset(h, 0, sizeof *h);
    memcpy(h->raw, raw, TL_SEAL_HEADER_LEN);
    if (memcmp(raw, TL_SEAL_MAGIC, 8) != 0)
        return tl_errf(err, TL_EINVAL, "sealed header: bad magic: not a teelm sealed model (damaged, or not sealed)");
    if (tl_load_le16(raw + 8) != TL_SEAL_VERSION)
        return tl_errf(err, TL_EUNSUPPORTED, "sealed header: unsupported format version %u", tl_load_le16(raw + 8));
    if (tl_load_le16(raw + 10) != TL_SEAL_HEADER_LEN)
        return tl_errf(err, TL_EINVAL, "sealed header: header size %u, want %d", tl_load_le16(raw + 10), TL_SEAL_HEADER_LEN);
    if (tl_load_le32(raw + 12) != 0)
        return tl_errf(err, TL_EUNSUPPORTED, "sealed header: unknown flags 0x%x", tl_load_le32(raw + 12));
    memcpy(h->model_id, raw + 16, 32);
    h->file_index = tl_load_le32(raw + 48);
    h->file_count = tl_load_le32(raw + 52);
    h->chunk_size = tl_load_le32(raw + 56);
    h->chunk_count = tl_load_le64(raw + 64);
    if (h->file_count < 1 || h->file_count > TL_SEAL_MAX_FILES || h->file_index >= h->file_count)
        return tl_errf(err, TL_EINVAL, "sealed header: file %u of %u is out of range", h->file_index, h->file_count);
    if (h->chunk_size < TL_SEAL_CHUNK_MIN || h->chunk_size > TL_SEAL_CHUNK_MAX || (h->chunk_size & (h->chunk_size - 1)))
        return tl_errf(err, TL_EINVAL, "sealed header: chunk size %u is not a power of two in [%u, %u]", h->chunk_size,
                       TL_SEAL_CHUNK_MIN, TL_SEAL_CHUNK_MAX);
    /* Cap the stream at 2^46 bytes (64 TiB): keeps every offset computation far from overflow. */
    if (h->chunk_count < 1 || h->chunk_count > ((uint64_t)1 << 46) / h->chunk_size)
        return tl_errf(err, TL_EINVAL, "sealed header: chunk count %llu is out of range", (unsigned long long)h->chunk_count);
    if (!all_zero(raw + 60, 4) || !all_zero(raw + 136, TL_SEAL_TAG_OFF - 136))
        return tl_errf(err, TL_EINVAL, "sealed header: reserved bytes are not zero");
    unsigned klen = raw[72];
    if (klen < 1 || klen > TL_KEY_ID_MAX || !all_zero(raw + 73 + klen, TL_KEY_ID_MAX - klen))
        return tl_errf(err, TL_EINVAL, "sealed header: bad key id length %u", klen);
    memcpy(h->key_id, raw + 73, klen);
    h->key_id[klen] = 0;
    if (!tl_key_id_valid(h->key_id))
        return tl_errf(err, TL_EINVAL, "sealed header: key id contains invalid characters");
    return 0;
}

void tl_seal_header_encode(tl_seal_header *h)
{
    uint8_t *r = h->raw;
    memset(r, 0, TL_SEAL_HEADER_LEN);
    memcpy(r, TL_SEAL_MAGIC, 8);
    tl_store_le16(r + 8, TL_SEAL_VERSION);
    tl_store_le16(r + 10, TL_SEAL_HEADER_LEN);
    memcpy(r + 16, h->model_id, 32);
    tl_store_le32(r + 48, h->file_index);
    tl_store_le32(r + 52, h->file_count);
    tl_store_le32(r + 56, h->chunk_size);
    tl_store_le64(r + 64, h->chunk_count);
    size_t klen = strlen(h->key_id);
    r[72] = (uint8_t)klen;
    memcpy(r + 73, h->key_id, klen);
}

int tl_seal_file_key(const uint8_t dk[TL_KEY_LEN], const tl_seal_header *h, uint8_t out[32], tl_err *err)
{
    static const char label[] = "teelm-sealed-v1 file key";
    uint8_t info[sizeof label - 1 + 8];
    memcpy(info, label, sizeof label - 1);
    tl_store_be32(info + sizeof label - 1, h->file_index);
    tl_store_be32(info + sizeof label + 3, h->file_count);
    return tl_hkdf_sha256(dk, TL_KEY_LEN, h->model_id, 32, info, sizeof info, out, 32, err);
}

void tl_seal_iv(uint32_t domain, uint64_t index, uint8_t iv[12])
{
    tl_store_be32(iv, domain);
    tl_store_be64(iv + 4, index);
}

void tl_seal_chunk_aad(const tl_seal_header *h, uint64_t index, uint8_t aad[TL_SEAL_AAD_LEN])
{
    memcpy(aad, h->raw, TL_SEAL_HEADER_LEN);
    tl_store_le64(aad + TL_SEAL_HEADER_LEN, index);
    aad[TL_SEAL_HEADER_LEN + 8] = index + 1 == h->chunk_count;
}

void tl_seal_desc_encode(const tl_seal_desc *d, uint8_t out[TL_SEAL_DESC_LEN])
{
    tl_store_le64(out, d->meta_len);
    tl_store_le64(out + 8, d->blob_len);
    tl_store_le64(out + 16, d->data_offset);
    tl_store_le64(out + 24, d->data_len);
}

int tl_seal_desc_parse(const uint8_t in[TL_SEAL_DESC_LEN], const tl_seal_header *h, tl_seal_desc *d, tl_err *err)
{
    d->meta_len = tl_load_le64(in);
    d->blob_len = tl_load_le64(in + 8);
    d->data_offset = tl_load_le64(in + 16);
    d->data_len = tl_load_le64(in + 24);
    uint64_t stream = h->chunk_count * h->chunk_size; /* <= 2^46 (header check) */
    if (d->meta_len > TL_SEAL_MAX_META || d->blob_len > TL_SEAL_MAX_BLOB)
        return tl_errf(err, TL_EINVAL, "sealed descriptor: metadata sizes out of range");
    if (d->data_offset != TL_SEAL_DESC_LEN + d->meta_len + d->blob_len || d->data_len > stream ||
        d->data_offset > stream - d->data_len)
        return tl_errf(err, TL_EINVAL, "sealed descriptor: sections do not fit the file");
    /* Padding is shorter than one chunk, so every chunk carries content and gets verified. */
    if (d->data_offset + d->data_len <= stream - h->chunk_size)
        return tl_errf(err, TL_EINVAL, "sealed descriptor: more chunks than content");
    return 0;
}

/* ---- manifest ---- */

int tl_seal_carried_name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n < 1 || n >= TL_SEAL_CARRIED_NAME || name[0] == '.' || name[0] == '-')
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
              c == '-'))
            return 0;
    }
    return 1;
}

/* The types the engine runs (a GGUF file's quantized matrices stay quantized when sealed). */
static int weight_dtype_ok(tl_dtype dt)
{
    return dt == TL_DT_F32 || dt == TL_DT_F16 || dt == TL_DT_BF16 || dt == TL_DT_Q8_0 || dt == TL_DT_Q4_0 ||
           dt == TL_DT_Q4_K || dt == TL_DT_Q6_K;
}

/* Bytes of tensor p in dtype dt: block types only for matrices whose rows (along the input
 * dimension, tl_param_row_len) are whole blocks (a block never spans two rows, as in GGUF); 0
 * when not so. */
static uint64_t tensor_bytes(const tl_param *p, tl_dtype dt)
{
    if (tl_dtype_is_block(dt) && (p->ndim != 2 || tl_param_row_len(p) % (int64_t)tl_dtype_block(dt) != 0))
        return 0;
    size_t b = tl_dtype_bytes(dt, p->numel);
    return b == SIZE_MAX ? 0 : (uint64_t)b;
}

uint64_t tl_seal_layout(const tl_config *cfg, const tl_param *list, int n, const tl_dtype *dtypes, uint64_t *off)
{
    if (!tl_config_is_hf(cfg)) {
        for (int i = 0; i < n; i++)
            off[i] = (uint64_t)list[i].offset * sizeof(float);
        return (uint64_t)tl_params_arena_floats(cfg) * sizeof(float);
    }
    /* A validated config implies at most 2^36 scalars, so none of this comes near 2^64; the checks
     * keep that true for any list a caller passes. */
    const uint64_t lim = (uint64_t)1 << 62;
    uint64_t at = 0;
    for (int i = 0; i < n; i++) {
        if (!weight_dtype_ok(dtypes[i]))
            return 0;
        uint64_t bytes = list[i].numel ? tensor_bytes(&list[i], dtypes[i]) : 0;
        if ((list[i].numel && !bytes) || bytes > lim - TL_SEAL_WALIGN || at > lim - TL_SEAL_WALIGN - bytes)
            return 0;
        off[i] = at;
        at += (bytes + TL_SEAL_WALIGN - 1) / TL_SEAL_WALIGN * TL_SEAL_WALIGN;
    }
    return at;
}

char *tl_seal_manifest_json(const tl_config *cfg, const tl_dtype *dtypes, const tl_seal_file_entry *files, int nfiles,
                            const char *tok_name, size_t tok_len, const tl_seal_carried *carried, int ncarried)
{
    const int hf = tl_config_is_hf(cfg);
    char *cfg_text = tl_config_to_json(cfg);
    json_t *cfg_json = cfg_text ? json_loads(cfg_text, 0, NULL) : NULL;
    free(cfg_text);
    int n = tl_params_count(cfg);
    tl_param *list = calloc((size_t)n, sizeof *list);
    uint64_t *off = calloc((size_t)n, sizeof *off);
    json_t *root = json_object(), *jf = json_array(), *jt = json_array();
    int ok = cfg_json && list && off && root && jf && jt && (!hf || dtypes);
    if (ok) {
        tl_params_list(cfg, list);
        ok = tl_seal_layout(cfg, list, n, dtypes, off) || !n;
    }
    if (!ok) {
        json_decref(cfg_json);
        json_decref(root);
        json_decref(jf);
        json_decref(jt);
        free(list);
        free(off);
        return NULL;
    }
    for (int i = 0; i < nfiles; i++)
        json_array_append_new(jf, json_pack("{s:s,s:I,s:I}", "name", files[i].name, "begin", (json_int_t)files[i].begin,
                                            "end", (json_int_t)files[i].end));
    for (int i = 0; i < n; i++) {
        json_t *shape = json_array();
        for (int d = 0; d < list[i].ndim; d++)
            json_array_append_new(shape, json_integer(list[i].shape[d]));
        /* the seed's entries stay exactly as before (no dtype: its arena is float32) */
        json_t *t = hf ? json_pack("{s:s,s:o,s:s,s:I}", "name", list[i].name, "shape", shape, "dtype",
                                   tl_dtype_name(dtypes[i]), "offset", (json_int_t)off[i])
                       : json_pack("{s:s,s:o,s:I}", "name", list[i].name, "shape", shape, "offset", (json_int_t)off[i]);
        json_array_append_new(jt, t);
    }
    free(list);
    free(off);
    json_object_set_new(root, "format", json_string("teelm-sealed"));
    json_object_set_new(root, "version", json_integer(TL_SEAL_VERSION));
    json_object_set_new(root, "config", cfg_json);
    json_object_set_new(root, "files", jf);
    json_object_set_new(root, "tensors", jt);
    if (tok_len)
        json_object_set_new(root, "tokenizer", json_pack("{s:s,s:I}", "name", tok_name ? tok_name : "tokenizer",
                                                         "bytes", (json_int_t)tok_len));
    if (ncarried > 0) {
        json_t *jc = json_array();
        for (int i = 0; i < ncarried; i++)
            json_array_append_new(jc, json_pack("{s:s,s:I}", "name", carried[i].name, "bytes", (json_int_t)carried[i].len));
        json_object_set_new(root, "tokenizer_files", jc);
    }
    char *s = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(root);
    return s;
}

void tl_seal_manifest_free(tl_seal_manifest *m)
{
    if (m) {
        free(m->files);
        free(m->dtype);
        free(m->offset);
        memset(m, 0, sizeof *m);
    }
}

static int get_u64(json_t *o, const char *key, uint64_t *out, const char *where, tl_err *err)
{
    if (tl_json_u64(json_object_get(o, key), out))
        return tl_errf(err, TL_EINVAL, "manifest: %s field '%s' must be a non-negative integer", where, key);
    return 0;
}

static int check_keys(json_t *o, const tl_json_field *fields, const char *where, tl_err *err)
{
    const char *key;
    if (tl_json_fields(o, fields, NULL, &key) == TL_JF_UNKNOWN)
        return tl_errf(err, TL_EINVAL, "manifest: unknown field '%.64s' in %s", key, where);
    return 0;
}

/* The tensor table must be tl_params_list(cfg) with the layout of tl_seal_layout: names and
 * shapes as the config implies, a dtype (F32/F16/BF16, or a block type for a matrix whose rows are
 * whole blocks) for the Hugging Face families only, and
 * each offset where the dtypes before it put it. Fills m->ntensors, dtype, offset, arena_bytes. */
static int parse_tensors(json_t *jt, tl_seal_manifest *m, tl_err *err)
{
    const tl_config *cfg = &m->cfg;
    const int hf = tl_config_is_hf(cfg);
    int n = tl_params_count(cfg);
    if (!json_is_array(jt) || json_array_size(jt) != (size_t)n)
        return tl_errf(err, TL_EINVAL, "manifest: 'tensors' must list the %d tensors of the config", n);
    tl_param *list = calloc((size_t)n, sizeof *list);
    m->dtype = calloc((size_t)n, sizeof *m->dtype);
    m->offset = calloc((size_t)n, sizeof *m->offset);
    if (!list || !m->dtype || !m->offset) {
        free(list);
        return tl_errf(err, TL_ENOMEM, "manifest: out of memory");
    }
    m->ntensors = n;
    tl_params_list(cfg, list);
    int rc = 0;
    for (int i = 0; i < n && !rc; i++) {
        static const tl_json_field seed_keys[] = {{"name"}, {"shape"}, {"offset"}, {NULL}};
        static const tl_json_field hf_keys[] = {{"name"}, {"shape"}, {"dtype"}, {"offset"}, {NULL}};
        json_t *t = json_array_get(jt, (size_t)i), *shape = json_object_get(t, "shape");
        const char *name = json_string_value(json_object_get(t, "name"));
        const char *dt = json_string_value(json_object_get(t, "dtype"));
        uint64_t off = 0;
        m->dtype[i] = TL_DT_F32;
        if (!json_is_object(t) || (rc = check_keys(t, hf ? hf_keys : seed_keys, "a tensor", err)))
            rc = rc ? rc : tl_errf(err, TL_EINVAL, "manifest: tensor %d is not an object", i);
        else if (!name || strcmp(name, list[i].name) != 0)
            rc = tl_errf(err, TL_EINVAL, "manifest: tensor %d is not '%s' as the config requires", i, list[i].name);
        else if (hf && (!dt || tl_dtype_from_name_any(dt) < 0 || !weight_dtype_ok((tl_dtype)tl_dtype_from_name_any(dt))))
            rc = tl_errf(err, TL_EINVAL, "manifest: tensor '%s' dtype %s%.16s%s is not F32, F16, BF16, Q8_0, Q4_0, Q4_K "
                         "or Q6_K", list[i].name,
                         dt ? "'" : "", dt ? dt : "(absent)", dt ? "'" : "");
        else if ((rc = get_u64(t, "offset", &off, "tensor", err)))
            ;
        else if (!json_is_array(shape) || json_array_size(shape) != (size_t)list[i].ndim)
            rc = tl_errf(err, TL_EINVAL, "manifest: tensor '%s' shape has the wrong rank", list[i].name);
        else {
            if (hf)
                m->dtype[i] = (tl_dtype)tl_dtype_from_name_any(dt);
            m->offset[i] = off;
            for (int d = 0; d < list[i].ndim && !rc; d++) {
                json_t *x = json_array_get(shape, (size_t)d);
                if (!json_is_integer(x) || json_integer_value(x) != list[i].shape[d])
                    rc = tl_errf(err, TL_EINVAL, "manifest: tensor '%s' shape does not match the config", list[i].name);
            }
        }
    }
    if (!rc) { /* the offsets must be exactly those the config and the dtypes imply */
        uint64_t *want = calloc((size_t)n + 1, sizeof *want);
        if (!want)
            rc = tl_errf(err, TL_ENOMEM, "manifest: out of memory");
        else if (!(m->arena_bytes = tl_seal_layout(cfg, list, n, m->dtype, want)))
            rc = tl_errf(err, TL_EINVAL, "manifest: the tensor sizes overflow");
        for (int i = 0; i < n && !rc; i++)
            if (m->offset[i] != want[i])
                rc = tl_errf(err, TL_EINVAL, "manifest: tensor '%s' offset %llu does not match the arena layout (%llu)",
                             list[i].name, (unsigned long long)m->offset[i], (unsigned long long)want[i]);
        free(want);
    }
    free(list);
    return rc;
}

/* "tokenizer_files": 1..TL_SEAL_MAX_CARRIED entries {name, bytes}, plain distinct names. */
static int parse_carried(json_t *jc, tl_seal_manifest *m, tl_err *err)
{
    size_t n = json_array_size(jc);
    if (!json_is_array(jc) || n < 1 || n > TL_SEAL_MAX_CARRIED)
        return tl_errf(err, TL_EINVAL, "manifest: 'tokenizer_files' must list 1 to %d files", TL_SEAL_MAX_CARRIED);
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++) {
        static const tl_json_field keys[] = {{"name"}, {"bytes"}, {NULL}};
        json_t *f = json_array_get(jc, i);
        const char *name = json_string_value(json_object_get(f, "name"));
        tl_seal_carried *c = &m->carried[i];
        int rc;
        if (!json_is_object(f) || !name || !tl_seal_carried_name_ok(name))
            return tl_errf(err, TL_EINVAL, "manifest: tokenizer file %zu needs a plain file name ([A-Za-z0-9._-], at "
                           "most %d bytes, not starting with '.' or '-')", i, TL_SEAL_CARRIED_NAME - 1);
        if ((rc = check_keys(f, keys, "a tokenizer file", err)) || (rc = get_u64(f, "bytes", &c->len, "tokenizer file", err)))
            return rc;
        for (size_t j = 0; j < i; j++)
            if (strcmp(m->carried[j].name, name) == 0)
                return tl_errf(err, TL_EINVAL, "manifest: tokenizer file '%s' is listed twice", name);
        if (c->len > TL_SEAL_MAX_BLOB || total + c->len > TL_SEAL_MAX_BLOB)
            return tl_errf(err, TL_EINVAL, "manifest: tokenizer files exceed %u bytes in all", TL_SEAL_MAX_BLOB);
        total += c->len;
        memcpy(c->name, name, strlen(name) + 1);
    }
    m->ncarried = (int)n;
    return 0;
}

int tl_seal_manifest_parse(const char *text, size_t len, uint32_t file_count, tl_seal_manifest *m, tl_err *err)
{
    memset(m, 0, sizeof *m);
    json_error_t je;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return tl_errf(err, TL_EINVAL, "manifest: bad JSON at line %d column %d: %s", je.line, je.column, je.text);
    static const tl_json_field top[] = {{"format"},    {"version"},   {"config"},          {"files"},
                                        {"tensors"},   {"tokenizer"}, {"tokenizer_files"}, {NULL}};
    int rc = 0;
    json_t *cfg = json_object_get(root, "config"), *files = json_object_get(root, "files");
    json_t *tok = json_object_get(root, "tokenizer"), *carried = json_object_get(root, "tokenizer_files");
    const char *fmt = json_string_value(json_object_get(root, "format"));
    if (!json_is_object(root)) {
        rc = tl_errf(err, TL_EINVAL, "manifest: must be a JSON object");
        goto out;
    }
    if ((rc = check_keys(root, top, "the manifest", err)))
        goto out;
    if (!fmt || strcmp(fmt, "teelm-sealed") != 0 || json_integer_value(json_object_get(root, "version")) != TL_SEAL_VERSION) {
        rc = tl_errf(err, TL_EINVAL, "manifest: not a teelm-sealed version %d manifest", TL_SEAL_VERSION);
        goto out;
    }
    if (!json_is_object(cfg)) {
        rc = tl_errf(err, TL_EINVAL, "manifest: 'config' must be an object");
        goto out;
    }
    char *cfg_text = json_dumps(cfg, JSON_COMPACT);
    rc = cfg_text ? tl_config_parse(cfg_text, &m->cfg, err) : tl_errf(err, TL_ENOMEM, "manifest: out of memory");
    free(cfg_text);
    if (rc) {
        tl_err_prefix(err, "manifest");
        goto out;
    }
    if ((rc = parse_tensors(json_object_get(root, "tensors"), m, err)))
        goto out;
    if (!json_is_array(files) || json_array_size(files) != file_count) {
        rc = tl_errf(err, TL_EINVAL, "manifest: 'files' must list %u files as the header says", file_count);
        goto out;
    }
    m->nfiles = (int)file_count;
    m->files = calloc(file_count, sizeof *m->files);
    if (!m->files) {
        rc = tl_errf(err, TL_ENOMEM, "manifest: out of memory");
        goto out;
    }
    uint64_t arena = m->arena_bytes, at = 0;
    for (uint32_t i = 0; i < file_count && !rc; i++) {
        static const tl_json_field keys[] = {{"name"}, {"begin"}, {"end"}, {NULL}};
        json_t *f = json_array_get(files, i);
        const char *name = json_string_value(json_object_get(f, "name"));
        tl_seal_file_entry *e = &m->files[i];
        if (!json_is_object(f) || !name || strlen(name) >= sizeof e->name)
            rc = tl_errf(err, TL_EINVAL, "manifest: file %u needs a name of at most %zu bytes", i, sizeof e->name - 1);
        else if (!(rc = check_keys(f, keys, "a file", err)) && !(rc = get_u64(f, "begin", &e->begin, "file", err)) &&
                 !(rc = get_u64(f, "end", &e->end, "file", err))) {
            memcpy(e->name, name, strlen(name) + 1);
            if (e->begin != at || e->end < e->begin || e->end > arena)
                rc = tl_errf(err, TL_EINVAL, "manifest: file %u does not continue the arena where file %u ended", i,
                             i ? i - 1 : 0);
            at = e->end;
        }
    }
    if (!rc && at != arena)
        rc = tl_errf(err, TL_EINVAL, "manifest: files cover %llu of the arena's %llu bytes", (unsigned long long)at,
                     (unsigned long long)arena);
    if (!rc && tok) {
        static const tl_json_field keys[] = {{"name"}, {"bytes"}, {NULL}};
        const char *name = json_string_value(json_object_get(tok, "name"));
        if (!json_is_object(tok) || !name || !name[0] || strlen(name) >= sizeof m->tokenizer_name || strchr(name, '/'))
            rc = tl_errf(err, TL_EINVAL, "manifest: 'tokenizer' needs a plain file name");
        else if (!(rc = check_keys(tok, keys, "'tokenizer'", err)) &&
                 !(rc = get_u64(tok, "bytes", &m->tokenizer_len, "tokenizer", err))) {
            memcpy(m->tokenizer_name, name, strlen(name) + 1);
            m->has_tokenizer = 1;
        }
    }
    if (!rc && carried) {
        if (tok)
            rc = tl_errf(err, TL_EINVAL, "manifest: 'tokenizer' and 'tokenizer_files' exclude each other");
        else
            rc = parse_carried(carried, m, err);
    }
out:
    json_decref(root);
    if (rc)
        tl_seal_manifest_free(m);
    return rc;
}
