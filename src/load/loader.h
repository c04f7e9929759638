/* The one loading path of every model (DiT, umT5, VAE): tensors by official name, in the dtype the file stores
 * (F32, F16, BF16, F8_E4M3, F8_E5M2, GGUF blocks), shape-checked, handed to the backend as stored so the
 * backend keeps what suits it (backend.h rad_weight_src), with LoRA deltas merged on the way.
 *
 * Scaled fp8 (ComfyUI `*_fp8_e4m3fn_scaled`): an fp8 `NAME.weight` with a `NAME.scale_weight` (per tensor, or
 * one per output row) is W8 · scale; the scale goes to the backend with the bytes.
 *
 * The loader counts (llama.cpp's done_getting_tensors): rad_loader_finish fails, naming the tensor, when a
 * tensor of the files was not used by the model and is not on the component's short list of tensors known to
 * be ignorable (the VAE encoder, the scaled-fp8 marker, the tokenizer carried in a umT5 file), and when a
 * module of a LoRA matched no tensor. So a checkpoint of another kind (image-to-video, VACE) or a config that
 * does not fit its file fails at load instead of running wrongly. */
#ifndef RAD_LOAD_LOADER_H
#define RAD_LOAD_LOADER_H
#include <stdbool.h>
#include <stdint.h>

#include "backend/backend.h"
#include "io/lora.h"
#include "io/weights.h"

typedef struct rad_loader rad_loader;

/* What a load read: tensors used, bytes of file data they span, LoRA modules merged, seconds since
 * rad_loader_new. */
typedef struct rad_load_stats {
    size_t tensors, lora_merged;
    uint64_t file_bytes;
    double seconds;
} rad_load_stats;

/* A loader over w for backend be (NULL: host fp32 only, for rad_loader_f32); loras may be NULL. The loader
 * borrows w and the LoRAs; it never owns them. */
rad_status rad_loader_new(const rad_weights *w, rad_backend *be, rad_lora *const *loras, size_t n_loras,
                          rad_loader **out);
void rad_loader_free(rad_loader *l);
const rad_weights *rad_loader_weights(const rad_loader *l);

/* `name` with the expected shape (-1: any size), flattened to rows x cols, as a backend weight. */
rad_status rad_loader_weight(rad_loader *l, const char *name, int ndim, const int64_t *shape, int64_t rows,
                             int64_t cols, rad_weight **out);
/* Weights made after this call are streamed (true: backend.h weight_new_host, staged by the model before use)
 * or resident on the backend (false, the default). */
void rad_loader_set_streamed(rad_loader *l, bool streamed);
/* `name` as a new host fp32 array (rad_alloc'ed; rad_free it): vectors, tables, modulation. */
rad_status rad_loader_f32(rad_loader *l, const char *name, int ndim, const int64_t *shape, float **out);
/* `name` left in the file for row-wise reads (the umT5 token embedding table: a few hundred rows of 256k are
 * needed): *src describes its bytes (dtype, data, scale); src->scale, when set, is rad_alloc'ed for the caller
 * (rad_free it). A LoRA delta for it is reported unapplied by rad_loader_finish. */
rad_status rad_loader_rows(rad_loader *l, const char *name, int ndim, const int64_t *shape, rad_weight_src *src);

/* The count: every tensor used or ignorable, every LoRA module applied. */
rad_status rad_loader_finish(rad_loader *l, rad_load_stats *stats);
#endif
