#include "kbs/manifest.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "seal/crypto.h"
#include "util/codec.h"
#include "util/io.h"
#include "util/json_fields.h"

static const char MANIFEST_LABEL[] = "teelm-kbs-manifest-v2";    /* MAC'd with its NUL */
static const char MAC_INFO[] = "teelm-kbs-store-v2 manifest mac"; /* HKDF info, without NUL */

void tl_kbs_manifest_free(tl_kbs_manifest *m)
{
    free(m->e);
    memset(m, 0, sizeof *m);
}

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(((const tl_kbs_mentry *)a)->id, ((const tl_kbs_mentry *)b)->id);
}

tl_kbs_mentry *tl_kbs_manifest_find(tl_kbs_manifest *m, const char *id)
{
    tl_kbs_mentry k;
    snprintf(k.id, sizeof k.id, "%s", id);
    return m->n ? bsearch(&k, m->e, (size_t)m->n, sizeof *m->e, cmp_entry) : NULL;
}

int tl_kbs_manifest_put(tl_kbs_manifest *m, const tl_kbs_mentry *x, tl_err *err)
{
    tl_kbs_mentry *have = tl_kbs_manifest_find(m, x->id);
    if (have) {
        *have = *x;
        return 0;
    }
    if (m->n == m->cap) {
        int cap = m->cap ? 2 * m->cap : 16;
        tl_kbs_mentry *ne = realloc(m->e, (size_t)cap * sizeof *ne);
        if (!ne)
            return tl_errf(err, TL_ENOMEM, "out of memory");
        m->e = ne;
        m->cap = cap;
    }
    m->e[m->n++] = *x;
    qsort(m->e, (size_t)m->n, sizeof *m->e, cmp_entry);
    return 0;
}

