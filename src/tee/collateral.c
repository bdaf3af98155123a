/* Collateral files: the JSON layout of shared/fixtures/dcap/..._collateral.json, and a directory of PCS
 * responses (docs/attestation.md, "Collateral"). */
#include "tee/collateral.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tee/pccs.h"
#include "util/codec.h"
#include "util/io.h"
#include "util/json_fields.h"
#include "util/secmem.h"

#define MAX_COLLATERAL (4 << 20)

void tl_collateral_free(tl_collateral *c)
{
    if (!c)
        return;
    free(c->pck_crl_issuer_chain);
    free(c->root_ca_crl);
    free(c->pck_crl);
    free(c->tcb_info_issuer_chain);
    free(c->tcb_info);
    free(c->qe_identity_issuer_chain);
    free(c->qe_identity);
    free(c);
}

int tl_crl_bytes(const uint8_t *in, size_t n, uint8_t **out, size_t *outn)
{
    while (n && (in[n - 1] == '\n' || in[n - 1] == '\r' || in[n - 1] == ' '))
        n--; /* hex or PEM text may end in a newline */
    *out = malloc(n ? n : 1); /* room for the raw bytes, so also for their hex decoding */
    if (!*out)
        return -1;
    if (n && tl_unhex((const char *)in, n, *out, n / 2) == 0) {
        *outn = n / 2;
        return 0;
    }
    memcpy(*out, in, n);
    *outn = n;
    return 0;
}

/* JSON file layout */
static tl_collateral *load_json(const char *path, const char *text, size_t n, tl_err *err)
{
    json_error_t je;
    json_t *o = tl_json_load_object(text, n, &je, NULL);
    if (!o) {
        tl_errf(err, TL_EINVAL, "%s: invalid collateral JSON at line %d column %d: %s", path, je.line, je.column, je.text);
        return NULL;
    }
    static const tl_json_field keys[] = {
        {"pck_crl_issuer_chain", TL_JF_STRING, 1}, {"root_ca_crl", TL_JF_STRING, 1}, {"pck_crl", TL_JF_STRING, 1},
        {"tcb_info_issuer_chain", TL_JF_STRING, 1}, {"tcb_info", TL_JF_STRING, 1}, {"tcb_info_signature", TL_JF_STRING, 1},
        {"qe_identity_issuer_chain", TL_JF_STRING, 1}, {"qe_identity", TL_JF_STRING, 1},
        {"qe_identity_signature", TL_JF_STRING, 1},
        {"pck_certificate_chain"}, /* some tools add it; the quote carries its own */
        {NULL}};
    json_t *jv[10];
    const char *vals[9], *k;
    size_t lens[9];
    tl_jf_status st = tl_json_fields(o, keys, jv, &k);
    for (int i = 0; !st && i < 9; i++) {
        if (json_string_length(jv[i]) == 0) {
            st = TL_JF_MISSING;
            k = keys[i].name;
        }
        vals[i] = json_string_value(jv[i]);
        lens[i] = json_string_length(jv[i]);
    }
    if (st) {
        if (st == TL_JF_UNKNOWN)
            tl_errf(err, TL_EINVAL, "%s: unknown collateral field \"%.60s\"", path, k);
        else
            tl_errf(err, TL_EINVAL, "%s: collateral field \"%s\" is missing or not a non-empty string", path, k);
        json_decref(o);
        return NULL;
    }
    tl_collateral *c = calloc(1, sizeof *c);
    if (!c) {
        json_decref(o);
        tl_errf(err, TL_ENOMEM, "%s: out of memory", path);
        return NULL;
    }
    c->pck_crl_issuer_chain = tl_sec_strndup(vals[0], lens[0]);
    c->tcb_info_issuer_chain = tl_sec_strndup(vals[3], lens[3]);
    c->tcb_info = tl_sec_strndup(vals[4], lens[4]);
    c->tcb_info_len = lens[4];
    c->qe_identity_issuer_chain = tl_sec_strndup(vals[6], lens[6]);
    c->qe_identity = tl_sec_strndup(vals[7], lens[7]);
    c->qe_identity_len = lens[7];
    int bad = -1;
    if (tl_crl_bytes((const uint8_t *)vals[1], lens[1], &c->root_ca_crl, &c->root_ca_crl_len))
        bad = 1;
    else if (tl_crl_bytes((const uint8_t *)vals[2], lens[2], &c->pck_crl, &c->pck_crl_len))
        bad = 2;
    else if (tl_unhex(vals[5], lens[5], c->tcb_info_sig, 64))
        bad = 5;
    else if (tl_unhex(vals[8], lens[8], c->qe_identity_sig, 64))
        bad = 8;
    json_decref(o);
    if (bad >= 0 || !c->pck_crl_issuer_chain || !c->tcb_info_issuer_chain || !c->tcb_info ||
        !c->qe_identity_issuer_chain || !c->qe_identity) {
        tl_errf(err, TL_EINVAL, "%s: collateral field \"%s\" is malformed%s", path, bad >= 0 ? keys[bad].name : "(memory)",
                bad == 5 || bad == 8 ? " (want 128 hex digits: r||s)" : "");
        tl_collateral_free(c);
        return NULL;
    }
    return c;
}

