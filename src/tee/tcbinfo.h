/* Intel's signed TCB info (SGX/TDX, versions 2 and 3) and enclave identity (QE / TD_QE, version 2)
 * JSON, parsed from the exact text whose signature was checked. */
#ifndef TEELM_TEE_TCBINFO_H
#define TEELM_TEE_TCBINFO_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "util/err.h"

#define TL_MAX_LEVELS 64

typedef struct {
    uint8_t sgx[16];
    uint8_t tdx[16];
    int has_tdx;
    uint16_t pcesvn;
    char status[48];
    char date[32];
    char advisories[512]; /* comma-separated */
} tl_tcb_level;

typedef struct {
    uint16_t isvsvn;
    char status[48];
    char date[32];
    char advisories[512];
} tl_isv_level;

typedef struct {
    char id[16];           /* "TDX_01" */
    uint8_t mrsigner[48];
    uint8_t attributes[8], attributes_mask[8];
    int nlevels;
    tl_isv_level levels[TL_MAX_LEVELS];
} tl_tdx_module_id;

typedef struct {
    char id[8];            /* "SGX" or "TDX" */
    int version;
    time_t issue, next;
    uint8_t fmspc[6];
    uint8_t pceid[2];
    int nlevels;
    tl_tcb_level levels[TL_MAX_LEVELS];
    int has_tdx_module;    /* tdxModule (applies when tee_tcb_svn[1] == 0) */
    uint8_t module_mrsigner[48], module_attributes[8], module_attributes_mask[8];
    int nmodules;
    tl_tdx_module_id modules[8];
} tl_tcb_info;

typedef struct {
    char id[8];            /* "QE" or "TD_QE" */
    int version;
    time_t issue, next;
    uint32_t miscselect, miscselect_mask;
    uint8_t attributes[16], attributes_mask[16];
    uint8_t mrsigner[32];
    uint16_t isvprodid;
    int nlevels;
    tl_isv_level levels[TL_MAX_LEVELS];
} tl_qe_identity;

int tl_tcb_info_parse(const char *json, size_t n, tl_tcb_info *out, tl_err *err);
int tl_qe_identity_parse(const char *json, size_t n, tl_qe_identity *out, tl_err *err);

#endif
