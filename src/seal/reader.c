/* tl_seal_read: verifies headers, then decrypts each file's stream. Chunks that lie wholly inside
 * the destination are read straight into it and decrypted in place (no plaintext copy of the
 * weights ever exists outside the arena); only boundary chunks pass through one scratch buffer. */
#include "seal/seal.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdatomic.h>
#include <openssl/crypto.h>

#include "model/checkpoint.h"
#include "model/params.h"
#include "seal/crypto.h"
#include "seal/format.h"
#include "util/harden.h"
#include "util/pool.h"
#include "util/io.h"
#include "util/secmem.h"

typedef struct {
    int fd;
    const char *name; /* for messages: the file's base name */
    char path[4096];
    tl_seal_header h;
    tl_gcm g;
    uint8_t fkey[32]; /* kept for the per-thread contexts of parallel decryption; wiped at close */
    uint8_t *scratch;
    uint64_t scratch_idx;
} sfile;

static void sfile_close(sfile *f)
{
    if (f->fd >= 0)
        close(f->fd);
    f->fd = -1;
    OPENSSL_cleanse(f->fkey, sizeof f->fkey);
    if (f->scratch) {
        tl_sec_free(f->scratch);
        f->scratch = NULL;
    }
    tl_gcm_free(&f->g);
}

/* Opens and authenticates one file's header. ref (file 0's header) is NULL for file 0. */
static int sfile_open(sfile *f, const char *path, const tl_data_key *key, const tl_seal_header *ref, uint32_t want,
                      tl_err *err)
{
    memset(f, 0, sizeof *f);
    f->fd = -1;
    f->scratch_idx = UINT64_MAX;
    if (snprintf(f->path, sizeof f->path, "%s", path) >= (int)sizeof f->path)
        return tl_errf(err, TL_EINVAL, "%s: path too long", path);
    const char *slash = strrchr(f->path, '/');
    f->name = slash ? slash + 1 : f->path;
    /* non-blocking open: a FIFO put in place of a part must be refused, not hang the load */
    if ((f->fd = tl_open_regular(path, err)) < 0)
        return err ? err->code : TL_EIO;
    struct stat st;
    uint8_t raw[TL_SEAL_HEADER_LEN], iv[12];
    if (fstat(f->fd, &st) != 0)
        return tl_errf(err, TL_EIO, "%s: %s", path, strerror(errno));
    if (st.st_size < TL_SEAL_HEADER_LEN || tl_pread_all(f->fd, raw, sizeof raw, 0))
        return tl_errf(err, TL_EINVAL, "%s: sealed header: file too short for a header", f->name);
    tl_seal_header *h = &f->h;
    if (tl_seal_header_parse(raw, h, err))
        return tl_err_prefix(err, "%s", f->name);
    if (ref && memcmp(h->model_id, ref->model_id, sizeof h->model_id) != 0)
        return tl_errf(err, TL_ECRYPTO, "%s: sealed header: file belongs to another sealed model (model id differs)", f->name);
    if (ref && (h->file_count != ref->file_count || h->file_index != want))
        return tl_errf(err, TL_ECRYPTO, "%s: sealed header: is file %u of %u, expected file %u of %u (files swapped or renamed)",
                       f->name, h->file_index, h->file_count, want, ref->file_count);
    if (!ref && h->file_index != 0)
        return tl_errf(err, TL_ECRYPTO, "%s: sealed header: is file %u of %u, not the index file 0", f->name, h->file_index,
                       h->file_count);
    if (strcmp(h->key_id, key->key_id) != 0)
        return tl_errf(err, TL_ECRYPTO, "%s: sealed header: sealed under key id '%s', but the key given is '%s'", f->name,
                       h->key_id, key->key_id);
    int rc = tl_seal_file_key(key->key, h, f->fkey, err);
    if (!rc)
        rc = tl_gcm_init(&f->g, f->fkey, 0, err);
    if (rc)
        return rc;
    tl_seal_iv(1, 0, iv);
    if (tl_gcm_open(&f->g, iv, h->raw, TL_SEAL_TAG_OFF, NULL, NULL, 0, h->raw + TL_SEAL_TAG_OFF, err))
        return tl_errf(err, TL_ECRYPTO, "%s: sealed header: authentication failed (wrong key, or the header was modified)",
                       f->name);
    uint64_t want_size = TL_SEAL_HEADER_LEN + h->chunk_count * (h->chunk_size + (uint64_t)TL_GCM_TAG_LEN);
    if ((uint64_t)st.st_size != want_size)
        return tl_errf(err, TL_ECRYPTO, "%s: file is %s: %lld bytes, but its header says %llu chunks (%llu bytes)", f->name,
                       (uint64_t)st.st_size < want_size ? "truncated" : "extended", (long long)st.st_size,
                       (unsigned long long)h->chunk_count, (unsigned long long)want_size);
    if (ref && (h->chunk_size != ref->chunk_size || strcmp(h->key_id, ref->key_id) != 0))
        return tl_errf(err, TL_ECRYPTO, "%s: sealed header: chunk size or key id differs from the index file", f->name);
    f->scratch = malloc(h->chunk_size);
    if (!f->scratch)
        return tl_errf(err, TL_ENOMEM, "%s: out of memory", f->name);
    return 0;
}

