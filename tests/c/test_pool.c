/* test_pool.c — max and average pooling (2-D and 1-D), forward and backward, against the
 * plain-C reference in ref_pool_act.c, the DESIGN worked examples, and the error paths. */
#include <math.h>
#include <string.h>

#include "ref_pool_act.h"
#include "testlib.h"

/* The 5x5 input of the DESIGN worked examples. */
static const float worked_input[25] = {3, 3, 2, 1, 0, 0, 0, 1, 3, 1, 3, 1, 2,
                                       2, 3, 2, 0, 0, 2, 2, 2, 0, 0, 0, 1};

static lunet_pool_params params2d(lunet_pool_mode mode, int kh, int kw, int sh, int sw, int ph,
                                  int pw) {
    lunet_pool_params p = {mode, kh, kw, sh, sw, ph, pw};
    return p;
}

/* Pools the worked input with a 3x3 window, stride 1, and downloads the 3x3 result. */
static float *pool_worked_example(lunet_pool_mode mode) {
    int64_t xs[4] = {1, 1, 5, 5}, ys[4] = {1, 1, 3, 3};
    lunet_tensor *x = test_tensor(4, xs, worked_input), *y = test_tensor(4, ys, NULL);
    lunet_pool_params p = params2d(mode, 3, 3, 1, 1, 0, 0);
    float *out = NULL;
    if (lunet_pool2d_forward(x, y, &p) == LUNET_OK) out = test_download(y);
    else CHECK(0, "pool2d_forward: %s", lunet_last_error());
    lunet_tensor_free(x);
    lunet_tensor_free(y);
    return out;
}

static void test_worked_example_max(void) {
    const float expected[9] = {3, 3, 3, 3, 3, 3, 3, 2, 3};
    float *y = pool_worked_example(LUNET_POOL_MAX);
    REQUIRE(y, "no output");
    for (int i = 0; i < 9; i++) CHECK(y[i] == expected[i], "y[%d] = %g, expected %g", i, y[i], expected[i]);
    free(y);
}

static void test_worked_example_avg(void) {
    const float rounded[9] = {1.7f, 1.7f, 1.7f, 1.0f, 1.2f, 1.8f, 1.1f, 0.8f, 1.3f};
    const int sums[9] = {15, 15, 15, 9, 11, 16, 10, 7, 12};
    float *y = pool_worked_example(LUNET_POOL_AVG);
    REQUIRE(y, "no output");
    for (int i = 0; i < 9; i++) {
        double one_decimal = round(y[i] * 10.0) / 10.0;
        CHECK(fabs(one_decimal - rounded[i]) < 1e-6, "y[%d] = %g rounds to %.1f, expected %.1f",
              i, y[i], one_decimal, rounded[i]);
        CHECK(fabs(y[i] - sums[i] / 9.0) < 1e-6, "y[%d] = %.7f, expected %d/9", i, y[i], sums[i]);
    }
    free(y);
}

/* Runs forward and backward for one geometry (2-D when dims == 2, else 1-D) and
 * compares with the reference; grad_x starts as garbage to show it is overwritten, and
 * backward runs twice to show it does not accumulate. */
