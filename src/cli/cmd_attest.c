/* teelm attest: produce evidence (quote), verify it (verify), show it unverified (show), print the
 * sim measurement of this binary + configuration (measure), write broker policies (policy-template),
 * predict the TDX RTMR3 of this binary + configuration (rtmr3), fetch collateral for offline use
 * (collateral). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "tee/binding.h"
#include "tee/certs.h"
#include "tee/pccs.h"
#include "tee/policy.h"
#include "tee/rtmr.h"
#include "tee/snp.h"
#include "tee/tee.h"
#include "tee/verify.h"
#include "util/codec.h"
#include "util/io.h"

#define MAX_EVIDENCE (1 << 20)

static int fail(const char *cmd, const tl_err *e)
{
    fprintf(stderr, "teelm %s: %s\n", cmd, e->msg);
    return 1;
}

/* --config FILE / --config-string S: the configuration blob bound into the sim measurement. */
static int load_config(const char *cmd, const char *file, const char *str, uint8_t **cfg, size_t *n)
{
    *cfg = NULL;
    *n = 0;
    if (file && str) {
        fprintf(stderr, "teelm %s: give --config or --config-string, not both\n", cmd);
        return 2;
    }
    if (str) {
        *n = strlen(str);
        *cfg = (uint8_t *)strdup(str);
        return *cfg ? 0 : 1;
    }
    if (file) {
        tl_err e = {0};
        if (tl_read_file(file, 16 << 20, cfg, n, &e))
            return fail(cmd, &e);
    }
    return 0;
}

static void print_hex_line(const char *k, const uint8_t *v, size_t n)
{
    char h[129];
    tl_hex(v, n, h);
    printf("%-18s %s\n", k, h);
}

static void print_identity(const tl_identity *id)
{
    printf("%-18s %s%s\n", "kind", tl_tee_kind_name(id->kind), id->simulated ? " (SIMULATED: protects nothing)" : "");
    printf("%-18s %s\n", "debug", id->debug ? "yes" : "no");
    if (id->kind == TL_TEE_KIND_SGX) {
        print_hex_line("mrenclave", id->mrenclave, 32);
        print_hex_line("mrsigner", id->mrsigner, 32);
        printf("%-18s %u\n%-18s %u\n", "isv_prod_id", id->isv_prod_id, "isv_svn", id->isv_svn);
        print_hex_line("attributes", id->attributes, 16);
    } else if (id->kind == TL_TEE_KIND_TDX) {
        print_hex_line("mrtd", id->mrtd, 48);
        for (int i = 0; i < 4; i++) {
            char k[8] = "rtmr0";
            k[4] = (char)('0' + i);
            print_hex_line(k, id->rtmr[i], 48);
        }
        print_hex_line("td_attributes", id->td_attributes, 8);
        print_hex_line("tee_tcb_svn", id->tee_tcb_svn, 16);
    } else if (id->kind == TL_TEE_KIND_SEV_SNP) {
        printf("%-18s %s\n%-18s %s\n%-18s %u\n", "product", tl_snp_product_name(id->snp_product), "signer",
               id->snp_signer == TL_SNP_SIGNER_VLEK ? "vlek" : "vcek", "version", id->snp_version);
        print_hex_line("measurement", id->snp_measurement, 48);
        printf("%-18s 0x%llx\n%-18s %u\n", "policy", (unsigned long long)id->snp_policy, "vmpl", id->snp_vmpl);
        tl_snp_tcb t;
        tl_snp_tcb_decode(id->snp_reported_tcb, id->snp_product == TL_SNP_TURIN, &t);
        printf("%-18s 0x%016llx (bootloader %u, tee %u, snp %u, microcode %u", "reported_tcb",
               (unsigned long long)id->snp_reported_tcb, t.bootloader, t.tee, t.snp, t.microcode);
        if (id->snp_product == TL_SNP_TURIN)
            printf(", fmc %u", t.fmc);
        printf(")\n");
        print_hex_line("host_data", id->snp_host_data, 32);
    }
    print_hex_line("report_data", id->report_data, 64);
    static const uint8_t zero6[6];
    if (memcmp(id->fmspc, zero6, 6))
        print_hex_line("fmspc", id->fmspc, 6);
    if (id->tcb_status[0])
        printf("%-18s %s\n", "tcb_status", id->tcb_status);
    if (id->qe_status[0])
        printf("%-18s %s\n", "qe_status", id->qe_status);
    if (id->tdx_module_status[0])
        printf("%-18s %s\n", "tdx_module_status", id->tdx_module_status);
    if (id->tcb_date[0])
        printf("%-18s %s\n", "tcb_date", id->tcb_date);
    if (id->tcb_status[0])
        printf("%-18s %s\n", "advisories", id->advisories[0] ? id->advisories : "(none)");
}

