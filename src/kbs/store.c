#include "kbs/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "kbs/protocol.h"
#include "seal/crypto.h"
#include "tee/policy.h"
#include "util/codec.h"
#include "util/harden.h"
#include "util/io.h"

#define WRAPPED_LEN (TL_GCM_IV_LEN + TL_KEY_LEN + TL_GCM_TAG_LEN)
static const char STORE_AAD[] = "teelm-kbs-store-v1";

static int path_in(char *out, size_t n, const char *dir, const char *name)
{
    return tl_path_join(out, n, dir, name);
}

/* Reads a secret file that must be a regular file, mode 0600 (no group/other bits), of exactly
 * `want` bytes. */
static int read_private(const char *path, uint8_t *out, size_t want, tl_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return tl_errf(err, errno == ENOENT ? TL_ENOTFOUND : TL_EIO, "%s: %s", path, strerror(errno));
    struct stat st;
    int rc = 0;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
        rc = tl_errf(err, TL_EINVAL, "%s: not a regular file", path);
    else if (st.st_mode & 077)
        rc = tl_errf(err, TL_EINVAL, "%s: readable by others (mode %04o); it must be 0600", path, (unsigned)(st.st_mode & 0777));
    else if ((size_t)st.st_size != want)
        rc = tl_errf(err, TL_EINVAL, "%s: must be exactly %zu bytes", path, want);
    else {
        size_t got = 0;
        while (got < want) {
            ssize_t r = read(fd, out + got, want - got);
            if (r <= 0) {
                rc = tl_errf(err, TL_EIO, "%s: read failed", path);
                break;
            }
            got += (size_t)r;
        }
    }
    close(fd);
    return rc;
}

/* Creates a secret file with O_EXCL (never replaces one). Returns TL_ESTATE if it exists. */
static int create_private(const char *path, const uint8_t *data, size_t len, tl_err *err)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return errno == EEXIST ? TL_ESTATE : tl_errf(err, TL_EIO, "%s: cannot create: %s", path, strerror(errno));
    int ok = write(fd, data, len) == (ssize_t)len && fsync(fd) == 0;
    ok = close(fd) == 0 && ok;
    if (!ok) {
        unlink(path);
        return tl_errf(err, TL_EIO, "%s: write failed", path);
    }
    return 0;
}

static int master_key(const char *dir, int create, uint8_t mk[32], tl_err *err)
{
    char p[4096];
    if (path_in(p, sizeof p, dir, "master.key"))
        return tl_errf(err, TL_EINVAL, "%s: path too long", dir);
    if (create) {
        uint8_t fresh[32];
        if (RAND_priv_bytes(fresh, sizeof fresh) != 1)
            return tl_err_ssl(err, TL_ECRYPTO, "random master key");
        int rc = create_private(p, fresh, sizeof fresh, err);
        OPENSSL_cleanse(fresh, sizeof fresh);
        if (rc && rc != TL_ESTATE)
            return rc;
    }
    tl_secret_protect(mk, 32, TL_SECRET_LOCK); /* (the caller's stack: no MADV_DONTDUMP) */
    return read_private(p, mk, 32, err);
}

int tl_kbs_store_init(const char *dir, tl_err *err)
{
    char keys[4096];
    if (tl_mkdirs(dir, 0700, err))
        return err->code;
    if (path_in(keys, sizeof keys, dir, "keys") || tl_mkdirs(keys, 0700, err))
        return err->code ? err->code : tl_errf(err, TL_EINVAL, "%s: path too long", dir);
    uint8_t mk[32];
    int rc = master_key(dir, 1, mk, err);
    OPENSSL_cleanse(mk, sizeof mk);
    return rc;
}

static int record_path(const char *dir, const char *key_id, char *out, size_t n, tl_err *err)
{
    if (!tl_key_id_valid(key_id))
        return tl_errf(err, TL_EINVAL, "invalid key id '%.64s' (1-63 of A-Z a-z 0-9 . _ -)", key_id);
    if (snprintf(out, n, "%s/keys/%s.json", dir, key_id) >= (int)n)
        return tl_errf(err, TL_EINVAL, "%s: path too long", dir);
    return 0;
}

