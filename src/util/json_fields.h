/* Strict JSON objects (jansson): the one check of an object's fields that teelm's parsers of
 * outside JSON share (policies, manifests, collateral, safetensors headers, API and broker
 * requests). Strict means: a key the list does not name is an error (so a misspelt option is never
 * silently ignored), a required field must be present, a present field must have its type. The
 * caller words the error, because each format's messages name its own file and field. */
#ifndef TEELM_UTIL_JSON_FIELDS_H
#define TEELM_UTIL_JSON_FIELDS_H

#include <jansson.h>
#include <stdint.h>

typedef enum {
    TL_JF_ANY = 0, /* any type: the caller checks the value itself */
    TL_JF_STRING,
    TL_JF_INT,     /* an integer */
    TL_JF_UINT,    /* an integer >= 0 */
    TL_JF_NUMBER,  /* an integer or a real */
    TL_JF_BOOL,
    TL_JF_OBJECT,
    TL_JF_ARRAY,
} tl_jf_type;

/* One field; a list ends with {NULL}. {"name"} alone is an optional field of any type. */
typedef struct {
    const char *name;
    tl_jf_type type;
    int required;
} tl_json_field;

typedef enum {
    TL_JF_OK = 0,
    TL_JF_UNKNOWN,    /* o has a key the list does not name */
    TL_JF_MISSING,    /* a required field is absent */
    TL_JF_TYPE,       /* a field has another type than the list says */
    TL_JF_NOT_OBJECT, /* o is not an object (or NULL) */
} tl_jf_status;

/* Checks o against fields: first every key of o, in o's order, then every listed field in list
 * order; returns the first problem found and points *key (if key) at the key concerned (o's key
 * for TL_JF_UNKNOWN, the field's name otherwise, NULL for TL_JF_NOT_OBJECT). vals, if not NULL,
 * has one slot per listed field and receives each field's value (borrowed from o) or NULL. */
tl_jf_status tl_json_fields(json_t *o, const tl_json_field *fields, json_t **vals, const char **key);

/* Parses len bytes of text as one JSON value with duplicate keys refused (a second value for a key
 * could otherwise override the one a reviewer saw) and returns it when it is an object. NULL
 * otherwise: *je says where the text is not JSON, or, for JSON that is not an object, has the text
 * "not a JSON object" and *not_object (if not_object) is set to 1. */
json_t *tl_json_load_object(const char *text, size_t len, json_error_t *je, int *not_object);

/* 0 when v is an integer in [lo, hi] (then *out is it), -1 otherwise (v NULL included). */
int tl_json_int(const json_t *v, long long lo, long long hi, long long *out);
/* 0 when v is a non-negative integer (then *out is it), -1 otherwise. */
int tl_json_u64(const json_t *v, uint64_t *out);

#endif
