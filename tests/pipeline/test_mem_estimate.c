/* The device memory estimate (pipeline/mem_estimate.h) on the tiny model's files: the terms against the model's
 * architecture (spec wan21.md §1: a block is 8 dim x dim matrices, ffn.0 and ffn.2, their biases, four q/k norms
 * and norm3; matrices kept as bf16, vectors as fp32, the modulation table on the host), the offload terms, the
 * activation plan against its buffer list, and rad_mem_fit_blocks' choice at budgets around the estimates. */
#include <string.h>

#include "backend/fp8_attn_emul.h"
#include "dit/dit.h"
#include "io/model_config.h"
#include "io/weights.h"
#include "pipeline/mem_estimate.h"
#include "test_util.h"

int main(void) {
    char root[1024];
    rad_test_path(root, sizeof root, "tiny-wan");
    rad_weights *t5 = NULL, *dit = NULL, *vae = NULL;
    CHECK_OK(rad_weights_open(root, RAD_COMP_T5, &t5));
    CHECK_OK(rad_weights_open(root, RAD_COMP_DIT, &dit));
    CHECK_OK(rad_weights_open(root, RAD_COMP_VAE, &vae));
    if (!t5 || !dit || !vae) TEST_MAIN_END();
    rad_mem_inputs in = {.t5 = t5, .dit = dit, .vae = vae, .latent_t = 21, .latent_h = 60, .latent_w = 104,
                         .resident_blocks = -1};
    CHECK_OK(rad_dit_config_detect(dit, &in.dit_cfg));
    CHECK_OK(rad_t5_config_detect(t5, &in.t5_cfg));
    const size_t D = (size_t)in.dit_cfg.dim, F = (size_t)in.dit_cfg.ffn_dim, L = (size_t)in.dit_cfg.num_layers;
    const size_t block = 2 * (8 * D * D + 2 * D * F) + 4 * (8 * D + F + D + 4 * D + 2 * D);

    rad_mem_estimate all, none;
    CHECK_OK(rad_mem_estimate_run(&in, &all));
    printf("tiny DiT block %zu bytes (expected %zu), %d blocks; phases %zu / %zu / %zu bytes\n", all.dit_block, block,
           all.blocks, all.text, all.dit, all.vae);
    CHECK(all.dit_block == block && all.blocks == (int)L && all.resident_blocks == (int)L);
    CHECK(all.dit_staging == 0);
    in.resident_blocks = 0;
    CHECK_OK(rad_mem_estimate_run(&in, &none));
    CHECK(none.dit_weights == all.dit_weights - L * block && none.dit_staging == 2 * block && none.resident_blocks == 0);
    CHECK(none.dit == all.dit - L * block + 2 * block && none.vae == all.vae - L * block);

    /* the activation plan: 32,760 tokens, the five [tokens, dim] fp32 buffers among its entries */
    rad_dit_plan plan;
    CHECK_OK(rad_dit_plan_activations(&in.dit_cfg, 32760, &plan));
    size_t sum = 0, big = 0;
    for (int i = 0; i < plan.n; i++) {
        sum += plan.buf[i].bytes;
        big += plan.buf[i].bytes == 32760 * D * 4;
    }
    CHECK(sum == plan.total && plan.total == all.dit_activations && big == 5);
    CHECK(rad_dit_plan_activations(&in.dit_cfg, -1, &plan) != RAD_OK);

    const char *phase;
    /* several ranks: Ulysses 4 holds the activation plan of ceil(N/4) rows plus its heads' keys and values over all
     * N tokens, the gathered head output and the exchange's scratch; a rank other than 0 has no text encoder or
     * VAE phase */
    rad_mem_inputs ui = in;
    ui.resident_blocks = -1, ui.seq_ranks = 4;
    rad_mem_estimate u4, dit_only;
    CHECK_OK(rad_mem_estimate_run(&ui, &u4));
    CHECK_OK(rad_dit_plan_activations(&in.dit_cfg, 32760 / 4, &plan));
    const size_t patch = (size_t)in.dit_cfg.out_dim * 4;
    CHECK(u4.dit_activations == plan.total + 4 * (2 * 32760 * (D / 4) + 32760 * patch + 32760 / 4 * D));
    CHECK(u4.dit_activations < all.dit_activations && u4.dit < all.dit && u4.text == all.text);
    ui.seq_ranks = 1, ui.dit_only = 1;
    CHECK_OK(rad_mem_estimate_run(&ui, &dit_only));
    CHECK(dit_only.text == 0 && dit_only.vae == 0 && dit_only.dit == all.dit);
    CHECK(rad_mem_estimate_peak(&dit_only, &phase) == all.dit && !strcmp(phase, "DiT"));

    /* fp8 attention: its scratch on top of the DiT phase (32,760 tokens x all heads; Ulysses: this rank's heads) */
    rad_mem_inputs fi = in;
    fi.resident_blocks = -1, fi.attn_fp8 = 1;
    rad_mem_estimate f8;
    rad_fp8_attn_layout fl;
    CHECK_OK(rad_mem_estimate_run(&fi, &f8));
    CHECK_OK(rad_fp8_attn_plan(32760, in.dit_cfg.num_heads, &fl));
    CHECK(f8.dit_scratch == all.dit_scratch + fl.bytes && f8.dit == all.dit + fl.bytes && f8.text == all.text);
    printf("fp8 attention scratch at 32,760 tokens: %zu bytes\n", fl.bytes);

    /* fit: everything at the all-resident peak; one block fewer than fits at a budget between two counts */
    int r = -2;
    CHECK_OK(rad_mem_fit_blocks(&in, rad_mem_estimate_peak(&all, &phase), &r));
    CHECK(r == -1);
    rad_mem_estimate one;
    in.resident_blocks = 1;
    CHECK_OK(rad_mem_estimate_run(&in, &one));
    CHECK_OK(rad_mem_fit_blocks(&in, rad_mem_estimate_peak(&one, &phase), &r));
    printf("budget of the 1-resident estimate (%s phase): %d resident\n", phase, r);
    CHECK(r == 1);
    CHECK(rad_mem_fit_blocks(&in, rad_mem_estimate_peak(&none, &phase) - 1, &r) == RADIAL_ERR_NOMEM);
    CHECK(strstr(rad_last_error(), "even with every DiT block streamed") != NULL);
    rad_weights_close(t5), rad_weights_close(dit), rad_weights_close(vae);
    TEST_MAIN_END();
}