/* Span of the value of top-level key `key` in a JSON object text (already validated by jansson). */
static int value_span(const char *s, size_t n, const char *key, size_t *start, size_t *len)
{
    size_t i = 0, klen = strlen(key);
    int depth = 0;
    while (i < n) {
        char ch = s[i];
        if (ch == '"') {
            size_t b = ++i;
            while (i < n && s[i] != '"')
                i += s[i] == '\\' ? 2 : 1;
            if (i >= n)
                return -1;
            size_t e = i++;
            if (depth == 1 && e - b == klen && !memcmp(s + b, key, klen)) {
                size_t j = i;
                while (j < n && (s[j] == ' ' || s[j] == '\n' || s[j] == '\r' || s[j] == '\t'))
                    j++;
                if (j < n && s[j] == ':') { /* a key, not a value */
                    j++;
                    while (j < n && (s[j] == ' ' || s[j] == '\n' || s[j] == '\r' || s[j] == '\t'))
                        j++;
                    size_t v = j;
                    int d = 0;
                    do { /* skip one value */
                        if (j >= n)
                            return -1;
                        if (s[j] == '"') {
                            j++;
                            while (j < n && s[j] != '"')
                                j += s[j] == '\\' ? 2 : 1;
                        } else if (s[j] == '{' || s[j] == '[')
                            d++;
                        else if (s[j] == '}' || s[j] == ']')
                            d--;
                        j++;
                    } while (d > 0);
                    if (j > n)
                        return -1;
                    *start = v;
                    *len = j - v;
                    return 0;
                }
            }
            continue;
        }
        if (ch == '{' || ch == '[')
            depth++;
        else if (ch == '}' || ch == ']')
            depth--;
        i++;
    }
    return -1;
}

int tl_pcs_body_split(const char *body, size_t n, const char *key, char **text, size_t *tlen, uint8_t sig[64],
                      tl_err *err)
{
    json_error_t je;
    json_t *o = json_loadb(body, n, JSON_REJECT_DUPLICATES, &je);
    if (!json_is_object(o) || !json_is_object(json_object_get(o, key)) ||
        !json_is_string(json_object_get(o, "signature"))) {
        json_decref(o);
        return tl_errf(err, TL_EINVAL, "not a PCS response: want {\"%s\": {...}, \"signature\": \"hex\"}", key);
    }
    json_t *sj = json_object_get(o, "signature");
    int rc = tl_unhex(json_string_value(sj), json_string_length(sj), sig, 64);
    json_decref(o);
    if (rc)
        return tl_errf(err, TL_EINVAL, "PCS response signature is not 128 hex digits (r||s)");
    size_t s, l;
    if (value_span(body, n, key, &s, &l) || body[s] != '{' || body[s + l - 1] != '}')
        return tl_errf(err, TL_EINVAL, "cannot locate the exact \"%s\" text in the PCS response", key);
    *text = tl_sec_strndup(body + s, l);
    *tlen = l;
    return *text ? 0 : tl_errf(err, TL_ENOMEM, "out of memory");
}

static const char *const DIR_FILES[] = {"tcb_info.json", "tcb_info_issuer_chain.pem", "qe_identity.json",
                                        "qe_identity_issuer_chain.pem", "pck_crl.der", "pck_crl_issuer_chain.pem",
                                        "root_ca_crl.der"};

tl_collateral *tl_collateral_load_dir(const char *dir, tl_err *err)
{
    uint8_t *d[7] = {0};
    size_t n[7];
    tl_collateral *c = calloc(1, sizeof *c);
    if (!c) {
        tl_errf(err, TL_ENOMEM, "%s: out of memory", dir);
        return NULL;
    }
    int ok = 1;
    for (int i = 0; i < 7 && ok; i++) {
        char p[4096];
        if (tl_path_join(p, sizeof p, dir, DIR_FILES[i])) {
            tl_errf(err, TL_EINVAL, "%s: path too long", dir);
            ok = 0;
        } else if (tl_read_file(p, MAX_COLLATERAL, &d[i], &n[i], err)) {
            ok = 0;
        }
    }
    if (ok && tl_pcs_body_split((char *)d[0], n[0], "tcbInfo", &c->tcb_info, &c->tcb_info_len, c->tcb_info_sig, err)) {
        tl_err_prefix(err, "%s/%s", dir, DIR_FILES[0]);
        ok = 0;
    }
    if (ok && tl_pcs_body_split((char *)d[2], n[2], "enclaveIdentity", &c->qe_identity, &c->qe_identity_len,
                                c->qe_identity_sig, err)) {
        tl_err_prefix(err, "%s/%s", dir, DIR_FILES[2]);
        ok = 0;
    }
    if (ok) {
        c->tcb_info_issuer_chain = (char *)d[1];
        c->qe_identity_issuer_chain = (char *)d[3];
        c->pck_crl_issuer_chain = (char *)d[5];
        d[1] = d[3] = d[5] = NULL;
        if (tl_crl_bytes(d[4], n[4], &c->pck_crl, &c->pck_crl_len) ||
            tl_crl_bytes(d[6], n[6], &c->root_ca_crl, &c->root_ca_crl_len)) {
            tl_errf(err, TL_ENOMEM, "%s: out of memory", dir);
            ok = 0;
        }
    }
    for (int i = 0; i < 7; i++)
        free(d[i]);
    if (!ok) {
        tl_collateral_free(c);
        return NULL;
    }
    return c;
}

