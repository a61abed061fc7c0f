/* test_gemm.c — GEMM against the plain-C reference: both kernel variants (register
 * blocks and local-memory tiles, forced through lunet__gemm_variant), all four
 * transpositions, odd and edge sizes, element offsets, alpha/beta (beta == 0 ignores
 * NaN in C), every block and tile size the tuning store allows (so whatever
 * scripts/tune.lua picks has been checked here), split-K for few tiles and a long depth,
 * the store choosing the variant, the public lunet_gemm on tensors, and its error paths. */
#include <math.h>

#include "ops/gemm.h"
#include "ref_dense.h"
#include "testlib.h"

typedef struct gemm_case {
    int m, n, k;
} gemm_case;

/* Sizes around the register block (4x8) and the tile (64x64x16) edges. */
static const gemm_case EDGE_CASES[] = {
    {1, 1, 1},   {1, 37, 1},  {37, 1, 5},  {4, 8, 16},   {5, 9, 17},
    {3, 7, 2},   {64, 64, 16}, {65, 63, 17}, {130, 70, 200}, {7, 129, 3},
};

static float *host_random(int64_t n, uint64_t seed) {
    float *v = malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
    test_fill_random(v, n, seed);
    return v;
}

/* One GEMM on the device with random offsets, compared with ref_gemm; the elements of C
 * before its offset must stay untouched. */
static void check_one(lunet__gemm_kind kind, int ta, int tb, gemm_case g, float alpha, float beta,
                      uint64_t seed) {
    int oa = (int)(seed % 5), ob = (int)(seed % 3), oc = (int)(seed % 4);
    int64_t na = oa + (int64_t)g.m * g.k, nb = ob + (int64_t)g.k * g.n, nc = oc + (int64_t)g.m * g.n;
    float *a = host_random(na, seed), *b = host_random(nb, seed + 1), *c = host_random(nc, seed + 2);
    if (beta == 0.0f)   /* beta == 0 must not read C: NaN there must not leak out */
        for (int64_t i = oc; i < nc; i++) c[i] = NAN;
    lunet_tensor *ta_t = test_tensor(1, (int64_t[]){na > 0 ? na : 1}, na > 0 ? a : NULL);
    lunet_tensor *tb_t = test_tensor(1, (int64_t[]){nb > 0 ? nb : 1}, nb > 0 ? b : NULL);
    lunet_tensor *tc_t = test_tensor(1, (int64_t[]){nc}, c);
    lunet_status st = lunet__gemm_variant(test_ctx(), kind, ta, tb, g.m, g.n, g.k, alpha,
                                          lunet__mem(ta_t), (size_t)oa, lunet__mem(tb_t),
                                          (size_t)ob, beta, lunet__mem(tc_t), (size_t)oc);
    CHECK(st == LUNET_OK, "gemm failed: %s", lunet_last_error());
    float *got = test_download(tc_t);
    float *want = malloc((size_t)nc * sizeof(float));
    memcpy(want, c, (size_t)nc * sizeof(float));
    ref_gemm(ta, tb, g.m, g.n, g.k, alpha, a + oa, b + ob, beta, want + oc);
    double err = test_rel_error(got + oc, want + oc, (int64_t)g.m * g.n);
    CHECK(err <= 1e-4, "variant %d trans %d%d m=%d n=%d k=%d alpha=%g beta=%g: rel err %g", kind,
          ta, tb, g.m, g.n, g.k, (double)alpha, (double)beta, err);
    CHECK(memcmp(got, c, (size_t)oc * sizeof(float)) == 0, "elements before c_offset changed");
    free(a), free(b), free(c), free(got), free(want);
    lunet_tensor_free(ta_t), lunet_tensor_free(tb_t), lunet_tensor_free(tc_t);
}

/* The edge cases and `random` random sizes, for the transpositions t (ta = t >> 1,
 * tb = t & 1) whose bit is set in `trans_mask`. */
