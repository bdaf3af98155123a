/* Checkpoint memory (see checkpoint.h). */
#include "model/checkpoint.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <openssl/crypto.h>

#include "model/params.h"
#include "util/secmem.h"

size_t tl_checkpoint_arena_bytes(const tl_config *cfg)
{
    size_t n = tl_params_arena_floats(cfg) * sizeof(float);
    return (n + 63) / 64 * 64;
}

/* Large arenas are 2 MiB-aligned and advised for transparent huge pages: loading 50 MB of weights
 * then takes a few dozen page faults instead of twelve thousand. */
static float *arena_alloc(size_t bytes)
{
    const size_t huge = 2u << 20;
    void *p = NULL;
    if (bytes >= 2 * huge) {
        if (posix_memalign(&p, huge, bytes) != 0)
            return NULL;
        madvise(p, bytes / 4096 * 4096, MADV_HUGEPAGE); /* advisory: failure only costs speed */
        return p;
    }
    return aligned_alloc(64, bytes);
}

int tl_checkpoint_alloc(tl_checkpoint *ck, const tl_config *cfg, int with_optimizer, tl_err *err)
{
    memset(ck, 0, sizeof *ck);
    ck->cfg = *cfg;
    size_t bytes = tl_checkpoint_arena_bytes(cfg);
    ck->params = arena_alloc(bytes);
    if (with_optimizer) {
        ck->adam_m = arena_alloc(bytes);
        ck->adam_v = arena_alloc(bytes);
    }
    if (!ck->params || (with_optimizer && (!ck->adam_m || !ck->adam_v))) {
        tl_checkpoint_free(ck);
        return tl_errf(err, TL_ENOMEM, "out of memory for %zu bytes of parameters", bytes);
    }
    memset(ck->params, 0, bytes);
    if (with_optimizer) {
        memset(ck->adam_m, 0, bytes);
        memset(ck->adam_v, 0, bytes);
    }
    return 0;
}

float *tl_checkpoint_arena_alloc(const tl_config *cfg)
{
    return arena_alloc(tl_checkpoint_arena_bytes(cfg));
}

const struct tl_ck_file *tl_checkpoint_file(const tl_checkpoint *ck, const char *name)
{
    for (int i = 0; i < ck->nfiles; i++)
        if (strcmp(ck->files[i].name, name) == 0)
            return &ck->files[i];
    return NULL;
}

void tl_checkpoint_free(tl_checkpoint *ck)
{
    if (!ck)
        return;
    /* a checkpoint that was never loaded has no config (and no arrays): nothing to size */
    size_t bytes = ck->params || ck->adam_m || ck->adam_v ? tl_checkpoint_arena_bytes(&ck->cfg) : 0;
    float *arrays[3] = {ck->params, ck->adam_m, ck->adam_v};
    for (int i = 0; i < 3; i++)
        if (arrays[i]) {
            tl_sec_wipe(arrays[i], bytes);
            free(arrays[i]);
        }
    if (ck->tokenizer_data) { /* carried inside a sealed model (seal/) */
        OPENSSL_cleanse(ck->tokenizer_data, ck->tokenizer_len);
        free(ck->tokenizer_data);
    }
    for (int i = 0; i < ck->nfiles; i++) /* carried inside a sealed model (seal/) */
        if (ck->files[i].data) {
            OPENSSL_cleanse(ck->files[i].data, ck->files[i].len);
            free(ck->files[i].data);
        }
    free(ck->files);
    for (int i = 0; i < ck->nmaps; i++) /* plaintext files mapped read-only: nothing to wipe */
        if (ck->maps[i].addr)
            munmap(ck->maps[i].addr, ck->maps[i].len);
    free(ck->maps);
    if (ck->wbuf) { /* weights decrypted in the TEE */
        tl_sec_wipe(ck->wbuf, ck->wbuf_len);
        free(ck->wbuf);
    }
    free(ck->w);
    memset(ck, 0, sizeof *ck);
}
