/* The portable attention kernel's index arithmetic (src/backend/cuda/attn_fa2_plan.h), checked without a GPU.
 *
 * - The swizzle is a bijection of (row, chunk) onto the tile, and the kernel's factored ldmatrix offsets and
 *   copy offsets equal it.
 * - ldmatrix and the mma fragments, emulated from the PTX ISA's definitions on a tile written through the
 *   swizzle: every register of every lane holds exactly the elements the mma.m16n8k16 operand layout asks for
 *   (Q as A, K as B, V as B through .trans), P taken from the S accumulators is the A operand of the next
 *   product, and the epilogue's staging writes put each output element at its (row, column).
 * - No shared-memory bank conflicts: each 8-lane phase of an ldmatrix or 16-byte access touches 8 different
 *   16-byte bank groups; the epilogue's 4-byte writes hit 32 different banks.
 * - Tiles: over random block-CSR rows and key counts (partial last blocks, tiles wholly past the end), the
 *   tiles with keys cover exactly the keys of the listed blocks, each once.
 * - The cp.async ring: simulated for every configuration and tile count, each event's load has landed when the
 *   event starts, no load overwrites a slot before its previous occupant is consumed, each load goes out once.
 * - The configuration each card's shared memory gets. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/attn_fa2_plan.h"
#include "test_util.h"

enum { TILE_ROWS = 128, TILE_BYTES = TILE_ROWS * RAD_FA2_ROW_BYTES };

/* A 128-row tile whose element (row, col) holds the tag row * 128 + col, stored through the swizzle. */
static uint16_t tile[TILE_BYTES / 2];
static void fill_tile(void) {
    for (uint32_t r = 0; r < TILE_ROWS; r++)
        for (uint32_t c = 0; c < 128; c++) tile[(rad_fa2_swz(r, c / 8) + 2 * (c % 8)) / 2] = (uint16_t)(r * 128 + c);
}
static uint32_t tag(uint32_t row, uint32_t col) { return row * 128 + col; }

/* ldmatrix.sync.aligned.m8n8.x4(.trans).b16: addr[lane] is the byte offset of row lane % 8 of matrix lane / 8;
 * reg[lane][i][e] is element e (low half first) of register i of that lane. */
static void ldmatrix_x4(const uint32_t addr[32], int trans, uint32_t reg[32][4][2]) {
    for (int l = 0; l < 32; l++)
        for (int i = 0; i < 4; i++)
            for (int e = 0; e < 2; e++) {
                uint32_t row, col; /* within matrix i */
                if (!trans) row = (uint32_t)l / 4, col = 2 * ((uint32_t)l % 4) + (uint32_t)e;
                else row = 2 * ((uint32_t)l % 4) + (uint32_t)e, col = (uint32_t)l / 4;
                reg[l][i][e] = tile[(addr[8 * i + row] + 2 * col) / 2];
            }
}
/* Each phase of 8 lanes reading or writing 16 bytes must touch 8 distinct 16-byte bank groups. */
static int phases_conflict_free(const uint32_t addr[32]) {
    for (int p = 0; p < 4; p++) {
        int seen = 0;
        for (int j = 0; j < 8; j++) seen |= 1 << ((addr[8 * p + j] >> 4) & 7);
        if (seen != 0xff) return 0;
    }
    return 1;
}

