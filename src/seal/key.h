/* Data keys: the 256-bit AES key of one sealed model, named by a key id.
 *
 * Key id: 1..63 characters from [A-Za-z0-9._-], not starting with '.' or '-' (it names files in
 * the key broker's store, so it can never be a path).
 * Key file (teelm seal --key-out; docs/sealed-format.md), three lines, mode 0600:
 *     teelm-data-key v1
 *     key-id: <id>
 *     key: <64 lowercase hex digits>
 * It is parsed by hand, not through a JSON library, so the key never sits in buffers we cannot
 * wipe. */
#ifndef TEELM_SEAL_KEY_H
#define TEELM_SEAL_KEY_H

#include <stdint.h>

#include "util/err.h"

#define TL_KEY_LEN 32
#define TL_KEY_ID_MAX 63

typedef struct {
    char key_id[TL_KEY_ID_MAX + 1];
    uint8_t key[TL_KEY_LEN];
} tl_data_key;

/* 1 if id is a valid key id. */
int tl_key_id_valid(const char *id);
/* Fresh random key (RAND_priv_bytes) named id. */
int tl_data_key_generate(tl_data_key *k, const char *id, tl_err *err);
/* Reads a key file. Messages name the file and line, never the key. */
int tl_data_key_read(const char *path, tl_data_key *k, tl_err *err);
/* Writes a key file with mode 0600; refuses to overwrite an existing file. */
int tl_data_key_write(const char *path, const tl_data_key *k, tl_err *err);
/* Wipes the key (OPENSSL_cleanse). */
void tl_data_key_clear(tl_data_key *k);

#endif