static void check_pool_config(const ref_pool *g, int dims, uint64_t seed) {
    int oh = ref_pool_out(g->h, g->kh, g->sh, g->ph), ow = ref_pool_out(g->w, g->kw, g->sw, g->pw);
    int64_t xs[4] = {g->n, g->c, g->h, g->w}, ys[4] = {g->n, g->c, oh, ow};
    int nd = dims == 2 ? 4 : 3;
    if (dims == 1) { xs[2] = g->w; ys[2] = ow; }
    int64_t nx = (int64_t)g->n * g->c * g->h * g->w, ny = (int64_t)g->n * g->c * oh * ow;
    float *hx, *hgy;
    lunet_tensor *x = test_tensor_random(nd, xs, seed, &hx);
    lunet_tensor *gy = test_tensor_random(nd, ys, seed + 1, &hgy);
    lunet_tensor *y = test_tensor(nd, ys, NULL), *gx = test_tensor_random(nd, xs, seed + 2, NULL);
    lunet_pool_params p = params2d(g->is_max ? LUNET_POOL_MAX : LUNET_POOL_AVG, g->kh, g->kw,
                                   g->sh, g->sw, g->ph, g->pw);
    lunet_status (*fwd)(const lunet_tensor *, lunet_tensor *, const lunet_pool_params *) =
        dims == 2 ? lunet_pool2d_forward : lunet_pool1d_forward;
    lunet_status (*bwd)(const lunet_tensor *, const lunet_tensor *, lunet_tensor *,
                        const lunet_pool_params *) =
        dims == 2 ? lunet_pool2d_backward : lunet_pool1d_backward;
    float *ry = malloc(sizeof(float) * (size_t)ny), *rgx = malloc(sizeof(float) * (size_t)nx);
    ref_pool_forward(g, hx, ry);
    ref_pool_backward(g, hx, hgy, rgx);
    if (fwd(x, y, &p) == LUNET_OK && bwd(x, gy, gx, &p) == LUNET_OK && bwd(x, gy, gx, &p) == LUNET_OK) {
        float *dy = test_download(y), *dgx = test_download(gx);
        double ey = test_rel_error(dy, ry, ny), egx = test_rel_error(dgx, rgx, nx);
        CHECK(ey <= 1e-4 && egx <= 1e-4,
              "%s %dd x [%d,%d,%d,%d] k %dx%d s %dx%d p %dx%d: y error %g, grad_x error %g",
              g->is_max ? "max" : "avg", dims, g->n, g->c, g->h, g->w, g->kh, g->kw, g->sh,
              g->sw, g->ph, g->pw, ey, egx);
        free(dy);
        free(dgx);
    } else {
        CHECK(0, "pool call failed: %s", lunet_last_error());
    }
    free(hx); free(hgy); free(ry); free(rgx);
    lunet_tensor_free(x); lunet_tensor_free(gy); lunet_tensor_free(y); lunet_tensor_free(gx);
}

/* A random geometry whose window fits the padded input; config 0 is fixed so that every
 * run covers batch > 1, C > 1, a non-square window, stride != kernel and padding. */
static ref_pool random_geometry(uint64_t *rng, int config, int dims, int is_max) {
    ref_pool g = {2, 3, 7, 9, 3, 2, 2, 1, 1, 1, is_max};
    if (dims == 1) { g.h = 1; g.kh = 1; g.sh = 1; g.ph = 0; g.kw = 3; g.sw = 2; }
    if (config == 0) return g;
    g.n = test_rand_int(rng, 1, 4);
    g.c = test_rand_int(rng, 1, 3);
    g.kw = test_rand_int(rng, 1, 5);
    g.sw = test_rand_int(rng, 1, 3);
    g.pw = test_rand_int(rng, 0, g.kw / 2);
    g.w = test_rand_int(rng, g.kw - 2 * g.pw > 1 ? g.kw - 2 * g.pw : 1, 14);
    if (dims == 2) {
        g.kh = test_rand_int(rng, 1, 5);
        g.sh = test_rand_int(rng, 1, 3);
        g.ph = test_rand_int(rng, 0, g.kh / 2);
        g.h = test_rand_int(rng, g.kh - 2 * g.ph > 1 ? g.kh - 2 * g.ph : 1, 14);
    }
    return g;
}

static void check_random_configs(int dims, int is_max, uint64_t seed) {
    uint64_t rng = seed;
    for (int config = 0; config < 16; config++) {
        ref_pool g = random_geometry(&rng, config, dims, is_max);
        check_pool_config(&g, dims, seed * 100 + (uint64_t)config);
    }
}

static void test_max_pool2d_random(void) { check_random_configs(2, 1, 11); }
static void test_avg_pool2d_random(void) { check_random_configs(2, 0, 12); }
static void test_max_pool1d_random(void) { check_random_configs(1, 1, 13); }
static void test_avg_pool1d_random(void) { check_random_configs(1, 0, 14); }

/* LeNet's pooling: 2x2 windows, stride 2, over a batch of 6-channel 28x28 maps. */
static void test_lenet_pool(void) {
    ref_pool g = {4, 6, 28, 28, 2, 2, 2, 2, 0, 0, 1};
    check_pool_config(&g, 2, 21);
    g.is_max = 0;
    check_pool_config(&g, 2, 22);
}

/* Windows that tile the input exactly take a faster backward path: non-square ones too,
 * and a size that leaves a remainder falls back to the general path. */