static void check_swizzle(void) {
    static uint8_t used[TILE_BYTES / 16];
    memset(used, 0, sizeof used);
    int ok = 1;
    for (uint32_t r = 0; r < TILE_ROWS; r++)
        for (uint32_t c = 0; c < 16; c++) {
            const uint32_t off = rad_fa2_swz(r, c);
            ok &= off % 16 == 0 && off < TILE_BYTES && off / RAD_FA2_ROW_BYTES == r;
            if (off < TILE_BYTES) ok &= used[off / 16]++ == 0;
        }
    CHECK(ok);
    /* the factored form the kernel uses for every ldmatrix address */
    int fact = 1;
    for (uint32_t row0 = 0; row0 + 16 <= TILE_ROWS; row0 += 8)
        for (uint32_t lrow = 0; lrow < 16; lrow++)
            for (uint32_t lchunk = 0; lchunk < 2; lchunk++)
                for (uint32_t ks = 0; ks < 8; ks++)
                    fact &= rad_fa2_swz(row0 + lrow, 2 * ks + lchunk) ==
                            row0 * RAD_FA2_ROW_BYTES + (ks / 4) * 128 + rad_fa2_lane_off(lrow, lchunk, ks % 4);
    CHECK(fact);
    /* the copy threads: chunk tid % 16 of rows tid / 16 + 8 i at c_off + i * 8 rows; 8 threads per phase */
    int copy = 1, copy_banks = 1;
    for (int i = 0; i < 16; i++)
        for (int w = 0; w < 4; w++) {
            uint32_t addr[32];
            for (int l = 0; l < 32; l++) {
                const int tid = 32 * w + l;
                const uint32_t cr = (uint32_t)tid >> 4, cc = (uint32_t)tid & 15;
                addr[l] = rad_fa2_swz(cr, cc) + (uint32_t)i * 8 * RAD_FA2_ROW_BYTES;
                copy &= addr[l] == rad_fa2_swz(cr + 8 * (uint32_t)i, cc);
            }
            copy_banks &= phases_conflict_free(addr);
        }
    CHECK(copy);
    CHECK(copy_banks);
    printf("  swizzle: bijective, factored offsets equal, copies conflict-free: %s\n", ok && fact && copy && copy_banks ? "ok" : "FAIL");
}

/* The kernel's addresses (attn_fa2.cu), with the slot base at 0. */
static uint32_t q_addr(uint32_t warp, uint32_t mt, uint32_t kk, uint32_t lane) {
    return warp * 32 * RAD_FA2_ROW_BYTES + rad_fa2_lane_off(rad_fa2_q_row(lane), rad_fa2_q_chunk(lane), kk & 3) +
           mt * 16 * RAD_FA2_ROW_BYTES + (kk >> 2) * 128;
}
static uint32_t k_addr(uint32_t np, uint32_t kk, uint32_t lane) {
    return rad_fa2_lane_off(rad_fa2_k_row(lane), rad_fa2_k_chunk(lane), kk & 3) + np * 16 * RAD_FA2_ROW_BYTES +
           (kk >> 2) * 128;
}
static uint32_t v_addr(uint32_t kk, uint32_t dp, uint32_t lane) {
    return rad_fa2_lane_off(rad_fa2_v_row(lane), rad_fa2_v_chunk(lane), dp & 3) + kk * 16 * RAD_FA2_ROW_BYTES +
           (dp >> 2) * 128;
}