static void check_cases_for(lunet__gemm_kind kind, unsigned trans_mask, int random) {
    uint64_t s = 1234 + (uint64_t)kind;
    const float alphas[] = {1.0f, -0.5f, 2.0f}, betas[] = {0.0f, 1.0f, 0.75f};
    int count = (int)(sizeof EDGE_CASES / sizeof EDGE_CASES[0]);
    for (int i = 0; i < count + random; i++) {
        gemm_case g = i < count ? EDGE_CASES[i]
                                : (gemm_case){test_rand_int(&s, 1, 100), test_rand_int(&s, 1, 100),
                                              test_rand_int(&s, 1, 100)};
        for (int t = 0; t < 4; t++)
            if (trans_mask & (1u << t))
                check_one(kind, t >> 1, t & 1, g, alphas[(i + t) % 3], betas[(i + 2 * t) % 3],
                          (uint64_t)(i * 4 + t + 1));
    }
}

static void check_cases(lunet__gemm_kind kind) { check_cases_for(kind, 0xf, 12); }

static void test_gemm_reg_variant(void) { check_cases(LUNET__GEMM_REG); }
static void test_gemm_tiled_variant(void) { check_cases(LUNET__GEMM_TILED); }

/* ---- every value the tuning store allows ---- */

enum { NN = 1, NT = 2, TN = 4, TT = 8 };


/* Whether ctx has built kernel `name` with options containing `needle`. */
static bool built_with(const char *name, const char *needle) {
    lunet_context *ctx = test_ctx();
    for (int i = 0; i < ctx->n_kernels; i++)
        if (strcmp(ctx->kernels[i].name, name) == 0 && strstr(ctx->kernels[i].options, needle))
            return true;
    return false;
}

/* Products of 2^24 multiply-adds and more run on packed panels of op(B) (gemm_pack_b_*,
 * gemm_packed_*); this shape has partial blocks (67 rows, 515 columns). */
static const gemm_case PACKED_CASE = {67, 515, 491};   /* 16.9M multiply-adds */

/* gemm_reg_nn/tn/tt and the packed kernels read only gemm.rm and gemm.rn: every pair of
 * them (the dot block at its default). */
static void test_gemm_reg_blocks(void) {
    char rms[TEST_MAX_ALLOWED][16], rns[TEST_MAX_ALLOWED][16], opt[96];
    int n_rm = test_allowed_values("gemm.rm", rms), n_rn = test_allowed_values("gemm.rn", rns);
    for (int i = 0; i < n_rm; i++)
        for (int j = 0; j < n_rn; j++) {
            REQUIRE_OK(lunet_tuning_set(test_ctx(), "gemm.rm", rms[i]));
            REQUIRE_OK(lunet_tuning_set(test_ctx(), "gemm.rn", rns[j]));
            check_cases_for(LUNET__GEMM_REG, NN | TN | TT, 2);
            check_one(LUNET__GEMM_REG, 0, 0, PACKED_CASE, 1.0f, 0.0f, 50 + (uint64_t)(i * 8 + j));
            snprintf(opt, sizeof opt, "-DRM=%.15s -DRN=%.15s ", rms[i], rns[j]);
            CHECK(built_with("gemm_reg_tn", opt), "gemm_reg_tn not built with %s", opt);
            CHECK(built_with("gemm_packed_n", opt), "gemm_packed_n not built with %s", opt);
        }
    REQUIRE_OK(lunet_tuning_reset(test_ctx()));
}

/* The packed path in all four transpositions, at the default blocks. */
static void test_gemm_packed(void) {
    for (int t = 0; t < 4; t++)
        check_one(LUNET__GEMM_REG, t >> 1, t & 1, PACKED_CASE, 0.5f, t % 2 ? 0.0f : 1.0f,
                  40 + (uint64_t)t);
    CHECK(built_with("gemm_packed_n", "") && built_with("gemm_packed_t", "") &&
              built_with("gemm_pack_b_n", "") && built_with("gemm_pack_b_t", ""),
          "the packed kernels did not run");
}

/* gemm_reg_nt reads only gemm.dm, gemm.dn and gemm.dv: every triple of them. */
static void test_gemm_dot_blocks(void) {
    char dms[TEST_MAX_ALLOWED][16], dns[TEST_MAX_ALLOWED][16], dvs[TEST_MAX_ALLOWED][16], opt[96];
    int n_dm = test_allowed_values("gemm.dm", dms), n_dn = test_allowed_values("gemm.dn", dns);
    int n_dv = test_allowed_values("gemm.dv", dvs);
    for (int i = 0; i < n_dm; i++)
        for (int j = 0; j < n_dn; j++)
            for (int v = 0; v < n_dv; v++) {
                REQUIRE_OK(lunet_tuning_set(test_ctx(), "gemm.dm", dms[i]));
                REQUIRE_OK(lunet_tuning_set(test_ctx(), "gemm.dn", dns[j]));
                REQUIRE_OK(lunet_tuning_set(test_ctx(), "gemm.dv", dvs[v]));
                check_cases_for(LUNET__GEMM_REG, NT, 2);
                snprintf(opt, sizeof opt, "-DDM=%.15s -DDN=%.15s -DDV=%.15s", dms[i], dns[j], dvs[v]);
                CHECK(built_with("gemm_reg_nt", opt), "gemm_reg_nt not built with %s", opt);
            }
    REQUIRE_OK(lunet_tuning_reset(test_ctx()));
}