/* Every field of an SEV-SNP report (tee/snp.h), and the certificate table after it. */
static void print_snp(const uint8_t *ev, size_t n)
{
    tl_snp_report r;
    if (tl_snp_report_parse(ev, TL_SNP_REPORT_LEN, &r, NULL))
        return;
    int turin = r.product == TL_SNP_TURIN;
    printf("%-18s %s\n%-18s %u\n%-18s %u\n", "tee", "sev-snp", "version", r.version, "guest_svn", r.guest_svn);
    printf("%-18s 0x%llx (debug %d, smt %d, migrate_ma %d, single_socket %d, abi %u.%u)\n", "policy",
           (unsigned long long)r.policy, (int)(r.policy >> TL_SNP_POLICY_DEBUG & 1), (int)(r.policy >> TL_SNP_POLICY_SMT & 1),
           (int)(r.policy >> TL_SNP_POLICY_MIGRATE_MA & 1), (int)(r.policy >> TL_SNP_POLICY_SINGLE_SOCKET & 1),
           (unsigned)(r.policy >> 8 & 0xff), (unsigned)(r.policy & 0xff));
    print_hex_line("family_id", r.family_id, 16);
    print_hex_line("image_id", r.image_id, 16);
    printf("%-18s %u\n%-18s %u (ECDSA P-384 with SHA-384)\n", "vmpl", r.vmpl, "signature_algo", r.sig_algo);
    const struct { const char *k; uint64_t v; } tcbs[] = {{"current_tcb", r.current_tcb}, {"reported_tcb", r.reported_tcb},
                                                          {"committed_tcb", r.committed_tcb}, {"launch_tcb", r.launch_tcb}};
    for (size_t i = 0; i < sizeof tcbs / sizeof *tcbs; i++) {
        tl_snp_tcb t;
        tl_snp_tcb_decode(tcbs[i].v, turin, &t);
        printf("%-18s 0x%016llx (bootloader %u, tee %u, snp %u, microcode %u", tcbs[i].k, (unsigned long long)tcbs[i].v,
               t.bootloader, t.tee, t.snp, t.microcode);
        if (turin)
            printf(", fmc %u", t.fmc);
        printf(")%s\n", r.product < 0 ? " [Milan/Genoa layout]" : "");
    }
    printf("%-18s 0x%llx\n", "platform_info", (unsigned long long)r.platform_info);
    printf("%-18s 0x%x (signer %s, author_key_en %u, mask_chip_id %u)\n", "signer_info", r.signer_info,
           r.signer == TL_SNP_SIGNER_VLEK ? "vlek" : "vcek", r.signer_info & 1, (r.signer_info >> 1) & 1);
    print_hex_line("measurement", r.measurement, 48);
    print_hex_line("host_data", r.host_data, 32);
    print_hex_line("id_key_digest", r.id_key_digest, 48);
    print_hex_line("author_key_digest", r.author_key_digest, 48);
    print_hex_line("report_id", r.report_id, 32);
    print_hex_line("report_id_ma", r.report_id_ma, 32);
    if (r.version >= 3)
        printf("%-18s family 0x%02x model 0x%02x stepping 0x%02x (%s)\n", "cpuid", r.cpuid_fam, r.cpuid_mod, r.cpuid_step,
               tl_snp_product_name(r.product));
    print_hex_line("chip_id", r.chip_id, 64);
    printf("%-18s %u.%u (build %u)\n%-18s %u.%u (build %u)\n", "current_version", r.current_major, r.current_minor,
           r.current_build, "committed_version", r.committed_major, r.committed_minor, r.committed_build);
    if (r.version >= 5)
        printf("%-18s 0x%llx\n%-18s 0x%llx\n", "launch_mit_vector", (unsigned long long)r.launch_mit_vector,
               "current_mit_vector", (unsigned long long)r.current_mit_vector);
    print_hex_line("report_data", r.report_data, 64);
    print_hex_line("signature_r", r.sig_r, 48);
    print_hex_line("signature_s", r.sig_s, 48);
    tl_snp_cert_entry c[TL_SNP_MAX_CERTS];
    int nc = 0;
    if (n > TL_SNP_REPORT_LEN && !tl_snp_certtable_parse(ev + TL_SNP_REPORT_LEN, n - TL_SNP_REPORT_LEN, c, &nc, NULL)) {
        static const char *const kinds[] = {"VCEK", "VLEK", "ASK", "ARK", "other"};
        for (int i = 0; i < nc; i++)
            printf("%-18s %s, %zu bytes\n", i ? "" : "certificates", kinds[c[i].kind], c[i].len);
    } else {
        printf("%-18s (none in the evidence)\n", "certificates");
    }
}

static char **expand_snp_certs(int argc, char **argv, int *nargc)
{
    return tl_args_expand_multi(argc, argv, "--snp-certs", nargc);
}

#define MAX_USER_DATA 4096

