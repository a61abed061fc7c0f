/* test_activation.c — ReLU, tanh and sigmoid, forward and backward, against the plain-C
 * reference in ref_pool_act.c; in-place use, extreme inputs, and the error paths. */
#include <math.h>
#include <string.h>

#include "ref_pool_act.h"
#include "testlib.h"

static const char *act_names[3] = {"relu", "tanh", "sigmoid"};

/* A tensor of the given shape with values uniform in [-scale, scale). */
static lunet_tensor *scaled_random(int ndim, const int64_t *shape, uint64_t seed, float scale,
                                   float **host) {
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    float *v = malloc(sizeof(float) * (size_t)n);
    test_fill_random(v, n, seed);
    for (int64_t i = 0; i < n; i++) v[i] *= scale;
    lunet_tensor *t = test_tensor(ndim, shape, v);
    *host = v;
    return t;
}

/* Forward and backward of one activation on one shape, compared with the reference. */
static void check_act_config(int act, int ndim, const int64_t *shape, uint64_t seed) {
    float *hx, *hgy;
    lunet_tensor *x = scaled_random(ndim, shape, seed, 4.0f, &hx);
    lunet_tensor *gy = scaled_random(ndim, shape, seed + 1, 1.0f, &hgy);
    lunet_tensor *y = test_tensor(ndim, shape, NULL), *gx = test_tensor(ndim, shape, NULL);
    int64_t n = lunet_tensor_numel(x);
    float *ry = malloc(sizeof(float) * (size_t)n), *rgx = malloc(sizeof(float) * (size_t)n);
    ref_activation_forward(act, hx, ry, n);
    ref_activation_backward(act, hx, hgy, rgx, n);
    if (lunet_activation_forward((lunet_activation)act, x, y) == LUNET_OK &&
        lunet_activation_backward((lunet_activation)act, x, gy, gx) == LUNET_OK) {
        float *dy = test_download(y), *dgx = test_download(gx);
        double ey = test_rel_error(dy, ry, n), egx = test_rel_error(dgx, rgx, n);
        CHECK(ey <= 1e-4 && egx <= 1e-4, "%s ndim %d numel %lld: y error %g, grad_x error %g",
              act_names[act], ndim, (long long)n, ey, egx);
        free(dy); free(dgx);
    } else {
        CHECK(0, "%s failed: %s", act_names[act], lunet_last_error());
    }
    free(hx); free(hgy); free(ry); free(rgx);
    lunet_tensor_free(x); lunet_tensor_free(gy); lunet_tensor_free(y); lunet_tensor_free(gx);
}

static void check_random_configs(int act) {
    uint64_t rng = 100 + (uint64_t)act;
    for (int config = 0; config < 12; config++) {
        int ndim = 1 + config % 4;
        int64_t shape[4];
        for (int d = 0; d < ndim; d++) shape[d] = test_rand_int(&rng, 1, ndim == 1 ? 3000 : 12);
        check_act_config(act, ndim, shape, rng + (uint64_t)config);
    }
}

static void test_relu_random(void) { check_random_configs(LUNET_ACT_RELU); }
static void test_tanh_random(void) { check_random_configs(LUNET_ACT_TANH); }
static void test_sigmoid_random(void) { check_random_configs(LUNET_ACT_SIGMOID); }

/* A small hand-checked case of each activation. */
static void test_known_values(void) {
    int64_t s[1] = {5};
    const float xv[5] = {-2, -0.5f, 0, 0.5f, 3};
    const float expected[3][5] = {
        {0, 0, 0, 0.5f, 3},
        {-0.96402758f, -0.46211716f, 0, 0.46211716f, 0.99505475f},
        {0.11920292f, 0.37754067f, 0.5f, 0.62245933f, 0.95257413f}};
    const float slope[3][5] = {
        {0, 0, 0, 1, 1},  /* relu'(0) = 0 */
        {0.07065082f, 0.78644773f, 1, 0.78644773f, 0.00986604f},
        {0.10499359f, 0.23500371f, 0.25f, 0.23500371f, 0.04517666f}};
    const float ones[5] = {1, 1, 1, 1, 1};
    for (int act = 0; act < 3; act++) {
        lunet_tensor *x = test_tensor(1, s, xv), *y = test_tensor(1, s, NULL);
        lunet_tensor *gy = test_tensor(1, s, ones), *gx = test_tensor(1, s, NULL);
        REQUIRE_OK(lunet_activation_forward((lunet_activation)act, x, y));
        REQUIRE_OK(lunet_activation_backward((lunet_activation)act, x, gy, gx));
        float *dy = test_download(y), *dgx = test_download(gx);
        CHECK(test_rel_error(dy, expected[act], 5) <= 1e-5, "%s forward", act_names[act]);
        CHECK(test_rel_error(dgx, slope[act], 5) <= 1e-5, "%s backward", act_names[act]);
        free(dy); free(dgx);
        lunet_tensor_free(x); lunet_tensor_free(y); lunet_tensor_free(gy); lunet_tensor_free(gx);
    }
}

