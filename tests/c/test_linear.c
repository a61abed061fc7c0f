/* test_linear.c — the dense layer (forward, backward) and the per-channel bias add
 * (forward, backward) against the plain-C reference on random shapes, LeNet's layer
 * sizes, accumulation into parameter gradients, optional gradients, and error paths. */
#include "ref_dense.h"
#include "testlib.h"

static void expect_close(const lunet_tensor *t, const float *want, const char *what, int n,
                         int in, int out) {
    float *got = test_download(t);
    double err = test_rel_error(got, want, lunet_tensor_numel(t));
    CHECK(err <= 1e-4, "linear N=%d in=%d out=%d: %s rel err %g", n, in, out, what, err);
    free(got);
}

/* Forward and backward of one dense layer against the reference; the parameter
 * gradients start from random values (backward accumulates). */
static void check_linear(int n, int in, int out, int with_bias, uint64_t seed) {
    float *x, *w, *b, *gy, *gw, *gb;
    lunet_tensor *tx = test_tensor_random(2, (int64_t[]){n, in}, seed, &x);
    lunet_tensor *tw = test_tensor_random(2, (int64_t[]){out, in}, seed + 1, &w);
    lunet_tensor *tb = test_tensor_random(1, (int64_t[]){out}, seed + 2, &b);
    lunet_tensor *tgy = test_tensor_random(2, (int64_t[]){n, out}, seed + 3, &gy);
    lunet_tensor *tgw = test_tensor_random(2, (int64_t[]){out, in}, seed + 4, &gw);
    lunet_tensor *tgb = test_tensor_random(1, (int64_t[]){out}, seed + 5, &gb);
    lunet_tensor *ty = test_tensor(2, (int64_t[]){n, out}, NULL);
    lunet_tensor *tgx = test_tensor(2, (int64_t[]){n, in}, NULL);
    float *y = malloc((size_t)n * out * sizeof(float)), *gx = malloc((size_t)n * in * sizeof(float));

    lunet_status st = lunet_linear_forward(tx, tw, with_bias ? tb : NULL, ty);
    CHECK(st == LUNET_OK, "forward: %s", lunet_last_error());
    ref_linear_forward(n, in, out, x, w, with_bias ? b : NULL, y);
    expect_close(ty, y, "y", n, in, out);

    st = lunet_linear_backward(tx, tw, tgy, tgx, tgw, tgb);
    CHECK(st == LUNET_OK, "backward: %s", lunet_last_error());
    ref_linear_backward(n, in, out, x, w, gy, gx, gw, gb);
    expect_close(tgx, gx, "grad_x", n, in, out);
    expect_close(tgw, gw, "grad_weight", n, in, out);
    expect_close(tgb, gb, "grad_bias", n, in, out);

    free(x), free(w), free(b), free(gy), free(gw), free(gb), free(y), free(gx);
    lunet_tensor *ts[] = {tx, tw, tb, tgy, tgw, tgb, ty, tgx};
    for (int i = 0; i < 8; i++) lunet_tensor_free(ts[i]);
}

static void test_linear_random(void) {
    uint64_t s = 99;
    for (int cfg = 0; cfg < 18; cfg++)
        check_linear(test_rand_int(&s, 1, 40), test_rand_int(&s, 1, 90), test_rand_int(&s, 1, 70),
                     cfg % 3 != 0, 300 + 10 * (uint64_t)cfg);
}

/* LeNet's dense layers at batch 32: 400 -> 120 -> 84 -> 10. */
static void test_linear_lenet_sizes(void) {
    check_linear(32, 400, 120, 1, 1);
    check_linear(32, 120, 84, 1, 2);
    check_linear(32, 84, 10, 1, 3);
}

