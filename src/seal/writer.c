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
    const uint8_t *p; /* NULL: len zero bytes (the gaps between Hugging Face tensors) */
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
        if (lo < hi && segs[i].p)
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

/* Which split file a tensor belongs to: the plaintext split layout's file names, for the Hugging
 * Face families by block too (model.layers.i. / h.i.), what comes before the blocks being the
 * embedding group and what comes after the final group. */
static void group_of(const char *name, int seen_block, char out[64])
{
    int block, k = 0;
    if (sscanf(name, "transformer_blocks.%d.%n", &block, &k) == 1 && k > 0)
        snprintf(out, 64, "transformer_block_%d", block);
    else if ((k = 0, sscanf(name, "model.layers.%d.%n", &block, &k) == 1 && k > 0) ||
             (k = 0, sscanf(name, "h.%d.%n", &block, &k) == 1 && k > 0))
        snprintf(out, 64, "transformer_block_%d", block);
    else if (strncmp(name, "token_embedding", 15) == 0 || strncmp(name, "position_embedding", 18) == 0 || !seen_block)
        snprintf(out, 64, "token_embedding");
    else
        snprintf(out, 64, "final_linear");
}

/* File table: full = one file with the whole arena; split = an index file (no weights) + one file
 * per layer group. off: the tensors' byte offsets (tl_seal_layout). Returns the count or -1. */
static int plan_files(const tl_param *list, int n, const uint64_t *off, uint64_t arena, int split,
                      tl_seal_file_entry **out)
{
    tl_seal_file_entry *f = calloc((size_t)n + 2, sizeof *f);
    if (!f)
        return -1;
    int nf = 0;
    if (!split) {
        snprintf(f[0].name, sizeof f[0].name, "model");
        f[0].begin = 0;
        f[0].end = arena;
        nf = 1;
    } else {
        snprintf(f[nf++].name, sizeof f[0].name, "index");
        int seen_block = 0;
        for (int i = 0; i < n; i++) {
            char g[64];
            group_of(list[i].name, seen_block, g);
            seen_block |= strncmp(g, "transformer_block_", 18) == 0;
            if (nf == 1 || strcmp(g, f[nf - 1].name) != 0) {
                if (nf > 1)
                    f[nf - 1].end = off[i];
                memcpy(f[nf].name, g, sizeof g);
                f[nf].begin = off[i];
                nf++;
            }
        }
        f[nf - 1].end = arena;
    }
    *out = f;
    return nf;
}

/* The data segments of arena bytes [begin, end): the seed's arena slice, or the Hugging Face
 * tensors that lie there, straight from ck->w, with zero gaps to the next 64-byte boundary. */
static int data_segs(const tl_checkpoint *ck, const tl_param *list, int n, const uint64_t *off, uint64_t arena,
                     uint64_t begin, uint64_t end, seg *segs)
{
    int ns = 0;
    if (begin == end)
        return 0;
    if (!tl_config_is_hf(&ck->cfg)) {
        segs[ns++] = (seg){(const uint8_t *)ck->params + begin, end - begin};
        return ns;
    }
    for (int i = 0; i < n; i++) {
        uint64_t next = i + 1 < n ? off[i + 1] : arena;
        if (off[i] < begin || off[i] >= end) /* files start and end at tensor boundaries */
            continue;
        uint64_t bytes = tl_dtype_bytes(ck->w[i].dtype, list[i].numel); /* checked by tl_seal_layout */
        segs[ns++] = (seg){ck->w[i].data, bytes};
        if (next > off[i] + bytes)
            segs[ns++] = (seg){NULL, next - off[i] - bytes};
    }
    return ns;
}

/* A Hugging Face checkpoint must have one weight per table entry (its dtype: tl_seal_layout). */
static int check_weights(const tl_checkpoint *ck, int n, tl_err *err)
{
    if (!tl_config_is_hf(&ck->cfg))
        return ck->params ? 0 : tl_errf(err, TL_EINVAL, "checkpoint has no parameters");
    if (!ck->w || ck->nw != n)
        return tl_errf(err, TL_EINVAL, "checkpoint has %d weights, its config implies %d", ck->w ? ck->nw : 0, n);
    for (int i = 0; i < n; i++)
        if (!ck->w[i].data)
            return tl_errf(err, TL_EINVAL, "weight %d has no data", i);
    return 0;
}