static int attest_quote(int argc, char **argv)
{
    const char *tee = NULL, *rd_hex = NULL, *ud_hex = NULL, *out = NULL, *cfg_file = NULL, *cfg_str = NULL,
               *device = NULL, *tsm = NULL, *vcek_url = NULL, *vcek_cache = NULL;
    int debug = 0, prod = 0, svn = 0;
    tl_strlist snp_certs = {0};
    const tl_opt opts[] = {
        {"--snp-certs", TL_ARG_MULTI, &snp_certs, "FILE...", "tsm sev_guest: certificates to carry with the report (VCEK, ASK, ARK; PEM or DER)", 0, 0},
        {"--snp-vcek-url", TL_ARG_STR, &vcek_url, "URL", "tsm sev_guest: fetch a missing VCEK from this AMD KDS (https://kdsintf.amd.com)", 0, 0},
        {"--snp-vcek-cache", TL_ARG_STR, &vcek_cache, "DIR", "tsm sev_guest: VCEK cache directory", 0, 0},
        {"--tee", TL_ARG_STR, &tee, "NAME", "sim, occlum, tsm or auto (auto never picks sim)", 0, 0},
        {"--user-data", TL_ARG_STR, &ud_hex, "HEX", "bytes to bind (hex, up to 4096) under the \"user-quote\" purpose", 0, 0},
        {"--report-data", TL_ARG_STR, &rd_hex, "HEX", "sim only: raw report data, up to 64 bytes hex (zero-padded)", 0, 0},
        {"--out", TL_ARG_STR, &out, "FILE", "where to write the evidence (binary)", 0, 0},
        {"--config", TL_ARG_STR, &cfg_file, "FILE", "sim: configuration file bound into MRENCLAVE", 0, 0},
        {"--config-string", TL_ARG_STR, &cfg_str, "S", "sim: configuration text bound into MRENCLAVE", 0, 0},
        {"--sim-debug", TL_ARG_FLAG, &debug, NULL, "sim: mark the evidence as from a debug enclave (tests)", 0, 0},
        {"--sim-isv-prod-id", TL_ARG_INT, &prod, "N", "sim: ISVPRODID to state (default 0)", 0, 65535},
        {"--sim-isv-svn", TL_ARG_INT, &svn, "N", "sim: ISVSVN to state (default 0)", 0, 65535},
        {"--device", TL_ARG_STR, &device, "PATH", "occlum: SGX device (default /dev/sgx)", 0, 0},
        {"--tsm-root", TL_ARG_STR, &tsm, "DIR", "tsm: configfs report dir (default /sys/kernel/config/tsm/report)", 0, 0},
        {0}};
    const tl_cmdspec spec = {"attest quote", "--tee NAME (--user-data HEX | --tee sim --report-data HEX) --out FILE",
                             "Produce TEE evidence (a DCAP quote, or a SEV-SNP report). --user-data binds\n"
                             "SHA-512(\"teelm/user-quote/v1\" NUL be32(len) data) (docs/bindings.md), which the key\n"
                             "broker and teelm client never accept as their own bindings. Raw --report-data is\n"
                             "refused on real TEEs: evidence over chosen bytes could pass as teelm's own.",
                             opts, 0, 0};
    int xargc = 0;
    char **xargv = expand_snp_certs(argc, argv, &xargc);
    if (!xargv)
        return 1;
    int rc = tl_args_parse(&spec, xargc, xargv, NULL, NULL);
    free(xargv);
    if (rc)
        return rc == 1 ? 0 : rc;
    if (!tee || !out || !rd_hex == !ud_hex)
        return tl_usage_error(&spec, "--tee, --out and one of --user-data or --report-data are required");
    if (rd_hex && strcmp(tee, "sim") != 0)
        return tl_usage_error(&spec, "--report-data (raw report data) works only with --tee sim: on a real TEE, "
                                     "evidence over caller-chosen bytes could pass for teelm's key-release or "
                                     "RA-TLS evidence; use --user-data HEX (purpose \"user-quote\")");
    uint8_t rd[64] = {0};
    if (rd_hex) {
        size_t hl = strlen(rd_hex);
        if (hl > 128 || tl_unhex(rd_hex, hl, rd, hl / 2))
            return tl_usage_error(&spec, "--report-data must be an even number of hex digits, at most 128");
    } else {
        size_t hl = strlen(ud_hex);
        uint8_t *ud = malloc(hl / 2 + 1);
        tl_err be = {0};
        if (!ud || hl > 2 * MAX_USER_DATA || tl_unhex(ud_hex, hl, ud, hl / 2)) {
            free(ud);
            return tl_usage_error(&spec, "--user-data must be an even number of hex digits, at most %d", 2 * MAX_USER_DATA);
        }
        const tl_bind_field f[] = {{ud, hl / 2}};
        rc = tl_binding_report_data(TL_BIND_USER_QUOTE, f, 1, rd, &be);
        free(ud);
        if (rc)
            return fail(spec.cmd, &be);
    }
    uint8_t *cfg;
    size_t cfg_len;
    if ((rc = load_config(spec.cmd, cfg_file, cfg_str, &cfg, &cfg_len)))
        return rc;
    tl_tee_opts o = {cfg, cfg_len, NULL, debug, (uint16_t)prod, (uint16_t)svn, device, tsm, NULL, snp_certs.v, snp_certs.n,
                     vcek_cache, vcek_url};
    tl_err e = {0};
    tl_tee *t = tl_tee_open_opts(tee, &o, &e);
    free(cfg);
    if (!t)
        return fail(spec.cmd, &e);
    if (rd_hex && !t->simulated) { /* "sim" always opens the simulation; keep the rule independent of names */
        tl_tee_close(t);
        fprintf(stderr, "teelm %s: --report-data works only with the sim backend\n", spec.cmd);
        return 2;
    }
    uint8_t *ev = NULL;
    size_t n = 0;
    rc = tl_tee_evidence(t, rd, &ev, &n, &e) || tl_write_file_atomic(out, ev, n, 0644, &e);
    if (!rc)
        printf("%s: %zu bytes of evidence from '%s'\n", out, n, t->name);
    tl_tee_close(t);
    free(ev);
    return rc ? fail(spec.cmd, &e) : 0;
}

#define MAX_SNP_FILE (1 << 20)

