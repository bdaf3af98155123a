/* tl_seal_write: builds each file's plaintext stream from segments (descriptor, manifest,
 * tokenizer, an arena slice) and encrypts it chunk by chunk into a temporary file that is renamed
 * into place, so only ciphertext ever touches the disk and readers never see a partial file. */
#include "seal/seal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "model/params.h"
#include "seal/crypto.h"
#include "seal/format.h"
#include "util/io.h"
#include "util/secmem.h"

typedef struct {
    const uint8_t *p;
    uint64_t len;
} seg;

/* Copies bytes [off, off+n) of the segments' concatenation into buf; zeros past the end. */
static void stream_fill(const seg *segs, int nseg, uint64_t off, uint8_t *buf, size_t n)
{
    memset(buf, 0, n);
    uint64_t base = 0;
    for (int i = 0; i < nseg; i++) {
        uint64_t b = base, e = base + segs[i].len;
        base = e;
        uint64_t lo = off > b ? off : b, hi = off + n < e ? off + n : e;
        if (lo < hi)
            memcpy(buf + (lo - off), segs[i].p + (lo - b), hi - lo);
    }
}

/* Encrypts one file. h has model_id, file_index, file_count, chunk_size and key_id set. */
static int write_one(const char *path, const tl_data_key *key, tl_seal_header *h, const seg *segs, int nseg, tl_err *err)
{
    uint64_t total = 0;
    for (int i = 0; i < nseg; i++)
        total += segs[i].len;
    const size_t cs = h->chunk_size;
    h->chunk_count = total ? (total + cs - 1) / cs : 1;
    tl_seal_header_encode(h);

    uint8_t fkey[32], iv[12], aad[TL_SEAL_AAD_LEN], tag[TL_GCM_TAG_LEN];
    tl_gcm g = {0};
    uint8_t *buf = malloc(cs), *ct = malloc(cs);
    tl_atomic_file af = {.fd = -1};
    int rc;
    if (!buf || !ct) {
        rc = tl_errf(err, TL_ENOMEM, "%s: out of memory", path);
        goto out;
    }
    if ((rc = tl_seal_file_key(key->key, h, fkey, err)) || (rc = tl_gcm_init(&g, fkey, 1, err)))
        goto out;
    tl_seal_iv(1, 0, iv);
    if ((rc = tl_gcm_seal(&g, iv, h->raw, TL_SEAL_TAG_OFF, NULL, NULL, 0, h->raw + TL_SEAL_TAG_OFF, err)))
        goto out;
    if ((rc = tl_atomic_open(&af, path, 0644, err)) || (rc = tl_atomic_write(&af, h->raw, TL_SEAL_HEADER_LEN, err)))
        goto out;
    for (uint64_t i = 0; i < h->chunk_count; i++) {
        stream_fill(segs, nseg, i * cs, buf, cs);
        tl_seal_iv(0, i, iv);
        tl_seal_chunk_aad(h, i, aad);
        if ((rc = tl_gcm_seal(&g, iv, aad, sizeof aad, buf, ct, cs, tag, err)) ||
            (rc = tl_atomic_write(&af, ct, cs, err)) || (rc = tl_atomic_write(&af, tag, sizeof tag, err)))
            goto out;
    }
    rc = tl_atomic_commit(&af, err);
out:
    if (rc)
        tl_atomic_abort(&af);
    tl_sec_free(buf);
    free(ct);
    OPENSSL_cleanse(fkey, sizeof fkey);
    tl_gcm_free(&g);
    return rc;
}

/* Which split file a tensor belongs to (the plaintext split layout's file names). */
static void group_of(const char *name, char out[64])
{
    int block;
    if (sscanf(name, "transformer_blocks.%d.", &block) == 1)
        snprintf(out, 64, "transformer_block_%d", block);
    else if (strncmp(name, "token_embedding", 15) == 0 || strncmp(name, "position_embedding", 18) == 0)
        snprintf(out, 64, "token_embedding");
    else
        snprintf(out, 64, "final_linear");
}

/* File table: full = one file with the whole arena; split = an index file (no weights) + one file
 * per layer group. Returns the count or -1. */
static int plan_files(const tl_config *cfg, int split, tl_seal_file_entry **out)
{
    const uint64_t arena = tl_params_arena_floats(cfg) * sizeof(float);
    int n = tl_params_count(cfg);
    tl_param *list = calloc((size_t)n, sizeof *list);
    tl_seal_file_entry *f = calloc((size_t)n + 1, sizeof *f);
    if (!list || !f) {
        free(list);
        free(f);
        return -1;
    }
    tl_params_list(cfg, list);
    int nf = 0;
    if (!split) {
        snprintf(f[0].name, sizeof f[0].name, "model");
        f[0].begin = 0;
        f[0].end = arena;
        nf = 1;
    } else {
        snprintf(f[nf++].name, sizeof f[0].name, "index");
        for (int i = 0; i < n; i++) {
            char g[64];
            group_of(list[i].name, g);
            if (nf == 1 || strcmp(g, f[nf - 1].name) != 0) {
                if (nf > 1)
                    f[nf - 1].end = list[i].offset * sizeof(float);
                memcpy(f[nf].name, g, sizeof g);
                f[nf].begin = list[i].offset * sizeof(float);
                nf++;
            }
        }
        f[nf - 1].end = arena;
    }
    free(list);
    *out = f;
    return nf;
}

