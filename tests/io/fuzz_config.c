/* libFuzzer harness for the JSON side: the input is parsed as a JSON document, then used as the config.json
 * of the tiny DiT, T5 and VAE (config detection cross-checks it against the real shapes) and as a
 * *.safetensors.index.json over two small shards. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/json.h"
#include "io/model_config.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char g_dir[64];
static rad_weights *g_w[3];

static void path_in(char *buf, size_t n, const char *name) { snprintf(buf, n, "%s/%s", g_dir, name); }

static void cleanup(void) {
    static const char *const names[] = {"dit.safetensors", "t5.safetensors", "vae.safetensors", "config.json",
                                        "s1.safetensors", "s2.safetensors", "m.safetensors.index.json"};
    char p[256];
    for (int i = 0; i < 3; i++) rad_weights_close(g_w[i]);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        path_in(p, sizeof p, names[i]);
        unlink(p);
    }
    rmdir(g_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    /* tmpfs where there is one: every input is written to two files. */
    snprintf(g_dir, sizeof g_dir, "/dev/shm/rad_fuzz_cfg_XXXXXX");
    if (!mkdtemp(g_dir)) {
        snprintf(g_dir, sizeof g_dir, "/tmp/rad_fuzz_cfg_XXXXXX");
        if (!mkdtemp(g_dir)) abort();
    }
    atexit(cleanup);
    /* Weights of each component with our config.json beside them (symlinks to the golden tiny files). */
    static const char *const src[3] = {"tiny-wan-original/diffusion_pytorch_model.safetensors",
                                       "tiny-wan/text_encoder/model.safetensors",
                                       "tiny-wan/vae/diffusion_pytorch_model.safetensors"};
    static const char *const dst[3] = {"dit.safetensors", "t5.safetensors", "vae.safetensors"};
    char a[1024], b[256];
    for (int i = 0; i < 3; i++) {
        snprintf(a, sizeof a, "%s/%s", RAD_TEST_DATA_DIR, src[i]);
        path_in(b, sizeof b, dst[i]);
        if (symlink(a, b) != 0) abort();
    }
    path_in(b, sizeof b, "config.json");
    FILE *f = fopen(b, "w");
    if (!f) abort();
    fputs("{}", f);
    fclose(f);
    for (int i = 0; i < 3; i++) {
        path_in(b, sizeof b, dst[i]);
        if (rad_weights_open(b, (rad_component)i, &g_w[i]) != RAD_OK) abort();
    }
    float z[8] = {0};
    rad_st_out s1[] = {{"patch_embedding.weight", RAD_DT_F32, 5, {1, 2, 1, 2, 2}, z}};
    rad_st_out s2[] = {{"blocks.0.self_attn.q.weight", RAD_DT_F32, 2, {2, 2}, z}};
    path_in(b, sizeof b, "s1.safetensors");
    if (rad_st_write(b, s1, 1, NULL, 0) != RAD_OK) abort();
    path_in(b, sizeof b, "s2.safetensors");
    if (rad_st_write(b, s2, 1, NULL, 0) != RAD_OK) abort();
    return 0;
}

static void write_file(const char *name, const uint8_t *data, size_t size) {
    char p[256];
    path_in(p, sizeof p, name);
    FILE *f = fopen(p, "wb");
    if (!f) abort();
    if (size && fwrite(data, 1, size, f) != size) abort();
    fclose(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    json_t *j;
    if (rad_json_loadb((const char *)data, size, "fuzz.json", &j) == RAD_OK) {
        long long i;
        double d;
        const char *s;
        bool found;
        (void)rad_json_int(j, "dim", "fuzz.json", &i, &found);
        (void)rad_json_num(j, "eps", "fuzz.json", &d, &found);
        (void)rad_json_str(j, "_class_name", "fuzz.json", &s, &found);
        json_decref(j);
    }
    write_file("config.json", data, size);
    rad_dit_config dc;
    rad_t5_config tc;
    rad_vae_config vc;
    (void)rad_dit_config_detect(g_w[0], &dc);
    (void)rad_t5_config_detect(g_w[1], &tc);
    (void)rad_vae_config_detect(g_w[2], &vc);

    write_file("m.safetensors.index.json", data, size);
    char p[256];
    path_in(p, sizeof p, "m.safetensors.index.json");
    rad_weights *w;
    if (rad_weights_open(p, RAD_COMP_DIT, &w) == RAD_OK) rad_weights_close(w);
    return 0;
}