static int attest_verify(int argc, char **argv)
{
    const char *col_path = NULL, *pccs = NULL, *cache = NULL, *policy = NULL, *now_s = NULL;
    int json = 0;
    tl_strlist snp_certs = {0};
    const tl_opt opts[] = {
        {"--snp-certs", TL_ARG_MULTI, &snp_certs, "FILE...",
         "SEV-SNP: files with VCEK/VLEK, ASK/ASVK, ARK certificates and CRLs (PEM or DER, any order)", 0, 0},
        {"--collateral", TL_ARG_STR, &col_path, "FILE|DIR", "collateral JSON file or directory of PCS responses", 0, 0},
        {"--pccs", TL_ARG_STR, &pccs, "URL", "fetch collateral from this PCCS/PCS (v4 API)", 0, 0},
        {"--cache", TL_ARG_STR, &cache, "DIR", "with --pccs: cache fetched collateral here", 0, 0},
        {"--policy", TL_ARG_STR, &policy, "FILE", "acceptance policy (docs/policy.md)", 0, 0},
        {"--now", TL_ARG_STR, &now_s, "ISO8601", "verification time, e.g. 2025-07-01T00:00:00Z (default: now)", 0, 0},
        {"--json", TL_ARG_FLAG, &json, NULL, "print the result as JSON", 0, 0},
        {0}};
    const tl_cmdspec spec = {"attest verify",
                             "EVIDENCE [--collateral FILE | --pccs URL | --snp-certs FILE...] [--policy FILE] [--now T] [--json]",
                             "Verify evidence: DCAP quotes against the pinned Intel SGX Root CA, CRLs, TCB info and QE "
                             "identity; SEV-SNP reports against AMD's pinned ARKs, the ASK/ASVK and VCEK/VLEK (from the "
                             "evidence's certificate table and --snp-certs) and the VCEK's TCB and chip id; then the "
                             "policy. Exit 0 only when accepted.\n"
                             "Without --policy only the platform verdict counts: not debug, not simulated, and for DCAP "
                             "TCB status UpToDate.",
                             opts, 1, 1};
    const char *pos[1];
    int xargc = 0;
    char **xargv = expand_snp_certs(argc, argv, &xargc);
    if (!xargv)
        return 1;
    int rc = tl_args_parse(&spec, xargc, xargv, pos, NULL);
    free(xargv);
    if (rc)
        return rc == 1 ? 0 : rc;
    if (col_path && pccs)
        return tl_usage_error(&spec, "give --collateral or --pccs, not both");
    time_t now = time(NULL);
    if (now_s && tl_parse_iso8601(now_s, &now))
        return tl_usage_error(&spec, "--now needs a UTC time like 2025-07-01T00:00:00Z, got '%s'", now_s);
    tl_err e = {0};
    uint8_t *ev = NULL;
    size_t n;
    if (tl_read_file(pos[0], MAX_EVIDENCE, &ev, &n, &e))
        return fail(spec.cmd, &e);
    tl_policy *pol = NULL;
    if (policy && !(pol = tl_policy_load(policy, &e))) {
        free(ev);
        return fail(spec.cmd, &e);
    }
    tl_collateral *col = NULL;
    if (col_path)
        col = tl_collateral_load(col_path, &e);
    else if (pccs)
        col = tl_pccs_collateral_for(pccs, cache, ev, n, now, &e);
    if ((col_path || pccs) && !col) {
        free(ev);
        tl_policy_free(pol);
        return fail(spec.cmd, &e);
    }
    uint8_t *blobs[64] = {0};
    size_t blob_lens[64] = {0};
    for (int i = 0; i < snp_certs.n; i++)
        if (tl_read_file(snp_certs.v[i], MAX_SNP_FILE, &blobs[i], &blob_lens[i], &e)) {
            for (int j = 0; j < i; j++)
                free(blobs[j]);
            free(ev);
            tl_policy_free(pol);
            tl_collateral_free(col);
            return fail(spec.cmd, &e);
        }
    tl_verify_opts vo = {.snp_blobs = (const uint8_t *const *)blobs, .snp_blob_lens = blob_lens, .n_snp_blobs = snp_certs.n};
    tl_identity id;
    tl_err ve = {0}, pe = {0};
    int vrc = tl_evidence_verify_opts(ev, n, col, now, &vo, &id, &ve);
    for (int i = 0; i < snp_certs.n; i++)
        free(blobs[i]);
    int prc = -1;
    if (!vrc) {
        if (pol) {
            prc = tl_policy_check(pol, &id, &pe);
        } else {
            /* no policy: the platform verdict alone */
            prc = 0;
            if (id.simulated)
                prc = tl_errf(&pe, TL_EPOLICY, "evidence is simulated (sim backend, protects nothing); accept it only with a policy that sets allow_simulation");
            else if (id.debug)
                prc = tl_errf(&pe, TL_EPOLICY, "evidence is from a debug TEE; accept it only with a policy that sets allow_debug");
            else if (id.kind != TL_TEE_KIND_SEV_SNP && strcmp(id.tcb_status, "UpToDate") != 0)
                prc = tl_errf(&pe, TL_EPOLICY, "tcb_status %s is not UpToDate; a policy can accept it with tcb_statuses", id.tcb_status);
        }
    }
    int accepted = !vrc && !prc;
    int have_id = !vrc || vrc == TL_ESTATE;
    if (json) {
        json_t *o = json_object();
        json_object_set_new(o, "evidence", json_string(pos[0]));
        if (have_id && id.kind) {
            char *s = tl_identity_to_json(&id);
            json_t *ij = s ? json_loads(s, 0, NULL) : NULL;
            free(s);
            /* SEV-SNP: the fields a relying party checks first, at the top level too */
            static const char *const top[] = {"tee", "product", "signer", "version", "measurement", "report_data",
                                              "reported_tcb", "vmpl", "debug"};
            for (size_t k = 0; ij && id.kind == TL_TEE_KIND_SEV_SNP && k < sizeof top / sizeof *top; k++)
                json_object_set(o, top[k], json_object_get(ij, top[k]));
            json_object_set_new(o, "identity", ij ? ij : json_null());
        }
        json_object_set_new(o, "verified", json_boolean(!vrc));
        if (vrc)
            json_object_set_new(o, "verify_error", json_string(ve.msg));
        if (!vrc)
            json_object_set_new(o, "policy", json_string(pol ? policy : "(platform verdict only)"));
        if (!vrc && prc)
            json_object_set_new(o, "policy_error", json_string(pe.msg));
        json_object_set_new(o, "verdict", json_string(accepted ? "accepted" : "refused"));
        char *s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        if (s)
            printf("%s\n", s);
        free(s);
        json_decref(o);
    } else {
        if (have_id && id.kind)
            print_identity(&id);
        if (vrc)
            printf("%-18s FAILED: %s\n", "verification", ve.msg);
        else
            printf("%-18s ok%s%s%s\n", "verification",
                   id.simulated ? " (simulation root)" : id.kind == TL_TEE_KIND_SEV_SNP ? " (AMD ARK-" : " (Intel SGX Root CA)",
                   id.kind == TL_TEE_KIND_SEV_SNP ? tl_snp_product_name(id.snp_product) : "",
                   id.kind == TL_TEE_KIND_SEV_SNP ? (id.snp_signer == TL_SNP_SIGNER_VLEK ? ", VLEK)" : ", VCEK)") : "");
        if (!vrc)
            printf("%-18s %s\n", "policy", prc ? pe.msg : (pol ? "satisfied" : "(none: platform verdict only)"));
        printf("%-18s %s\n", "verdict", accepted ? "ACCEPTED" : "REFUSED");
    }
    if (!accepted)
        fprintf(stderr, "teelm %s: refused: %s\n", spec.cmd, vrc ? ve.msg : pe.msg);
    free(ev);
    tl_policy_free(pol);
    tl_collateral_free(col);
    return accepted ? 0 : 1;
}