#define PIECE (256u << 10)

/* Reads chunk i's ciphertext into dst (chunk_size bytes) and decrypts it there with g, piece by
 * piece: each 256 KiB piece is decrypted right after it is read, while it is still in cache. */
static int sfile_chunk_with(sfile *f, tl_gcm *g, uint64_t i, uint8_t *dst, tl_err *err)
{
    const uint64_t cs = f->h.chunk_size;
    uint8_t tag[TL_GCM_TAG_LEN], iv[12], aad[TL_SEAL_AAD_LEN];
    off_t off = (off_t)(TL_SEAL_HEADER_LEN + i * (cs + TL_GCM_TAG_LEN));
    tl_seal_iv(0, i, iv);
    tl_seal_chunk_aad(&f->h, i, aad);
    int rc = tl_gcm_begin(g, iv, aad, sizeof aad, err);
    for (uint64_t o = 0; o < cs && !rc; o += PIECE) {
        size_t n = cs - o < PIECE ? (size_t)(cs - o) : PIECE;
        if (tl_pread_all(f->fd, dst + o, n, off + (off_t)o))
            return tl_errf(err, TL_EIO, "%s: chunk %llu: read failed", f->name, (unsigned long long)i);
        rc = tl_gcm_update(g, dst + o, dst + o, n, err);
    }
    if (!rc && tl_pread_all(f->fd, tag, sizeof tag, off + (off_t)cs))
        return tl_errf(err, TL_EIO, "%s: chunk %llu: read failed", f->name, (unsigned long long)i);
    if (rc || tl_gcm_verify(g, tag, err)) {
        OPENSSL_cleanse(dst, cs);
        return tl_errf(err, TL_ECRYPTO, "%s: chunk %llu of %llu: authentication failed (modified, reordered, truncated or "
                       "from another file)", f->name, (unsigned long long)i, (unsigned long long)f->h.chunk_count);
    }
    return 0;
}

/* Copies stream bytes [lo, hi) of chunk k to out through the scratch buffer, decrypting the chunk
 * with g unless the scratch buffer holds it already (the first data chunk usually is: it also
 * carries the manifest). */
static int scratch_copy(sfile *f, tl_gcm *g, uint64_t k, uint64_t lo, uint64_t hi, uint8_t *out, tl_err *err)
{
    if (f->scratch_idx != k) {
        f->scratch_idx = UINT64_MAX;
        int rc = sfile_chunk_with(f, g, k, f->scratch, err);
        if (rc)
            return rc;
        f->scratch_idx = k;
    }
    memcpy(out, f->scratch + (lo - k * f->h.chunk_size), hi - lo);
    return 0;
}

/* The chunks from k0 on that lie wholly inside the destination are read into place and
 * decrypted there; a last chunk that ends past the destination goes through the scratch buffer.
 * Reading (a page-cache copy, plus the kernel zeroing each fresh huge page of the arena) and
 * decrypting both cost CPU, and chunks are independent, so the chunks go through the engine's
 * worker pool (util/pool.h): threads take GRAIN chunks at a time from a shared counter, each
 * slot with its own GCM context, and the caller waits only for chunks already taken, so a worker
 * that gets no core on a busy machine costs nothing (a static split waited for the slowest
 * thread). Each thread both reads and decrypts its chunks, so reading overlaps decryption. */
