#include "kbs/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "kbs/manifest.h"
#include "kbs/protocol.h"
#include "seal/crypto.h"
#include "tee/policy.h"
#include "util/codec.h"
#include "util/harden.h"
#include "util/io.h"
#include "util/json_fields.h"
#include "util/sha.h"

#define WRAPPED_LEN (TL_GCM_IV_LEN + TL_KEY_LEN + TL_GCM_TAG_LEN)
static const char STORE_AAD[] = "teelm-kbs-store-v1";
#define RECORD_MAX (1u << 20)

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

/* ---------------- locking ---------------- */

/* Readers share the lock, writers hold it alone, so nobody sees a record and a manifest from two
 * different generations. Returns the descriptor to pass to unlock(). */
static int lock_store(const char *dir, int exclusive, int *fd, tl_err *err)
{
    char p[4096];
    if (path_in(p, sizeof p, dir, "store.lock"))
        return tl_errf(err, TL_EINVAL, "%s: path too long", dir);
    *fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (*fd < 0)
        return tl_errf(err, errno == ENOENT ? TL_ENOTFOUND : TL_EIO, "%s: %s (not a key store?)", p, strerror(errno));
    while (flock(*fd, exclusive ? LOCK_EX : LOCK_SH) != 0) {
        if (errno != EINTR) {
            int e = errno;
            close(*fd);
            *fd = -1;
            return tl_errf(err, TL_EIO, "%s: cannot lock: %s", p, strerror(e));
        }
    }
    return 0;
}

static void unlock_store(int fd)
{
    if (fd >= 0)
        close(fd); /* releases the flock */
}

/* ---------------- records ---------------- */

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