static void test_tiling_windows(void) {
    const int shapes[][4] = {{3, 2, 9, 8}, {1, 3, 6, 9}, {2, 2, 7, 8}};   /* kh, kw, h, w */
    for (int s = 0; s < 3; s++) {
        for (int is_max = 0; is_max <= 1; is_max++) {
            ref_pool g = {2, 3, shapes[s][2], shapes[s][3], shapes[s][0], shapes[s][1],
                          shapes[s][0], shapes[s][1], 0, 0, is_max};
            check_pool_config(&g, 2, 30 + s * 2 + is_max);
        }
    }
}

/* One geometry in both modes; dims 1 ignores h, kh, sh, ph. */
static void check_both_modes(int dims, int n, int c, int h, int w, int kh, int kw, int sh, int sw,
                             int ph, int pw, uint64_t seed) {
    for (int is_max = 0; is_max <= 1; is_max++) {
        ref_pool g = {n, c, h, w, kh, kw, sh, sw, ph, pw, is_max};
        if (dims == 1) { g.h = 1; g.kh = 1; g.sh = 1; g.ph = 0; }
        check_pool_config(&g, dims, seed + (uint64_t)is_max);
    }
}

/* 2x2 windows, stride 2 (1-D: 2, stride 2) take the float4 kernels: rows whose output
 * count is or is not a multiple of 4, odd sizes (a last row or column in no window), and
 * rows longer than one work item's run of 64 outputs. */
static void test_pair_windows(void) {
    const int shapes[][2] = {{2, 2}, {3, 3}, {5, 9}, {8, 30}, {7, 31}, {4, 300}, {9, 133}};
    for (int s = 0; s < 7; s++)
        check_both_modes(2, s < 5 ? 2 : 1, 3, shapes[s][0], shapes[s][1], 2, 2, 2, 2, 0, 0,
                         40 + (uint64_t)s * 2);
    const int lengths[] = {2, 3, 9, 16, 17, 301};
    for (int s = 0; s < 6; s++) check_both_modes(1, 2, 3, 1, lengths[s], 1, 2, 1, 2, 0, 0, 60 + (uint64_t)s * 2);
}

/* Stride >= window in both directions: each input cell is in at most one window (the
 * block backward), with padding, gaps between windows and uncovered edges. */
static void test_disjoint_windows(void) {
    const int geo[][8] = {  /* h, w, kh, kw, sh, sw, ph, pw */
        {10, 11, 3, 3, 3, 3, 1, 1}, {8, 9, 2, 2, 3, 3, 0, 0}, {7, 7, 1, 1, 2, 2, 0, 0},
        {13, 9, 3, 2, 4, 2, 1, 1}, {7, 8, 2, 2, 2, 2, 1, 1}, {9, 10, 4, 4, 4, 4, 2, 2},
        {5, 200, 2, 3, 2, 3, 0, 1}};
    for (int s = 0; s < 7; s++)
        check_both_modes(2, 2, 2, geo[s][0], geo[s][1], geo[s][2], geo[s][3], geo[s][4],
                         geo[s][5], geo[s][6], geo[s][7], 80 + (uint64_t)s * 2);
    check_both_modes(1, 2, 3, 1, 20, 1, 3, 1, 3, 0, 1, 100);
    check_both_modes(1, 2, 3, 1, 23, 1, 2, 1, 5, 0, 1, 102);
    check_both_modes(1, 1, 2, 1, 500, 1, 3, 1, 4, 0, 0, 104);
}

/* Overlapping windows (the gathers, and the four-windows-at-once interior): rows longer
 * than a run of 64 cells, strides 1 and 2, windows that overlap in one direction only. */
static void test_overlapping_windows(void) {
    const int geo[][8] = {
        {5, 150, 3, 3, 1, 1, 1, 1}, {6, 141, 3, 3, 2, 2, 1, 1}, {9, 70, 5, 5, 2, 2, 2, 2},
        {3, 67, 2, 2, 1, 1, 0, 0}, {8, 40, 2, 3, 3, 1, 0, 1}, {30, 6, 3, 1, 1, 2, 1, 0},
        {7, 9, 5, 4, 1, 3, 2, 2}};
    for (int s = 0; s < 7; s++)
        check_both_modes(2, 2, 2, geo[s][0], geo[s][1], geo[s][2], geo[s][3], geo[s][4],
                         geo[s][5], geo[s][6], geo[s][7], 120 + (uint64_t)s * 2);
    check_both_modes(1, 2, 3, 1, 300, 1, 3, 1, 1, 0, 1, 140);
    check_both_modes(1, 2, 3, 1, 200, 1, 4, 1, 3, 0, 2, 142);
    check_both_modes(1, 1, 1, 1, 1000, 1, 5, 1, 2, 0, 0, 144);
}

