/* test_dropout.c — inverted dropout, forward and backward: the mask is the reference
 * hash bit for bit, keeps the right fraction, depends on the seed only, and backward
 * reuses it; p = 0 copies; the error paths. */
#include <math.h>

#include "ref_pool_act.h"
#include "testlib.h"

/* Fraction of nonzero outputs of dropout on n ones. */
static double keep_fraction(int64_t n, float p, uint64_t seed) {
    int64_t s[1] = {n};
    float *ones = malloc(sizeof(float) * (size_t)n);
    for (int64_t i = 0; i < n; i++) ones[i] = 1.0f;
    lunet_tensor *x = test_tensor(1, s, ones), *y = test_tensor(1, s, NULL);
    double fraction = -1.0;
    if (lunet_dropout_forward(x, y, p, seed) == LUNET_OK) {
        float *d = test_download(y);
        int64_t kept = 0;
        for (int64_t i = 0; i < n; i++) kept += d[i] != 0.0f;
        fraction = (double)kept / (double)n;
        free(d);
    } else {
        CHECK(0, "dropout_forward: %s", lunet_last_error());
    }
    free(ones);
    lunet_tensor_free(x); lunet_tensor_free(y);
    return fraction;
}

static void test_keep_fraction(void) {
    const float ps[4] = {0.1f, 0.3f, 0.5f, 0.8f};
    for (int i = 0; i < 4; i++) {
        int64_t n = ps[i] > 0.5f ? 1000000 : 100000;  /* 1% of 0.2 needs more samples */
        double f = keep_fraction(n, ps[i], 1234 + (uint64_t)i);
        double want = 1.0 - ps[i];
        CHECK(fabs(f - want) <= 0.01 * want, "p %g: kept %.4f, expected %.4f +- 1%%", ps[i], f, want);
    }
}

/* The hash's uniforms fill ten equal bins evenly (the mask is this bit for bit). */
static void test_uniform_bins(void) {
    int bins[10] = {0};
    const int n = 100000;
    for (int i = 0; i < n; i++) {
        float u = ref_dropout_uniform(99, (uint32_t)i);
        REQUIRE(u >= 0.0f && u < 1.0f, "u = %g outside [0, 1)", u);
        bins[(int)(u * 10.0f)]++;
    }
    for (int b = 0; b < 10; b++)
        CHECK(fabs(bins[b] / (double)n - 0.1) <= 0.005, "bin %d holds %d of %d", b, bins[b], n);
}

/* Forward and backward on one shape against the reference, exactly. */
static void check_dropout_config(int ndim, const int64_t *shape, float p, uint64_t seed) {
    float *hx, *hgy;
    lunet_tensor *x = test_tensor_random(ndim, shape, seed, &hx);
    lunet_tensor *gy = test_tensor_random(ndim, shape, seed + 1, &hgy);
    lunet_tensor *y = test_tensor(ndim, shape, NULL), *gx = test_tensor(ndim, shape, NULL);
    int64_t n = lunet_tensor_numel(x);
    float *ry = malloc(sizeof(float) * (size_t)n), *rgx = malloc(sizeof(float) * (size_t)n);
    ref_dropout(hx, ry, n, p, seed * 7919);
    ref_dropout(hgy, rgx, n, p, seed * 7919);
    if (lunet_dropout_forward(x, y, p, seed * 7919) == LUNET_OK &&
        lunet_dropout_backward(gy, gx, p, seed * 7919) == LUNET_OK) {
        float *dy = test_download(y), *dgx = test_download(gx);
        int64_t wrong = 0, mask_mismatch = 0;
        for (int64_t i = 0; i < n; i++) {
            wrong += dy[i] != ry[i] || dgx[i] != rgx[i];
            wrong += dy[i] != 0.0f && dy[i] != hx[i] * (1.0f / (1.0f - p));
            mask_mismatch += (dy[i] == 0.0f) != (dgx[i] == 0.0f);  /* inputs are never 0 */
        }
        CHECK(wrong == 0 && mask_mismatch == 0,
              "p %g numel %lld: %lld values differ from the reference, %lld mask mismatches",
              p, (long long)n, (long long)wrong, (long long)mask_mismatch);
        CHECK(test_rel_error(dy, ry, n) <= 1e-4, "y error");
        free(dy); free(dgx);
    } else {
        CHECK(0, "dropout failed: %s", lunet_last_error());
    }
    free(hx); free(hgy); free(ry); free(rgx);
    lunet_tensor_free(x); lunet_tensor_free(gy); lunet_tensor_free(y); lunet_tensor_free(gx);
}

static void test_random_configs(void) {
    uint64_t rng = 5;
    for (int config = 0; config < 12; config++) {
        int ndim = 1 + config % 4;
        int64_t shape[4];
        for (int d = 0; d < ndim; d++) shape[d] = test_rand_int(&rng, 1, ndim == 1 ? 5000 : 14);
        float p = (float)test_rand_int(&rng, 1, 90) / 100.0f;
        check_dropout_config(ndim, shape, p, (uint64_t)config + 1);
    }
}

