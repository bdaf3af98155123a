#include "seal/key.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "util/codec.h"
#include "util/harden.h"
#include "util/io.h"
#include "util/secmem.h"

#define KEY_FILE_MAGIC "teelm-data-key v1"

int tl_key_id_valid(const char *id)
{
    size_t n = id ? strlen(id) : 0;
    if (n == 0 || n > TL_KEY_ID_MAX || id[0] == '.' || id[0] == '-')
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
              c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

int tl_data_key_generate(tl_data_key *k, const char *id, tl_err *err)
{
    memset(k, 0, sizeof *k);
    if (!tl_key_id_valid(id))
        return tl_errf(err, TL_EINVAL, "invalid key id '%.64s' (1-63 of A-Z a-z 0-9 . _ -)", id ? id : "");
    memcpy(k->key_id, id, strlen(id) + 1);
    tl_secret_protect(k, sizeof *k, TL_SECRET_LOCK);
    if (RAND_priv_bytes(k->key, TL_KEY_LEN) != 1)
        return tl_err_ssl(err, TL_ECRYPTO, "random key generation failed");
    return 0;
}

void tl_data_key_clear(tl_data_key *k)
{
    if (k)
        OPENSSL_cleanse(k, sizeof *k);
}

/* Splits the next line off *p (terminated by \n or end); returns NULL at the end. */
static char *next_line(char **p)
{
    if (!*p || !**p)
        return NULL;
    char *s = *p, *nl = strchr(s, '\n');
    if (nl) {
        *nl = 0;
        *p = nl + 1;
    } else {
        *p = s + strlen(s);
    }
    size_t n = strlen(s);
    if (n && s[n - 1] == '\r')
        s[n - 1] = 0;
    return s;
}

static int parse_key_file(char *text, size_t len, const char *path, tl_data_key *k, tl_err *err)
{
    if (strlen(text) != len)
        return tl_errf(err, TL_EINVAL, "%s: not a teelm key file (contains NUL bytes)", path);
    char *p = text, *line;
    int lineno = 0, have_id = 0, have_key = 0;
    while ((line = next_line(&p))) {
        lineno++;
        if (lineno == 1) {
            if (strcmp(line, KEY_FILE_MAGIC) != 0)
                return tl_errf(err, TL_EINVAL, "%s: not a teelm key file (line 1 must be '%s')", path, KEY_FILE_MAGIC);
            continue;
        }
        if (line[0] == 0)
            continue;
        if (strncmp(line, "key-id: ", 8) == 0) {
            if (have_id)
                return tl_errf(err, TL_EINVAL, "%s:%d: key-id given twice", path, lineno);
            if (!tl_key_id_valid(line + 8))
                return tl_errf(err, TL_EINVAL, "%s:%d: invalid key id", path, lineno);
            memcpy(k->key_id, line + 8, strlen(line + 8) + 1);
            have_id = 1;
        } else if (strncmp(line, "key: ", 5) == 0) {
            const char *h = line + 5;
            if (have_key)
                return tl_errf(err, TL_EINVAL, "%s:%d: key given twice", path, lineno);
            int rc = tl_unhex(h, strlen(h), k->key, TL_KEY_LEN);
            if (rc == TL_CODEC_ELEN)
                return tl_errf(err, TL_EINVAL, "%s:%d: key must be %d hex digits", path, lineno, 2 * TL_KEY_LEN);
            if (rc)
                return tl_errf(err, TL_EINVAL, "%s:%d: key must be hex digits", path, lineno);
            have_key = 1;
        } else {
            return tl_errf(err, TL_EINVAL, "%s:%d: unexpected line (want 'key-id: ' or 'key: ')", path, lineno);
        }
    }
    if (lineno == 0)
        return tl_errf(err, TL_EINVAL, "%s: empty key file", path);
    if (!have_id || !have_key)
        return tl_errf(err, TL_EINVAL, "%s: missing '%s' line", path, have_id ? "key" : "key-id");
    return 0;
}

int tl_data_key_read(const char *path, tl_data_key *k, tl_err *err)
{
    memset(k, 0, sizeof *k);
    uint8_t *data = NULL;
    size_t len = 0;
    if (tl_read_secret_file(path, 4096, &data, &len, err))
        return err->code;
    tl_secret_protect(k, sizeof *k, TL_SECRET_LOCK); /* usually on the stack: no MADV_DONTDUMP */
    int rc = parse_key_file((char *)data, len, path, k, err);
    tl_sec_free(data);
    if (rc)
        tl_data_key_clear(k);
    return rc;
}

int tl_data_key_write(const char *path, const tl_data_key *k, tl_err *err)
{
    if (!tl_key_id_valid(k->key_id))
        return tl_errf(err, TL_EINVAL, "invalid key id");
    char text[256];
    int n = snprintf(text, sizeof text, KEY_FILE_MAGIC "\nkey-id: %s\nkey: ", k->key_id);
    tl_hex(k->key, TL_KEY_LEN, text + n);
    n += 2 * TL_KEY_LEN;
    text[n++] = '\n';
    /* A private temporary with a fresh random name (never a file or link planted beside it), then
     * link() into place: atomic, and never replaces an existing key file (losing a key loses the
     * model). */
    char tmp[4096];
    int rc = 0;
    if (snprintf(tmp, sizeof tmp, "%s.tmp.XXXXXX", path) >= (int)sizeof tmp) {
        rc = tl_errf(err, TL_EINVAL, "%s: path too long", path);
        goto out;
    }
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        rc = tl_errf(err, TL_EIO, "%s: cannot create a temporary file beside it: %s", path, strerror(errno));
        goto out;
    }
    ssize_t w = write(fd, text, (size_t)n);
    int ok = w == n && fsync(fd) == 0;
    ok = close(fd) == 0 && ok;
    if (!ok) {
        rc = tl_errf(err, TL_EIO, "%s: write failed: %s", path, strerror(errno));
    } else if (link(tmp, path) != 0) {
        rc = errno == EEXIST ? tl_errf(err, TL_EINVAL, "%s: already exists (refusing to overwrite a key file)", path)
                             : tl_errf(err, TL_EIO, "%s: cannot create: %s", path, strerror(errno));
    }
    unlink(tmp);
out:
    OPENSSL_cleanse(text, sizeof text);
    return rc;
}
