/* Model weights as the models see them: always by the official Wan tensor names (spec wan21.md §5),
 * whatever the layout on disk (diffusers names, HF T5 names, official names, a `model.diffusion_model.`
 * prefix), across one file or the shards of a `*.safetensors.index.json`.
 *
 * `path` may be a single .safetensors file, an index.json, a component folder of the diffusers layout
 * (transformer/, text_encoder/, vae/), the root of a diffusers folder (then `comp` picks the component), or
 * a folder in the official repo layout (the DiT as diffusion_pytorch_model*, the T5 and VAE as the one
 * *.safetensors file with "t5" / "vae" in its name). Shard names in an index must be plain file names in the
 * index's folder. The layout of the names is detected from the names themselves. */
#ifndef RAD_WEIGHTS_H
#define RAD_WEIGHTS_H
#include <stdint.h>

#include "io/gguf.h"
#include "io/safetensors.h"

typedef enum rad_component { RAD_COMP_DIT, RAD_COMP_T5, RAD_COMP_VAE } rad_component;

typedef struct rad_weights rad_weights;
const char *rad_component_name(rad_component c); /* "DiT", "T5", "VAE" */

rad_status rad_weights_open(const char *path, rad_component comp, rad_weights **out);
void rad_weights_close(rad_weights *w);

/* The config.json that belongs to these weights (component folder or next to the file), or NULL. */
const char *rad_weights_config_path(const rad_weights *w);
/* A label for messages (the path given). */
const char *rad_weights_label(const rad_weights *w);

/* Looks up a tensor by official name, or NULL if absent. */
const rad_st_tensor *rad_weights_find(const rad_weights *w, const char *official_name);

/* The position (as in rad_weights_at) of the tensor with this official name, or SIZE_MAX if absent. */
size_t rad_weights_index(const rad_weights *w, const char *official_name);

/* Looks up a tensor by official name and checks its shape (ndim dims; -1 in `shape` accepts any size).
 * Missing tensor or wrong shape is RADIAL_ERR_MODEL naming the tensor, the file and both shapes. */
rad_status rad_weights_get(const rad_weights *w, const char *official_name, int ndim, const int64_t *shape,
                           const rad_st_tensor **out);

/* rad_weights_get + conversion to a newly rad_alloc'ed fp32 array. */
rad_status rad_weights_f32(const rad_weights *w, const char *official_name, int ndim, const int64_t *shape,
                           float **out);

/* The official DiT name of a diffusers (WanTransformer3DModel) tensor name, malloc'ed; NULL when it has none. */
char *rad_weights_dit_official_name(const char *diffusers_name);

/* For inspection: every tensor of every file in file order, with its official name (NULL when unmapped). */
size_t rad_weights_count(const rad_weights *w);
size_t rad_weights_mapped_count(const rad_weights *w);
const rad_st_tensor *rad_weights_at(const rad_weights *w, size_t i, const char **official);
/* The detected name layout, in words ("diffusers (WanTransformer3DModel)", "official (WanModel)", ...). */
const char *rad_weights_layout(const rad_weights *w);
rad_component rad_weights_component(const rad_weights *w);
size_t rad_weights_file_count(const rad_weights *w);
const rad_st_file *rad_weights_file(const rad_weights *w, size_t i); /* the safetensors files */
size_t rad_weights_gguf_count(const rad_weights *w);
const rad_gguf *rad_weights_gguf(const rad_weights *w, size_t i); /* the GGUF files */
#endif