/* A PCS response body re-created from the signed text: {"key":TEXT,"signature":"hex"}. */
static char *pcs_body(const char *key, const char *text, size_t tlen, const uint8_t sig[64], size_t *n)
{
    char hex[129];
    tl_hex(sig, 64, hex);
    size_t cap = tlen + strlen(key) + 200;
    char *b = malloc(cap);
    if (!b)
        return NULL;
    int w = snprintf(b, cap, "{\"%s\":%.*s,\"signature\":\"%s\"}", key, (int)tlen, text, hex);
    *n = (size_t)w;
    return b;
}

int tl_collateral_save_dir(const tl_collateral *c, const char *dir, tl_err *err)
{
    if (tl_mkdirs(dir, 0755, err))
        return err->code;
    size_t n0 = 0, n2 = 0;
    char *b0 = pcs_body("tcbInfo", c->tcb_info, c->tcb_info_len, c->tcb_info_sig, &n0);
    char *b2 = pcs_body("enclaveIdentity", c->qe_identity, c->qe_identity_len, c->qe_identity_sig, &n2);
    const void *data[7] = {b0, c->tcb_info_issuer_chain, b2, c->qe_identity_issuer_chain, c->pck_crl,
                           c->pck_crl_issuer_chain, c->root_ca_crl};
    size_t lens[7] = {n0, strlen(c->tcb_info_issuer_chain), n2, strlen(c->qe_identity_issuer_chain), c->pck_crl_len,
                      strlen(c->pck_crl_issuer_chain), c->root_ca_crl_len};
    int rc = (!b0 || !b2) ? tl_errf(err, TL_ENOMEM, "out of memory") : 0;
    for (int i = 0; i < 7 && !rc; i++) {
        char p[4096];
        if (tl_path_join(p, sizeof p, dir, DIR_FILES[i]))
            rc = tl_errf(err, TL_EINVAL, "%s: path too long", dir);
        else
            rc = tl_write_file_atomic(p, data[i], lens[i], 0644, err);
    }
    free(b0);
    free(b2);
    return rc;
}

tl_collateral *tl_collateral_load(const char *path, tl_err *err)
{
    if (tl_is_dir(path))
        return tl_collateral_load_dir(path, err);
    uint8_t *buf;
    size_t n;
    if (tl_read_file(path, MAX_COLLATERAL, &buf, &n, err))
        return NULL;
    tl_collateral *c = load_json(path, (const char *)buf, n, err);
    free(buf);
    return c;
}

int tl_collateral_save(const tl_collateral *c, const char *path, tl_err *err)
{
    char s1[129], s2[129];
    char *hex_root = malloc(2 * c->root_ca_crl_len + 1), *hex_pck = malloc(2 * c->pck_crl_len + 1);
    if (!hex_root || !hex_pck) {
        free(hex_root);
        free(hex_pck);
        return tl_errf(err, TL_ENOMEM, "%s: out of memory", path);
    }
    tl_hex(c->root_ca_crl, c->root_ca_crl_len, hex_root);
    tl_hex(c->pck_crl, c->pck_crl_len, hex_pck);
    tl_hex(c->tcb_info_sig, 64, s1);
    tl_hex(c->qe_identity_sig, 64, s2);
    json_t *o = json_object();
    json_object_set_new(o, "pck_crl_issuer_chain", json_string(c->pck_crl_issuer_chain));
    json_object_set_new(o, "root_ca_crl", json_string(hex_root));
    json_object_set_new(o, "pck_crl", json_string(hex_pck));
    json_object_set_new(o, "tcb_info_issuer_chain", json_string(c->tcb_info_issuer_chain));
    json_object_set_new(o, "tcb_info", json_stringn(c->tcb_info, c->tcb_info_len));
    json_object_set_new(o, "tcb_info_signature", json_string(s1));
    json_object_set_new(o, "qe_identity_issuer_chain", json_string(c->qe_identity_issuer_chain));
    json_object_set_new(o, "qe_identity", json_stringn(c->qe_identity, c->qe_identity_len));
    json_object_set_new(o, "qe_identity_signature", json_string(s2));
    char *s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(o);
    free(hex_root);
    free(hex_pck);
    if (!s)
        return tl_errf(err, TL_ENOMEM, "%s: out of memory", path);
    int rc = tl_write_file_atomic(path, s, strlen(s), 0644, err);
    free(s);
    return rc;
}