#define GRAIN 2 /* 2 MiB at the default chunk size: neighbours rarely fault in the same huge page */
#define MAX_SLOTS 8

typedef struct {
    sfile *f;
    uint64_t k0, n_whole; /* chunks k0 .. k0+n_whole-1 are whole; then one partial one if tail */
    int tail;
    uint64_t off, len; /* the stream bytes wanted, and where they go */
    uint8_t *dst;
    tl_gcm g[MAX_SLOTS]; /* slot 0 (the caller) uses f->g */
    _Atomic int failed;
    int rc[MAX_SLOTS];
    tl_err err[MAX_SLOTS];
} run;

static int run_one(run *r, tl_gcm *g, long i, tl_err *err)
{
    const uint64_t cs = r->f->h.chunk_size;
    if (r->tail && i == 0) { /* the partial chunk first, so it never ends the job alone */
        uint64_t k = r->k0 + r->n_whole, lo = k * cs;
        return scratch_copy(r->f, g, k, lo, r->off + r->len, r->dst + (lo - r->off), err);
    }
    uint64_t k = r->k0 + (uint64_t)i - (uint64_t)r->tail;
    return sfile_chunk_with(r->f, g, k, r->dst + (k * cs - r->off), err);
}

static void run_chunks(void *arg, int slot, long i0, long i1)
{
    run *r = arg;
    tl_gcm *g = slot ? &r->g[slot] : &r->f->g;
    if (r->rc[slot] || atomic_load(&r->failed))
        return;
    if (!g->ctx && (r->rc[slot] = tl_gcm_init(g, r->f->fkey, 0, &r->err[slot]))) {
        atomic_store(&r->failed, 1);
        return;
    }
    for (long i = i0; i < i1 && !atomic_load(&r->failed); i++)
        if ((r->rc[slot] = run_one(r, g, i, &r->err[slot]))) {
            atomic_store(&r->failed, 1);
            return;
        }
}

/* Copies plaintext stream bytes [off, off+len) into dst. */
static int sfile_read(sfile *f, uint64_t off, uint64_t len, uint8_t *dst, tl_err *err)
{
    const uint64_t cs = f->h.chunk_size, end = off + len;
    if (!len)
        return 0;
    uint64_t k = off / cs;
    if (off % cs || end < (k + 1) * cs) { /* a first chunk that starts before off (or ends past end) */
        uint64_t hi = end < (k + 1) * cs ? end : (k + 1) * cs;
        int rc = scratch_copy(f, &f->g, k, off, hi, dst, err);
        if (rc || hi == end)
            return rc;
        k++;
    }
    run *r = calloc(1, sizeof *r);
    if (!r)
        return tl_errf(err, TL_ENOMEM, "%s: out of memory", f->name);
    *r = (run){.f = f, .k0 = k, .n_whole = end / cs - k, .tail = end % cs != 0, .off = off, .len = len, .dst = dst};
    tl_parallel_for((long)(r->n_whole + (uint64_t)r->tail), GRAIN, MAX_SLOTS, run_chunks, r);
    int rc = 0;
    for (int s = 0; s < MAX_SLOTS; s++) {
        if (r->rc[s] && !rc) {
            rc = r->rc[s];
            if (err)
                *err = r->err[s];
        }
        tl_gcm_free(&r->g[s]);
    }
    free(r);
    return rc;
}

static int read_desc(sfile *f, tl_seal_desc *d, tl_err *err)
{
    uint8_t raw[TL_SEAL_DESC_LEN];
    if (sfile_read(f, 0, sizeof raw, raw, err))
        return err->code;
    if (tl_seal_desc_parse(raw, &f->h, d, err))
        return tl_err_prefix(err, "%s", f->name);
    return 0;
}

/* A file that was meant to be sealed: named *.sealed, or its first 8 bytes differ from the
 * magic in at most 2 places (a flipped or overwritten byte). No plaintext format starts that way
 * (safetensors: a little-endian u64 header size; .pth: "PK"), so such a file is reported as a
 * damaged sealed model rather than parsed as plaintext, which gave a misleading error. */