/* Max pooling bit for bit against the reference on inputs full of ties, NaNs and signed
 * zeros: the first largest cell in row-major order wins, a NaN only as a window's first
 * cell, and +0 / -0 are ties. Covers every max kernel (pairs, blocks, overlapping). */
static void test_max_exact_on_ties_nan_zeros(void) {
    const float palette[6] = {NAN, -0.0f, 0.0f, 1.0f, -1.0f, 2.0f};
    const int geo[][9] = {  /* dims, h, w, kh, kw, sh, sw, ph, pw */
        {2, 6, 10, 2, 2, 2, 2, 0, 0}, {2, 7, 19, 2, 2, 2, 2, 0, 0}, {1, 1, 21, 1, 2, 1, 2, 0, 0},
        {2, 6, 14, 3, 3, 1, 1, 1, 1}, {2, 9, 23, 3, 3, 2, 2, 1, 1}, {2, 10, 11, 3, 3, 3, 3, 1, 1},
        {1, 1, 40, 1, 3, 1, 1, 0, 1}};
    uint64_t rng = 7;
    for (int s = 0; s < 7; s++) {
        const int *q = geo[s];
        ref_pool g = {2, 3, q[1], q[2], q[3], q[4], q[5], q[6], q[7], q[8], 1};
        int oh = ref_pool_out(g.h, g.kh, g.sh, g.ph), ow = ref_pool_out(g.w, g.kw, g.sw, g.pw);
        int nd = q[0] == 2 ? 4 : 3;
        int64_t xs[4] = {g.n, g.c, g.h, g.w}, ys[4] = {g.n, g.c, oh, ow};
        if (nd == 3) { xs[2] = g.w; ys[2] = ow; }
        int64_t nx = (int64_t)g.n * g.c * g.h * g.w, ny = (int64_t)g.n * g.c * oh * ow;
        float *hx = malloc(sizeof(float) * (size_t)nx), *hgy;
        for (int64_t i = 0; i < nx; i++) hx[i] = palette[test_rand_int(&rng, 0, 5)];
        lunet_tensor *x = test_tensor(nd, xs, hx), *gy = test_tensor_random(nd, ys, 150 + (uint64_t)s, &hgy);
        lunet_tensor *y = test_tensor(nd, ys, NULL), *gx = test_tensor(nd, xs, NULL);
        float *ry = malloc(sizeof(float) * (size_t)ny), *rgx = malloc(sizeof(float) * (size_t)nx);
        ref_pool_forward(&g, hx, ry);
        ref_pool_backward(&g, hx, hgy, rgx);
        lunet_pool_params p = params2d(LUNET_POOL_MAX, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw);
        lunet_status st = nd == 4 ? lunet_pool2d_forward(x, y, &p) : lunet_pool1d_forward(x, y, &p);
        if (st == LUNET_OK)
            st = nd == 4 ? lunet_pool2d_backward(x, gy, gx, &p) : lunet_pool1d_backward(x, gy, gx, &p);
        CHECK(st == LUNET_OK, "geometry %d: %s", s, lunet_last_error());
        if (st == LUNET_OK) {
            float *dy = test_download(y), *dgx = test_download(gx);
            CHECK(memcmp(dy, ry, sizeof(float) * (size_t)ny) == 0, "geometry %d: y differs in bits", s);
            CHECK(memcmp(dgx, rgx, sizeof(float) * (size_t)nx) == 0, "geometry %d: grad_x differs in bits", s);
            free(dy); free(dgx);
        }
        free(hx); free(hgy); free(ry); free(rgx);
        lunet_tensor_free(x); lunet_tensor_free(gy); lunet_tensor_free(y); lunet_tensor_free(gx);
    }
}

/* Sign of a zero gradient: windows that tile the input copy grad_y as is (-0 stays -0);
 * elsewhere a cell sums from 0.0f, as the reference does, so -0 becomes +0. */