/* y = f(x) with y == x, and grad_x == grad_y, give the out-of-place results. */
static void test_in_place(void) {
    int64_t s[4] = {2, 3, 4, 5};
    for (int act = 0; act < 3; act++) {
        float *hx, *hgy;
        lunet_tensor *x = scaled_random(4, s, 7 + (uint64_t)act, 3.0f, &hx);
        lunet_tensor *g = scaled_random(4, s, 17 + (uint64_t)act, 1.0f, &hgy);
        lunet_tensor *x_copy = test_tensor(4, s, hx);
        float ry[120], rgx[120];
        ref_activation_forward(act, hx, ry, 120);
        ref_activation_backward(act, hx, hgy, rgx, 120);
        REQUIRE_OK(lunet_activation_backward((lunet_activation)act, x_copy, g, g));
        REQUIRE_OK(lunet_activation_forward((lunet_activation)act, x, x));
        float *dy = test_download(x), *dgx = test_download(g);
        CHECK(test_rel_error(dy, ry, 120) <= 1e-4, "%s in-place forward", act_names[act]);
        CHECK(test_rel_error(dgx, rgx, 120) <= 1e-4, "%s in-place backward", act_names[act]);
        free(dy); free(dgx); free(hx); free(hgy);
        lunet_tensor_free(x); lunet_tensor_free(g); lunet_tensor_free(x_copy);
    }
}

/* ReLU runs eight elements per work item: every count around a multiple of 8 (the
 * remainder path), in place and not, bit for bit: relu(NaN) = relu(-0) = +0, and the
 * slope passes grad_y only where x > 0. */
static void test_relu_runs_exact(void) {
    const float palette[6] = {NAN, -0.0f, 0.0f, 1.5f, -2.0f, 3e-39f};
    const int counts[] = {1, 2, 7, 8, 9, 15, 16, 17, 63, 1001};
    uint64_t rng = 3;
    for (int c = 0; c < 10; c++) {
        int n = counts[c];
        int64_t s[1] = {n};
        float *xv = malloc(sizeof(float) * (size_t)n), *gv = malloc(sizeof(float) * (size_t)n);
        float *ry = malloc(sizeof(float) * (size_t)n), *rg = malloc(sizeof(float) * (size_t)n);
        test_fill_random(gv, n, 5 + (uint64_t)c);
        for (int i = 0; i < n; i++) {
            xv[i] = palette[test_rand_int(&rng, 0, 5)];
            ry[i] = xv[i] > 0.0f ? xv[i] : 0.0f;
            rg[i] = xv[i] > 0.0f ? gv[i] : 0.0f;
        }
        lunet_tensor *x = test_tensor(1, s, xv), *y = test_tensor(1, s, NULL);
        lunet_tensor *g = test_tensor(1, s, gv), *gx = test_tensor(1, s, NULL);
        REQUIRE_OK(lunet_activation_forward(LUNET_ACT_RELU, x, y));
        REQUIRE_OK(lunet_activation_backward(LUNET_ACT_RELU, x, g, gx));
        REQUIRE_OK(lunet_activation_backward(LUNET_ACT_RELU, x, g, g));   /* in place */
        REQUIRE_OK(lunet_activation_forward(LUNET_ACT_RELU, x, x));
        float *dy = test_download(y), *dgx = test_download(gx), *dx = test_download(x);
        float *dg = test_download(g);
        size_t bytes = sizeof(float) * (size_t)n;
        CHECK(memcmp(dy, ry, bytes) == 0 && memcmp(dx, ry, bytes) == 0, "relu n=%d: y differs", n);
        CHECK(memcmp(dgx, rg, bytes) == 0 && memcmp(dg, rg, bytes) == 0,
              "relu n=%d: grad_x differs", n);
        free(dy); free(dgx); free(dx); free(dg); free(xv); free(gv); free(ry); free(rg);
        lunet_tensor_free(x); lunet_tensor_free(y); lunet_tensor_free(g); lunet_tensor_free(gx);
    }
}

/* Huge inputs give finite outputs and slopes (no overflow in exp). */
static void test_extreme_inputs(void) {
    int64_t s[1] = {6};
    const float xv[6] = {-1e4f, -100, -88.5f, 88.5f, 100, 1e4f};
    const float ones[6] = {1, 1, 1, 1, 1, 1};
    for (int act = 1; act < 3; act++) {
        lunet_tensor *x = test_tensor(1, s, xv), *y = test_tensor(1, s, NULL);
        lunet_tensor *gy = test_tensor(1, s, ones), *gx = test_tensor(1, s, NULL);
        REQUIRE_OK(lunet_activation_forward((lunet_activation)act, x, y));
        REQUIRE_OK(lunet_activation_backward((lunet_activation)act, x, gy, gx));
        float *dy = test_download(y), *dgx = test_download(gx);
        float low = act == 1 ? -1.0f : 0.0f;
        for (int i = 0; i < 6; i++) {
            float want = xv[i] < 0 ? low : 1.0f;
            CHECK(isfinite(dy[i]) && fabsf(dy[i] - want) <= 1e-6f, "%s(%g) = %g", act_names[act],
                  xv[i], dy[i]);
            CHECK(isfinite(dgx[i]) && fabsf(dgx[i]) <= 1e-6f, "%s'(%g) = %g", act_names[act],
                  xv[i], dgx[i]);
        }
        free(dy); free(dgx);
        lunet_tensor_free(x); lunet_tensor_free(y); lunet_tensor_free(gy); lunet_tensor_free(gx);
    }
}

