/* Small helpers the attestation tests share (header-only: each test is one .c file). */
#ifndef TEELM_TESTS_ATTEST_TEST_H
#define TEELM_TESTS_ATTEST_TEST_H

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tee/certs.h"

/* Whether the message s names sub: the tests check errors by the field they must mention. */
static inline int contains(const char *s, const char *sub) { return strstr(s, sub) != NULL; }

/* An ISO 8601 instant as time_t; a malformed one is a bug in the test itself. */
static inline time_t T(const char *iso)
{
    time_t t = 0;
    if (tl_parse_iso8601(iso, &t))
        abort();
    return t;
}

#endif
