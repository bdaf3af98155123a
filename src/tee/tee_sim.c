/* The sim backend: a software stand-in that emits evidence in the exact binary layout of an SGX DCAP
 * v3 quote (docs/attestation.md, "sim evidence"), signed by a fresh attestation key whose QE report is
 * signed by the public simulation PCK key. It protects NOTHING: every key involved is public or lives
 * in ordinary host memory. It exists so the whole system runs on a laptop and in CI. */
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tee/ecdsa.h"
#include "tee/quote.h"
#include "tee/sim_ca.h"
#include "tee/tee.h"
#include "util/bytes.h"
#include "util/sha.h"

#define SIM_AUTH_LEN 32

typedef struct {
    tl_tee base;
    uint8_t header[TL_QUOTE_HEADER];
    uint8_t body[TL_SGX_REPORT_BODY];  /* report_data filled per evidence */
    EVP_PKEY *att_key;                 /* ephemeral attestation key (the "QE" holds it) */
    uint8_t tail[64 + TL_SGX_REPORT_BODY + 64 + 2 + SIM_AUTH_LEN]; /* att pub ‖ QE report ‖ sig ‖ auth */
    uint8_t *certs;                    /* leaf ‖ intermediate ‖ root PEM */
    size_t certs_len;
} sim_tee;

static int hash_file(const char *path, uint8_t out[32], tl_err *err)
{
    int e, rc = tl_sha_file(TL_SHA256, path, out, &e);
    if (rc == TL_SHA_EOPEN)
        return tl_errf(err, TL_EIO, "tee sim: cannot open %s to measure it", path);
    return rc ? tl_errf(err, TL_EIO, "tee sim: cannot read %s to measure it", path) : 0;
}

int tl_sim_measure(const char *exe, const uint8_t *config, size_t config_len, uint8_t mrenclave[32], tl_err *err)
{
    static const char domain[] = "teelm sim MRENCLAVE v1"; /* hashed with its NUL */
    uint8_t parts[64];
    if (hash_file(exe ? exe : "/proc/self/exe", parts, err))
        return err ? err->code : TL_EIO;
    tl_sha256(config, config ? config_len : 0, parts + 32);
    tl_sha256_cat(domain, sizeof domain, parts, sizeof parts, mrenclave);
    return 0;
}

/* MRSIGNER of sim enclaves: SHA-256 of the simulation root's raw public key, the way a real
 * MRSIGNER is a hash of the signer's key. */
static int sim_mrsigner(uint8_t out[32])
{
    BIO *b = BIO_new_mem_buf(tl_sim_root_pem, -1);
    X509 *root = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    uint8_t xy[64];
    int rc = root ? tl_p256_to_raw(X509_get0_pubkey(root), xy) : -1;
    X509_free(root);
    if (!rc)
        tl_sha256(xy, 64, out);
    return rc;
}

static void sim_report_body(uint8_t *b, const uint8_t mrenclave[32], const uint8_t mrsigner[32], int debug,
                            uint16_t prod, uint16_t svn)
{
    memset(b, 0, TL_SGX_REPORT_BODY);
    b[TL_RB_ATTRIBUTES] = 0x01 | 0x04 | (debug ? 0x02 : 0); /* INIT | MODE64BIT | DEBUG */
    b[TL_RB_ATTRIBUTES + 8] = 0x03;                          /* XFRM: x87 | SSE */
    memcpy(b + TL_RB_MRENCLAVE, mrenclave, 32);
    memcpy(b + TL_RB_MRSIGNER, mrsigner, 32);
    tl_store_le16(b + TL_RB_ISVPRODID, prod);
    tl_store_le16(b + TL_RB_ISVSVN, svn);
}

static int sim_evidence(tl_tee *t, const uint8_t report_data[64], uint8_t **evidence, size_t *len, tl_err *err)
{
    sim_tee *s = (sim_tee *)t;
    size_t sig_len = 64 + sizeof s->tail + 2 + 4 + s->certs_len;
    size_t n = TL_QUOTE_HEADER + TL_SGX_REPORT_BODY + 4 + sig_len;
    uint8_t *q = malloc(n);
    if (!q)
        return tl_errf(err, TL_ENOMEM, "tee sim: out of memory");
    uint8_t *p = q;
    memcpy(p, s->header, TL_QUOTE_HEADER);
    memcpy(p + TL_QUOTE_HEADER, s->body, TL_SGX_REPORT_BODY);
    memcpy(p + TL_QUOTE_HEADER + TL_RB_REPORTDATA, report_data, 64);
    p += TL_QUOTE_HEADER + TL_SGX_REPORT_BODY;
    tl_store_le32(p, (uint32_t)sig_len);
    p += 4;
    if (tl_ecdsa_sign_raw(s->att_key, q, TL_QUOTE_HEADER + TL_SGX_REPORT_BODY, p)) {
        free(q);
        return tl_err_ssl(err, TL_ECRYPTO, "tee sim: signing the quote failed");
    }
    p += 64;
    memcpy(p, s->tail, sizeof s->tail);
    p += sizeof s->tail;
    tl_store_le16(p, 5);
    tl_store_le32(p + 2, (uint32_t)s->certs_len);
    memcpy(p + 6, s->certs, s->certs_len);
    *evidence = q;
    *len = n;
    return 0;
}

