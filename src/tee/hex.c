#include "tee/hex.h"

#include <stdlib.h>
#include <string.h>

void tl_tee_hex(const uint8_t *in, size_t n, char *out)
{
    static const char d[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = d[in[i] >> 4];
        out[2 * i + 1] = d[in[i] & 15];
    }
    out[2 * n] = 0;
}

static int nib(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int unhex_n(const char *s, uint8_t *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int hi = nib(s[2 * i]), lo = hi < 0 ? -1 : nib(s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

int tl_tee_unhex(const char *s, uint8_t *out, size_t n)
{
    if (!s || strlen(s) != 2 * n)
        return -1;
    return unhex_n(s, out, n);
}

int tl_tee_unhex_alloc(const char *s, size_t slen, uint8_t **out, size_t *n)
{
    if (slen % 2)
        return -1;
    uint8_t *b = malloc(slen / 2 + 1);
    if (!b)
        return -1;
    if (unhex_n(s, b, slen / 2)) {
        free(b);
        return -1;
    }
    *out = b;
    *n = slen / 2;
    return 0;
}
