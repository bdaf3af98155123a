#include "tee/identity.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tee/snp.h"
#include "util/codec.h"

const char *tl_tee_kind_name(tl_tee_kind k)
{
    switch (k) {
    case TL_TEE_KIND_SGX:
        return "SGX";
    case TL_TEE_KIND_TDX:
        return "TDX";
    case TL_TEE_KIND_SEV_SNP:
        return "SEV-SNP";
    }
    return "unknown";
}

static void hexfield(json_t *o, const char *k, const uint8_t *v, size_t n)
{
    char h[129];
    tl_hex(v, n, h);
    json_object_set_new(o, k, json_string(h));
}

char *tl_identity_to_json(const tl_identity *id)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    json_object_set_new(o, "kind", json_string(tl_tee_kind_name(id->kind)));
    json_object_set_new(o, "simulated", json_boolean(id->simulated));
    json_object_set_new(o, "debug", json_boolean(id->debug));
    hexfield(o, "report_data", id->report_data, 64);
    if (id->kind == TL_TEE_KIND_SGX) {
        hexfield(o, "mrenclave", id->mrenclave, 32);
        hexfield(o, "mrsigner", id->mrsigner, 32);
        json_object_set_new(o, "isv_prod_id", json_integer(id->isv_prod_id));
        json_object_set_new(o, "isv_svn", json_integer(id->isv_svn));
        hexfield(o, "attributes", id->attributes, 16);
    } else if (id->kind == TL_TEE_KIND_TDX) {
        hexfield(o, "mrtd", id->mrtd, 48);
        for (int i = 0; i < 4; i++) {
            char k[8] = "rtmr0";
            k[4] = (char)('0' + i);
            hexfield(o, k, id->rtmr[i], 48);
        }
        hexfield(o, "td_attributes", id->td_attributes, 8);
        hexfield(o, "tee_tcb_svn", id->tee_tcb_svn, 16);
    } else if (id->kind == TL_TEE_KIND_SEV_SNP) {
        char num[24];
        json_object_set_new(o, "tee", json_string("sev-snp"));
        json_object_set_new(o, "product", json_string(tl_snp_product_name(id->snp_product)));
        json_object_set_new(o, "signer", json_string(id->snp_signer == TL_SNP_SIGNER_VLEK ? "vlek" : "vcek"));
        json_object_set_new(o, "version", json_integer(id->snp_version));
        hexfield(o, "measurement", id->snp_measurement, 48);
        snprintf(num, sizeof num, "0x%llx", (unsigned long long)id->snp_policy);
        json_object_set_new(o, "policy", json_string(num));
        json_object_set_new(o, "vmpl", json_integer(id->snp_vmpl));
        json_object_set_new(o, "guest_svn", json_integer(id->snp_guest_svn));
        snprintf(num, sizeof num, "0x%016llx", (unsigned long long)id->snp_reported_tcb);
        json_object_set_new(o, "reported_tcb", json_string(num));
        tl_snp_tcb t;
        tl_snp_tcb_decode(id->snp_reported_tcb, id->snp_product == TL_SNP_TURIN, &t);
        json_t *c = json_pack("{s:i,s:i,s:i,s:i}", "bootloader", t.bootloader, "tee", t.tee, "snp", t.snp, "microcode",
                              t.microcode);
        if (c && id->snp_product == TL_SNP_TURIN)
            json_object_set_new(c, "fmc", json_integer(t.fmc));
        json_object_set_new(o, "reported_tcb_components", c ? c : json_null());
        hexfield(o, "host_data", id->snp_host_data, 32);
        hexfield(o, "id_key_digest", id->snp_id_key_digest, 48);
        hexfield(o, "author_key_digest", id->snp_author_key_digest, 48);
        hexfield(o, "family_id", id->snp_family_id, 16);
        hexfield(o, "image_id", id->snp_image_id, 16);
        hexfield(o, "chip_id", id->snp_chip_id, id->snp_product == TL_SNP_TURIN ? 8 : 64);
        snprintf(num, sizeof num, "0x%llx", (unsigned long long)id->snp_platform_info);
        json_object_set_new(o, "platform_info", json_string(num));
    }
    static const uint8_t zero6[6];
    if (memcmp(id->fmspc, zero6, 6))
        hexfield(o, "fmspc", id->fmspc, 6);
    if (id->tcb_status[0])
        json_object_set_new(o, "tcb_status", json_string(id->tcb_status));
    if (id->qe_status[0])
        json_object_set_new(o, "qe_status", json_string(id->qe_status));
    if (id->tdx_module_status[0])
        json_object_set_new(o, "tdx_module_status", json_string(id->tdx_module_status));
    if (id->tcb_date[0])
        json_object_set_new(o, "tcb_date", json_string(id->tcb_date));
    json_t *adv = json_array();
    const char *a = id->advisories;
    while (*a) {
        const char *c = strchr(a, ',');
        size_t n = c ? (size_t)(c - a) : strlen(a);
        json_array_append_new(adv, json_stringn(a, n));
        a += n + (c ? 1 : 0);
    }
    json_object_set_new(o, "advisories", adv);
    char *s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(o);
    return s;
}