static void sim_close(tl_tee *t)
{
    sim_tee *s = (sim_tee *)t;
    EVP_PKEY_free(s->att_key);
    free(s->certs);
    free(s);
}

/* Builds the attestation key, the QE report binding it, and signs that report with the sim PCK key. */
static int sim_build_qe(sim_tee *s, const uint8_t mrsigner[32], tl_err *err)
{
    s->att_key = EVP_EC_gen("P-256");
    if (!s->att_key)
        return tl_err_ssl(err, TL_ECRYPTO, "tee sim: cannot generate the attestation key");
    uint8_t *att_pub = s->tail, *qe = s->tail + 64, *qe_sig = qe + TL_SGX_REPORT_BODY, *auth = qe_sig + 64 + 2;
    if (tl_p256_to_raw(s->att_key, att_pub))
        return tl_errf(err, TL_ECRYPTO, "tee sim: attestation key is not P-256");
    tl_store_le16(qe_sig + 64, SIM_AUTH_LEN);
    for (int i = 0; i < SIM_AUTH_LEN; i++)
        auth[i] = (uint8_t)i;
    uint8_t qe_mr[32];
    static const char qe_name[] = "teelm sim quoting enclave";
    tl_sha256(qe_name, sizeof qe_name, qe_mr);
    sim_report_body(qe, qe_mr, mrsigner, 0, 1, 0);
    tl_sha256_cat(att_pub, 64, auth, SIM_AUTH_LEN, qe + TL_RB_REPORTDATA);

    BIO *b = BIO_new_mem_buf(tl_sim_pck_key_pem, -1);
    EVP_PKEY *pck = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    int rc = pck ? tl_ecdsa_sign_raw(pck, qe, TL_SGX_REPORT_BODY, qe_sig) : -1;
    EVP_PKEY_free(pck);
    if (rc)
        return tl_err_ssl(err, TL_ECRYPTO, "tee sim: cannot sign the QE report with the simulation PCK key");

    size_t a = strlen(tl_sim_pck_pem), i = strlen(tl_sim_inter_pem), r = strlen(tl_sim_root_pem);
    s->certs_len = a + i + r;
    s->certs = malloc(s->certs_len);
    if (!s->certs)
        return tl_errf(err, TL_ENOMEM, "tee sim: out of memory");
    memcpy(s->certs, tl_sim_pck_pem, a);
    memcpy(s->certs + a, tl_sim_inter_pem, i);
    memcpy(s->certs + a + i, tl_sim_root_pem, r);
    return 0;
}

tl_tee *tl_tee_sim_open_opts(const tl_tee_opts *o, tl_err *err)
{
    static const tl_tee_opts none;
    if (!o)
        o = &none;
    sim_tee *s = calloc(1, sizeof *s);
    if (!s) {
        tl_errf(err, TL_ENOMEM, "tee sim: out of memory");
        return NULL;
    }
    s->base = (tl_tee){.name = "sim", .simulated = 1, .evidence = sim_evidence, .close = sim_close, .impl = s};
    uint8_t mrenclave[32], mrsigner[32];
    const char *dbg = getenv("TEELM_SIM_DEBUG");
    int debug = o->debug || (dbg && strcmp(dbg, "1") == 0);
    if (tl_sim_measure(o->exe, o->config, o->config_len, mrenclave, err) || sim_mrsigner(mrsigner)) {
        if (err && !err->code)
            tl_errf(err, TL_ECRYPTO, "tee sim: the simulation root certificate is unreadable");
        free(s);
        return NULL;
    }
    tl_store_le16(s->header, 3);
    tl_store_le16(s->header + 2, 2);
    tl_store_le32(s->header + 4, TL_TEE_TYPE_SGX);
    memcpy(s->header + 12, "teelm-sim-QE-v1", 16); /* qe_vendor_id: not Intel's */
    sim_report_body(s->body, mrenclave, mrsigner, debug, o->isv_prod_id, o->isv_svn);
    if (sim_build_qe(s, mrsigner, err)) {
        sim_close(&s->base);
        return NULL;
    }
    fprintf(stderr,
            "teelm: *** WARNING: TEE backend 'sim' is a SIMULATION and PROTECTS NOTHING. ***\n"
            "teelm: *** The host can read the model, the keys and every prompt. Its evidence is signed by a ***\n"
            "teelm: *** public test key; key brokers accept it only with \"allow_simulation\": true.        ***\n");
    return &s->base;
}

tl_tee *tl_tee_sim_open(tl_err *err) { return tl_tee_sim_open_opts(NULL, err); }
