/* ECDSA P-256 with SHA-256 in the raw r‖s form DCAP uses (and the raw-form check SEV-SNP's P-384
 * reports need), on top of OpenSSL EVP. */
#ifndef TEELM_TEE_ECDSA_H
#define TEELM_TEE_ECDSA_H

#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>

/* A P-256 public key from the raw point x‖y (64 bytes); NULL if it is not on the curve. */
EVP_PKEY *tl_p256_from_raw(const uint8_t xy[64]);
/* The raw point x‖y of a P-256 key; 0 on success, -1 if the key is not P-256. */
int tl_p256_to_raw(EVP_PKEY *k, uint8_t xy[64]);
/* 1 when sig (r‖s) is a valid ECDSA-SHA256 signature by the P-256 key k over msg; 0 otherwise. */
int tl_ecdsa_verify_raw(EVP_PKEY *k, const uint8_t *msg, size_t n, const uint8_t sig[64]);
/* 1 when r and s (big-endian, len bytes each) are a valid ECDSA signature by k over msg with the
 * digest md; 0 otherwise. The key's curve is the caller's to check. */
int tl_ecdsa_verify_rs(EVP_PKEY *k, const EVP_MD *md, const uint8_t *r, const uint8_t *s, size_t len,
                       const uint8_t *msg, size_t n);
/* Signs msg; 0 on success. */
int tl_ecdsa_sign_raw(EVP_PKEY *k, const uint8_t *msg, size_t n, uint8_t sig[64]);
/* 1 when k is an EC key on P-256. */
int tl_is_p256(EVP_PKEY *k);


#endif