static int check_carry(const tl_seal_opts *o, tl_seal_carried *c, uint64_t *total, tl_err *err)
{
    *total = 0;
    if (o->ncarry && o->tokenizer_len)
        return tl_errf(err, TL_EINVAL, "carry either one tokenizer or several files, not both");
    if (o->ncarry < 0 || o->ncarry > TL_SEAL_MAX_CARRIED || (o->ncarry && !o->carry))
        return tl_errf(err, TL_EINVAL, "at most %d files can be carried", TL_SEAL_MAX_CARRIED);
    for (int i = 0; i < o->ncarry; i++) {
        const tl_seal_carry *f = &o->carry[i];
        if (!f->name || !tl_seal_carried_name_ok(f->name))
            return tl_errf(err, TL_EINVAL, "carried file %d: '%.64s' is not a plain file name", i, f->name ? f->name : "");
        for (int j = 0; j < i; j++)
            if (strcmp(o->carry[j].name, f->name) == 0)
                return tl_errf(err, TL_EINVAL, "carried file '%s' is given twice", f->name);
        if ((f->len && !f->data) || f->len > TL_SEAL_MAX_BLOB || *total + f->len > TL_SEAL_MAX_BLOB)
            return tl_errf(err, TL_EINVAL, "carried files exceed the %u-byte limit", TL_SEAL_MAX_BLOB);
        *total += f->len;
        snprintf(c[i].name, sizeof c[i].name, "%s", f->name);
        c[i].len = f->len;
    }
    return 0;
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
    tl_seal_carried carried[TL_SEAL_MAX_CARRIED];
    uint64_t carried_len = 0;
    if (check_carry(&o, carried, &carried_len, err))
        return err->code;
    if (!tl_key_id_valid(key->key_id))
        return tl_errf(err, TL_EINVAL, "invalid key id");
    if (tl_config_validate(&ck->cfg, err))
        return err->code;
    const int n = tl_params_count(&ck->cfg), hf = tl_config_is_hf(&ck->cfg);
    if (check_weights(ck, n, err))
        return err->code;

    tl_param *list = calloc((size_t)n, sizeof *list);
    uint64_t *off = calloc((size_t)n, sizeof *off);
    tl_dtype *dt = calloc((size_t)n, sizeof *dt);
    seg *segs = calloc(2 * (size_t)n + 3 + TL_SEAL_MAX_CARRIED, sizeof *segs);
    tl_seal_file_entry *files = NULL;
    char *manifest = NULL;
    int rc = 0, nf = -1;
    if (!list || !off || !dt || !segs) {
        rc = tl_errf(err, TL_ENOMEM, "out of memory");
        goto done;
    }
    tl_params_list(&ck->cfg, list);
    for (int i = 0; i < n; i++)
        dt[i] = hf ? ck->w[i].dtype : TL_DT_F32;
    uint64_t arena = tl_seal_layout(&ck->cfg, list, n, dt, off);
    if (!arena) {
        rc = tl_errf(err, TL_EINVAL, "the weights cannot be sealed: a dtype other than F32, F16, BF16, Q8_0, Q4_0, Q4_K "
                     "and Q6_K, a block type on rows that are not whole blocks, or sizes that overflow");
        goto done;
    }
    nf = plan_files(list, n, off, arena, o.split, &files);
    if (nf < 0 || !(manifest = tl_seal_manifest_json(&ck->cfg, hf ? dt : NULL, files, nf, o.tokenizer_name,
                                                     o.tokenizer_len, carried, o.ncarry))) {
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
        tl_seal_desc d = {0};
        uint8_t desc[TL_SEAL_DESC_LEN];
        int ns = 0;
        d.meta_len = i == 0 ? strlen(manifest) : 0;
        d.blob_len = i == 0 ? o.tokenizer_len + carried_len : 0;
        d.data_offset = TL_SEAL_DESC_LEN + d.meta_len + d.blob_len;
        d.data_len = files[i].end - files[i].begin;
        tl_seal_desc_encode(&d, desc);
        segs[ns++] = (seg){desc, sizeof desc};
        if (d.meta_len)
            segs[ns++] = (seg){(const uint8_t *)manifest, d.meta_len};
        if (i == 0 && o.tokenizer_len)
            segs[ns++] = (seg){o.tokenizer, o.tokenizer_len};
        for (int k = 0; i == 0 && k < o.ncarry; k++)
            if (o.carry[k].len)
                segs[ns++] = (seg){o.carry[k].data, o.carry[k].len};
        ns += data_segs(ck, list, n, off, arena, files[i].begin, files[i].end, segs + ns);
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
    free(list);
    free(off);
    free(dt);
    free(segs);
    return rc;
}