static int meant_sealed(const char *path, const uint8_t *head, size_t n)
{
    size_t pl = strlen(path), sl = strlen(".sealed");
    if (pl > sl && strcmp(path + pl - sl, ".sealed") == 0)
        return 1;
    if (n < 8)
        return 0;
    int diff = 0;
    for (int i = 0; i < 8; i++)
        diff += head[i] != (uint8_t)TL_SEAL_MAGIC[i];
    return diff <= 2;
}

int tl_sealed_detect(const char *path, char *index_path, size_t n)
{
    char buf[4096];
    struct stat st;
    if (tl_is_dir(path)) {
        /* any entry named model.sealed (even a FIFO or a link): tl_seal_read says what is wrong */
        if (tl_path_join(buf, sizeof buf, path, TL_SEAL_INDEX_NAME) || lstat(buf, &st) != 0)
            return 0;
        return snprintf(index_path, n, "%s", buf) < (int)n;
    }
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return 0;
    if (stat(buf, &st) == 0 && !S_ISREG(st.st_mode) && meant_sealed(buf, NULL, 0))
        return snprintf(index_path, n, "%s", buf) < (int)n;
    int fd = tl_open_regular(buf, NULL);
    if (fd < 0)
        return 0;
    uint8_t magic[8];
    int ok = tl_pread_all(fd, magic, 8, 0) == 0 ? meant_sealed(buf, magic, 8) : meant_sealed(buf, NULL, 0);
    close(fd);
    if (!ok || snprintf(index_path, n, "%s", buf) >= (int)n)
        return 0;
    return 1;
}

int tl_sealed_header_info(const char *path, tl_seal_info *info, tl_err *err)
{
    memset(info, 0, sizeof *info);
    char index[4096];
    if (!tl_sealed_detect(path, index, sizeof index))
        return tl_errf(err, TL_EINVAL, "%s: not a teelm sealed model", path);
    int fd = tl_open_regular(index, err);
    uint8_t raw[TL_SEAL_HEADER_LEN];
    tl_seal_header h;
    if (fd < 0)
        return err ? err->code : TL_EIO;
    int rc = tl_pread_all(fd, raw, sizeof raw, 0) ? tl_errf(err, TL_EINVAL, "%s: sealed header: file too short", index)
                                                : tl_seal_header_parse(raw, &h, err);
    close(fd);
    if (rc)
        return rc == TL_EINVAL && err && strncmp(err->msg, "sealed", 6) == 0 ? tl_err_prefix(err, "%s", index) : rc;
    memcpy(info->key_id, h.key_id, sizeof info->key_id);
    tl_hex(h.model_id, sizeof h.model_id, info->model_id);
    info->file_count = h.file_count;
    info->chunk_size = h.chunk_size;
    return 0;
}

int tl_sealed_key_id(const char *path, char key_id[TL_KEY_ID_MAX + 1], tl_err *err)
{
    tl_seal_info info;
    int rc = tl_sealed_header_info(path, &info, err);
    if (rc)
        return rc;
    memcpy(key_id, info.key_id, sizeof info.key_id);
    return 0;
}

/* Allocates a Hugging Face model's weight buffer (m->arena_bytes, a multiple of 64, validated by
 * the manifest parser) and points ck->w into it. Large buffers are 2 MiB-aligned and advised for
 * huge pages, as the seed arena is; the plaintext is kept out of core dumps and swap. */