/* Same seed, same mask; another seed (low or high 32 bits) gives another mask. */
static void test_mask_depends_on_seed_only(void) {
    const int64_t n = 20000;
    int64_t s[1] = {n};
    float *ones = malloc(sizeof(float) * (size_t)n);
    for (int64_t i = 0; i < n; i++) ones[i] = 1.0f;
    lunet_tensor *x = test_tensor(1, s, ones);
    const uint64_t seeds[4] = {42, 42, 43, 42 + (1ull << 32)};
    float *masks[4];
    for (int k = 0; k < 4; k++) {
        lunet_tensor *y = test_tensor(1, s, NULL);
        REQUIRE_OK(lunet_dropout_forward(x, y, 0.5f, seeds[k]));
        masks[k] = test_download(y);
        lunet_tensor_free(y);
    }
    int64_t differ[4] = {0};
    for (int k = 1; k < 4; k++)
        for (int64_t i = 0; i < n; i++) differ[k] += masks[0][i] != masks[k][i];
    CHECK(differ[1] == 0, "the same seed changed %lld mask bits", (long long)differ[1]);
    for (int k = 2; k < 4; k++)
        CHECK(differ[k] > n * 45 / 100 && differ[k] < n * 55 / 100,
              "seed %llu: %lld of %lld bits differ from seed 42, expected about half",
              (unsigned long long)seeds[k], (long long)differ[k], (long long)n);
    for (int k = 0; k < 4; k++) free(masks[k]);
    free(ones);
    lunet_tensor_free(x);
}

static void test_in_place_and_p_zero(void) {
    int64_t s[4] = {3, 2, 5, 7};
    float *hx;
    lunet_tensor *x = test_tensor_random(4, s, 77, &hx);
    lunet_tensor *y = test_tensor(4, s, NULL);
    REQUIRE_OK(lunet_dropout_forward(x, y, 0.0f, 5));
    float *copy = test_download(y);
    CHECK(memcmp(copy, hx, sizeof(float) * 210) == 0, "p = 0 must copy x");
    REQUIRE_OK(lunet_dropout_forward(x, x, 0.0f, 5));
    REQUIRE_OK(lunet_dropout_forward(x, x, 0.4f, 5));
    float ref[210];
    ref_dropout(hx, ref, 210, 0.4f, 5);
    float *d = test_download(x);
    CHECK(memcmp(d, ref, sizeof ref) == 0, "in-place dropout differs from the reference");
    free(hx); free(copy); free(d);
    lunet_tensor_free(x); lunet_tensor_free(y);
}

/* One launch per call whatever the batch size; none for backward with grad_x NULL. */
static void test_launches(void) {
    for (int n = 1; n <= 64; n *= 64) {
        int64_t s[2] = {n, 100};
        lunet_tensor *x = test_tensor(2, s, NULL), *y = test_tensor(2, s, NULL);
        lunet_stats before, after;
        lunet_context_stats(test_ctx(), &before);
        CHECK(lunet_dropout_forward(x, y, 0.5f, 1) == LUNET_OK, "%s", lunet_last_error());
        CHECK(lunet_dropout_backward(y, NULL, 0.5f, 1) == LUNET_OK, "%s", lunet_last_error());
        lunet_context_stats(test_ctx(), &after);
        CHECK(after.kernel_launches - before.kernel_launches == 1, "N=%d: %llu launches", n,
              (unsigned long long)(after.kernel_launches - before.kernel_launches));
        lunet_tensor_free(x); lunet_tensor_free(y);
    }
}

static void test_errors(void) {
    int64_t s[2] = {2, 4}, bad[2] = {4, 3};
    lunet_tensor *x = test_tensor(2, s, NULL), *y = test_tensor(2, s, NULL);
    lunet_tensor *ybad = test_tensor(2, bad, NULL);
    CHECK_FAILS(lunet_dropout_forward(x, y, -0.1f, 1), LUNET_ERR_ARGUMENT,
                "dropout: p = -0.1 must be in [0, 1)");
    CHECK_FAILS(lunet_dropout_forward(x, y, 1.0f, 1), LUNET_ERR_ARGUMENT,
                "dropout: p = 1 must be in [0, 1)");
    CHECK_FAILS(lunet_dropout_forward(x, y, NAN, 1), LUNET_ERR_ARGUMENT, "must be in [0, 1)");
    CHECK_FAILS(lunet_dropout_backward(x, y, 1.5f, 1), LUNET_ERR_ARGUMENT,
                "dropout_backward: p = 1.5 must be in [0, 1)");
    CHECK_FAILS(lunet_dropout_forward(NULL, y, 0.5f, 1), LUNET_ERR_ARGUMENT, "dropout: x is NULL");
    CHECK_FAILS(lunet_dropout_forward(x, NULL, 0.5f, 1), LUNET_ERR_ARGUMENT, "dropout: y is NULL");
    CHECK_FAILS(lunet_dropout_backward(NULL, y, 0.5f, 1), LUNET_ERR_ARGUMENT,
                "dropout_backward: grad_y is NULL");
    CHECK_FAILS(lunet_dropout_forward(x, ybad, 0.5f, 1), LUNET_ERR_SHAPE,
                "dropout: y has shape [4,3] but x has shape [2,4]");
    CHECK_FAILS(lunet_dropout_backward(x, ybad, 0.5f, 1), LUNET_ERR_SHAPE,
                "dropout_backward: grad_x has shape [4,3] but grad_y has shape [2,4]");
    lunet_tensor_free(x); lunet_tensor_free(y); lunet_tensor_free(ybad);
}

int main(void) {
    TEST_BEGIN();
    RUN(test_uniform_bins);
    RUN(test_keep_fraction);
    RUN(test_random_configs);
    RUN(test_mask_depends_on_seed_only);
    RUN(test_in_place_and_p_zero);
    RUN(test_launches);
    RUN(test_errors);
    return TEST_END();
}
