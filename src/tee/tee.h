/* TEE platform interface: evidence that binds 64 bytes of report data, produced by one of
 *   sim    — software stand-in with an SGX-DCAP-v3-shaped quote signed by a simulation chain;
 *            protects nothing and says so;
 *   occlum — SGX enclave under Occlum (/dev/sgx ioctls);
 *   tsm    — TDX / SEV-SNP confidential VM (Linux configfs-tsm).
 * "auto" picks a real backend and never falls back to sim. */
#ifndef TEELM_TEE_TEE_H
#define TEELM_TEE_TEE_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

typedef struct tl_tee tl_tee;

struct tl_tee {
    const char *name; /* "sim", "occlum", "tsm:tdx_guest", ... */
    int simulated;    /* 1 only for sim */
    /* Evidence binding report_data; *evidence is malloc'd. */
    int (*evidence)(tl_tee *t, const uint8_t report_data[64], uint8_t **evidence, size_t *len, tl_err *err);
    void (*close)(tl_tee *t);
    void *impl;
};

/* name: sim|occlum|tsm|auto. Opening sim prints a warning to stderr that it protects nothing. */
tl_tee *tl_tee_open(const char *name, tl_err *err);
int tl_tee_evidence(tl_tee *t, const uint8_t report_data[64], uint8_t **evidence, size_t *len, tl_err *err);
void tl_tee_close(tl_tee *t);

/* Backends (tee_sim.c, tee_occlum.c, tee_tsm.c). */
tl_tee *tl_tee_sim_open(tl_err *err);
tl_tee *tl_tee_occlum_open(const char *device /* NULL = /dev/sgx */, tl_err *err);
tl_tee *tl_tee_tsm_open(const char *configfs_root /* NULL = /sys/kernel/config/tsm/report */, tl_err *err);

#endif
