/* RFC 8785 JSON Canonicalization Scheme (JCS) of jansson values, for what teelm signs (receipts,
 * docs/receipts.md). Implemented for the value types teelm emits: objects (members sorted by the
 * UTF-16 code units of their names, RFC 8785 3.2.3), arrays, strings (3.2.2.2: only '"', '\\' and
 * U+0000..U+001F escaped, the five short forms \b \t \n \f \r, others \u00XX lower-case; everything
 * else, non-ASCII included, as UTF-8), integers of magnitude below 2^53 (whose ECMAScript form is
 * their decimal digits), true, false and null. Reals are refused: ECMAScript number formatting is
 * not implemented, so nothing signed may carry one (receipts write fractions as strings). */
#ifndef TEELM_UTIL_JCS_H
#define TEELM_UTIL_JCS_H

#include <jansson.h>
#include <stddef.h>

#define TL_JCS_MAX_INT 9007199254740991LL /* 2^53 - 1: larger integers are not exact in I-JSON */

/* The canonical text of v: malloc'd, NUL-terminated, *len bytes (len may be NULL). NULL when v
 * holds a real, an integer beyond +-TL_JCS_MAX_INT, a string that is not UTF-8 (jansson's own
 * strings always are) or nesting deeper than 64, or when out of memory. */
char *tl_jcs(const json_t *v, size_t *len);

#endif