/* Serialises a record and writes it atomically; its SHA-256 goes to sha. */
static int write_record(const char *path, json_t *rec, uint8_t sha[32], tl_err *err)
{
    char *text = json_dumps(rec, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (!text)
        return tl_errf(err, TL_ENOMEM, "out of memory");
    tl_sha256(text, strlen(text), sha);
    int rc = tl_write_file_atomic(path, text, strlen(text), 0600, err);
    free(text);
    return rc;
}

/* Reads a record file's bytes and parses them; checks it names key_id. TL_ENOTFOUND if absent. */
static int read_record(const char *path, const char *key_id, json_t **out, uint8_t sha[32], tl_err *err)
{
    *out = NULL;
    uint8_t *data;
    size_t len;
    int rc = tl_read_file(path, RECORD_MAX, &data, &len, err);
    if (rc)
        return rc;
    tl_sha256(data, len, sha);
    json_error_t je;
    *out = tl_json_load_object((const char *)data, len, &je, NULL);
    free(data);
    if (!*out)
        return tl_errf(err, TL_ECRYPTO, "%s: corrupt key record (%s)", path, je.text);
    const char *id = json_string_value(json_object_get(*out, "key_id"));
    if (!id || strcmp(id, key_id) != 0) {
        json_decref(*out);
        *out = NULL;
        return tl_errf(err, TL_ECRYPTO, "%s: record names another key id", path);
    }
    return 0;
}

static void fill_record(json_t *j, const char *key_id, tl_kbs_record *rec)
{
    memcpy(rec->key_id, key_id, strlen(key_id) + 1);
    const char *created = json_string_value(json_object_get(j, "created"));
    snprintf(rec->created, sizeof rec->created, "%s", created ? created : "?");
    rec->revoked = json_is_true(json_object_get(j, "revoked"));
    json_t *pol = json_object_get(j, "policy");
    free(rec->policy_json);
    rec->policy_json = pol ? json_dumps(pol, JSON_COMPACT) : NULL;
}

static int unwrap_key(json_t *j, const char *path, const char *key_id, const uint8_t mk[32], tl_data_key *key, tl_err *err)
{
    uint8_t *blob = NULL, aad[sizeof STORE_AAD + TL_KEY_ID_MAX];
    size_t blen = 0, aad_len;
    tl_gcm g = {0};
    int rc = 0;
    if (tl_b64_decode(json_string_value(json_object_get(j, "wrapped")), &blob, &blen, WRAPPED_LEN, 0))
        rc = tl_errf(err, TL_ECRYPTO, "%s: corrupt wrapped key", path);
    else if (!(rc = tl_gcm_init(&g, mk, 0, err))) {
        aad_for(key_id, aad, &aad_len);
        if (tl_gcm_open(&g, blob, aad, aad_len, blob + TL_GCM_IV_LEN, key->key, TL_KEY_LEN,
                        blob + TL_GCM_IV_LEN + TL_KEY_LEN, err))
            rc = tl_errf(err, TL_ECRYPTO, "%s: wrapped key does not authenticate under this store's master key", path);
        else
            memcpy(key->key_id, key_id, strlen(key_id) + 1);
    }
    tl_gcm_free(&g);
    free(blob);
    if (rc)
        tl_data_key_clear(key);
    return rc;
}

/* The store's master key and authenticated manifest, under the lock (taken here). */
typedef struct {
    int lock;
    uint8_t mk[32];
    tl_kbs_manifest m;
} opened;

static void close_store(opened *s)
{
    OPENSSL_cleanse(s->mk, sizeof s->mk);
    tl_kbs_manifest_free(&s->m);
    unlock_store(s->lock);
    s->lock = -1;
}

static int has_records(const char *dir)
{
    char keys[4096];
    if (path_in(keys, sizeof keys, dir, "keys"))
        return 0;
    DIR *d = opendir(keys);
    int any = 0;
    for (struct dirent *de; d && !any && (de = readdir(d));) {
        size_t l = strlen(de->d_name);
        any = l > 5 && strcmp(de->d_name + l - 5, ".json") == 0;
    }
    if (d)
        closedir(d);
    return any;
}

static int old_version(const char *dir, tl_err *err)
{
    return tl_errf(err, TL_EUNSUPPORTED,
                   "%s holds key records of the previous store version, which are not authenticated; check them "
                   "and run 'teelm kbs upgrade --store %s'",
                   dir, dir);
}

static int open_store(const char *dir, int exclusive, opened *s, tl_err *err)
{
    memset(s, 0, sizeof *s);
    s->lock = -1;
    int rc = lock_store(dir, exclusive, &s->lock, err);
    if (!rc)
        rc = master_key(dir, 0, s->mk, err);
    if (!rc && (rc = tl_kbs_manifest_load(dir, s->mk, &s->m, err)) == TL_ENOTFOUND)
        rc = has_records(dir) ? old_version(dir, err)
                              : tl_errf(err, TL_ECRYPTO, "%s/manifest.json is missing (deleted?): refusing every key", dir);
    if (rc)
        close_store(s);
    return rc;
}

int tl_kbs_store_init(const char *dir, tl_err *err)
{
    char keys[4096];
    if (tl_mkdirs(dir, 0700, err))
        return err->code;
    if (path_in(keys, sizeof keys, dir, "keys") || tl_mkdirs(keys, 0700, err))
        return err->code ? err->code : tl_errf(err, TL_EINVAL, "%s: path too long", dir);
    opened s = {.lock = -1};
    int rc = master_key(dir, 1, s.mk, err);
    if (!rc)
        rc = lock_store(dir, 1, &s.lock, err);
    if (!rc) {
        rc = tl_kbs_manifest_load(dir, s.mk, &s.m, err);
        if (rc == TL_ENOTFOUND && has_records(dir))
            rc = old_version(dir, err);
        else if (rc == TL_ENOTFOUND) /* a new store: generation 0, no keys */
            rc = tl_kbs_manifest_save(dir, s.mk, &s.m, err);
    }
    close_store(&s);
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
    uint8_t blob[WRAPPED_LEN], aad[sizeof STORE_AAD + TL_KEY_ID_MAX];
    size_t aad_len;
    tl_gcm g = {0};
    json_t *rec = NULL;
    char *b64 = NULL;
    opened s;
    int rc = open_store(dir, 1, &s, err);
    if (rc) {
        json_decref(policy);
        return rc;
    }
    if (tl_kbs_manifest_find(&s.m, key->key_id)) {
        rc = tl_errf(err, TL_ESTATE, "key id '%s' already exists in %s (revoke it or pick another id)", key->key_id, dir);
        goto out;
    }
    if (RAND_bytes(blob, TL_GCM_IV_LEN) != 1) {
        rc = tl_err_ssl(err, TL_ECRYPTO, "random IV");
        goto out;
    }
    aad_for(key->key_id, aad, &aad_len);
    if ((rc = tl_gcm_init(&g, s.mk, 1, err)) ||
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
    /* the record first: a crash before the manifest is written leaves a file no manifest lists,
     * which is refused and replaced by the next add of that id */
    tl_kbs_mentry x = {.gen = s.m.gen + 1};
    memcpy(x.id, key->key_id, strlen(key->key_id) + 1);
    if ((rc = write_record(path, rec, x.sha, err)) || (rc = tl_kbs_manifest_put(&s.m, &x, err)))
        goto out;
    s.m.gen++;
    rc = tl_kbs_manifest_save(dir, s.mk, &s.m, err);
out:
    close_store(&s);
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

/* Checks key_id's record against the (authenticated) manifest and fills rec; unwraps into key
 * when given and active. */
static int get_checked(const char *dir, opened *s, const char *key_id, tl_kbs_record *rec, tl_data_key *key, tl_err *err)
{
    char path[4096];
    if (record_path(dir, key_id, path, sizeof path, err))
        return err->code;
    rec->store_generation = s->m.gen;
    tl_kbs_mentry *x = tl_kbs_manifest_find(&s->m, key_id);
    json_t *j = NULL;
    uint8_t sha[32];
    int rc;
    if (!x) {
        if (tl_is_file(path))
            return tl_errf(err, TL_ECRYPTO, "%s is not listed in the manifest (not added with the master key): refused", path);
        return tl_errf(err, TL_ENOTFOUND, "unknown key id '%s'", key_id);
    }
    rec->generation = x->gen;
    rc = read_record(path, key_id, &j, sha, err);
    if (rc == TL_ENOTFOUND)
        return tl_errf(err, TL_ECRYPTO, "%s is missing but the manifest lists it (%s since generation %llu): refused", path,
                       x->revoked ? "revoked" : "active", (unsigned long long)x->gen);
    if (rc) /* unreadable or oversized: this key's record is unusable, like a tampered one */
        return err->code = TL_ECRYPTO;
    if (CRYPTO_memcmp(sha, x->sha, 32) != 0)
        rc = tl_errf(err, TL_ECRYPTO,
                     "%s does not match the manifest (edited, replaced or restored from an older copy; the manifest "
                     "has it %s since generation %llu): refused",
                     path, x->revoked ? "revoked" : "active", (unsigned long long)x->gen);
    else if (json_is_true(json_object_get(j, "revoked")) != x->revoked)
        rc = tl_errf(err, TL_ECRYPTO, "%s: state differs from the manifest's: refused", path);
    if (!rc) {
        fill_record(j, key_id, rec);
        if (rec->revoked)
            rc = tl_errf(err, TL_ESTATE, "key '%s' has been revoked (generation %llu)", key_id, (unsigned long long)x->gen);
        else if (key)
            rc = unwrap_key(j, path, key_id, s->mk, key, err);
    }
    json_decref(j);
    return rc;
}

int tl_kbs_store_get(const char *dir, const char *key_id, tl_kbs_record *rec, tl_data_key *key, tl_err *err)
{
    memset(rec, 0, sizeof *rec);
    if (key)
        memset(key, 0, sizeof *key);
    char path[4096];
    if (record_path(dir, key_id, path, sizeof path, err))
        return err->code;
    opened s;
    int rc = open_store(dir, 0, &s, err);
    if (!rc) {
        rc = get_checked(dir, &s, key_id, rec, key, err);
        rec->store_generation = s.m.gen;
        close_store(&s);
    }
    if (rc && rc != TL_ESTATE)
        tl_kbs_record_free(rec);
    return rc;
}

int tl_kbs_store_revoke(const char *dir, const char *key_id, tl_err *err)
{
    char path[4096];
    if (record_path(dir, key_id, path, sizeof path, err))
        return err->code;
    opened s;
    int rc = open_store(dir, 1, &s, err);
    if (rc)
        return rc;
    tl_kbs_mentry *x = tl_kbs_manifest_find(&s.m, key_id);
    json_t *j = NULL;
    uint8_t sha[32];
    if (!x) {
        rc = tl_errf(err, TL_ENOTFOUND, "unknown key id '%s'", key_id);
        goto out;
    }
    /* Revoking only ever removes: it proceeds even if the record was damaged (keeping what can
     * still be read of it), so an interrupted or attacked store can always be brought to "revoked". */
    if (read_record(path, key_id, &j, sha, err) || CRYPTO_memcmp(sha, x->sha, 32) != 0) {
        json_decref(j);
        j = json_pack("{s:i,s:s,s:s}", "version", 1, "key_id", key_id, "created", "?");
    }
    if (!j) {
        rc = tl_errf(err, TL_ENOMEM, "out of memory");
        goto out;
    }
    json_object_set_new(j, "revoked", json_true());
    json_object_del(j, "wrapped"); /* the key material is gone for good */
    if ((rc = write_record(path, j, x->sha, err)))
        goto out;
    x->revoked = 1;
    x->gen = ++s.m.gen;
    rc = tl_kbs_manifest_save(dir, s.mk, &s.m, err);
out:
    json_decref(j);
    close_store(&s);
    return rc;
}

static int cmp_rec(const void *a, const void *b)
{
    return strcmp(((const tl_kbs_record *)a)->key_id, ((const tl_kbs_record *)b)->key_id);
}

static int push_record(tl_kbs_record **list, int *cnt, int *cap, tl_kbs_record **slot, tl_err *err)
{
    if (*cnt == *cap) {
        int nc = *cap ? 2 * *cap : 16;
        tl_kbs_record *nl = realloc(*list, (size_t)nc * sizeof *nl);
        if (!nl)
            return tl_errf(err, TL_ENOMEM, "out of memory");
        *list = nl;
        *cap = nc;
    }
    *slot = &(*list)[(*cnt)++];
    memset(*slot, 0, sizeof **slot);
    return 0;
}

static void free_list(tl_kbs_record *list, int n)
{
    for (int i = 0; i < n; i++)
        tl_kbs_record_free(&list[i]);
    free(list);
}

/* The end of a listing: on success the records, sorted by key id, go to the caller; else they are freed. */
static int hand_out(int rc, tl_kbs_record *list, int cnt, tl_kbs_record **out, int *n)
{
    if (rc) {
        free_list(list, cnt);
        return rc;
    }
    if (cnt)
        qsort(list, (size_t)cnt, sizeof *list, cmp_rec);
    *out = list;
    *n = cnt;
    return 0;
}

/* Record files under keys/ (ids only), for calls that walk the directory. */
static int each_file(const char *dir, int (*fn)(const char *id, void *arg, tl_err *err), void *arg, tl_err *err)
{
    char keys[4096];
    if (path_in(keys, sizeof keys, dir, "keys"))
        return tl_errf(err, TL_EINVAL, "%s: path too long", dir);
    DIR *d = opendir(keys);
    if (!d)
        return tl_errf(err, errno == ENOENT ? TL_ENOTFOUND : TL_EIO, "%s: %s (not a key store?)", keys, strerror(errno));
    int rc = 0;
    struct dirent *de;
    while (!rc && (de = readdir(d))) {
        size_t l = strlen(de->d_name);
        char id[TL_KEY_ID_MAX + 1];
        if (l <= 5 || l - 5 > TL_KEY_ID_MAX || strcmp(de->d_name + l - 5, ".json") != 0)
            continue;
        memcpy(id, de->d_name, l - 5);
        id[l - 5] = 0;
        if (tl_key_id_valid(id))
            rc = fn(id, arg, err);
    }
    closedir(d);
    return rc;
}

typedef struct {
    const char *dir;
    opened *s;
    tl_kbs_record **list;
    int *cnt, *cap;
    tl_kbs_manifest *fresh;
} walk;

static int list_unlisted(const char *id, void *arg, tl_err *err)
{
    walk *w = arg;
    if (tl_kbs_manifest_find(&w->s->m, id))
        return 0;
    tl_kbs_record *r = NULL;
    if (push_record(w->list, w->cnt, w->cap, &r, err))
        return err->code;
    memcpy(r->key_id, id, strlen(id) + 1);
    snprintf(r->created, sizeof r->created, "?");
    snprintf(r->problem, sizeof r->problem, "keys/%s.json is not listed in the manifest (not added with the master key)", id);
    return 0;
}

int tl_kbs_store_list(const char *dir, tl_kbs_record **out, int *n, uint64_t *generation, tl_err *err)
{
    *out = NULL;
    *n = 0;
    opened s;
    int rc = open_store(dir, 0, &s, err);
    if (rc)
        return rc;
    tl_kbs_record *list = NULL;
    int cnt = 0, cap = 0;
    for (int i = 0; !rc && i < s.m.n; i++) {
        tl_kbs_record *r = NULL;
        if ((rc = push_record(&list, &cnt, &cap, &r, err)))
            break;
        tl_err e2 = {0};
        int g = get_checked(dir, &s, s.m.e[i].id, r, NULL, &e2);
        memcpy(r->key_id, s.m.e[i].id, strlen(s.m.e[i].id) + 1);
        r->revoked = s.m.e[i].revoked;
        r->generation = s.m.e[i].gen;
        if (!r->created[0])
            snprintf(r->created, sizeof r->created, "?");
        if (g && g != TL_ESTATE)
            snprintf(r->problem, sizeof r->problem, "%s", e2.msg);
    }
    walk w = {.dir = dir, .s = &s, .list = &list, .cnt = &cnt, .cap = &cap};
    if (!rc)
        rc = each_file(dir, list_unlisted, &w, err);
    if (generation)
        *generation = s.m.gen;
    close_store(&s);
    return hand_out(rc, list, cnt, out, n);
}

/* Upgrade: every previous-version record must be sound before the manifest vouches for it. */
static int upgrade_one(const char *id, void *arg, tl_err *err)
{
    walk *w = arg;
    char path[4096];
    if (record_path(w->dir, id, path, sizeof path, err))
        return err->code;
    json_t *j = NULL;
    tl_kbs_mentry x = {.gen = 1};
    memcpy(x.id, id, strlen(id) + 1);
    int rc = read_record(path, id, &j, x.sha, err);
    tl_kbs_record *r = NULL;
    if (!rc)
        rc = push_record(w->list, w->cnt, w->cap, &r, err);
    if (!rc) {
        fill_record(j, id, r);
        r->generation = 1;
        x.revoked = r->revoked;
        if (!r->revoked) {
            tl_data_key k;
            memset(&k, 0, sizeof k);
            rc = unwrap_key(j, path, id, w->s->mk, &k, err);
            tl_data_key_clear(&k);
        } else if (json_object_get(j, "wrapped")) {
            rc = tl_errf(err, TL_EINVAL, "%s: revoked but still holds key material", path);
        }
    }
    if (!rc && r->policy_json) {
        tl_policy *p = tl_policy_parse(r->policy_json, err);
        if (!p)
            rc = tl_err_prefix(err, "%s: policy", path);
        tl_policy_free(p);
    }
    if (!rc)
        rc = tl_kbs_manifest_put(w->fresh, &x, err);
    json_decref(j);
    return rc;
}

int tl_kbs_store_upgrade(const char *dir, int dry_run, tl_kbs_record **out, int *n, tl_err *err)
{
    *out = NULL;
    *n = 0;
    opened s = {.lock = -1};
    tl_kbs_manifest fresh = {.gen = 1};
    tl_kbs_record *list = NULL;
    int cnt = 0, cap = 0;
    int rc = lock_store(dir, 1, &s.lock, err);
    if (!rc)
        rc = master_key(dir, 0, s.mk, err);
    if (!rc) {
        rc = tl_kbs_manifest_load(dir, s.mk, &s.m, err);
        if (rc == 0 || rc == TL_ECRYPTO)
            rc = tl_errf(err, TL_ESTATE, "%s already has a manifest (%s): nothing to upgrade", dir,
                         rc == 0 ? "it authenticates" : "it does NOT authenticate");
        else if (rc == TL_ENOTFOUND)
            rc = 0;
    }
    walk w = {.dir = dir, .s = &s, .list = &list, .cnt = &cnt, .cap = &cap, .fresh = &fresh};
    if (!rc)
        rc = each_file(dir, upgrade_one, &w, err);
    if (!rc && !dry_run)
        rc = tl_kbs_manifest_save(dir, s.mk, &fresh, err);
    close_store(&s);
    tl_kbs_manifest_free(&fresh);
    return hand_out(rc, list, cnt, out, n);
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