static void aad_for(const char *key_id, uint8_t *aad, size_t *len)
{
    memcpy(aad, STORE_AAD, sizeof STORE_AAD); /* with its NUL */
    memcpy(aad + sizeof STORE_AAD, key_id, strlen(key_id));
    *len = sizeof STORE_AAD + strlen(key_id);
}

/* Writes a record atomically; with is_new, via link() so an existing record is never replaced
 * (two concurrent adds of one id: exactly one wins). */
static int write_record(const char *path, json_t *rec, int is_new, tl_err *err)
{
    char *text = json_dumps(rec, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (!text)
        return tl_errf(err, TL_ENOMEM, "out of memory");
    int rc;
    if (!is_new) {
        rc = tl_write_file_atomic(path, text, strlen(text), 0600, err);
    } else {
        char tmp[4200];
        snprintf(tmp, sizeof tmp, "%s.new.%ld", path, (long)getpid());
        unlink(tmp);
        rc = create_private(tmp, (const uint8_t *)text, strlen(text), err);
        if (rc == TL_ESTATE)
            rc = tl_errf(err, TL_EIO, "%s: stale temporary file", tmp);
        if (!rc && link(tmp, path) != 0)
            rc = errno == EEXIST ? tl_errf(err, TL_ESTATE, "key record %s already exists", path)
                                 : tl_errf(err, TL_EIO, "%s: %s", path, strerror(errno));
        unlink(tmp);
    }
    free(text);
    return rc;
}

int tl_kbs_store_add(const char *dir, const tl_data_key *key, const char *policy_json, tl_err *err)
{
    char path[4096];
    if (record_path(dir, key->key_id, path, sizeof path, err))
        return err->code;
    if (tl_kbs_store_init(dir, err))
        return err->code;
    json_t *policy = NULL;
    if (policy_json) {
        tl_policy *p = tl_policy_parse(policy_json, err);
        if (!p)
            return tl_err_prefix(err, "policy for key '%s'", key->key_id);
        tl_policy_free(p);
        policy = json_loads(policy_json, JSON_REJECT_DUPLICATES, NULL);
        if (!policy)
            return tl_errf(err, TL_EINVAL, "policy for key '%s': not JSON", key->key_id);
    }
    uint8_t mk[32], blob[WRAPPED_LEN], aad[sizeof STORE_AAD + TL_KEY_ID_MAX];
    size_t aad_len;
    tl_gcm g = {0};
    json_t *rec = NULL;
    char *b64 = NULL;
    int rc;
    if (tl_is_file(path)) {
        rc = tl_errf(err, TL_ESTATE, "key id '%s' already exists in %s (revoke it or pick another id)", key->key_id, dir);
        goto out;
    }
    if ((rc = master_key(dir, 0, mk, err)))
        goto out;
    if (RAND_bytes(blob, TL_GCM_IV_LEN) != 1) {
        rc = tl_err_ssl(err, TL_ECRYPTO, "random IV");
        goto out;
    }
    aad_for(key->key_id, aad, &aad_len);
    if ((rc = tl_gcm_init(&g, mk, 1, err)) ||
        (rc = tl_gcm_seal(&g, blob, aad, aad_len, key->key, blob + TL_GCM_IV_LEN, TL_KEY_LEN,
                          blob + TL_GCM_IV_LEN + TL_KEY_LEN, err)))
        goto out;
    b64 = tl_b64_encode(blob, sizeof blob);
    time_t now = time(NULL);
    struct tm tm;
    char created[32];
    gmtime_r(&now, &tm);
    strftime(created, sizeof created, "%Y-%m-%dT%H:%M:%SZ", &tm);
    rec = json_pack("{s:i,s:s,s:s,s:b,s:s}", "version", 1, "key_id", key->key_id, "created", created, "revoked", 0,
                    "wrapped", b64 ? b64 : "");
    if (!rec || !b64) {
        rc = tl_errf(err, TL_ENOMEM, "out of memory");
        goto out;
    }
    if (policy) {
        json_object_set_new(rec, "policy", policy);
        policy = NULL;
    }
    rc = write_record(path, rec, 1, err);
out:
    OPENSSL_cleanse(mk, sizeof mk);
    tl_gcm_free(&g);
    json_decref(rec);
    json_decref(policy);
    free(b64);
    return rc;
}

void tl_kbs_record_free(tl_kbs_record *r)
{
    if (r) {
        free(r->policy_json);
        r->policy_json = NULL;
    }
}

static int load_record(const char *dir, const char *key_id, json_t **out, char *path, size_t pn, tl_err *err)
{
    if (record_path(dir, key_id, path, pn, err))
        return err->code;
    uint8_t *data;
    size_t len;
    int rc = tl_read_file(path, 1 << 20, &data, &len, err);
    if (rc == TL_ENOTFOUND)
        return tl_errf(err, TL_ENOTFOUND, "unknown key id '%s'", key_id);
    if (rc)
        return rc;
    json_error_t je;
    *out = json_loadb((const char *)data, len, JSON_REJECT_DUPLICATES, &je);
    free(data);
    if (!*out || !json_is_object(*out)) {
        json_decref(*out);
        return tl_errf(err, TL_EINVAL, "%s: corrupt key record (%s)", path, je.text);
    }
    const char *id = json_string_value(json_object_get(*out, "key_id"));
    if (!id || strcmp(id, key_id) != 0) {
        json_decref(*out);
        return tl_errf(err, TL_EINVAL, "%s: record names another key id", path);
    }
    return 0;
}

int tl_kbs_store_get(const char *dir, const char *key_id, tl_kbs_record *rec, tl_data_key *key, tl_err *err)
{
    memset(rec, 0, sizeof *rec);
    if (key)
        memset(key, 0, sizeof *key);
    char path[4096];
    json_t *j = NULL;
    if (load_record(dir, key_id, &j, path, sizeof path, err))
        return err->code;
    memcpy(rec->key_id, key_id, strlen(key_id) + 1);
    const char *created = json_string_value(json_object_get(j, "created"));
    snprintf(rec->created, sizeof rec->created, "%s", created ? created : "?");
    rec->revoked = json_is_true(json_object_get(j, "revoked"));
    json_t *pol = json_object_get(j, "policy");
    if (pol)
        rec->policy_json = json_dumps(pol, JSON_COMPACT);
    int rc = 0;
    if (rec->revoked) {
        rc = tl_errf(err, TL_ESTATE, "key '%s' has been revoked", key_id);
    } else if (key) {
        uint8_t *blob = NULL, mk[32], aad[sizeof STORE_AAD + TL_KEY_ID_MAX];
        size_t blen = 0, aad_len;
        tl_gcm g = {0};
        if (tl_b64_decode(json_string_value(json_object_get(j, "wrapped")), &blob, &blen, WRAPPED_LEN, 0))
            rc = tl_errf(err, TL_EINVAL, "%s: corrupt wrapped key", path);
        else if (!(rc = master_key(dir, 0, mk, err)) && !(rc = tl_gcm_init(&g, mk, 0, err))) {
            aad_for(key_id, aad, &aad_len);
            if (tl_gcm_open(&g, blob, aad, aad_len, blob + TL_GCM_IV_LEN, key->key, TL_KEY_LEN,
                            blob + TL_GCM_IV_LEN + TL_KEY_LEN, err))
                rc = tl_errf(err, TL_ECRYPTO, "%s: wrapped key does not authenticate under this store's master key", path);
            else
                memcpy(key->key_id, key_id, strlen(key_id) + 1);
        }
        OPENSSL_cleanse(mk, sizeof mk);
        tl_gcm_free(&g);
        free(blob);
        if (rc)
            tl_data_key_clear(key);
    }
    json_decref(j);
    if (rc && rc != TL_ESTATE)
        tl_kbs_record_free(rec);
    return rc;
}

int tl_kbs_store_revoke(const char *dir, const char *key_id, tl_err *err)
{
    char path[4096];
    json_t *j = NULL;
    if (load_record(dir, key_id, &j, path, sizeof path, err))
        return err->code;
    json_object_set_new(j, "revoked", json_true());
    json_object_del(j, "wrapped"); /* the key material is gone for good */
    int rc = write_record(path, j, 0, err);
    json_decref(j);
    return rc;
}

static int cmp_rec(const void *a, const void *b)
{
    return strcmp(((const tl_kbs_record *)a)->key_id, ((const tl_kbs_record *)b)->key_id);
}

int tl_kbs_store_list(const char *dir, tl_kbs_record **out, int *n, tl_err *err)
{
    *out = NULL;
    *n = 0;
    char keys[4096];
    if (path_in(keys, sizeof keys, dir, "keys"))
        return tl_errf(err, TL_EINVAL, "%s: path too long", dir);
    DIR *d = opendir(keys);
    if (!d)
        return tl_errf(err, errno == ENOENT ? TL_ENOTFOUND : TL_EIO, "%s: %s (not a key store?)", keys, strerror(errno));
    tl_kbs_record *list = NULL;
    int cnt = 0, cap = 0, rc = 0;
    struct dirent *de;
    while ((de = readdir(d)) && !rc) {
        size_t l = strlen(de->d_name);
        char id[TL_KEY_ID_MAX + 1];
        if (l <= 5 || l - 5 > TL_KEY_ID_MAX || strcmp(de->d_name + l - 5, ".json") != 0)
            continue;
        memcpy(id, de->d_name, l - 5);
        id[l - 5] = 0;
        if (!tl_key_id_valid(id))
            continue;
        if (cnt == cap) {
            cap = cap ? 2 * cap : 16;
            tl_kbs_record *nl = realloc(list, (size_t)cap * sizeof *nl);
            if (!nl) {
                rc = tl_errf(err, TL_ENOMEM, "out of memory");
                break;
            }
            list = nl;
        }
        tl_err e2 = {0};
        int r = tl_kbs_store_get(dir, id, &list[cnt], NULL, &e2);
        if (r == 0 || r == TL_ESTATE)
            cnt++;
        else
            rc = tl_errf(err, r, "%s", e2.msg);
    }
    closedir(d);
    if (rc) {
        for (int i = 0; i < cnt; i++)
            tl_kbs_record_free(&list[i]);
        free(list);
        return rc;
    }
    if (cnt)
        qsort(list, (size_t)cnt, sizeof *list, cmp_rec);
    *out = list;
    *n = cnt;
    return 0;
}

int tl_kbs_store_admin_token(const char *dir, int create, char out[65], tl_err *err)
{
    char p[4096];
    if (path_in(p, sizeof p, dir, "admin.token"))
        return tl_errf(err, TL_EINVAL, "%s: path too long", dir);
    if (create) {
        uint8_t r[32];
        char hex[65];
        if (RAND_priv_bytes(r, sizeof r) != 1)
            return tl_err_ssl(err, TL_ECRYPTO, "random admin token");
        tl_hex(r, sizeof r, hex);
        int rc = create_private(p, (const uint8_t *)hex, 64, err);
        OPENSSL_cleanse(r, sizeof r);
        OPENSSL_cleanse(hex, sizeof hex);
        if (rc && rc != TL_ESTATE)
            return rc;
    }
    tl_secret_protect(out, 65, TL_SECRET_LOCK);
    if (read_private(p, (uint8_t *)out, 64, err))
        return err->code;
    out[64] = 0;
    for (int i = 0; i < 64; i++)
        if (!((out[i] >= '0' && out[i] <= '9') || (out[i] >= 'a' && out[i] <= 'f'))) {
            OPENSSL_cleanse(out, 65);
            return tl_errf(err, TL_EINVAL, "%s: not 64 lowercase hex digits", p);
        }
    return 0;
}