static void put_be(uint8_t *p, uint64_t v, int bytes)
{
    for (int i = bytes - 1; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

/* HMAC-SHA256(HKDF-SHA256(master key, salt = 32 zero bytes, info = MAC_INFO), M) with
 *   M = MANIFEST_LABEL ‖ 0x00 ‖ u64 generation ‖ u32 n ‖ per entry, by id:
 *       u8 len(id) ‖ id ‖ u64 entry generation ‖ u8 state (0 active, 1 revoked) ‖ SHA-256(record)
 * (all integers big-endian; docs/kbs.md). */
static int manifest_mac(const uint8_t mk[32], const tl_kbs_manifest *m, uint8_t out[32], tl_err *err)
{
    uint8_t mac_key[32], zero[32] = {0};
    if (tl_hkdf_sha256(mk, 32, zero, sizeof zero, (const uint8_t *)MAC_INFO, strlen(MAC_INFO), mac_key, sizeof mac_key, err))
        return err->code;
    size_t cap = sizeof MANIFEST_LABEL + 12 + (size_t)m->n * (1 + TL_KEY_ID_MAX + 8 + 1 + 32), len = 0;
    uint8_t *msg = malloc(cap);
    if (!msg) {
        OPENSSL_cleanse(mac_key, sizeof mac_key);
        return tl_errf(err, TL_ENOMEM, "out of memory");
    }
    memcpy(msg, MANIFEST_LABEL, sizeof MANIFEST_LABEL);
    len = sizeof MANIFEST_LABEL;
    put_be(msg + len, m->gen, 8);
    put_be(msg + len + 8, (uint64_t)m->n, 4);
    len += 12;
    for (int i = 0; i < m->n; i++) {
        size_t l = strlen(m->e[i].id);
        msg[len++] = (uint8_t)l;
        memcpy(msg + len, m->e[i].id, l);
        len += l;
        put_be(msg + len, m->e[i].gen, 8);
        len += 8;
        msg[len++] = (uint8_t)(m->e[i].revoked ? 1 : 0);
        memcpy(msg + len, m->e[i].sha, 32);
        len += 32;
    }
    unsigned int ol = 0;
    int ok = HMAC(EVP_sha256(), mac_key, sizeof mac_key, msg, len, out, &ol) && ol == 32;
    free(msg);
    OPENSSL_cleanse(mac_key, sizeof mac_key);
    return ok ? 0 : tl_err_ssl(err, TL_ECRYPTO, "HMAC-SHA256");
}


/* Loads and authenticates DIR/manifest.json. TL_ENOTFOUND if there is none; TL_ECRYPTO if it
 * does not parse or authenticate (either way it is not the manifest this master key wrote). */
int tl_kbs_manifest_load(const char *dir, const uint8_t mk[32], tl_kbs_manifest *m, tl_err *err)
{
    memset(m, 0, sizeof *m);
    char p[4096];
    if (tl_path_join(p, sizeof p, dir, "manifest.json"))
        return tl_errf(err, TL_EINVAL, "%s: path too long", dir);
    uint8_t *data;
    size_t len;
    int rc = tl_read_file(p, 16u << 20, &data, &len, err);
    if (rc)
        return rc;
    json_error_t je;
    json_t *j = json_loadb((const char *)data, len, JSON_REJECT_DUPLICATES, &je);
    free(data);
    static const tl_json_field top[] = {{"version", TL_JF_UINT, 1}, {"generation", TL_JF_UINT, 1},
                                        {"keys", TL_JF_OBJECT, 1}, {"mac", TL_JF_STRING, 1}, {NULL}};
    json_t *tv[4];
    uint64_t version = 0;
    uint8_t mac[32], want[32];
    rc = 0;
    if (tl_json_fields(j, top, tv, NULL) || tl_json_u64(tv[0], &version) || version != 2 || tl_json_u64(tv[1], &m->gen) ||
        tl_unhex(json_string_value(tv[3]), json_string_length(tv[3]), mac, sizeof mac)) {
        rc = tl_errf(err, TL_ECRYPTO, "%s: not a version-2 manifest (fields version, generation, keys, mac)", p);
        goto out;
    }
    const char *id;
    json_t *v;
    static const tl_json_field entry[] = {{"generation", TL_JF_UINT, 1}, {"state", TL_JF_STRING, 1},
                                          {"sha256", TL_JF_STRING, 1}, {NULL}};
    json_object_foreach(tv[2], id, v) {
        tl_kbs_mentry x = {0};
        json_t *ev[3];
        const char *st = tl_json_fields(v, entry, ev, NULL) ? NULL : json_string_value(ev[1]);
        if (!tl_key_id_valid(id) || !st || tl_json_u64(ev[0], &x.gen) || (strcmp(st, "active") && strcmp(st, "revoked")) ||
            tl_unhex(json_string_value(ev[2]), json_string_length(ev[2]), x.sha, 32)) {
            rc = tl_errf(err, TL_ECRYPTO, "%s: entry for '%.64s' is malformed (fields generation, state, sha256)", p, id);
            goto out;
        }
        memcpy(x.id, id, strlen(id) + 1);
        x.revoked = strcmp(st, "revoked") == 0;
        if ((rc = tl_kbs_manifest_put(m, &x, err)))
            goto out;
    }
    if ((rc = manifest_mac(mk, m, want, err)))
        goto out;
    if (CRYPTO_memcmp(want, mac, sizeof mac) != 0)
        rc = tl_errf(err, TL_ECRYPTO, "%s: does not authenticate under this store's master key (edited, or not made by it)", p);
out:
    json_decref(j);
    if (rc)
        tl_kbs_manifest_free(m);
    return rc;
}

int tl_kbs_manifest_save(const char *dir, const uint8_t mk[32], const tl_kbs_manifest *m, tl_err *err)
{
    char p[4096], hex[65];
    uint8_t mac[32];
    if (tl_path_join(p, sizeof p, dir, "manifest.json"))
        return tl_errf(err, TL_EINVAL, "%s: path too long", dir);
    if (manifest_mac(mk, m, mac, err))
        return err->code;
    json_t *keys = json_object(), *j = NULL;
    for (int i = 0; keys && i < m->n; i++) {
        tl_hex(m->e[i].sha, 32, hex);
        json_object_set_new(keys, m->e[i].id,
                            json_pack("{s:I,s:s,s:s}", "generation", (json_int_t)m->e[i].gen, "state",
                                      m->e[i].revoked ? "revoked" : "active", "sha256", hex));
    }
    tl_hex(mac, 32, hex);
    if (keys)
        j = json_pack("{s:i,s:I,s:o,s:s}", "version", 2, "generation", (json_int_t)m->gen, "keys", keys, "mac", hex);
    char *text = j ? json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    json_decref(j);
    if (!text)
        return tl_errf(err, TL_ENOMEM, "out of memory");
    size_t tl = strlen(text);
    text[tl] = '\n';
    int rc = tl_write_file_atomic(p, text, tl + 1, 0600, err);
    free(text);
    return rc;
}