static void test_linear_accumulates_and_optional(void) {
    float *gy;
    lunet_tensor *x = test_tensor_random(2, (int64_t[]){5, 7}, 1, NULL);
    lunet_tensor *w = test_tensor_random(2, (int64_t[]){3, 7}, 2, NULL);
    lunet_tensor *dy = test_tensor_random(2, (int64_t[]){5, 3}, 3, &gy);
    lunet_tensor *gx = test_tensor(2, (int64_t[]){5, 7}, NULL);
    lunet_tensor *gw = test_tensor(2, (int64_t[]){3, 7}, NULL);
    lunet_tensor *gb = test_tensor(1, (int64_t[]){3}, NULL);
    REQUIRE_OK(lunet_linear_backward(x, w, dy, gx, gw, gb));
    float *gx1 = test_download(gx), *gw1 = test_download(gw), *gb1 = test_download(gb);
    REQUIRE_OK(lunet_linear_backward(x, w, dy, gx, gw, gb));
    float *gx2 = test_download(gx), *gw2 = test_download(gw), *gb2 = test_download(gb);
    for (int i = 0; i < 21; i++) gw1[i] *= 2.0f;
    for (int i = 0; i < 3; i++) gb1[i] *= 2.0f;
    CHECK(test_rel_error(gw2, gw1, 21) <= 1e-6, "grad_weight after two calls is not 2x");
    CHECK(test_rel_error(gb2, gb1, 3) <= 1e-6, "grad_bias after two calls is not 2x");
    CHECK(test_rel_error(gx2, gx1, 35) == 0.0, "grad_x must be overwritten");
    /* only one gradient at a time */
    REQUIRE_OK(lunet_tensor_fill(gb, 0.0f));
    REQUIRE_OK(lunet_linear_backward(x, w, dy, NULL, NULL, gb));
    float want[3] = {0, 0, 0};
    ref_bias_grad(5, 3, 1, gy, want);
    float *got = test_download(gb);
    CHECK(test_rel_error(got, want, 3) <= 1e-4, "grad_bias alone: rel err %g",
          test_rel_error(got, want, 3));
    REQUIRE_OK(lunet_linear_backward(x, w, dy, gx, NULL, NULL));
    float *gx3 = test_download(gx);
    CHECK(test_rel_error(gx3, gx1, 35) == 0.0, "grad_x alone differs");
    REQUIRE_OK(lunet_linear_backward(x, w, dy, NULL, NULL, NULL));
    free(gy), free(gx1), free(gw1), free(gb1), free(gx2), free(gw2), free(gb2), free(got), free(gx3);
    lunet_tensor *ts[] = {x, w, dy, gx, gw, gb};
    for (int i = 0; i < 6; i++) lunet_tensor_free(ts[i]);
}

static void test_linear_errors(void) {
    lunet_tensor *x = test_tensor(2, (int64_t[]){2, 4}, NULL);
    lunet_tensor *w = test_tensor(2, (int64_t[]){3, 4}, NULL);
    lunet_tensor *w5 = test_tensor(2, (int64_t[]){3, 5}, NULL);
    lunet_tensor *b = test_tensor(1, (int64_t[]){3}, NULL);
    lunet_tensor *b4 = test_tensor(1, (int64_t[]){4}, NULL);
    lunet_tensor *y = test_tensor(2, (int64_t[]){2, 3}, NULL);
    lunet_tensor *y4 = test_tensor(2, (int64_t[]){2, 4}, NULL);
    lunet_tensor *x3 = test_tensor(3, (int64_t[]){2, 2, 2}, NULL);
    CHECK_FAILS(lunet_linear_forward(NULL, w, b, y), LUNET_ERR_ARGUMENT, "linear: x is NULL");
    CHECK_FAILS(lunet_linear_forward(x, NULL, b, y), LUNET_ERR_ARGUMENT, "linear: weight is NULL");
    CHECK_FAILS(lunet_linear_forward(x, w, b, NULL), LUNET_ERR_ARGUMENT, "linear: y is NULL");
    CHECK_FAILS(lunet_linear_forward(x3, w, b, y), LUNET_ERR_SHAPE,
                "linear: x must have 2 dimensions, got shape [2,2,2]");
    CHECK_FAILS(lunet_linear_forward(x, w5, b, y), LUNET_ERR_SHAPE,
                "linear: weight has shape [3,5] (5 input features) but x has shape [2,4] (4 features)");
    CHECK_FAILS(lunet_linear_forward(x, w, b4, y), LUNET_ERR_SHAPE,
                "linear: bias has shape [4], expected [3]");
    CHECK_FAILS(lunet_linear_forward(x, w, b, y4), LUNET_ERR_SHAPE,
                "linear: y has shape [2,4], expected [2,3]");
    lunet_tensor *sq = test_tensor(2, (int64_t[]){3, 3}, NULL);
    CHECK_FAILS(lunet_linear_forward(y, sq, NULL, y), LUNET_ERR_ARGUMENT,
                "linear: y must not share storage with x");
    lunet_tensor_free(sq);
    CHECK_FAILS(lunet_linear_backward(x, w, y4, NULL, NULL, NULL), LUNET_ERR_SHAPE,
                "linear_backward: grad_y has shape [2,4], expected [2,3]");
    CHECK_FAILS(lunet_linear_backward(x, w, y, y, NULL, NULL), LUNET_ERR_SHAPE,
                "linear_backward: grad_x has shape [2,3], expected [2,4]");
    CHECK_FAILS(lunet_linear_backward(x, w, y, NULL, w5, NULL), LUNET_ERR_SHAPE,
                "linear_backward: grad_weight has shape [3,5], expected [3,4]");
    CHECK_FAILS(lunet_linear_backward(x, w, y, NULL, NULL, b4), LUNET_ERR_SHAPE,
                "linear_backward: grad_bias has shape [4], expected [3]");
    lunet_context *other = NULL;
    REQUIRE_OK(lunet_context_create(NULL, &other));
    lunet_tensor *wo = NULL;
    REQUIRE_OK(lunet_tensor_create(other, 2, (int64_t[]){3, 4}, &wo));
    CHECK_FAILS(lunet_linear_forward(x, wo, b, y), LUNET_ERR_ARGUMENT,
                "linear: tensors belong to different contexts");
    CHECK_FAILS(lunet_linear_backward(x, w, y, NULL, wo, NULL), LUNET_ERR_ARGUMENT,
                "linear_backward: tensors belong to different contexts");
    lunet_tensor_free(wo);
    lunet_context_destroy(other);
    lunet_tensor *ts[] = {x, w, w5, b, b4, y, y4, x3};
    for (int i = 0; i < 8; i++) lunet_tensor_free(ts[i]);
}