static void test_negative_zero_gradient(void) {
    const int sizes[2] = {4, 5};   /* 4x4 tiles with 2x2 windows, 5x5 leaves an edge */
    for (int s = 0; s < 2; s++) {
        for (int mode = 0; mode < 2; mode++) {
            int64_t xs[4] = {1, 1, sizes[s], sizes[s]}, ys[4] = {1, 1, 2, 2};
            float gyv[4] = {-0.0f, -0.0f, -0.0f, -0.0f};
            lunet_tensor *x = test_tensor(4, xs, NULL), *gy = test_tensor(4, ys, gyv);
            lunet_tensor *gx = test_tensor(4, xs, NULL);
            lunet_pool_params p = params2d((lunet_pool_mode)mode, 2, 2, 2, 2, 0, 0);
            REQUIRE_OK(lunet_pool2d_backward(x, gy, gx, &p));
            float *d = test_download(gx);
            CHECK(d[0] == 0.0f && (signbit(d[0]) != 0) == (s == 0),
                  "mode %d, %dx%d: grad_x[0] = %g with sign bit %d", mode, sizes[s], sizes[s],
                  d[0], signbit(d[0]) != 0);
            free(d);
            lunet_tensor_free(x); lunet_tensor_free(gy); lunet_tensor_free(gx);
        }
    }
}

/* On a constant input every window ties: the gradient goes to its first cell. */
static void test_max_ties_go_to_first(void) {
    int64_t xs[4] = {1, 1, 4, 4}, ys[4] = {1, 1, 2, 2};
    float ones[16], gy_values[4] = {1, 2, 3, 4};
    for (int i = 0; i < 16; i++) ones[i] = 1.0f;
    lunet_tensor *x = test_tensor(4, xs, ones), *gy = test_tensor(4, ys, gy_values);
    lunet_tensor *gx = test_tensor(4, xs, NULL);
    lunet_pool_params p = params2d(LUNET_POOL_MAX, 2, 2, 2, 2, 0, 0);
    REQUIRE_OK(lunet_pool2d_backward(x, gy, gx, &p));
    float *d = test_download(gx);
    const float expected[16] = {1, 0, 2, 0, 0, 0, 0, 0, 3, 0, 4, 0, 0, 0, 0, 0};
    for (int i = 0; i < 16; i++) CHECK(d[i] == expected[i], "grad_x[%d] = %g, expected %g", i, d[i], expected[i]);
    free(d);
    lunet_tensor_free(x); lunet_tensor_free(gy); lunet_tensor_free(gx);
}

/* Max ignores padded cells: all-negative input padded by 1 keeps negative maxima. */
static void test_max_ignores_padding(void) {
    int64_t xs[4] = {1, 1, 2, 2}, ys[4] = {1, 1, 2, 2};
    const float v[4] = {-4, -3, -2, -1};
    lunet_tensor *x = test_tensor(4, xs, v), *y = test_tensor(4, ys, NULL);
    lunet_pool_params p = params2d(LUNET_POOL_MAX, 3, 3, 1, 1, 1, 1);
    REQUIRE_OK(lunet_pool2d_forward(x, y, &p));
    float *d = test_download(y);
    for (int i = 0; i < 4; i++) CHECK(d[i] == -1.0f, "y[%d] = %g, expected -1", i, d[i]);
    free(d);
    lunet_tensor_free(x); lunet_tensor_free(y);
}

/* Kernel launches of one forward + backward, for a batch of n. */
static uint64_t launches_for_batch(int n, lunet_pool_mode mode) {
    int64_t xs[4] = {n, 2, 8, 8}, ys[4] = {n, 2, 4, 4};
    lunet_tensor *x = test_tensor(4, xs, NULL), *y = test_tensor(4, ys, NULL);
    lunet_tensor *gx = test_tensor(4, xs, NULL);
    lunet_pool_params p = params2d(mode, 2, 2, 2, 2, 0, 0);
    lunet_stats before, after;
    lunet_context_stats(test_ctx(), &before);
    lunet_status st = lunet_pool2d_forward(x, y, &p);
    if (st == LUNET_OK) st = lunet_pool2d_backward(x, y, gx, &p);
    lunet_context_stats(test_ctx(), &after);
    CHECK(st == LUNET_OK, "%s", lunet_last_error());
    lunet_tensor_free(x); lunet_tensor_free(y); lunet_tensor_free(gx);
    return after.kernel_launches - before.kernel_launches;
}

