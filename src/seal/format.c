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

char *tl_seal_manifest_json(const tl_config *cfg, const tl_seal_file_entry *files, int nfiles,
                            const char *tok_name, size_t tok_len)
{
    char *cfg_text = tl_config_to_json(cfg);
    json_t *cfg_json = cfg_text ? json_loads(cfg_text, 0, NULL) : NULL;
    free(cfg_text);
    int n = tl_params_count(cfg);
    tl_param *list = calloc((size_t)n, sizeof *list);
    json_t *root = json_object(), *jf = json_array(), *jt = json_array();
    if (!cfg_json || !list || !root || !jf || !jt) {
        json_decref(cfg_json);
        json_decref(root);
        json_decref(jf);
        json_decref(jt);
        free(list);
        return NULL;
    }
    tl_params_list(cfg, list);
    for (int i = 0; i < nfiles; i++)
        json_array_append_new(jf, json_pack("{s:s,s:I,s:I}", "name", files[i].name, "begin", (json_int_t)files[i].begin,
                                            "end", (json_int_t)files[i].end));
    for (int i = 0; i < n; i++) {
        json_t *shape = json_array();
        for (int d = 0; d < list[i].ndim; d++)
            json_array_append_new(shape, json_integer(list[i].shape[d]));
        json_array_append_new(jt, json_pack("{s:s,s:o,s:I}", "name", list[i].name, "shape", shape, "offset",
                                            (json_int_t)(list[i].offset * sizeof(float))));
    }
    free(list);
    json_object_set_new(root, "format", json_string("teelm-sealed"));
    json_object_set_new(root, "version", json_integer(TL_SEAL_VERSION));
    json_object_set_new(root, "config", cfg_json);
    json_object_set_new(root, "files", jf);
    json_object_set_new(root, "tensors", jt);
    if (tok_len)
        json_object_set_new(root, "tokenizer", json_pack("{s:s,s:I}", "name", tok_name ? tok_name : "tokenizer",
                                                         "bytes", (json_int_t)tok_len));
    char *s = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(root);
    return s;
}

void tl_seal_manifest_free(tl_seal_manifest *m)
{
    if (m) {
        free(m->files);
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

static int parse_tensors(json_t *jt, const tl_config *cfg, tl_err *err)
{
    int n = tl_params_count(cfg);
    if (!json_is_array(jt) || json_array_size(jt) != (size_t)n)
        return tl_errf(err, TL_EINVAL, "manifest: 'tensors' must list the %d tensors of the config", n);
    tl_param *list = calloc((size_t)n, sizeof *list);
    if (!list)
        return tl_errf(err, TL_ENOMEM, "manifest: out of memory");
    tl_params_list(cfg, list);
    int rc = 0;
    for (int i = 0; i < n && !rc; i++) {
        static const tl_json_field keys[] = {{"name"}, {"shape"}, {"offset"}, {NULL}};
        json_t *t = json_array_get(jt, (size_t)i), *shape = json_object_get(t, "shape");
        const char *name = json_string_value(json_object_get(t, "name"));
        uint64_t off;
        if (!json_is_object(t) || (rc = check_keys(t, keys, "a tensor", err)))
            rc = rc ? rc : tl_errf(err, TL_EINVAL, "manifest: tensor %d is not an object", i);
        else if (!name || strcmp(name, list[i].name) != 0)
            rc = tl_errf(err, TL_EINVAL, "manifest: tensor %d is not '%s' as the config requires", i, list[i].name);
        else if ((rc = get_u64(t, "offset", &off, "tensor", err)))
            ;
        else if (off != list[i].offset * sizeof(float))
            rc = tl_errf(err, TL_EINVAL, "manifest: tensor '%s' offset does not match the arena layout", list[i].name);
        else if (!json_is_array(shape) || json_array_size(shape) != (size_t)list[i].ndim)
            rc = tl_errf(err, TL_EINVAL, "manifest: tensor '%s' shape has the wrong rank", list[i].name);
        else
            for (int d = 0; d < list[i].ndim && !rc; d++) {
                json_t *x = json_array_get(shape, (size_t)d);
                if (!json_is_integer(x) || json_integer_value(x) != list[i].shape[d])
                    rc = tl_errf(err, TL_EINVAL, "manifest: tensor '%s' shape does not match the config", list[i].name);
            }
    }
    free(list);
    return rc;
}

int tl_seal_manifest_parse(const char *text, size_t len, uint32_t file_count, tl_seal_manifest *m, tl_err *err)
{
    memset(m, 0, sizeof *m);
    json_error_t je;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return tl_errf(err, TL_EINVAL, "manifest: bad JSON at line %d column %d: %s", je.line, je.column, je.text);
    static const tl_json_field top[] = {{"format"}, {"version"}, {"config"}, {"files"}, {"tensors"}, {"tokenizer"}, {NULL}};
    int rc = 0;
    json_t *cfg = json_object_get(root, "config"), *files = json_object_get(root, "files");
    json_t *tok = json_object_get(root, "tokenizer");
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
    if ((rc = parse_tensors(json_object_get(root, "tensors"), &m->cfg, err)))
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
    uint64_t arena = tl_params_arena_floats(&m->cfg) * sizeof(float), at = 0;
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
out:
    json_decref(root);
    if (rc)
        tl_seal_manifest_free(m);
    return rc;
}
