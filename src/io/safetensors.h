/* safetensors: strict, mmap-based reader and a small writer.
 * The reader rejects everything the reference Rust reader rejects (spec: formats.md §1.1): header too small or
 * too large (>100 MB), bad UTF-8/JSON/schema, duplicate names, gaps/overlaps in offsets, size mismatches,
 * overflowing shapes, trailing bytes. Errors name the file and the fault. */
#ifndef RAD_SAFETENSORS_H
#define RAD_SAFETENSORS_H
#include <stddef.h>
#include <stdint.h>

#include "base/status.h"

#define RAD_MAX_DIMS 8

typedef enum rad_dtype {
    RAD_DT_BOOL, RAD_DT_U8, RAD_DT_I8, RAD_DT_I16, RAD_DT_U16, RAD_DT_F16, RAD_DT_BF16, RAD_DT_I32,
    RAD_DT_U32, RAD_DT_F32, RAD_DT_F64, RAD_DT_I64, RAD_DT_U64, RAD_DT_F8_E4M3, RAD_DT_F8_E5M2,
    /* GGUF block types (ggml's layouts, io/quants.h): blocks of consecutive elements along the innermost dim */
    RAD_DT_Q4_0, RAD_DT_Q4_1, RAD_DT_Q5_0, RAD_DT_Q5_1, RAD_DT_Q8_0, RAD_DT_Q4_K, RAD_DT_Q5_K, RAD_DT_Q6_K,
    RAD_DT_OTHER /* recognised by the format (F4, F6_*, C64, ...) but not convertible here */
} rad_dtype;

const char *rad_dtype_name(rad_dtype d);
size_t rad_dtype_size(rad_dtype d); /* bytes per element; 0 for RAD_DT_OTHER and the block types */
/* "[a, b, c]" into buf (for messages); a negative (any-size) dim prints as "*". */
void rad_shape_str(const int64_t *shape, int ndim, char *buf, size_t size);

typedef struct rad_st_tensor {
    const char *name;
    rad_dtype dtype;
    const char *dtype_name; /* as written in the file */
    int ndim;
    int64_t shape[RAD_MAX_DIMS];
    int64_t numel;
    const void *data; /* points into the mapping; not aligned in general */
    size_t nbytes;
} rad_st_tensor;

typedef struct rad_st_file rad_st_file;

rad_status rad_st_open(const char *path, rad_st_file **out);
/* Parses an in-memory image (used by the fuzzer); `data` must outlive the handle. */
rad_status rad_st_open_memory(const void *data, size_t size, const char *label, rad_st_file **out);
void rad_st_close(rad_st_file *f);

const char *rad_st_path(const rad_st_file *f);
size_t rad_st_count(const rad_st_file *f);
const rad_st_tensor *rad_st_at(const rad_st_file *f, size_t i); /* in file order of offsets */
const rad_st_tensor *rad_st_find(const rad_st_file *f, const char *name);
/* __metadata__ value for key, or NULL. */
const char *rad_st_meta(const rad_st_file *f, const char *key);
/* __metadata__ pairs in header order, for listing. */
size_t rad_st_meta_count(const rad_st_file *f);
void rad_st_meta_at(const rad_st_file *f, size_t i, const char **key, const char **value);

/* Converts a tensor of a float/int dtype or a GGUF block type to fp32 into dst (numel floats). */
rad_status rad_st_to_f32(const rad_st_tensor *t, float *dst);
/* Integer tensors (I32/I64/...) to int64. */
rad_status rad_st_to_i64(const rad_st_tensor *t, int64_t *dst);
/* The tensor `name` of f as a new fp32 array (*out, rad_alloc'ed: rad_free it) and, when t is not NULL, the
 * tensor itself. A missing tensor is RADIAL_ERR_FORMAT naming the file and the tensor. */
rad_status rad_st_read_f32(const rad_st_file *f, const char *name, const rad_st_tensor **t, float **out);

/* Writer: tensors are written in the order given; metadata is key/value pairs (may be NULL). */
typedef struct rad_st_out {
    const char *name;
    rad_dtype dtype; /* any but RAD_DT_OTHER */
    int ndim;
    int64_t shape[RAD_MAX_DIMS];
    const void *data;
} rad_st_out;
rad_status rad_st_write(const char *path, const rad_st_out *tensors, size_t n, const char *const *meta_kv,
                        size_t n_meta);
#endif
