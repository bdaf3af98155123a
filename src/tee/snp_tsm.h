/* Internal to src/tee: SEV-SNP evidence in a guest — the report from configfs-tsm's outblob and
 * its certificates: the host's auxblob table, the operator's files, a VCEK cache, AMD's KDS. */
#ifndef TEELM_TEE_SNP_TSM_H
#define TEELM_TEE_SNP_TSM_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

typedef struct {
    const char *const *files;
    int nfiles;
    const char *cache_dir; /* NULL = no cache */
    const char *kds_url;   /* NULL = never fetch */
    int (*fetch_fn)(const char *url, uint8_t **body, size_t *n, void *ctx, tl_err *err);
    void *ctx;
} tl_snp_tsm_src;

/* Evidence = report (1184 bytes) || certificate table holding the leaf the report's signer names
 * (VCEK or VLEK) and whatever ASK/ASVK and ARK were found. The host's table comes first; files add
 * kinds it lacks; a missing VCEK comes from cache_dir/vcek-PRODUCT-HWID-TCB.der or kds_url (and is
 * then cached). Fails, naming the sources tried, when there is no leaf certificate. */
int tl_snp_tsm_evidence(const uint8_t *report, size_t n, const uint8_t *aux, size_t aux_len, const tl_snp_tsm_src *src,
                        uint8_t **ev, size_t *ev_len, tl_err *err);

#endif