static void test_launches_constant_in_batch(void) {
    for (int mode = 0; mode < 2; mode++) {
        uint64_t one = launches_for_batch(1, (lunet_pool_mode)mode);
        uint64_t many = launches_for_batch(32, (lunet_pool_mode)mode);
        CHECK(one == 2 && many == 2, "mode %d: %llu launches for N=1, %llu for N=32", mode,
              (unsigned long long)one, (unsigned long long)many);
    }
}

static void test_null_grad_x_is_skipped(void) {
    int64_t xs[4] = {1, 1, 4, 4}, ys[4] = {1, 1, 2, 2};
    lunet_tensor *x = test_tensor(4, xs, NULL), *gy = test_tensor(4, ys, NULL);
    lunet_pool_params p = params2d(LUNET_POOL_MAX, 2, 2, 2, 2, 0, 0);
    lunet_stats before, after;
    lunet_context_stats(test_ctx(), &before);
    CHECK(lunet_pool2d_backward(x, gy, NULL, &p) == LUNET_OK, "%s", lunet_last_error());
    lunet_context_stats(test_ctx(), &after);
    CHECK(after.kernel_launches == before.kernel_launches, "a kernel ran for grad_x NULL");
    lunet_tensor_free(x); lunet_tensor_free(gy);
}

static void test_errors_2d(void) {
    int64_t xs[4] = {2, 3, 5, 5}, ys[4] = {2, 3, 3, 3}, bad[4] = {2, 3, 2, 2}, s3[3] = {2, 3, 5};
    lunet_tensor *x = test_tensor(4, xs, NULL), *y = test_tensor(4, ys, NULL);
    lunet_tensor *ybad = test_tensor(4, bad, NULL), *x3 = test_tensor(3, s3, NULL);
    lunet_tensor *gx = test_tensor(4, xs, NULL);
    lunet_pool_params p = params2d(LUNET_POOL_MAX, 3, 3, 1, 1, 0, 0);
    CHECK_FAILS(lunet_pool2d_forward(NULL, y, &p), LUNET_ERR_ARGUMENT, "max_pool2d: x is NULL");
    CHECK_FAILS(lunet_pool2d_forward(x, NULL, &p), LUNET_ERR_ARGUMENT, "max_pool2d: y is NULL");
    CHECK_FAILS(lunet_pool2d_forward(x, y, NULL), LUNET_ERR_ARGUMENT, "pool2d: params must not be NULL");
    CHECK_FAILS(lunet_pool2d_forward(x3, y, &p), LUNET_ERR_SHAPE,
                "max_pool2d: x must have 4 dimensions, got shape [2,3,5]");
    CHECK_FAILS(lunet_pool2d_forward(x, ybad, &p), LUNET_ERR_SHAPE,
                "max_pool2d: y has shape [2,3,2,2], expected [2,3,3,3]");
    CHECK_FAILS(lunet_pool2d_backward(x, ybad, gx, &p), LUNET_ERR_SHAPE,
                "max_pool2d_backward: grad_y has shape [2,3,2,2], expected [2,3,3,3]");
    CHECK_FAILS(lunet_pool2d_backward(x, y, ybad, &p), LUNET_ERR_SHAPE,
                "max_pool2d_backward: grad_x has shape [2,3,2,2], expected [2,3,5,5]");
    CHECK_FAILS(lunet_pool2d_backward(x, NULL, gx, &p), LUNET_ERR_ARGUMENT,
                "max_pool2d_backward: grad_y is NULL");
    lunet_pool_params big = params2d(LUNET_POOL_AVG, 6, 2, 1, 1, 0, 1);
    CHECK_FAILS(lunet_pool2d_forward(x, y, &big), LUNET_ERR_SHAPE,
                "avg_pool2d: window 6x2 is larger than the padded input 5x7 (x has shape [2,3,5,5], padding 0x1)");
    lunet_pool_params pad = params2d(LUNET_POOL_MAX, 3, 3, 1, 1, 2, 1);
    CHECK_FAILS(lunet_pool2d_forward(x, y, &pad), LUNET_ERR_ARGUMENT,
                "max_pool2d: padding 2x1 must be at most half the window 3x3");
    lunet_pool_params neg = params2d(LUNET_POOL_MAX, 3, 3, 1, 1, -1, 0);
    CHECK_FAILS(lunet_pool2d_forward(x, y, &neg), LUNET_ERR_ARGUMENT, "must not be negative");
    lunet_pool_params stride = params2d(LUNET_POOL_MAX, 3, 3, 0, 1, 0, 0);
    CHECK_FAILS(lunet_pool2d_forward(x, y, &stride), LUNET_ERR_ARGUMENT,
                "max_pool2d: stride 0x1 must be at least 1");
    lunet_pool_params window = params2d(LUNET_POOL_AVG, 3, 0, 1, 1, 0, 0);
    CHECK_FAILS(lunet_pool2d_backward(x, y, gx, &window), LUNET_ERR_ARGUMENT,
                "avg_pool2d_backward: window 3x0 must be at least 1");
    lunet_pool_params mode = params2d((lunet_pool_mode)7, 3, 3, 1, 1, 0, 0);
    CHECK_FAILS(lunet_pool2d_forward(x, y, &mode), LUNET_ERR_ARGUMENT, "pool2d: unknown pooling mode 7");
    lunet_tensor_free(x); lunet_tensor_free(y); lunet_tensor_free(ybad);
    lunet_tensor_free(x3); lunet_tensor_free(gx);
}

