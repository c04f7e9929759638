/* JSON through jansson, strict: duplicate keys are rejected; errors name the file, line and column. */
#ifndef RAD_JSON_H
#define RAD_JSON_H
#include <jansson.h>
#include <stdbool.h>

#include "base/status.h"

rad_status rad_json_load(const char *path, json_t **out);
rad_status rad_json_loadb(const char *buf, size_t len, const char *label, json_t **out);

/* Typed getters. `found` (may be NULL) says whether the key exists; a key of the wrong type is an error
 * naming the file label and key. */
rad_status rad_json_int(const json_t *obj, const char *key, const char *label, long long *out, bool *found);
rad_status rad_json_num(const json_t *obj, const char *key, const char *label, double *out, bool *found);
rad_status rad_json_str(const json_t *obj, const char *key, const char *label, const char **out, bool *found);
#endif
