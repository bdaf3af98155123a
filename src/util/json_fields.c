#include "util/json_fields.h"

#include <stdio.h>
#include <string.h>

static int has_type(const json_t *v, tl_jf_type t)
{
    switch (t) {
    case TL_JF_STRING: return json_is_string(v);
    case TL_JF_INT: return json_is_integer(v);
    case TL_JF_UINT: return json_is_integer(v) && json_integer_value(v) >= 0;
    case TL_JF_NUMBER: return json_is_number(v);
    case TL_JF_BOOL: return json_is_boolean(v);
    case TL_JF_OBJECT: return json_is_object(v);
    case TL_JF_ARRAY: return json_is_array(v);
    case TL_JF_ANY: break;
    }
    return 1;
}

tl_jf_status tl_json_fields(json_t *o, const tl_json_field *fields, json_t **vals, const char **key)
{
    const char *dummy;
    if (!key)
        key = &dummy;
    *key = NULL;
    size_t n = 0;
    while (fields[n].name)
        n++;
    for (size_t i = 0; vals && i < n; i++)
        vals[i] = NULL;
    if (!json_is_object(o))
        return TL_JF_NOT_OBJECT;
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v) {
        size_t i = 0;
        while (i < n && strcmp(fields[i].name, k) != 0)
            i++;
        if (i == n) {
            *key = k;
            return TL_JF_UNKNOWN;
        }
    }
    for (size_t i = 0; i < n; i++) {
        v = json_object_get(o, fields[i].name);
        if (vals)
            vals[i] = v;
        if (!v && fields[i].required) {
            *key = fields[i].name;
            return TL_JF_MISSING;
        }
        if (v && !has_type(v, fields[i].type)) {
            *key = fields[i].name;
            return TL_JF_TYPE;
        }
    }
    return TL_JF_OK;
}

json_t *tl_json_load_object(const char *text, size_t len, json_error_t *je, int *not_object)
{
    if (not_object)
        *not_object = 0;
    json_t *o = json_loadb(text, len, JSON_REJECT_DUPLICATES, je);
    if (o && !json_is_object(o)) {
        json_decref(o);
        o = NULL;
        snprintf(je->text, sizeof je->text, "not a JSON object");
        je->line = je->column = 1;
        if (not_object)
            *not_object = 1;
    }
    return o;
}

int tl_json_int(const json_t *v, long long lo, long long hi, long long *out)
{
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return -1;
    *out = json_integer_value(v);
    return 0;
}

int tl_json_u64(const json_t *v, uint64_t *out)
{
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return -1;
    *out = (uint64_t)json_integer_value(v);
    return 0;
}
