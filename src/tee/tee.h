/* TEE platform interface: evidence that binds 64 bytes of report data, produced by one of
 *   sim    — software stand-in with an SGX-DCAP-v3-shaped quote signed by a simulation chain;
 *            protects nothing and says so;
 *   occlum — SGX enclave under Occlum (/dev/sgx ioctls);
 *   tsm    — TDX / SEV-SNP confidential VM (Linux configfs-tsm).
 * "auto" picks a real backend and never falls back to sim. docs/attestation.md has the details. */
#ifndef TEELM_TEE_TEE_H
#define TEELM_TEE_TEE_H

#include <stddef.h>
#include <stdint.h>

#include "tee/identity.h"
#include "util/err.h"

typedef struct tl_tee tl_tee;

struct tl_tee {
    const char *name; /* "sim", "occlum", "tsm:tdx_guest", "tsm:sev_guest" */
    int simulated;    /* 1 only for sim */
    /* Evidence binding report_data; *evidence is malloc'd. */
    int (*evidence)(tl_tee *t, const uint8_t report_data[64], uint8_t **evidence, size_t *len, tl_err *err);
    void (*close)(tl_tee *t);
    /* Optional (NULL = nothing to do): record this program and its configuration in the TEE's
     * runtime measurement before any evidence is produced; see tl_tee_measure_runtime. */
    int (*measure_runtime)(tl_tee *t, const uint8_t *config, size_t config_len, tl_err *err);
    void *impl;
};

/* Optional settings for tl_tee_open_opts; a zeroed struct means defaults. */
typedef struct {
    /* sim: configuration bound into the measurement (e.g. the server's canonical flags), so two
     * servers with different settings have different MRENCLAVEs. */
    const uint8_t *config;
    size_t config_len;
    const char *exe;          /* sim: executable to measure; NULL = /proc/self/exe */
    int debug;                /* sim: set ATTRIBUTES.DEBUG (tests); env TEELM_SIM_DEBUG=1 does the same */
    uint16_t isv_prod_id;     /* sim: ISVPRODID / ISVSVN stated in the report */
    uint16_t isv_svn;
    const char *occlum_device; /* NULL = /dev/sgx */
    const char *tsm_root;      /* NULL = /sys/kernel/config/tsm/report */
    const char *tsm_mr_root;   /* tsm:tdx_guest: NULL = /sys/class/misc/tdx_guest/measurements */
    /* tsm:sev_guest: certificates to carry with the report besides the host's auxblob (PEM or
     * DER files: VCEK/VLEK, ASK/ASVK, ARK), a directory caching VCEKs, and AMD's KDS base URL to
     * fetch the VCEK from when neither has it (e.g. https://kdsintf.amd.com; NULL = never fetch). */
    const char *const *snp_cert_files;
    int n_snp_cert_files;
    const char *snp_vcek_cache;
    const char *snp_vcek_url;
} tl_tee_opts;

/* name: sim|occlum|tsm|auto. Opening sim prints a warning to stderr that it protects nothing. */
tl_tee *tl_tee_open(const char *name, tl_err *err);
tl_tee *tl_tee_open_opts(const char *name, const tl_tee_opts *opts, tl_err *err);
int tl_tee_evidence(tl_tee *t, const uint8_t report_data[64], uint8_t **evidence, size_t *len, tl_err *err);
/* Measurement of self: the identity the platform states for this process (from evidence with zero
 * report data, parsed but not verified — for display and for writing policies). */
int tl_tee_self(tl_tee *t, tl_identity *id, tl_err *err);
void tl_tee_close(tl_tee *t);

/* Measures the running program into the TEE, once, right after opening it and before any
 * evidence: on tsm:tdx_guest RTMR3 is extended with SHA-384(/proc/self/exe), then SHA-384(config)
 * (tee/rtmr.h; docs/attestation.md says how a verifier predicts the value). Fails with
 * TL_EUNSUPPORTED when the kernel cannot extend RTMR3 (no measurements sysfs, Linux < 6.16): a TD
 * whose RTMR3 does not name the program must not serve. A no-op returning 0 on sim (its
 * MRENCLAVE already binds executable and config), occlum (MRENCLAVE measures the enclave) and
 * tsm:sev_guest (SEV-SNP has no RTMRs; HOST_DATA / the ID block are the SNP way). */
int tl_tee_measure_runtime(tl_tee *t, const uint8_t *config, size_t config_len, tl_err *err);

/* The sim MRENCLAVE of an executable and configuration, as the sim backend computes it:
 * SHA-256("teelm sim MRENCLAVE v1" NUL ‖ SHA-256(executable) ‖ SHA-256(config)). exe NULL = self. */
int tl_sim_measure(const char *exe, const uint8_t *config, size_t config_len, uint8_t mrenclave[32], tl_err *err);

/* Backends (tee_sim.c, tee_occlum.c, tee_tsm.c). */
tl_tee *tl_tee_sim_open(tl_err *err);
tl_tee *tl_tee_sim_open_opts(const tl_tee_opts *opts, tl_err *err);
tl_tee *tl_tee_occlum_open(const char *device /* NULL = /dev/sgx */, tl_err *err);
tl_tee *tl_tee_tsm_open(const char *configfs_root /* NULL = /sys/kernel/config/tsm/report */, tl_err *err);

#endif