/* bias add over [N,C], [N,C,L] and [N,C,H,W]: y += bias[c], grad_bias += sums. The last
 * two have planes longer than any bias_grad work-group (its whole-row loop). */
static void test_bias_add_random(void) {
    uint64_t s = 5;
    for (int cfg = 0; cfg < 17; cfg++) {
        int ndim = cfg < 15 ? 2 + cfg % 3 : 4;
        int64_t shape[4] = {test_rand_int(&s, 1, 5), test_rand_int(&s, 1, 9), 1, 1};
        for (int d = 2; d < ndim; d++) shape[d] = test_rand_int(&s, 1, 13);
        if (cfg >= 15) shape[2] = 20, shape[3] = 17 + cfg;   /* 640 and 660 per plane */
        int n = (int)shape[0], c = (int)shape[1], sp = (int)(shape[2] * shape[3]);
        int64_t numel = (int64_t)n * c * sp;
        float *y, *bias, *gb;
        lunet_tensor *ty = test_tensor_random(ndim, shape, 40 + (uint64_t)cfg, &y);
        lunet_tensor *tb = test_tensor_random(1, (int64_t[]){c}, 60 + (uint64_t)cfg, &bias);
        lunet_tensor *tgb = test_tensor_random(1, (int64_t[]){c}, 80 + (uint64_t)cfg, &gb);
        REQUIRE_OK(lunet_bias_add_backward(ty, tgb));   /* before y changes */
        ref_bias_grad(n, c, sp, y, gb);
        REQUIRE_OK(lunet_bias_add_forward(ty, tb));
        ref_bias_add(n, c, sp, y, bias);
        float *got_y = test_download(ty), *got_gb = test_download(tgb);
        CHECK(test_rel_error(got_y, y, numel) <= 1e-4, "bias_add %dD N=%d C=%d S=%d: y rel err %g",
              ndim, n, c, sp, test_rel_error(got_y, y, numel));
        CHECK(test_rel_error(got_gb, gb, c) <= 1e-4,
              "bias_add %dD N=%d C=%d S=%d: grad_bias rel err %g", ndim, n, c, sp,
              test_rel_error(got_gb, gb, c));
        free(y), free(bias), free(gb), free(got_y), free(got_gb);
        lunet_tensor_free(ty), lunet_tensor_free(tb), lunet_tensor_free(tgb);
    }
}

static void test_bias_add_errors(void) {
    lunet_tensor *y = test_tensor(3, (int64_t[]){2, 3, 4}, NULL);
    lunet_tensor *b = test_tensor(1, (int64_t[]){5}, NULL);
    lunet_tensor *v = test_tensor(1, (int64_t[]){3}, NULL);
    CHECK_FAILS(lunet_bias_add_forward(NULL, v), LUNET_ERR_ARGUMENT, "bias_add: y is NULL");
    CHECK_FAILS(lunet_bias_add_forward(y, NULL), LUNET_ERR_ARGUMENT, "bias_add: bias is NULL");
    CHECK_FAILS(lunet_bias_add_forward(y, b), LUNET_ERR_SHAPE,
                "bias_add: bias has shape [5], expected [3] (y has shape [2,3,4])");
    CHECK_FAILS(lunet_bias_add_forward(v, v), LUNET_ERR_SHAPE,
                "bias_add: y must have at least 2 dimensions [N,C,...], got [3]");
    CHECK_FAILS(lunet_bias_add_backward(y, b), LUNET_ERR_SHAPE,
                "bias_add_backward: grad_bias has shape [5], expected [3] (grad_y has shape [2,3,4])");
    CHECK_FAILS(lunet_bias_add_backward(y, NULL), LUNET_ERR_ARGUMENT,
                "bias_add_backward: grad_bias is NULL");
    lunet_tensor_free(y), lunet_tensor_free(b), lunet_tensor_free(v);
}

int main(void) {
    TEST_BEGIN();
    RUN(test_linear_random);
    RUN(test_linear_lenet_sizes);
    RUN(test_linear_accumulates_and_optional);
    RUN(test_linear_errors);
    RUN(test_bias_add_random);
    RUN(test_bias_add_errors);
    return TEST_END();
}
