/* Hex and base64 (docs in util/codec.h). */
#include "util/codec.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

const char *tl_codec_strerror(int rc)
{
    switch (rc) {
    case TL_CODEC_OK: return "ok";
    case TL_CODEC_ELEN: return "wrong length";
    case TL_CODEC_ECHAR: return "character outside the alphabet";
    case TL_CODEC_EPAD: return "padding in the wrong place";
    case TL_CODEC_EBITS: return "non-zero trailing bits (not the canonical encoding)";
    case TL_CODEC_ESIZE: return "wrong decoded size";
    case TL_CODEC_ENOMEM: return "out of memory";
    default: return "unknown codec error";
    }
}

void tl_hex(const uint8_t *in, size_t n, char *out)
{
    static const char d[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = d[in[i] >> 4];
        out[2 * i + 1] = d[in[i] & 15];
    }
    out[2 * n] = 0;
}

static int nibble(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int tl_unhex(const char *s, size_t slen, uint8_t *out, size_t n)
{
    if (n > SIZE_MAX / 2 || slen != 2 * n)
        return TL_CODEC_ELEN;
    for (size_t i = 0; i < n; i++) {
        int hi = nibble((unsigned char)s[2 * i]), lo = nibble((unsigned char)s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return TL_CODEC_ECHAR;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return TL_CODEC_OK;
}

size_t tl_b64_encode_into(const uint8_t *data, size_t len, char *out)
{
    if (len > TL_B64_MAX_IN)
        return 0;
    size_t n = TL_B64_LEN(len);
    EVP_EncodeBlock((unsigned char *)out, data, (int)len);
    out[n] = 0;
    return n;
}

char *tl_b64_encode(const uint8_t *data, size_t len)
{
    if (len > TL_B64_MAX_IN)
        return NULL;
    char *s = malloc(TL_B64_LEN(len) + 1);
    if (s)
        tl_b64_encode_into(data, len, s);
    return s;
}

static int b64val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* A table-driven decoder rather than EVP_DecodeBlock: EVP_DecodeBlock skips leading and trailing
 * whitespace, strips any number of trailing '=' ("QUJD====" gives 6 bytes), accepts data after
 * '=' ("QQ=A"), counts padding in its result length and keeps non-canonical bits ("QR=="), so
 * wrapping it would need a full validating pass over every character first, which already is
 * this decoder. */
int tl_b64_decode_into(const char *s, size_t slen, uint8_t *out, size_t cap, size_t *outlen)
{
    *outlen = 0;
    if (slen == 0 || slen % 4)
        return TL_CODEC_ELEN;
    size_t pad = s[slen - 1] == '=' ? (s[slen - 2] == '=' ? 2 : 1) : 0;
    if (pad == 2 && s[slen - 3] == '=')
        return TL_CODEC_EPAD;
    size_t bytes = slen / 4 * 3 - pad;
    if (bytes > cap)
        return TL_CODEC_ESIZE;
    size_t o = 0;
    for (size_t i = 0; i < slen; i += 4) {
        int last = i + 4 == slen;
        uint32_t w = 0;
        for (size_t k = 0; k < 4; k++) {
            unsigned char c = (unsigned char)s[i + k];
            int v = b64val(c);
            if (v < 0 && c == '=' && last && k >= 4 - pad)
                v = 0;
            else if (v < 0)
                return c == '=' ? TL_CODEC_EPAD : TL_CODEC_ECHAR;
            w = w << 6 | (uint32_t)v;
        }
        /* canonical: the bits the padding leaves over must be zero */
        if (last && ((pad == 1 && (w & 0xff)) || (pad == 2 && (w & 0xffff))))
            return TL_CODEC_EBITS;
        size_t take = last ? 3 - pad : 3;
        for (size_t k = 0; k < take; k++)
            out[o++] = (uint8_t)(w >> (16 - 8 * k));
    }
    *outlen = o;
    return TL_CODEC_OK;
}

int tl_b64_decode(const char *s, uint8_t **out, size_t *len, size_t want, size_t max)
{
    *out = NULL;
    *len = 0;
    if (!s)
        return TL_CODEC_ELEN;
    size_t n = strlen(s), cap = want ? want : max;
    /* never more than the input can decode to, nor than the caller accepts */
    uint8_t *b = malloc((n / 4 * 3 < cap ? n / 4 * 3 : cap) + 1);
    if (!b)
        return TL_CODEC_ENOMEM;
    size_t got;
    int rc = tl_b64_decode_into(s, n, b, cap, &got);
    if (rc == 0 && want && got != want)
        rc = TL_CODEC_ESIZE;
    if (rc) {
        free(b);
        return rc;
    }
    *out = b;
    *len = got;
    return 0;
}