static int hf_weights(tl_checkpoint *ck, const tl_seal_manifest *m, tl_err *err)
{
    const size_t huge = 2u << 20;
    if (m->arena_bytes > SIZE_MAX / 2)
        return tl_errf(err, TL_ENOMEM, "out of memory for the weights");
    size_t bytes = (size_t)m->arena_bytes;
    void *p = NULL;
    if (posix_memalign(&p, bytes >= 2 * huge ? huge : 64, bytes ? bytes : 64) != 0)
        return tl_errf(err, TL_ENOMEM, "out of memory for %zu bytes of weights", bytes);
    if (bytes >= 2 * huge)
        madvise(p, bytes / 4096 * 4096, MADV_HUGEPAGE); /* advisory: failure only costs speed */
    ck->wbuf = p;
    ck->wbuf_len = bytes;
    /* A plain mlock faults every page in on this one thread (the kernel zeroes each): a GB-sized
     * model spent as long there as in decryption. Locked on fault, each page is faulted in by the
     * worker that reads ciphertext into it, and is locked before any plaintext reaches it. */
    tl_secret_protect(p, bytes, TL_SECRET_DONTDUMP | TL_SECRET_LOCK | TL_SECRET_LOCK_ONFAULT);
    ck->w = calloc((size_t)m->ntensors, sizeof *ck->w);
    if (!ck->w)
        return tl_errf(err, TL_ENOMEM, "out of memory");
    ck->nw = m->ntensors;
    for (int i = 0; i < m->ntensors; i++)
        ck->w[i] = (tl_wref){(const uint8_t *)p + m->offset[i], m->dtype[i]};
    return 0;
}

/* Reads the carried files (the blob at stream offset `at`) into ck->files, one NUL-terminated
 * buffer each. */
static int read_carried(sfile *f, const tl_seal_manifest *m, uint64_t at, tl_checkpoint *ck, tl_err *err)
{
    ck->files = calloc((size_t)m->ncarried, sizeof *ck->files);
    if (!ck->files)
        return tl_errf(err, TL_ENOMEM, "out of memory for the tokenizer files");
    ck->nfiles = m->ncarried;
    for (int i = 0; i < m->ncarried; i++) {
        struct tl_ck_file *c = &ck->files[i];
        snprintf(c->name, sizeof c->name, "%s", m->carried[i].name);
        c->data = malloc((size_t)m->carried[i].len + 1);
        if (!c->data)
            return tl_errf(err, TL_ENOMEM, "out of memory for the tokenizer files");
        c->len = (size_t)m->carried[i].len;
        c->data[c->len] = 0;
        int rc = sfile_read(f, at, c->len, c->data, err);
        if (rc)
            return rc;
        at += c->len;
    }
    return 0;
}