/* The tiled kernels for every tile size (on PoCL every tile fits the work-group limit, so
 * each is the one that runs). */
static void test_gemm_tiles(void) {
    char tiles[TEST_MAX_ALLOWED][16], opt[96];
    int n = test_allowed_values("gemm.tile", tiles);
    for (int i = 0; i < n; i++) {
        REQUIRE_OK(lunet_tuning_set(test_ctx(), "gemm.tile", tiles[i]));
        check_cases_for(LUNET__GEMM_TILED, NN | NT | TN | TT, 2);
        snprintf(opt, sizeof opt, "-DTSM=%.15s ", tiles[i]);
        int tile = atoi(tiles[i]);
        if ((size_t)(tile / 4) * (size_t)(tile / 4) <= test_ctx()->max_work_group_size)
            CHECK(built_with("gemm_tiled_nt", opt), "gemm_tiled_nt not built with %s", opt);
    }
    REQUIRE_OK(lunet_tuning_reset(test_ctx()));
}

/* Split-K (gemm_tiled_split_*, gemm_sum_partials): products with fewer output tiles than
 * the device has compute units and a long depth, for every tile size, in all four
 * transpositions, with depths that do not divide into the chunks evenly. */
static void test_gemm_split_k(void) {
    static const gemm_case SPLIT_CASES[] = {{3, 4, 700}, {6, 25, 5000}, {64, 64, 300}, {1, 1, 257}};
    char tiles[TEST_MAX_ALLOWED][16];
    int n = test_allowed_values("gemm.tile", tiles);
    for (int i = 0; i < n; i++) {
        REQUIRE_OK(lunet_tuning_set(test_ctx(), "gemm.tile", tiles[i]));
        for (size_t c = 0; c < sizeof SPLIT_CASES / sizeof SPLIT_CASES[0]; c++)
            for (int t = 0; t < 4; t++)
                check_one(LUNET__GEMM_TILED, t >> 1, t & 1, SPLIT_CASES[c], t % 2 ? 1.0f : -0.5f,
                          (t + (int)c) % 3 == 0 ? 0.0f : 0.75f, 60 + (uint64_t)(i * 16 + c * 4 + t));
    }
    REQUIRE_OK(lunet_tuning_reset(test_ctx()));
    if (test_ctx()->info.compute_units >= 2)
        CHECK(built_with("gemm_tiled_split_nt", "") && built_with("gemm_tiled_split_tn", "") &&
                  built_with("gemm_sum_partials", ""),
              "the split-K kernels did not run");
}

/* lunet__gemm_reduce (the weight gradients of conv and linear, whose depth is the batch):
 * right at any depth, and with the tiled variant always the split path (two launches), so
 * that a training step launches as many kernels at any batch size. */