static int attest_show(int argc, char **argv)
{
    int json = 0;
    const tl_opt opts[] = {{"--json", TL_ARG_FLAG, &json, NULL, "print JSON", 0, 0}, {0}};
    const tl_cmdspec spec = {"attest show", "EVIDENCE [--json]",
                             "Parse evidence and print what it states, WITHOUT verifying anything.", opts, 1, 1};
    const char *pos[1];
    TL_ARGS_PARSE_OR_RETURN(&spec, argc, argv, pos, NULL);
    tl_err e = {0};
    uint8_t *ev = NULL;
    size_t n;
    tl_identity id;
    if (tl_read_file(pos[0], MAX_EVIDENCE, &ev, &n, &e) || tl_evidence_parse(ev, n, &id, &e)) {
        free(ev);
        return fail(spec.cmd, &e);
    }
    if (json) {
        char *s = tl_identity_to_json(&id);
        printf("%s\n", s ? s : "null");
        free(s);
    } else {
        printf("(unverified)\n");
        if (id.kind == TL_TEE_KIND_SEV_SNP)
            print_snp(ev, n);
        else
            print_identity(&id);
    }
    free(ev);
    return 0;
}

/* A document as `teelm serve --print-config` wrote it: the bytes bound are the document without
 * the line end the command printed after it. */
static int load_serve_config(const char *cmd, const char *path, uint8_t **cfg, size_t *n)
{
    tl_err e = {0};
    if (tl_read_file(path, 64 << 10, cfg, n, &e))
        return fail(cmd, &e);
    while (*n && ((*cfg)[*n - 1] == '\n' || (*cfg)[*n - 1] == '\r'))
        (*n)--;
    json_t *o = json_loadb((const char *)*cfg, *n, 0, NULL);
    const char *kind = json_string_value(json_object_get(o, "teelm"));
    int ok = kind && !strcmp(kind, "serve");
    json_decref(o);
    if (!ok) {
        fprintf(stderr, "teelm %s: %s: not a configuration document from 'teelm serve --print-config'\n", cmd, path);
        free(*cfg);
        *cfg = NULL;
        return 1;
    }
    return 0;
}

static int attest_measure(int argc, char **argv)
{
    const char *cfg_file = NULL, *cfg_str = NULL, *exe = NULL, *serve_cfg = NULL;
    int json = 0;
    const tl_opt opts[] = {
        {"--config", TL_ARG_STR, &cfg_file, "FILE", "configuration file bound into MRENCLAVE", 0, 0},
        {"--config-string", TL_ARG_STR, &cfg_str, "S", "configuration text bound into MRENCLAVE", 0, 0},
        {"--serve-config", TL_ARG_STR, &serve_cfg, "FILE", "the output of 'teelm serve ... --print-config'", 0, 0},
        {"--exe", TL_ARG_STR, &exe, "PATH", "executable to measure (default: this teelm)", 0, 0},
        {"--json", TL_ARG_FLAG, &json, NULL, "print JSON", 0, 0},
        {0}};
    const tl_cmdspec spec = {"attest measure", "[--serve-config FILE | --config FILE | --config-string S] [--exe PATH] [--json]",
                             "Print the sim MRENCLAVE of this binary and configuration:\n"
                             "SHA-256(\"teelm sim MRENCLAVE v1\" NUL || SHA-256(executable) || SHA-256(config)), and "
                             "the sim MRSIGNER. A server's configuration is the document 'teelm serve ... --print-config'\n"
                             "prints (--serve-config). For real enclaves use 'occlum print mrenclave'.",
                             opts, 0, 0};
    TL_ARGS_PARSE_OR_RETURN(&spec, argc, argv, NULL, NULL);
    uint8_t *cfg;
    size_t cfg_len;
    if (serve_cfg && (cfg_file || cfg_str))
        return tl_usage_error(&spec, "--serve-config does not go with --config or --config-string");
    int rc;
    if ((rc = serve_cfg ? load_serve_config(spec.cmd, serve_cfg, &cfg, &cfg_len)
                        : load_config(spec.cmd, cfg_file, cfg_str, &cfg, &cfg_len)))
        return rc;
    tl_err e = {0};
    uint8_t mr[32];
    rc = tl_sim_measure(exe, cfg, cfg_len, mr, &e);
    free(cfg);
    if (rc)
        return fail(spec.cmd, &e);
    char h[65];
    tl_hex(mr, 32, h);
    if (json)
        printf("{\"mrenclave\": \"%s\", \"simulated\": true}\n", h);
    else
        printf("%s\n", h);
    return 0;
}