static void check_fragments(void) {
    fill_tile();
    uint32_t addr[32], reg[32][4][2];
    int q_ok = 1, k_ok = 1, v_ok = 1, banks = 1;
    /* Q: A operand a_j of rows row0 .. row0 + 15, k-step kk: (g + 8 (j & 1), 16 kk + 8 (j >> 1) + 2t + e) */
    for (uint32_t w = 0; w < 4; w++)
        for (uint32_t mt = 0; mt < 2; mt++)
            for (uint32_t kk = 0; kk < 8; kk++) {
                for (uint32_t l = 0; l < 32; l++) addr[l] = q_addr(w, mt, kk, l);
                banks &= phases_conflict_free(addr);
                ldmatrix_x4(addr, 0, reg);
                for (uint32_t l = 0; l < 32; l++)
                    for (uint32_t j = 0; j < 4; j++)
                        for (uint32_t e = 0; e < 2; e++)
                            q_ok &= reg[l][j][e] == tag(w * 32 + mt * 16 + l / 4 + 8 * (j & 1), kk * 16 + 8 * (j >> 1) + 2 * (l % 4) + e);
            }
    /* K (rows = keys): register j = b_(j & 1) of n-tile 2 np + (j >> 1); b_h element e = (k 8h + 2t + e, n g),
     * i.e. key 16 np + 8 (j >> 1) + g, dim 16 kk + 8 (j & 1) + 2t + e */
    for (uint32_t np = 0; np < 8; np++) /* 128 rows here: covers BN 32 and 64 */
        for (uint32_t kk = 0; kk < 8; kk++) {
            for (uint32_t l = 0; l < 32; l++) addr[l] = k_addr(np, kk, l);
            banks &= phases_conflict_free(addr);
            ldmatrix_x4(addr, 0, reg);
            for (uint32_t l = 0; l < 32; l++)
                for (uint32_t j = 0; j < 4; j++)
                    for (uint32_t e = 0; e < 2; e++)
                        k_ok &= reg[l][j][e] == tag(np * 16 + 8 * (j >> 1) + l / 4, kk * 16 + 8 * (j & 1) + 2 * (l % 4) + e);
        }
    /* V (rows = keys, .trans): register j = b_(j & 1) of dim-tile 2 dp + (j >> 1); element e = (k 8 (j & 1) +
     * 2t + e, n g): key 16 kk + 8 (j & 1) + 2t + e, dim 16 dp + 8 (j >> 1) + g */
    for (uint32_t kk = 0; kk < 8; kk++)
        for (uint32_t dp = 0; dp < 8; dp++) {
            for (uint32_t l = 0; l < 32; l++) addr[l] = v_addr(kk, dp, l);
            banks &= phases_conflict_free(addr);
            ldmatrix_x4(addr, 1, reg);
            for (uint32_t l = 0; l < 32; l++)
                for (uint32_t j = 0; j < 4; j++)
                    for (uint32_t e = 0; e < 2; e++)
                        v_ok &= reg[l][j][e] == tag(kk * 16 + 8 * (j & 1) + 2 * (l % 4) + e, dp * 16 + 8 * (j >> 1) + l / 4);
        }
    CHECK(q_ok);
    CHECK(k_ok);
    CHECK(v_ok);
    CHECK(banks);

    /* P: A register j of k-step kk takes accumulators 2 (j & 1) + e of S n-tile 2 kk + (j >> 1). An accumulator
     * i of n-tile nt is (row g + 8 (i >> 1), key 8 nt + 2t + (i & 1)); the A element must be (row g + 8 (j & 1),
     * key 16 kk + 8 (j >> 1) + 2t + e). */
    int p_ok = 1;
    for (uint32_t l = 0; l < 32; l++)
        for (uint32_t kk = 0; kk < 4; kk++)
            for (uint32_t j = 0; j < 4; j++)
                for (uint32_t e = 0; e < 2; e++) {
                    const uint32_t nt = 2 * kk + (j >> 1), i = 2 * (j & 1) + e;
                    const uint32_t acc_row = l / 4 + 8 * (i >> 1), acc_key = 8 * nt + 2 * (l % 4) + (i & 1);
                    p_ok &= acc_row == l / 4 + 8 * (j & 1) && acc_key == 16 * kk + 8 * (j >> 1) + 2 * (l % 4) + e;
                }
    CHECK(p_ok);

    /* Epilogue: accumulators 2h, 2h + 1 of O tile (mt, dt) are (row 16 mt + 8h + g, dims 8 dt + 2t, +1); the
     * kernel writes them as 4 bytes at swz(row, dt) + 4t of the warp's Q rows, then each lane reads chunk
     * lane % 16 of row 2i + lane / 16 and stores it at that row, dims 8 (lane % 16) .. +7. */
    static uint16_t stage[TILE_BYTES / 2];
    memset(stage, 0xff, sizeof stage);
    int ep_ok = 1, ep_banks = 1;
    for (uint32_t w = 0; w < 4; w++)
        for (uint32_t mt = 0; mt < 2; mt++)
            for (uint32_t h = 0; h < 2; h++)
                for (uint32_t dt = 0; dt < 16; dt++) {
                    int seen[32] = {0};
                    for (uint32_t l = 0; l < 32; l++) {
                        const uint32_t row = w * 32 + mt * 16 + h * 8 + l / 4, a = rad_fa2_swz(row, dt) + 4 * (l % 4);
                        seen[(a >> 2) & 31]++;
                        for (uint32_t e = 0; e < 2; e++) stage[a / 2 + e] = (uint16_t)tag(row, 8 * dt + 2 * (l % 4) + e);
                    }
                    for (int b = 0; b < 32; b++) ep_banks &= seen[b] == 1;
                }
    for (uint32_t w = 0; w < 4; w++)
        for (uint32_t i = 0; i < 16; i++) {
            for (uint32_t l = 0; l < 32; l++) {
                const uint32_t row = w * 32 + 2 * i + l / 16;
                addr[l] = rad_fa2_swz(row, l % 16);
                for (uint32_t e = 0; e < 8; e++) ep_ok &= stage[addr[l] / 2 + e] == tag(row, 8 * (l % 16) + e);
            }
            ep_banks &= phases_conflict_free(addr);
        }
    CHECK(ep_ok);
    CHECK(ep_banks);
    printf("  fragments (ldmatrix + mma layouts emulated): Q %s, K %s, V %s, P %s, epilogue %s; bank conflicts: %s\n",
           q_ok ? "ok" : "FAIL", k_ok ? "ok" : "FAIL", v_ok ? "ok" : "FAIL", p_ok ? "ok" : "FAIL", ep_ok ? "ok" : "FAIL",
           banks && ep_banks ? "none" : "FOUND");
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(uint32_t n) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (uint32_t)(rng % n);
}

