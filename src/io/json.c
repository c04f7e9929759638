/* Strict JSON loading through jansson, with messages "file:line:col: what". */
#include "io/json.h"

#include "base/mem.h"
#include "io/file.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Config and index files are small (the 14B index is ~100 KB); a cap keeps a bad path from eating memory. */
#define JSON_MAX_FILE (64u << 20)

rad_status rad_json_loadb(const char *buf, size_t len, const char *label, json_t **out) {
    json_error_t e;
    *out = NULL;
    json_t *j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &e);
    if (!j) return rad_err(RADIAL_ERR_FORMAT, "%s:%d:%d: invalid JSON: %s", label, e.line, e.column, e.text);
    *out = j;
    return RAD_OK;
}

rad_status rad_json_load(const char *path, json_t **out) {
    uint8_t *buf;
    size_t n;
    *out = NULL;
    RAD_TRY(rad_file_read(path, JSON_MAX_FILE, "JSON config", &buf, &n));
    rad_status st = rad_json_loadb((const char *)buf, n, path, out);
    rad_free(buf);
    return st;
}

/* The value of key in obj; JSON null counts as absent (diffusers writes "image_dim": null). */
static rad_status get(const json_t *obj, const char *key, const char *label, const json_t **v, bool *found) {
    if (!json_is_object(obj)) return rad_err(RADIAL_ERR_FORMAT, "%s: expected a JSON object holding \"%s\"", label, key);
    *v = json_object_get(obj, key);
    if (*v && json_is_null(*v)) *v = NULL;
    if (found) *found = *v != NULL;
    if (!*v && !found) return rad_err(RADIAL_ERR_FORMAT, "%s: missing key \"%s\"", label, key);
    return RAD_OK;
}

static const char *type_name(const json_t *v) {
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    default: return "null";
    }
}

rad_status rad_json_int(const json_t *obj, const char *key, const char *label, long long *out, bool *found) {
    const json_t *v = NULL;
    RAD_TRY(get(obj, key, label, &v, found));
    if (!v) return RAD_OK;
    if (!json_is_integer(v))
        return rad_err(RADIAL_ERR_FORMAT, "%s: \"%s\": expected an integer, found %s", label, key, type_name(v));
    *out = json_integer_value(v);
    return RAD_OK;
}

rad_status rad_json_num(const json_t *obj, const char *key, const char *label, double *out, bool *found) {
    const json_t *v = NULL;
    RAD_TRY(get(obj, key, label, &v, found));
    if (!v) return RAD_OK;
    if (!json_is_number(v))
        return rad_err(RADIAL_ERR_FORMAT, "%s: \"%s\": expected a number, found %s", label, key, type_name(v));
    *out = json_number_value(v);
    if (!isfinite(*out)) return rad_err(RADIAL_ERR_FORMAT, "%s: \"%s\": number is not finite", label, key);
    return RAD_OK;
}

rad_status rad_json_str(const json_t *obj, const char *key, const char *label, const char **out, bool *found) {
    const json_t *v = NULL;
    RAD_TRY(get(obj, key, label, &v, found));
    if (!v) return RAD_OK;
    if (!json_is_string(v))
        return rad_err(RADIAL_ERR_FORMAT, "%s: \"%s\": expected a string, found %s", label, key, type_name(v));
    *out = json_string_value(v);
    return RAD_OK;
}