static void test_gemm_reduce(void) {
    static const int depths[] = {8, 64, 300, 5000};
    static const char *const variants[] = {"tiled", "reg"};
    for (int v = 0; v < 2; v++) {
        REQUIRE_OK(lunet_tuning_set(test_ctx(), "gemm.variant", variants[v]));
        uint64_t counts[4];
        for (int d = 0; d < 4; d++) {
            gemm_case g = {6, 25, depths[d]};
            int64_t na = (int64_t)g.m * g.k, nb = (int64_t)g.k * g.n, nc = (int64_t)g.m * g.n;
            float *a = host_random(na, 70 + d), *b = host_random(nb, 80 + d), *c = host_random(nc, 90 + d);
            lunet_tensor *ta = test_tensor(1, (int64_t[]){na}, a), *tb = test_tensor(1, (int64_t[]){nb}, b);
            lunet_tensor *tc = test_tensor(1, (int64_t[]){nc}, c);
            uint64_t before = test_kernel_launches();
            REQUIRE_OK(lunet__gemm_reduce(test_ctx(), 0, 1, g.m, g.n, g.k, 0.5f, lunet__mem(ta), 0,
                                          lunet__mem(tb), 0, 1.0f, lunet__mem(tc), 0));
            counts[d] = test_kernel_launches() - before;
            float *got = test_download(tc);
            ref_gemm(0, 1, g.m, g.n, g.k, 0.5f, a, b, 1.0f, c);
            double err = test_rel_error(got, c, nc);
            CHECK(err <= 1e-4, "%s k=%d: rel err %g", variants[v], g.k, err);
            free(a), free(b), free(c), free(got);
            lunet_tensor_free(ta), lunet_tensor_free(tb), lunet_tensor_free(tc);
        }
        uint64_t want = v == 0 ? 2 : 1;
        for (int d = 0; d < 4; d++)
            CHECK(counts[d] == want, "%s k=%d: %llu launches, not %llu", variants[v], depths[d],
                  (unsigned long long)counts[d], (unsigned long long)want);
    }
    REQUIRE_OK(lunet_tuning_reset(test_ctx()));
}

/* LUNET__GEMM_AUTO (what conv and linear use) runs the variant gemm.variant names. */
static void test_gemm_variant_from_store(void) {
    lunet_context *ctx = NULL;   /* a fresh context: no kernels built yet */
    REQUIRE_OK(lunet_context_create(NULL, &ctx));
    lunet_tensor *a = NULL, *b = NULL, *c = NULL;
    REQUIRE_OK(lunet_tensor_create(ctx, 1, (int64_t[]){12}, &a));
    REQUIRE_OK(lunet_tensor_create(ctx, 1, (int64_t[]){12}, &b));
    REQUIRE_OK(lunet_tensor_create(ctx, 1, (int64_t[]){9}, &c));
    const char *variants[] = {"tiled", "reg"}, *kernels[] = {"gemm_tiled_tn", "gemm_reg_tn"};
    for (int v = 0; v < 2; v++) {
        REQUIRE_OK(lunet_tuning_set(ctx, "gemm.variant", variants[v]));
        REQUIRE_OK(lunet__gemm(ctx, 1, 0, 3, 3, 4, 1.0f, lunet__mem(a), 0, lunet__mem(b), 0,
                               0.0f, lunet__mem(c), 0));
        bool found = false;
        for (int i = 0; i < ctx->n_kernels; i++) found |= strcmp(ctx->kernels[i].name, kernels[v]) == 0;
        CHECK(found, "gemm.variant = %s did not run %s", variants[v], kernels[v]);
    }
    lunet_tensor_free(a), lunet_tensor_free(b), lunet_tensor_free(c);
    lunet_context_destroy(ctx);
}
static void test_gemm_auto_variant(void) {
    check_one(LUNET__GEMM_AUTO, 0, 1, (gemm_case){33, 17, 65}, 1.0f, 0.0f, 7);
    check_one(LUNET__GEMM_AUTO, 1, 0, (gemm_case){9, 70, 5}, 1.0f, 1.0f, 8);
}

/* k == 0: the product is empty, so C = beta * C. */
static void test_gemm_empty_k(void) {
    check_one(LUNET__GEMM_REG, 0, 0, (gemm_case){5, 6, 0}, 1.0f, 0.5f, 3);
    check_one(LUNET__GEMM_TILED, 1, 1, (gemm_case){5, 6, 0}, 1.0f, 0.0f, 4);
}