int tl_seal_write(const tl_checkpoint *ck, const tl_data_key *key, const tl_seal_opts *opts, const char *out,
                  tl_err *err)
{
    tl_seal_opts o = opts ? *opts : (tl_seal_opts){0};
    if (!o.chunk_size)
        o.chunk_size = TL_SEAL_CHUNK_DEFAULT;
    if (o.chunk_size < TL_SEAL_CHUNK_MIN || o.chunk_size > TL_SEAL_CHUNK_MAX || (o.chunk_size & (o.chunk_size - 1)))
        return tl_errf(err, TL_EINVAL, "chunk size %u is not a power of two in [%u, %u]", o.chunk_size,
                       TL_SEAL_CHUNK_MIN, TL_SEAL_CHUNK_MAX);
    if (o.tokenizer_len > TL_SEAL_MAX_BLOB)
        return tl_errf(err, TL_EINVAL, "tokenizer of %zu bytes is larger than the %u-byte limit", o.tokenizer_len,
                       TL_SEAL_MAX_BLOB);
    if (!tl_key_id_valid(key->key_id))
        return tl_errf(err, TL_EINVAL, "invalid key id");
    if (tl_config_validate(&ck->cfg, err) || !ck->params)
        return err->code ? err->code : tl_errf(err, TL_EINVAL, "checkpoint has no parameters");

    tl_seal_file_entry *files = NULL;
    int nf = plan_files(&ck->cfg, o.split, &files);
    if (nf < 0)
        return tl_errf(err, TL_ENOMEM, "out of memory");
    char *manifest = tl_seal_manifest_json(&ck->cfg, files, nf, o.tokenizer_name, o.tokenizer_len);
    int rc = 0;
    if (!manifest) {
        rc = tl_errf(err, TL_ENOMEM, "out of memory");
        goto done;
    }
    tl_seal_header h = {0};
    if (RAND_bytes(h.model_id, sizeof h.model_id) != 1) {
        rc = tl_err_ssl(err, TL_ECRYPTO, "random model id");
        goto done;
    }
    h.file_count = (uint32_t)nf;
    h.chunk_size = o.chunk_size;
    memcpy(h.key_id, key->key_id, sizeof h.key_id);
    if (o.split && (rc = tl_mkdirs(out, 0755, err)))
        goto done;
    if (!o.split && tl_is_dir(out)) {
        rc = tl_errf(err, TL_EINVAL, "%s: is a directory (use --split for a directory of sealed files)", out);
        goto done;
    }
    /* Parts first, the index file last: a crash never leaves an index pointing at missing parts. */
    for (int i = nf - 1; i >= 0 && !rc; i--) {
        const uint8_t *arena = (const uint8_t *)ck->params;
        tl_seal_desc d = {0};
        uint8_t desc[TL_SEAL_DESC_LEN];
        seg segs[4];
        int ns = 0;
        d.meta_len = i == 0 ? strlen(manifest) : 0;
        d.blob_len = i == 0 ? o.tokenizer_len : 0;
        d.data_offset = TL_SEAL_DESC_LEN + d.meta_len + d.blob_len;
        d.data_len = files[i].end - files[i].begin;
        tl_seal_desc_encode(&d, desc);
        segs[ns++] = (seg){desc, sizeof desc};
        if (d.meta_len)
            segs[ns++] = (seg){(const uint8_t *)manifest, d.meta_len};
        if (d.blob_len)
            segs[ns++] = (seg){o.tokenizer, d.blob_len};
        if (d.data_len)
            segs[ns++] = (seg){arena + files[i].begin, d.data_len};
        char path[4096], name[64];
        if (i == 0)
            snprintf(name, sizeof name, "%s", TL_SEAL_INDEX_NAME);
        else
            snprintf(name, sizeof name, "part-%03d.sealed", i);
        if (o.split ? tl_path_join(path, sizeof path, out, name) : snprintf(path, sizeof path, "%s", out) >= (int)sizeof path) {
            rc = tl_errf(err, TL_EINVAL, "%s: path too long", out);
            break;
        }
        h.file_index = (uint32_t)i;
        rc = write_one(path, key, &h, segs, ns, err);
    }
    /* a directory re-sealed with fewer layers keeps no stale parts from before */
    for (int i = nf; !rc && o.split; i++) {
        char path[4096], name[32];
        snprintf(name, sizeof name, "part-%03d.sealed", i);
        if (tl_path_join(path, sizeof path, out, name) || unlink(path) != 0)
            break;
    }
done:
    tl_sec_free(manifest);
    free(files);
    return rc;
}