static void check_tiles(void) {
    const int64_t n_keys_list[] = {1, 2, 31, 32, 33, 63, 64, 65, 100, 127, 128, 129, 192, 200, 255, 256, 300, 512, 1000, 2049, 32760};
    int ok = 1, cases = 0;
    for (size_t ni = 0; ni < sizeof n_keys_list / sizeof n_keys_list[0]; ni++) {
        const int64_t n_keys = n_keys_list[ni];
        const int32_t nkb = (int32_t)((n_keys + 127) / 128);
        uint8_t *hit = calloc((size_t)n_keys, 1);
        int32_t *cols = malloc((size_t)nkb * sizeof *cols);
        if (!hit || !cols) {
            CHECK(0);
            free(hit), free(cols);
            return;
        }
        for (int bn = 32; bn <= 64; bn *= 2)
            for (int rep = 0; rep < 20; rep++, cases++) {
                /* a random subset of the key blocks in random order (rep 0: all, in order: dense) */
                int32_t nnz = 0;
                for (int32_t b = 0; b < nkb; b++)
                    if (rep == 0 || rnd(2)) cols[nnz++] = b;
                for (int32_t i = nnz - 1; i > 0 && rep; i--) {
                    const int32_t j = (int32_t)rnd((uint32_t)i + 1), x = cols[i];
                    cols[i] = cols[j], cols[j] = x;
                }
                memset(hit, 0, (size_t)n_keys);
                const int T = nnz * (RAD_FA2_BLOCK / bn);
                for (int t = 0; t < T; t++) {
                    const int64_t key0 = rad_fa2_tile_key0(cols, 0, t, bn);
                    const int kv = rad_fa2_kvalid(key0, n_keys, bn);
                    ok &= key0 % bn == 0 && kv >= 0 && kv <= bn && key0 / 128 == cols[t / (128 / bn)];
                    ok &= (kv == 0) == (key0 >= n_keys);
                    for (int64_t k = key0; k < key0 + kv; k++) ok &= hit[k]++ == 0;
                }
                for (int32_t i = 0; i < nnz; i++)
                    for (int64_t k = (int64_t)cols[i] * 128; k < (int64_t)cols[i] * 128 + 128 && k < n_keys; k++) ok &= hit[k] == 1;
                int64_t covered = 0;
                for (int64_t k = 0; k < n_keys; k++) covered += hit[k];
                int64_t expect = 0;
                for (int32_t i = 0; i < nnz; i++) {
                    const int64_t k0 = (int64_t)cols[i] * 128, k1 = k0 + 128 < n_keys ? k0 + 128 : n_keys;
                    expect += k1 - k0;
                }
                ok &= covered == expect;
            }
        free(hit), free(cols);
    }
    CHECK(ok);
    printf("  tiles: %d random block rows, every listed key exactly once, nothing else: %s\n", cases, ok ? "ok" : "FAIL");
}

/* The kernel's ring, simulated: commit groups in order (Q, then one per prologue load and per event); a group
 * completes at the latest when wait_group lets it; each slot's content is tracked. */