/* lunet_gemm reads tensors of any shape as flat row-major matrices. */
static void test_gemm_public(void) {
    float *a, *b;
    lunet_tensor *ta = test_tensor_random(3, (int64_t[]){2, 3, 4}, 21, &a);  /* 6x4 */
    lunet_tensor *tb = test_tensor_random(2, (int64_t[]){4, 5}, 22, &b);
    lunet_tensor *tc = test_tensor(4, (int64_t[]){1, 2, 3, 5}, NULL);         /* 6x5 */
    REQUIRE_OK(lunet_tensor_fill(tc, NAN));
    REQUIRE_OK(lunet_gemm(0, 0, 6, 5, 4, 1.5f, ta, tb, 0.0f, tc));
    float want[30];
    ref_gemm(0, 0, 6, 5, 4, 1.5f, a, b, 0.0f, want);
    float *got = test_download(tc);
    CHECK(test_rel_error(got, want, 30) <= 1e-4, "lunet_gemm NN: rel err %g",
          test_rel_error(got, want, 30));
    /* beta = 1 accumulates: C += A B once more gives 2x. */
    REQUIRE_OK(lunet_gemm(0, 0, 6, 5, 4, 1.5f, ta, tb, 1.0f, tc));
    for (int i = 0; i < 30; i++) want[i] *= 2.0f;
    free(got);
    got = test_download(tc);
    CHECK(test_rel_error(got, want, 30) <= 1e-4, "lunet_gemm beta=1: rel err %g",
          test_rel_error(got, want, 30));
    /* m == 0 is an empty product: nothing to do, no error. */
    REQUIRE_OK(lunet_gemm(0, 0, 0, 5, 4, 1.0f, ta, tb, 0.0f, tc));
    free(a), free(b), free(got);
    lunet_tensor_free(ta), lunet_tensor_free(tb), lunet_tensor_free(tc);
}

static void test_gemm_errors(void) {
    lunet_tensor *a = test_tensor(2, (int64_t[]){6, 4}, NULL);
    lunet_tensor *b = test_tensor(2, (int64_t[]){4, 5}, NULL);
    lunet_tensor *c = test_tensor(2, (int64_t[]){6, 5}, NULL);
    CHECK_FAILS(lunet_gemm(0, 0, 6, 5, 4, 1, NULL, b, 0, c), LUNET_ERR_ARGUMENT, "gemm: a is NULL");
    CHECK_FAILS(lunet_gemm(0, 0, 6, 5, 4, 1, a, NULL, 0, c), LUNET_ERR_ARGUMENT, "gemm: b is NULL");
    CHECK_FAILS(lunet_gemm(0, 0, 6, 5, 4, 1, a, b, 0, NULL), LUNET_ERR_ARGUMENT, "gemm: c is NULL");
    CHECK_FAILS(lunet_gemm(0, 0, -1, 5, 4, 1, a, b, 0, c), LUNET_ERR_ARGUMENT,
                "m=-1 n=5 k=4 must not be negative");
    CHECK_FAILS(lunet_gemm(0, 0, 7, 5, 4, 1, a, b, 0, c), LUNET_ERR_SHAPE,
                "gemm: a has shape [6,4] (24 elements) but m*k = 7x4 needs 28");
    REQUIRE_OK(lunet_gemm(0, 1, 6, 5, 4, 1, a, b, 0, c));   /* b read as [5,4]: same numel */
    CHECK_FAILS(lunet_gemm(0, 0, 6, 6, 4, 1, a, b, 0, c), LUNET_ERR_SHAPE,
                "gemm: b has shape [4,5] (20 elements) but k*n = 4x6 needs 24");
    CHECK_FAILS(lunet_gemm(0, 0, 6, 4, 4, 1, a, b, 0, a), LUNET_ERR_ARGUMENT,
                "gemm: c shares storage with a");
    lunet_context *other = NULL;
    REQUIRE_OK(lunet_context_create(NULL, &other));
    lunet_tensor *c2 = NULL;
    REQUIRE_OK(lunet_tensor_create(other, 2, (int64_t[]){6, 5}, &c2));
    CHECK_FAILS(lunet_gemm(0, 0, 6, 5, 4, 1, a, b, 0, c2), LUNET_ERR_ARGUMENT,
                "gemm: tensors belong to different contexts");
    lunet_tensor_free(c2);
    lunet_context_destroy(other);
    lunet_tensor_free(a), lunet_tensor_free(b), lunet_tensor_free(c);
}

int main(void) {
    TEST_BEGIN();
    RUN(test_gemm_reg_variant);
    RUN(test_gemm_tiled_variant);
    RUN(test_gemm_reg_blocks);
    RUN(test_gemm_packed);
    RUN(test_gemm_dot_blocks);
    RUN(test_gemm_tiles);
    RUN(test_gemm_split_k);
    RUN(test_gemm_reduce);
    RUN(test_gemm_variant_from_store);
    RUN(test_gemm_auto_variant);
    RUN(test_gemm_empty_k);
    RUN(test_gemm_public);
    RUN(test_gemm_errors);
    return TEST_END();
}