int tl_seal_read(const char *path, const tl_data_key *key, tl_checkpoint *ck, tl_seal_info *info, tl_err *err)
{
    memset(ck, 0, sizeof *ck);
    if (info)
        memset(info, 0, sizeof *info);
    char index[4096], dir[4096];
    /* Not tl_sealed_detect: a damaged magic must be reported as such, not as "not sealed". */
    if (tl_is_dir(path) ? tl_path_join(index, sizeof index, path, TL_SEAL_INDEX_NAME)
                        : snprintf(index, sizeof index, "%s", path) >= (int)sizeof index)
        return tl_errf(err, TL_EINVAL, "%s: path too long", path);
    snprintf(dir, sizeof dir, "%s", index);
    dirname(dir);
    sfile f0, fi;
    memset(&fi, 0, sizeof fi);
    fi.fd = -1;
    tl_seal_desc d;
    tl_seal_manifest m = {0};
    char *meta = NULL;
    uint64_t meta_len = 0;
    int rc = sfile_open(&f0, index, key, NULL, 0, err);
    if (rc || (rc = read_desc(&f0, &d, err)))
        goto fail;
    if (d.meta_len == 0) {
        rc = tl_errf(err, TL_EINVAL, "%s: the index file carries no manifest", f0.name);
        goto fail;
    }
    meta_len = d.meta_len;
    meta = malloc(meta_len);
    if (!meta) {
        rc = tl_errf(err, TL_ENOMEM, "out of memory");
        goto fail;
    }
    if ((rc = sfile_read(&f0, TL_SEAL_DESC_LEN, d.meta_len, (uint8_t *)meta, err)))
        goto fail;
    if ((rc = tl_seal_manifest_parse(meta, d.meta_len, f0.h.file_count, &m, err))) {
        tl_err_prefix(err, "%s", f0.name);
        goto fail;
    }
    uint64_t blob_want = m.has_tokenizer ? m.tokenizer_len : 0;
    for (int i = 0; i < m.ncarried; i++)
        blob_want += m.carried[i].len; /* <= 64 MiB in all (manifest check) */
    if (blob_want != d.blob_len || d.data_len != m.files[0].end - m.files[0].begin) {
        rc = tl_errf(err, TL_EINVAL, "%s: descriptor does not match the manifest", f0.name);
        goto fail;
    }
    ck->cfg = m.cfg;
    uint8_t *arena;
    if (tl_config_is_hf(&m.cfg)) {
        /* Hugging Face families: one owned buffer in the sealed layout, ck->w pointing into it
         * (every tensor starts at a multiple of 64 bytes, so at a multiple of its element size) */
        if ((rc = hf_weights(ck, &m, err)))
            goto fail;
        arena = ck->wbuf;
    } else {
        /* The files cover every arena byte, so the arena is not zeroed first (that would be one more
         * pass over 50 MB); it is allocated as the plaintext loader does (huge pages). */
        ck->params = tl_checkpoint_arena_alloc(&m.cfg);
        if (!ck->params) {
            rc = tl_errf(err, TL_ENOMEM, "out of memory for the parameters");
            goto fail;
        }
        /* the allocation is rounded up to 64 bytes: zero what lies past the last file */
        size_t used = tl_params_arena_floats(&m.cfg) * sizeof(float), alloc = (used + 63) / 64 * 64;
        memset((uint8_t *)ck->params + used, 0, alloc - used);
        /* the plaintext weights: out of core dumps, and out of swap if RLIMIT_MEMLOCK allows */
        tl_secret_protect(ck->params, alloc, TL_SECRET_DONTDUMP | TL_SECRET_LOCK);
        arena = (uint8_t *)ck->params;
    }
    if (m.has_tokenizer && d.blob_len) {
        ck->tokenizer_data = malloc(d.blob_len + 1);
        if (!ck->tokenizer_data) {
            rc = tl_errf(err, TL_ENOMEM, "out of memory for the tokenizer");
            goto fail;
        }
        ck->tokenizer_len = d.blob_len;
        ck->tokenizer_data[d.blob_len] = 0;
        if ((rc = sfile_read(&f0, TL_SEAL_DESC_LEN + d.meta_len, d.blob_len, ck->tokenizer_data, err)))
            goto fail;
    }
    if (m.ncarried && (rc = read_carried(&f0, &m, TL_SEAL_DESC_LEN + d.meta_len, ck, err)))
        goto fail;
    if ((rc = sfile_read(&f0, d.data_offset, d.data_len, arena + m.files[0].begin, err)))
        goto fail;
    for (uint32_t i = 1; i < f0.h.file_count; i++) {
        char name[32], p[4096];
        snprintf(name, sizeof name, "part-%03u.sealed", i);
        if (tl_path_join(p, sizeof p, dir, name)) {
            rc = tl_errf(err, TL_EINVAL, "%s: path too long", dir);
            goto fail;
        }
        if ((rc = sfile_open(&fi, p, key, &f0.h, i, err)) || (rc = read_desc(&fi, &d, err)))
            goto fail;
        if (d.meta_len || d.blob_len || d.data_len != m.files[i].end - m.files[i].begin) {
            rc = tl_errf(err, TL_EINVAL, "%s: descriptor does not match the manifest", fi.name);
            goto fail;
        }
        if ((rc = sfile_read(&fi, d.data_offset, d.data_len, arena + m.files[i].begin, err)))
            goto fail;
        sfile_close(&fi);
    }
    if (info) {
        memcpy(info->key_id, f0.h.key_id, sizeof info->key_id);
        memcpy(info->tokenizer_name, m.tokenizer_name, sizeof info->tokenizer_name);
        info->file_count = f0.h.file_count;
        info->chunk_size = f0.h.chunk_size;
        tl_hex(f0.h.model_id, sizeof f0.h.model_id, info->model_id);
    }
    sfile_close(&f0);
    tl_sec_free(meta);
    tl_seal_manifest_free(&m);
    return 0;
fail:
    sfile_close(&fi);
    sfile_close(&f0);
    tl_sec_free(meta);
    tl_seal_manifest_free(&m);
    tl_checkpoint_free(ck); /* wipes whatever was decrypted so far */
    memset(ck, 0, sizeof *ck);
    return rc;
}
