/* The attested key-release protocol (docs/attestation-protocol.md), the parts both sides compute:
 *   report_data = tl_binding "kbs-key" over (nonce, client_pub, key_id)   (tee/binding.h)
 *   th          = SHA-256("teelm-kbs-v1 transcript" ‖ 0x00 ‖ u8(len) ‖ key_id ‖ nonce ‖ client_pub ‖
 *                         server_pub ‖ SHA-256(evidence))
 *   k ‖ iv      = HKDF-SHA256(ikm = ECDH-P256(x coordinate), salt = nonce,
 *                             info = "teelm-kbs-v1 key wrap" ‖ th, L = 44)
 *   wrapped     = AES-256-GCM(k, iv, aad = th, data key) = ciphertext(32) ‖ tag(16)
 * Public keys are uncompressed SEC1 P-256 points (65 bytes, 0x04 ‖ x ‖ y). */
#ifndef TEELM_KBS_PROTOCOL_H
#define TEELM_KBS_PROTOCOL_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/evp.h>

#include "seal/key.h"
#include "util/err.h"

#define TL_KBS_NONCE_LEN 32
#define TL_KBS_PUB_LEN 65
#define TL_KBS_WRAPPED_LEN (TL_KEY_LEN + 16)
#define TL_KBS_MAX_EVIDENCE (64u << 10)
#define TL_KBS_ALG "ECDH-P256+HKDF-SHA256+A256GCM"

void tl_kbs_report_data(const uint8_t nonce[TL_KBS_NONCE_LEN], const uint8_t pub[TL_KBS_PUB_LEN], const char *key_id,
                        uint8_t out[64]);

/* Fresh ephemeral P-256 key and its encoded public point. */
EVP_PKEY *tl_kbs_ephemeral(uint8_t pub[TL_KBS_PUB_LEN], tl_err *err);
/* Decodes and validates (on the curve) a peer's public point. */
EVP_PKEY *tl_kbs_pub_decode(const uint8_t pub[TL_KBS_PUB_LEN], tl_err *err);

/* Broker side: encrypts key->key to client_pub; fills server_pub and wrapped. */
int tl_kbs_wrap(const tl_data_key *key, const uint8_t nonce[TL_KBS_NONCE_LEN], const uint8_t client_pub[TL_KBS_PUB_LEN],
                const uint8_t *evidence, size_t ev_len, uint8_t server_pub[TL_KBS_PUB_LEN],
                uint8_t wrapped[TL_KBS_WRAPPED_LEN], tl_err *err);
/* TEE side: decrypts the data key with the ephemeral private key; out->key_id = key_id. */
int tl_kbs_unwrap(EVP_PKEY *eph, const char *key_id, const uint8_t nonce[TL_KBS_NONCE_LEN],
                  const uint8_t client_pub[TL_KBS_PUB_LEN], const uint8_t *evidence, size_t ev_len,
                  const uint8_t server_pub[TL_KBS_PUB_LEN], const uint8_t wrapped[TL_KBS_WRAPPED_LEN], tl_data_key *out,
                  tl_err *err);

#endif