/* --rtmr N=HEX values into rtmr[N] (hex strings); 2 on a usage error (printed). */
static int parse_rtmrs(const tl_cmdspec *spec, const tl_strlist *l, const char *rtmr[4])
{
    for (int i = 0; i < l->n; i++) {
        const char *v = l->v[i];
        uint8_t b[TL_RTMR_LEN];
        if (v[0] < '0' || v[0] > '3' || v[1] != '=')
            return tl_usage_error(spec, "--rtmr needs N=HEX with N 0..3, got '%.20s'", v);
        if (tl_unhex(v + 2, strlen(v + 2), b, sizeof b))
            return tl_usage_error(spec, "--rtmr %c=HEX needs 96 hex digits (48 bytes), got %zu characters", v[0],
                                  strlen(v + 2));
        if (rtmr[v[0] - '0'])
            return tl_usage_error(spec, "--rtmr %c given twice", v[0]);
        rtmr[v[0] - '0'] = v + 2;
    }
    return 0;
}

static int attest_policy_template(int argc, char **argv)
{
    tl_strlist mrenclave = {0}, status = {0}, mrtd = {0}, rtmrs = {0}, snp_meas = {0}, snp_host = {0}, snp_prod = {0},
               snp_tcb = {0};
    const char *mrsigner = NULL;
    int prod = -1, svn = -1, sim = 0, debug = 0, unmeasured = 0;
    const tl_opt opts[] = {
        {"--mrenclave", TL_ARG_MULTI, &mrenclave, "HEX", "allowed MRENCLAVE (repeatable)", 0, 0},
        {"--mrsigner", TL_ARG_STR, &mrsigner, "HEX", "required MRSIGNER (needs --isv-prod-id)", 0, 0},
        {"--isv-prod-id", TL_ARG_INT, &prod, "N", "required ISVPRODID", 0, 65535},
        {"--min-isv-svn", TL_ARG_INT, &svn, "N", "minimum ISVSVN", 0, 65535},
        {"--mrtd", TL_ARG_MULTI, &mrtd, "HEX", "TDX: allowed MRTD (repeatable); needs --rtmr 0..3", 0, 0},
        {"--rtmr", TL_ARG_MULTI, &rtmrs, "N=HEX",
         "TDX: required RTMR N, 0..3 (48-byte hex; all four: 0-2 the OS, 3 teelm, see 'attest rtmr3')", 0, 0},
        {"--allow-unmeasured-os", TL_ARG_FLAG, &unmeasured, NULL,
         "TDX: allow --mrtd without all four --rtmr (any OS on that firmware passes)", 0, 0},
        {"--snp-measurement", TL_ARG_MULTI, &snp_meas, "HEX", "SEV-SNP: allowed launch measurement (48-byte hex, repeatable)", 0, 0},
        {"--snp-host-data", TL_ARG_MULTI, &snp_host, "HEX", "SEV-SNP: allowed HOST_DATA (32-byte hex, repeatable)", 0, 0},
        {"--snp-product", TL_ARG_MULTI, &snp_prod, "NAME", "SEV-SNP: allowed product Milan, Genoa or Turin (repeatable)", 0, 0},
        {"--snp-min-tcb", TL_ARG_MULTI, &snp_tcb, "C=N",
         "SEV-SNP: minimum TCB component, C one of bootloader, tee, snp, microcode, fmc (repeatable)", 0, 0},
        {"--tcb-status", TL_ARG_MULTI, &status, "S", "accepted TCB status (repeatable; default UpToDate)", 0, 0},
        {"--allow-simulation", TL_ARG_FLAG, &sim, NULL, "accept sim evidence (development only)", 0, 0},
        {"--allow-debug", TL_ARG_FLAG, &debug, NULL, "accept debug enclaves/TDs (development only)", 0, 0},
        {0}};
    const tl_cmdspec spec = {"attest policy-template",
                             "--mrenclave HEX | --mrsigner HEX --isv-prod-id N | --mrtd HEX --rtmr 0=HEX ... --rtmr 3=HEX ... | "
                             "--snp-measurement HEX ...",
                             "Print a policy (docs/policy.md) for the key broker or the client; it is checked by the same "
                             "parser that loads it.",
                             opts, 0, 0};
    TL_ARGS_PARSE_OR_RETURN(&spec, argc, argv, NULL, NULL);
    const char *rtmr[4] = {0};
    int rc;
    if ((rc = parse_rtmrs(&spec, &rtmrs, rtmr)))
        return rc;
    if ((snp_host.n || snp_prod.n || snp_tcb.n) && !snp_meas.n)
        return tl_usage_error(&spec, "--snp-host-data, --snp-product and --snp-min-tcb are SEV-SNP rules: they need --snp-measurement");
    if ((rtmrs.n || unmeasured) && !mrtd.n)
        return tl_usage_error(&spec, "--rtmr and --allow-unmeasured-os are TDX rules: they need --mrtd");
    if (mrtd.n && !unmeasured && rtmrs.n < 4) {
        char missing[16] = "";
        for (int i = 0; i < 4; i++)
            if (!rtmr[i])
                snprintf(missing + strlen(missing), sizeof missing - strlen(missing), "%s%d", missing[0] ? "," : "", i);
        return tl_usage_error(&spec,
                              "--mrtd pins only the TD firmware; give --rtmr N=HEX for every RTMR (missing: %s) or, "
                              "knowing that any OS booted from that firmware then passes, --allow-unmeasured-os",
                              missing);
    }
    json_t *o = json_object(), *a;
    json_object_set_new(o, "version", json_integer(1));
    if (mrenclave.n) {
        json_object_set_new(o, "mrenclave", a = json_array());
        for (int i = 0; i < mrenclave.n; i++)
            json_array_append_new(a, json_string(mrenclave.v[i]));
    }
    if (mrsigner)
        json_object_set_new(o, "mrsigner", json_string(mrsigner));
    if (prod >= 0)
        json_object_set_new(o, "isv_prod_id", json_integer(prod));
    if (svn >= 0)
        json_object_set_new(o, "min_isv_svn", json_integer(svn));
    if (mrtd.n) {
        json_t *t = json_object();
        json_object_set_new(t, "mrtd", a = json_array());
        for (int i = 0; i < mrtd.n; i++)
            json_array_append_new(a, json_string(mrtd.v[i]));
        for (int i = 0; i < 4; i++)
            if (rtmr[i]) {
                char k[8];
                snprintf(k, sizeof k, "rtmr%d", i);
                json_object_set_new(t, k, json_string(rtmr[i]));
            }
        if (unmeasured)
            json_object_set_new(t, "allow_unmeasured_os", json_true());
        json_object_set_new(o, "tdx", t);
    }
    if (snp_meas.n) {
        json_t *t = json_object();
        json_object_set_new(t, "measurement", a = json_array());
        for (int i = 0; i < snp_meas.n; i++)
            json_array_append_new(a, json_string(snp_meas.v[i]));
        if (snp_host.n) {
            json_object_set_new(t, "host_data", a = json_array());
            for (int i = 0; i < snp_host.n; i++)
                json_array_append_new(a, json_string(snp_host.v[i]));
        }
        if (snp_prod.n) {
            json_object_set_new(t, "products", a = json_array());
            for (int i = 0; i < snp_prod.n; i++)
                json_array_append_new(a, json_string(snp_prod.v[i]));
        }
        if (snp_tcb.n) {
            json_t *m = json_object();
            for (int i = 0; i < snp_tcb.n; i++) {
                const char *eq = strchr(snp_tcb.v[i], '=');
                char *end = NULL;
                long v = eq ? strtol(eq + 1, &end, 10) : -1;
                if (!eq || eq == snp_tcb.v[i] || eq - snp_tcb.v[i] > 15 || !eq[1] || *end || v < 0 || v > 255) {
                    json_decref(m);
                    json_decref(o);
                    return tl_usage_error(&spec, "--snp-min-tcb needs C=N with N 0..255, got '%.40s'", snp_tcb.v[i]);
                }
                char k[16];
                snprintf(k, sizeof k, "%.*s", (int)(eq - snp_tcb.v[i]), snp_tcb.v[i]);
                json_object_set_new(m, k, json_integer(v));
            }
            json_object_set_new(t, "min_tcb", m);
        }
        json_object_set_new(o, "sev_snp", t);
    }
    json_object_set_new(o, "tcb_statuses", a = json_array());
    for (int i = 0; i < status.n; i++)
        json_array_append_new(a, json_string(status.v[i]));
    if (!status.n)
        json_array_append_new(a, json_string("UpToDate"));
    json_object_set_new(o, "allow_debug", json_boolean(debug));
    json_object_set_new(o, "allow_simulation", json_boolean(sim));
    char *s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(o);
    tl_err e = {0};
    tl_policy *p = s ? tl_policy_parse(s, &e) : NULL;
    if (!p) {
        free(s);
        return fail(spec.cmd, &e);
    }
    tl_policy_free(p);
    printf("%s\n", s);
    free(s);
    return 0;
}

