/* Builds a folder in ComfyUI's layout from the tiny official-name model, for the pipeline tests: the DiT as
 * wan2.1_t2v_tiny_fp16.safetensors (with its config.json: the tiny model's 24-wide heads cannot be derived from
 * shapes), the umT5 as umt5_xxl_tiny.safetensors carrying its tokenizer as the U8 tensor `spiece_model` (as
 * ComfyUI's umt5_xxl_*.safetensors do), and the VAE as wan_2.1_vae_tiny.safetensors. Beside the folder, a broken
 * VAE (one NaN in the decoder's first conv weight) as OUTDIR.vae_nan.safetensors, for the "never a black video"
 * test.
 * usage: make_comfy_folder OUTDIR */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/safetensors.h"
#include "test_util.h"

/* Copies file `src` (under tests/data) to dir/name, appending the extra tensor when given; nan_in names a tensor
 * whose first value becomes NaN (NULL: none). */
static int copy_st(const char *src, const char *dir, const char *name, const rad_st_out *extra, const char *nan_in) {
    char in[1024], out[1024];
    rad_st_file *f;
    if (rad_st_open(rad_test_path(in, sizeof in, src), &f) != RAD_OK) return 1;
    const size_t n = rad_st_count(f);
    rad_st_out *o = calloc(n + 1, sizeof *o);
    float *broken = NULL;
    for (size_t i = 0; i < n; i++) {
        const rad_st_tensor *t = rad_st_at(f, i);
        o[i] = rad_test_st_out(t);
        if (nan_in && !strcmp(t->name, nan_in) && t->dtype == RAD_DT_F32) {
            broken = malloc(t->nbytes);
            memcpy(broken, t->data, t->nbytes);
            broken[0] = NAN;
            o[i].data = broken;
        }
    }
    if (extra) o[n] = *extra;
    snprintf(out, sizeof out, "%s/%s", dir, name);
    const rad_status s = rad_st_write(out, o, n + (extra ? 1 : 0), NULL, 0);
    free(o);
    free(broken);
    rad_st_close(f);
    return s != RAD_OK || (nan_in && !broken);
}

int main(int argc, char **argv) {
    if (argc != 2) return 2;
    const char *dir = argv[1];
    mkdir(dir, 0755);
    char p[1024];
    FILE *sp = fopen(rad_test_path(p, sizeof p, "tiny-wan/tokenizer/spiece.model"), "rb");
    if (!sp) return 1;
    static unsigned char spm[1 << 20];
    const size_t n = fread(spm, 1, sizeof spm, sp);
    fclose(sp);
    const rad_st_out tok = {.name = "spiece_model", .dtype = RAD_DT_U8, .ndim = 1, .shape = {(int64_t)n}, .data = spm};
    int rc = copy_st("tiny-wan-original/diffusion_pytorch_model.safetensors", dir, "wan2.1_t2v_tiny_fp16.safetensors", NULL, NULL);
    rc |= copy_st("tiny-wan-original/models_t5_tiny_wan_names.safetensors", dir, "umt5_xxl_tiny.safetensors", &tok, NULL);
    rc |= copy_st("tiny-wan-original/wan_vae_tiny.safetensors", dir, "wan_2.1_vae_tiny.safetensors", NULL, NULL);
    char nan_name[1024];
    snprintf(nan_name, sizeof nan_name, "%s.vae_nan.safetensors", strrchr(dir, '/') ? strrchr(dir, '/') + 1 : dir);
    char parent[1024];
    snprintf(parent, sizeof parent, "%.*s", strrchr(dir, '/') ? (int)(strrchr(dir, '/') - dir) : 1, strrchr(dir, '/') ? dir : ".");
    rc |= copy_st("tiny-wan-original/wan_vae_tiny.safetensors", parent, nan_name, NULL, "decoder.conv1.weight");
    FILE *ci = fopen(rad_test_path(p, sizeof p, "tiny-wan-original/config.json"), "rb");
    snprintf(p, sizeof p, "%s/config.json", dir);
    FILE *co = fopen(p, "wb");
    if (!ci || !co) return 1;
    for (int ch; (ch = fgetc(ci)) != EOF;) fputc(ch, co);
    fclose(ci);
    fclose(co);
    printf("%s: ComfyUI-style folder %s\n", rc ? "FAILED" : "made", dir);
    return rc;
}