/* One launch per call whatever the batch size; none for backward with grad_x NULL. */
static void test_launches(void) {
    for (int n = 1; n <= 64; n *= 64) {
        int64_t s[4] = {n, 4, 6, 6};
        lunet_tensor *x = test_tensor(4, s, NULL), *y = test_tensor(4, s, NULL);
        lunet_stats before, after;
        lunet_context_stats(test_ctx(), &before);
        CHECK(lunet_activation_forward(LUNET_ACT_SIGMOID, x, y) == LUNET_OK, "%s", lunet_last_error());
        CHECK(lunet_activation_backward(LUNET_ACT_SIGMOID, x, y, NULL) == LUNET_OK, "%s",
              lunet_last_error());
        lunet_context_stats(test_ctx(), &after);
        CHECK(after.kernel_launches - before.kernel_launches == 1, "N=%d: %llu launches", n,
              (unsigned long long)(after.kernel_launches - before.kernel_launches));
        lunet_tensor_free(x); lunet_tensor_free(y);
    }
}

static void test_errors(void) {
    int64_t s[2] = {2, 4}, bad[2] = {2, 3}, flat[1] = {8};
    lunet_tensor *x = test_tensor(2, s, NULL), *y = test_tensor(2, s, NULL);
    lunet_tensor *ybad = test_tensor(2, bad, NULL), *yflat = test_tensor(1, flat, NULL);
    CHECK_FAILS(lunet_activation_forward(LUNET_ACT_RELU, NULL, y), LUNET_ERR_ARGUMENT, "relu: x is NULL");
    CHECK_FAILS(lunet_activation_forward(LUNET_ACT_TANH, x, NULL), LUNET_ERR_ARGUMENT, "tanh: y is NULL");
    CHECK_FAILS(lunet_activation_forward(LUNET_ACT_SIGMOID, x, ybad), LUNET_ERR_SHAPE,
                "sigmoid: y has shape [2,3] but x has shape [2,4]");
    CHECK_FAILS(lunet_activation_backward(LUNET_ACT_RELU, x, ybad, y), LUNET_ERR_SHAPE,
                "relu_backward: grad_y has shape [2,3] but x has shape [2,4]");
    CHECK_FAILS(lunet_activation_backward(LUNET_ACT_TANH, x, y, ybad), LUNET_ERR_SHAPE,
                "tanh_backward: grad_x has shape [2,3] but x has shape [2,4]");
    CHECK_FAILS(lunet_activation_backward(LUNET_ACT_TANH, x, NULL, y), LUNET_ERR_ARGUMENT,
                "tanh_backward: grad_y is NULL");
    CHECK_FAILS(lunet_activation_forward((lunet_activation)9, x, y), LUNET_ERR_ARGUMENT,
                "activation: unknown activation 9");
    CHECK_FAILS(lunet_activation_backward((lunet_activation)-1, x, y, y), LUNET_ERR_ARGUMENT,
                "activation: unknown activation -1");
    /* same number of elements is enough: a flat view is fine */
    CHECK(lunet_activation_forward(LUNET_ACT_RELU, x, yflat) == LUNET_OK, "%s", lunet_last_error());
    lunet_context *other = NULL;
    REQUIRE_OK(lunet_context_create(NULL, &other));
    lunet_tensor *elsewhere = NULL;
    REQUIRE_OK(lunet_tensor_create(other, 2, s, &elsewhere));
    lunet_status st = lunet_activation_forward(LUNET_ACT_RELU, x, elsewhere);
    CHECK(st != LUNET_OK && strstr(lunet_last_error(), "relu") != NULL,
          "mixing contexts gave %s: %s", lunet_status_name(st), lunet_last_error());
    lunet_tensor_free(elsewhere);
    lunet_context_destroy(other);
    lunet_tensor_free(x); lunet_tensor_free(y); lunet_tensor_free(ybad); lunet_tensor_free(yflat);
}

int main(void) {
    TEST_BEGIN();
    RUN(test_known_values);
    RUN(test_relu_random);
    RUN(test_tanh_random);
    RUN(test_sigmoid_random);
    RUN(test_in_place);
    RUN(test_relu_runs_exact);
    RUN(test_extreme_inputs);
    RUN(test_launches);
    RUN(test_errors);
    return TEST_END();
}