static int attest_rtmr3(int argc, char **argv)
{
    const char *cfg_file = NULL, *cfg_str = NULL, *exe = NULL, *initial_hex = NULL;
    int json = 0;
    const tl_opt opts[] = {
        {"--exe", TL_ARG_STR, &exe, "PATH", "the teelm executable the TD runs (default: this teelm)", 0, 0},
        {"--config", TL_ARG_STR, &cfg_file, "FILE", "the configuration bytes teelm serve measures", 0, 0},
        {"--config-string", TL_ARG_STR, &cfg_str, "S", "the same, as text", 0, 0},
        {"--initial", TL_ARG_STR, &initial_hex, "HEX", "RTMR3 before teelm extends it (default: 48 zero bytes)", 0, 0},
        {"--json", TL_ARG_FLAG, &json, NULL, "print JSON with the two event digests", 0, 0},
        {0}};
    const tl_cmdspec spec = {"attest rtmr3", "(--config FILE | --config-string S) [--exe PATH] [--initial HEX] [--json]",
                             "Print the TDX RTMR3 a TD reports once 'teelm serve' measured itself:\n"
                             "R = initial; R = SHA-384(R || SHA-384(executable)); R = SHA-384(R || SHA-384(config)).\n"
                             "Pin it with 'attest policy-template --rtmr 3=HEX' (docs/attestation.md).",
                             opts, 0, 0};
    TL_ARGS_PARSE_OR_RETURN(&spec, argc, argv, NULL, NULL);
    if (!cfg_file && !cfg_str)
        return tl_usage_error(&spec, "--config or --config-string is required (the exact bytes teelm serve measured)");
    uint8_t initial[TL_RTMR_LEN] = {0};
    if (initial_hex && tl_unhex(initial_hex, strlen(initial_hex), initial, sizeof initial))
        return tl_usage_error(&spec, "--initial needs 96 hex digits (48 bytes), got %zu characters", strlen(initial_hex));
    uint8_t *cfg;
    size_t cfg_len;
    int rc;
    if ((rc = load_config(spec.cmd, cfg_file, cfg_str, &cfg, &cfg_len)))
        return rc;
    tl_err e = {0};
    uint8_t ev[2][TL_RTMR_LEN], r[TL_RTMR_LEN];
    memcpy(r, initial, sizeof r);
    rc = tl_rtmr3_events(exe, cfg, cfg_len, ev[0], ev[1], &e);
    free(cfg);
    if (rc)
        return fail(spec.cmd, &e);
    if (tl_rtmr_extend(r, ev[0]) || tl_rtmr_extend(r, ev[1])) {
        tl_errf(&e, TL_ECRYPTO, "SHA-384 failed");
        return fail(spec.cmd, &e);
    }
    char h[2 * TL_RTMR_LEN + 1], h0[sizeof h], h1[sizeof h], hi[sizeof h];
    tl_hex(r, sizeof r, h);
    if (json) {
        tl_hex(ev[0], TL_RTMR_LEN, h0);
        tl_hex(ev[1], TL_RTMR_LEN, h1);
        tl_hex(initial, sizeof initial, hi);
        printf("{\"rtmr3\": \"%s\", \"initial\": \"%s\", \"executable_sha384\": \"%s\", \"config_sha384\": \"%s\"}\n", h,
               hi, h0, h1);
    } else
        printf("%s\n", h);
    return 0;
}