static void test_errors_1d(void) {
    int64_t xs[3] = {2, 3, 5}, ys[3] = {2, 3, 3}, bad[3] = {2, 3, 4}, s4[4] = {2, 3, 5, 5};
    lunet_tensor *x = test_tensor(3, xs, NULL), *y = test_tensor(3, ys, NULL);
    lunet_tensor *ybad = test_tensor(3, bad, NULL), *x4 = test_tensor(4, s4, NULL);
    /* kernel_h, stride_h and pad_h are ignored by 1-D pooling */
    lunet_pool_params p = params2d(LUNET_POOL_AVG, 0, 3, 0, 1, 9, 0);
    CHECK(lunet_pool1d_forward(x, y, &p) == LUNET_OK, "%s", lunet_last_error());
    CHECK_FAILS(lunet_pool1d_forward(x4, y, &p), LUNET_ERR_SHAPE,
                "avg_pool1d: x must have 3 dimensions, got shape [2,3,5,5]");
    CHECK_FAILS(lunet_pool1d_forward(x, ybad, &p), LUNET_ERR_SHAPE,
                "avg_pool1d: y has shape [2,3,4], expected [2,3,3]");
    CHECK_FAILS(lunet_pool1d_backward(x, ybad, x, &p), LUNET_ERR_SHAPE,
                "avg_pool1d_backward: grad_y has shape [2,3,4], expected [2,3,3]");
    lunet_pool_params big = params2d(LUNET_POOL_MAX, 1, 8, 1, 1, 0, 1);
    CHECK_FAILS(lunet_pool1d_forward(x, y, &big), LUNET_ERR_SHAPE,
                "max_pool1d: window 8 is larger than the padded input 7 (x has shape [2,3,5], padding 1)");
    lunet_pool_params pad = params2d(LUNET_POOL_MAX, 1, 2, 1, 2, 0, 2);
    CHECK_FAILS(lunet_pool1d_forward(x, y, &pad), LUNET_ERR_ARGUMENT,
                "max_pool1d: padding 2 must be at most half the window 2");
    lunet_pool_params stride = params2d(LUNET_POOL_MAX, 1, 2, 1, -1, 0, 0);
    CHECK_FAILS(lunet_pool1d_backward(x, y, x, &stride), LUNET_ERR_ARGUMENT,
                "max_pool1d_backward: stride -1 must be at least 1");
    lunet_tensor_free(x); lunet_tensor_free(y); lunet_tensor_free(ybad); lunet_tensor_free(x4);
}

int main(void) {
    TEST_BEGIN();
    RUN(test_worked_example_max);
    RUN(test_worked_example_avg);
    RUN(test_max_pool2d_random);
    RUN(test_avg_pool2d_random);
    RUN(test_max_pool1d_random);
    RUN(test_avg_pool1d_random);
    RUN(test_lenet_pool);
    RUN(test_tiling_windows);
    RUN(test_pair_windows);
    RUN(test_disjoint_windows);
    RUN(test_overlapping_windows);
    RUN(test_max_exact_on_ties_nan_zeros);
    RUN(test_negative_zero_gradient);
    RUN(test_max_ties_go_to_first);
    RUN(test_max_ignores_padding);
    RUN(test_launches_constant_in_batch);
    RUN(test_null_grad_x_is_skipped);
    RUN(test_errors_2d);
    RUN(test_errors_1d);
    return TEST_END();
}