static void check_ring(void) {
    int ok = 1, runs = 0;
    for (int cfg = 0; cfg < RAD_FA2_N_CFG; cfg++) {
        const int ns = rad_fa2_cfg_nslot(cfg);
        for (int T = 1; T <= 9; T++, runs++) {
            const int E = 2 * T;
            int group_of[64], issued[64], slot_load[8], consumed[64];
            for (int i = 0; i < 64; i++) group_of[i] = -1, issued[i] = 0, consumed[i] = 0;
            for (int i = 0; i < 8; i++) slot_load[i] = -1;
            int groups = 1; /* group 0: Q */
            int done = 0;   /* groups [0, done) have completed */
#define ISSUE(L)                                                                                                  \
    do {                                                                                                          \
        const int L_ = (L);                                                                                       \
        if (L_ < E) {                                                                                             \
            const int s_ = rad_fa2_slot(L_, ns);                                                                  \
            ok &= slot_load[s_] < 0 || consumed[slot_load[s_]]; /* the previous occupant was consumed */         \
            ok &= !issued[L_];                                                                                    \
            issued[L_] = 1, slot_load[s_] = L_, group_of[L_] = groups;                                            \
        }                                                                                                         \
        groups++;                                                                                                 \
    } while (0)
            for (int L = 0; L < ns - 1; L++) ISSUE(L);
            for (int c = 0; c < E; c++) {
                const int pend = rad_fa2_wait_pending(ns);
                if (groups - pend > done) done = groups - pend; /* wait_group: all but the newest pend complete */
                ok &= pend >= 0 && done >= 1;                    /* Q */
                ok &= issued[c] && group_of[c] < done;           /* this event's load has landed */
                /* __syncthreads: every warp finished event c - 1 */
                if (c > 0) consumed[c - 1] = 1;
                ISSUE(rad_fa2_issue_at(c, ns));
                ok &= slot_load[rad_fa2_slot(c, ns)] == c; /* event c computes on its load, not on the new one */
            }
#undef ISSUE
            for (int L = 0; L < E; L++) ok &= issued[L];
        }
    }
    CHECK(ok);
    printf("  ring: %d simulated runs (2..4 slots, 1..9 tiles): loads land before use, slots reused after use: %s\n", runs,
           ok ? "ok" : "FAIL");
}

static void check_configs(void) {
    /* shared memory per SM, reserved per CTA, opt-in per CTA (cudaDeviceProp) */
    struct {
        const char *card;
        size_t sm, res, optin;
        int want;
    } cards[] = {
        {"A100 (sm_80)", 167936, 1024, 166912, RAD_FA2_S2},
        {"RTX 3090 (sm_86)", 102400, 1024, 101376, RAD_FA2_N32},
        {"RTX 4090 / L40S (sm_89)", 102400, 1024, 101376, RAD_FA2_N32},
        {"H100 / H200 (sm_90)", 233472, 1024, 232448, RAD_FA2_S2},
        {"B200 (sm_100)", 233472, 1024, 232448, RAD_FA2_S2},
        {"RTX 5090 (sm_120)", 102400, 1024, 101376, RAD_FA2_N32},
        {"64 KB card (one CTA)", 65536, 1024, 65536, RAD_FA2_N32},
        {"48 KB card", 65536, 1024, 49152, -1},
    };
    int ok = 1;
    for (size_t i = 0; i < sizeof cards / sizeof cards[0]; i++) {
        const int got = rad_fa2_pick(cards[i].sm, cards[i].res, cards[i].optin);
        ok &= got == cards[i].want;
        if (got >= 0) ok &= rad_fa2_smem_bytes(got) <= cards[i].optin;
        printf("    %-24s -> %d (%s)\n", cards[i].card, got,
               got >= 0 ? (got == RAD_FA2_S4 ? "64-key tiles, 4 slots" : got == RAD_FA2_S3 ? "64-key tiles, 3 slots"
                           : got == RAD_FA2_S2 ? "64-key tiles, 2 slots" : "32-key tiles, 2 slots") : "none");
    }
    ok &= rad_fa2_smem_bytes(RAD_FA2_S4) == 32768 + 4 * 16384 + 128 && rad_fa2_smem_bytes(RAD_FA2_N32) == 32768 + 2 * 8192 + 128;
    CHECK(ok);
    printf("  configurations: %s\n", ok ? "ok" : "FAIL");
}

int main(void) {
    check_swizzle();
    check_fragments();
    check_tiles();
    check_ring();
    check_configs();
    TEST_MAIN_END();
}