static int attest_collateral(int argc, char **argv)
{
    const char *pccs = NULL, *cache = NULL, *out = NULL;
    const tl_opt opts[] = {
        {"--pccs", TL_ARG_STR, &pccs, "URL", "PCCS or Intel PCS base URL", 0, 0, .required = 1},
        {"--cache", TL_ARG_STR, &cache, "DIR", "cache directory", 0, 0},
        {"--out", TL_ARG_STR, &out, "FILE", "write the collateral JSON here", 0, 0, .required = 1},
        {0}};
    const tl_cmdspec spec = {"attest collateral", "QUOTE --pccs URL --out FILE [--cache DIR]",
                             "Fetch the collateral a quote needs (TCB info for its FMSPC, QE identity, CRLs) and save it "
                             "as one JSON file for offline verification with 'attest verify --collateral'.",
                             opts, 1, 1, .missing = "--pccs and --out are required"};
    const char *pos[1];
    TL_ARGS_PARSE_OR_RETURN(&spec, argc, argv, pos, NULL);
    tl_err e = {0};
    uint8_t *ev;
    size_t n;
    if (tl_read_file(pos[0], MAX_EVIDENCE, &ev, &n, &e))
        return fail(spec.cmd, &e);
    tl_collateral *c = tl_pccs_collateral_for(pccs, cache, ev, n, time(NULL), &e);
    free(ev);
    if (!c || tl_collateral_save(c, out, &e)) {
        tl_collateral_free(c);
        return fail(spec.cmd, &e);
    }
    tl_collateral_free(c);
    printf("%s: collateral written\n", out);
    return 0;
}

static const tl_command subs[] = {
    {"quote", attest_quote, "produce evidence from a TEE backend (sim, occlum, tsm, auto)"},
    {"verify", attest_verify, "verify evidence against collateral and a policy"},
    {"show", attest_show, "print what evidence states, without verifying it"},
    {"measure", attest_measure, "print the sim MRENCLAVE of this binary + configuration"},
    {"policy-template", attest_policy_template, "print a policy for the key broker / client"},
    {"rtmr3", attest_rtmr3, "print the TDX RTMR3 of a teelm binary + configuration"},
    {"collateral", attest_collateral, "fetch collateral from a PCCS for offline verification"},
};

int cmd_attest(int argc, char **argv)
{
    const tl_command *sub = argc >= 1 ? tl_command_find(subs, sizeof subs / sizeof *subs, argv[0]) : NULL;
    if (sub)
        return sub->run(argc - 1, argv + 1);
    static const tl_opt opts[] = {{0}};
    static const tl_cmdspec spec = {
        "attest", "SUBCOMMAND [ARGS]  (quote, verify, show, measure, policy-template, rtmr3, collateral)",
        "Produce and verify TEE evidence. 'teelm attest SUBCOMMAND --help' for each:\n"
        "  quote            produce evidence from a TEE backend (sim, occlum, tsm, auto)\n"
        "  verify           verify evidence against collateral and a policy (exit 0 only when accepted)\n"
        "  show             print what evidence states, without verifying it\n"
        "  measure          print the sim MRENCLAVE of this binary + configuration\n"
        "  policy-template  print a policy for the key broker / client\n"
        "  rtmr3            print the TDX RTMR3 of a teelm binary + configuration (for policies)\n"
        "  collateral       fetch collateral from a PCCS for offline verification",
        opts, 0, 0};
    TL_ARGS_PARSE_OR_RETURN(&spec, argc, argv, NULL, NULL);
    if (argc >= 1)
        return tl_usage_error(&spec, "unknown subcommand '%s'", argv[0]);
    tl_args_usage(&spec, stderr);
    return 2;
}
