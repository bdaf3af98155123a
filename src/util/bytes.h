/* Fixed-width integers in byte buffers, by explicit byte order: the one set of load/store helpers
 * for the binary formats teelm reads and writes (sealed headers and IVs, SGX/TDX/SNP quotes and
 * reports, safetensors' header length, nonces, token files, transcript hashes). Byte by byte, so
 * they work at any alignment and on any host byte order, and compile to single moves. */
#ifndef TEELM_UTIL_BYTES_H
#define TEELM_UTIL_BYTES_H

#include <stdint.h>

static inline uint16_t tl_load_le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static inline uint32_t tl_load_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t tl_load_le64(const uint8_t *p) { return (uint64_t)tl_load_le32(p) | (uint64_t)tl_load_le32(p + 4) << 32; }

static inline uint32_t tl_load_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}
static inline uint64_t tl_load_be64(const uint8_t *p) { return (uint64_t)tl_load_be32(p) << 32 | tl_load_be32(p + 4); }

static inline void tl_store_le16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static inline void tl_store_le32(uint8_t *p, uint32_t v)
{
    tl_store_le16(p, (uint16_t)v);
    tl_store_le16(p + 2, (uint16_t)(v >> 16));
}
static inline void tl_store_le64(uint8_t *p, uint64_t v)
{
    tl_store_le32(p, (uint32_t)v);
    tl_store_le32(p + 4, (uint32_t)(v >> 32));
}

static inline void tl_store_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}
static inline void tl_store_be64(uint8_t *p, uint64_t v)
{
    tl_store_be32(p, (uint32_t)(v >> 32));
    tl_store_be32(p + 4, (uint32_t)v);
}

#endif
