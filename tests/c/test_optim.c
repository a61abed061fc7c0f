/* test_optim.c — on-device SGD and Adam over several steps with varying gradients,
 * against the double-precision reference in ref_loss_optim.c, for several
 * hyper-parameter sets; plus launch counts and the error paths. */
#include <math.h>

#include "ref_loss_optim.h"
#include "testlib.h"

#define STEPS 5

/* A random shape of 1..4 dimensions with up to a few thousand elements. */
static int random_shape(uint64_t *s, int64_t *shape) {
    int ndim = test_rand_int(s, 1, 4);
    for (int d = 0; d < ndim; d++) shape[d] = test_rand_int(s, 1, ndim == 1 ? 3000 : 12);
    return ndim;
}

static int64_t numel(int ndim, const int64_t *shape) {
    int64_t n = 1;
    for (int d = 0; d < ndim; d++) n *= shape[d];
    return n;
}

static double *to_double(const float *v, int64_t n) {
    double *d = malloc((size_t)n * sizeof(double));
    for (int64_t i = 0; i < n; i++) d[i] = v[i];
    return d;
}

/* Device tensor t against the reference values want (in double). */
static double error_vs(const lunet_tensor *t, const double *want) {
    int64_t n = lunet_tensor_numel(t);
    float *got = test_download(t), *ref = malloc((size_t)n * sizeof(float));
    for (int64_t i = 0; i < n; i++) ref[i] = (float)want[i];
    double err = test_rel_error(got, ref, n);
    free(got);
    free(ref);
    return err;
}

typedef struct sgd_case { float lr, momentum, weight_decay; } sgd_case;

static void run_sgd_case(const sgd_case *c, uint64_t seed) {
    uint64_t s = seed;
    int64_t shape[4];
    int ndim = random_shape(&s, shape);
    int64_t n = numel(ndim, shape);
    int use_velocity = c->momentum != 0.0f;
    float *p0, *v0;
    lunet_tensor *param = test_tensor_random(ndim, shape, seed + 1, &p0);
    lunet_tensor *vel = use_velocity ? test_tensor_random(ndim, shape, seed + 2, &v0) : NULL;
    lunet_tensor *grad = test_tensor(ndim, shape, NULL);
    double *p_ref = to_double(p0, n), *v_ref = use_velocity ? to_double(v0, n) : NULL;
    float *g = malloc((size_t)n * sizeof(float));
    for (int step = 0; step < STEPS; step++) {
        test_fill_random(g, n, seed * 100 + step);
        REQUIRE_OK(lunet_tensor_upload(grad, g, n));
        REQUIRE_OK(lunet_sgd_step(param, grad, vel, c->lr, c->momentum, c->weight_decay));
        ref_sgd_step(p_ref, g, v_ref, n, c->lr, c->momentum, c->weight_decay);
    }
    double perr = error_vs(param, p_ref), verr = use_velocity ? error_vs(vel, v_ref) : 0.0;
    CHECK(perr <= 1e-4, "lr %g momentum %g wd %g numel %lld: param rel err %g", (double)c->lr,
          (double)c->momentum, (double)c->weight_decay, (long long)n, perr);
    CHECK(verr <= 1e-4, "lr %g momentum %g wd %g: velocity rel err %g", (double)c->lr,
          (double)c->momentum, (double)c->weight_decay, verr);
    free(g);
    free(p0);
    free(p_ref);
    if (use_velocity) { free(v0); free(v_ref); lunet_tensor_free(vel); }
    lunet_tensor_free(param);
    lunet_tensor_free(grad);
}

static void test_sgd_steps(void) {
    const sgd_case cases[] = {
        { 0.1f, 0.0f, 0.0f },    /* plain SGD, NULL velocity */
        { 0.05f, 0.9f, 0.0f },
        { 0.01f, 0.9f, 0.01f },
        { 0.1f, 0.0f, 0.1f },    /* weight decay without momentum */
        { 0.2f, 0.5f, 0.3f },
        { 0.0f, 0.9f, 0.1f },    /* lr 0: param stays, velocity still moves */
        { 1.0f, 0.99f, 0.0f },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        for (uint64_t rep = 0; rep < 2; rep++) run_sgd_case(&cases[i], 1000 + 10 * i + rep);
}

/* momentum 0 with a velocity given: the velocity is not touched. */
static void test_sgd_momentum0_leaves_velocity(void) {
    int64_t shape[] = { 3, 4 };
    float *v0;
    lunet_tensor *param = test_tensor_random(2, shape, 1, NULL);
    lunet_tensor *grad = test_tensor_random(2, shape, 2, NULL);
    lunet_tensor *vel = test_tensor_random(2, shape, 3, &v0);
    REQUIRE_OK(lunet_sgd_step(param, grad, vel, 0.1f, 0.0f, 0.0f));
    float *v = test_download(vel);
    CHECK(memcmp(v, v0, sizeof(float) * 12) == 0, "velocity changed with momentum 0");
    free(v);
    free(v0);
    lunet_tensor_free(param);
    lunet_tensor_free(grad);
    lunet_tensor_free(vel);
}

/* A hand-computed two-step example: p=1, g=0.5, lr 0.1, momentum 0.9, wd 0.1. */
static void test_sgd_by_hand(void) {
    lunet_tensor *param = test_tensor(1, (int64_t[]){ 1 }, (float[]){ 1.0f });
    lunet_tensor *grad = test_tensor(1, (int64_t[]){ 1 }, (float[]){ 0.5f });
    lunet_tensor *vel = test_tensor(1, (int64_t[]){ 1 }, NULL);
    REQUIRE_OK(lunet_sgd_step(param, grad, vel, 0.1f, 0.9f, 0.1f));
    REQUIRE_OK(lunet_sgd_step(param, grad, vel, 0.1f, 0.9f, 0.1f));
    /* step 1: g' = 0.6, v = 0.6, p = 0.94; step 2: g' = 0.594, v = 1.134, p = 0.8266 */
    float p, v;
    REQUIRE_OK(lunet_tensor_download(param, &p, 1));
    REQUIRE_OK(lunet_tensor_download(vel, &v, 1));
    CHECK(fabsf(p - 0.8266f) <= 1e-6f, "p = %.7g, expected 0.8266", (double)p);
    CHECK(fabsf(v - 1.134f) <= 1e-6f, "v = %.7g, expected 1.134", (double)v);
    lunet_tensor_free(param);
    lunet_tensor_free(grad);
    lunet_tensor_free(vel);
}

typedef struct adam_case { float lr, beta1, beta2, eps, weight_decay; int64_t first_step; } adam_case;

static void run_adam_case(const adam_case *c, uint64_t seed) {
    uint64_t s = seed;
    int64_t shape[4];
    int ndim = random_shape(&s, shape);
    int64_t n = numel(ndim, shape);
    float *p0, *m0 = calloc((size_t)n, sizeof(float)), *v0 = calloc((size_t)n, sizeof(float));
    if (c->first_step > 1) {  /* resume from a state: m in [-1,1), v in [0,1) */
        test_fill_random(m0, n, seed + 2);
        test_fill_random(v0, n, seed + 3);
        for (int64_t i = 0; i < n; i++) v0[i] = v0[i] * v0[i];
    }
    lunet_tensor *param = test_tensor_random(ndim, shape, seed + 1, &p0);
    lunet_tensor *m = test_tensor(ndim, shape, m0), *v = test_tensor(ndim, shape, v0);
    lunet_tensor *grad = test_tensor(ndim, shape, NULL);
    double *p_ref = to_double(p0, n), *m_ref = to_double(m0, n), *v_ref = to_double(v0, n);
    float *g = malloc((size_t)n * sizeof(float));
    for (int64_t step = c->first_step; step < c->first_step + STEPS; step++) {
        test_fill_random(g, n, seed * 100 + (uint64_t)step);
        REQUIRE_OK(lunet_tensor_upload(grad, g, n));
        REQUIRE_OK(lunet_adam_step(param, grad, m, v, c->lr, c->beta1, c->beta2, c->eps,
                                   c->weight_decay, step));
        ref_adam_step(p_ref, g, m_ref, v_ref, n, c->lr, c->beta1, c->beta2, c->eps,
                      c->weight_decay, step);
    }
    double perr = error_vs(param, p_ref), merr = error_vs(m, m_ref), verr = error_vs(v, v_ref);
    CHECK(perr <= 1e-4 && merr <= 1e-4 && verr <= 1e-4,
          "lr %g betas %g,%g eps %g wd %g from step %lld numel %lld: rel err param %g m %g v %g",
          (double)c->lr, (double)c->beta1, (double)c->beta2, (double)c->eps,
          (double)c->weight_decay, (long long)c->first_step, (long long)n, perr, merr, verr);
    free(g);
    free(p0); free(m0); free(v0);
    free(p_ref); free(m_ref); free(v_ref);
    lunet_tensor_free(param);
    lunet_tensor_free(m);
    lunet_tensor_free(v);
    lunet_tensor_free(grad);
}

static void test_adam_steps(void) {
    const adam_case cases[] = {
        { 1e-3f, 0.9f, 0.999f, 1e-8f, 0.0f, 1 },   /* PyTorch's defaults */
        { 0.01f, 0.8f, 0.99f, 1e-6f, 0.1f, 1 },    /* with weight decay */
        { 0.1f, 0.0f, 0.5f, 1e-3f, 0.0f, 1 },      /* beta1 0 */
        { 0.05f, 0.95f, 0.0f, 0.1f, 0.01f, 1 },    /* beta2 0 (eps keeps m/|g| well-conditioned) */
        { 1e-3f, 0.9f, 0.999f, 1e-8f, 0.0f, 100 }, /* resumed at step 100 */
        { 0.02f, 0.5f, 0.9f, 0.1f, 0.5f, 3 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        for (uint64_t rep = 0; rep < 2; rep++) run_adam_case(&cases[i], 2000 + 10 * i + rep);
}

/* Step 1 by hand: m = (1-b1) g, v = (1-b2) g^2, so p -= lr g / (|g| + eps'): p -= lr sign(g). */
static void test_adam_by_hand(void) {
    lunet_tensor *param = test_tensor(1, (int64_t[]){ 2 }, (float[]){ 1.0f, -2.0f });
    lunet_tensor *grad = test_tensor(1, (int64_t[]){ 2 }, (float[]){ 0.5f, -3.0f });
    lunet_tensor *m = test_tensor(1, (int64_t[]){ 2 }, NULL);
    lunet_tensor *v = test_tensor(1, (int64_t[]){ 2 }, NULL);
    REQUIRE_OK(lunet_adam_step(param, grad, m, v, 0.1f, 0.9f, 0.999f, 1e-8f, 0.0f, 1));
    float p[2];
    REQUIRE_OK(lunet_tensor_download(param, p, 2));
    CHECK(fabsf(p[0] - 0.9f) <= 1e-6f && fabsf(p[1] + 1.9f) <= 1e-6f, "p = %.7g %.7g",
          (double)p[0], (double)p[1]);
    lunet_tensor_free(param);
    lunet_tensor_free(grad);
    lunet_tensor_free(m);
    lunet_tensor_free(v);
}

static uint64_t launches(void) {
    lunet_stats st;
    lunet_context_stats(test_ctx(), &st);
    return st.kernel_launches;
}

static void test_one_launch_per_step(void) {
    int64_t shape[] = { 1000 };
    lunet_tensor *p = test_tensor(1, shape, NULL), *g = test_tensor(1, shape, NULL);
    lunet_tensor *a = test_tensor(1, shape, NULL), *b = test_tensor(1, shape, NULL);
    uint64_t before = launches();
    REQUIRE_OK(lunet_sgd_step(p, g, NULL, 0.1f, 0.0f, 0.0f));
    REQUIRE_OK(lunet_sgd_step(p, g, a, 0.1f, 0.9f, 0.0f));
    REQUIRE_OK(lunet_adam_step(p, g, a, b, 0.1f, 0.9f, 0.999f, 1e-8f, 0.0f, 1));
    CHECK(launches() - before == 3, "3 steps launched %llu kernels",
          (unsigned long long)(launches() - before));
    lunet_tensor_free(p);
    lunet_tensor_free(g);
    lunet_tensor_free(a);
    lunet_tensor_free(b);
}

static void test_sgd_errors(void) {
    lunet_tensor *p = test_tensor(2, (int64_t[]){ 3, 4 }, NULL);
    lunet_tensor *g = test_tensor(2, (int64_t[]){ 3, 4 }, NULL);
    lunet_tensor *v = test_tensor(2, (int64_t[]){ 3, 4 }, NULL);
    lunet_tensor *bad = test_tensor(2, (int64_t[]){ 4, 3 }, NULL);
    REQUIRE_OK(lunet_tensor_fill(p, 1.5f));
    float *before = test_download(p);
    CHECK_FAILS(lunet_sgd_step(NULL, g, v, 0.1f, 0.9f, 0.0f), LUNET_ERR_ARGUMENT, "param");
    CHECK_FAILS(lunet_sgd_step(p, NULL, v, 0.1f, 0.9f, 0.0f), LUNET_ERR_ARGUMENT, "grad");
    CHECK_FAILS(lunet_sgd_step(p, bad, v, 0.1f, 0.9f, 0.0f), LUNET_ERR_SHAPE,
                "sgd_step: grad has shape [4,3] but param has shape [3,4]");
    CHECK_FAILS(lunet_sgd_step(p, g, bad, 0.1f, 0.9f, 0.0f), LUNET_ERR_SHAPE,
                "sgd_step: velocity has shape [4,3] but param has shape [3,4]");
    CHECK_FAILS(lunet_sgd_step(p, g, NULL, 0.1f, 0.9f, 0.0f), LUNET_ERR_ARGUMENT,
                "sgd_step: velocity is NULL but momentum is 0.9");
    CHECK_FAILS(lunet_sgd_step(p, g, v, -1.0f, 0.9f, 0.0f), LUNET_ERR_ARGUMENT,
                "sgd_step: lr must be a finite number >= 0, got -1");
    CHECK_FAILS(lunet_sgd_step(p, g, v, NAN, 0.9f, 0.0f), LUNET_ERR_ARGUMENT, "lr");
    CHECK_FAILS(lunet_sgd_step(p, g, v, INFINITY, 0.9f, 0.0f), LUNET_ERR_ARGUMENT, "lr");
    CHECK_FAILS(lunet_sgd_step(p, g, v, 0.1f, -0.5f, 0.0f), LUNET_ERR_ARGUMENT,
                "sgd_step: momentum must be a finite number >= 0, got -0.5");
    CHECK_FAILS(lunet_sgd_step(p, g, v, 0.1f, 0.9f, -0.01f), LUNET_ERR_ARGUMENT,
                "sgd_step: weight_decay must be a finite number >= 0, got -0.01");
    float *after = test_download(p);  /* failed calls leave the parameter alone */
    CHECK(memcmp(before, after, 12 * sizeof(float)) == 0, "param changed by failed calls");
    free(before);
    free(after);
    lunet_tensor *all[] = { p, g, v, bad };
    for (int i = 0; i < 4; i++) lunet_tensor_free(all[i]);
}

static void test_adam_errors(void) {
    lunet_tensor *p = test_tensor(1, (int64_t[]){ 5 }, NULL);
    lunet_tensor *g = test_tensor(1, (int64_t[]){ 5 }, NULL);
    lunet_tensor *m = test_tensor(1, (int64_t[]){ 5 }, NULL);
    lunet_tensor *v = test_tensor(1, (int64_t[]){ 5 }, NULL);
    lunet_tensor *bad = test_tensor(2, (int64_t[]){ 5, 1 }, NULL);
    CHECK_FAILS(lunet_adam_step(NULL, g, m, v, 1e-3f, 0.9f, 0.999f, 1e-8f, 0, 1),
                LUNET_ERR_ARGUMENT, "param");
    CHECK_FAILS(lunet_adam_step(p, g, NULL, v, 1e-3f, 0.9f, 0.999f, 1e-8f, 0, 1),
                LUNET_ERR_ARGUMENT, "m");
    CHECK_FAILS(lunet_adam_step(p, g, m, NULL, 1e-3f, 0.9f, 0.999f, 1e-8f, 0, 1),
                LUNET_ERR_ARGUMENT, "v");
    CHECK_FAILS(lunet_adam_step(p, bad, m, v, 1e-3f, 0.9f, 0.999f, 1e-8f, 0, 1),
                LUNET_ERR_SHAPE, "adam_step: grad has shape [5,1] but param has shape [5]");
    CHECK_FAILS(lunet_adam_step(p, g, bad, v, 1e-3f, 0.9f, 0.999f, 1e-8f, 0, 1),
                LUNET_ERR_SHAPE, "adam_step: m has shape [5,1] but param has shape [5]");
    CHECK_FAILS(lunet_adam_step(p, g, m, bad, 1e-3f, 0.9f, 0.999f, 1e-8f, 0, 1),
                LUNET_ERR_SHAPE, "adam_step: v has shape [5,1] but param has shape [5]");
    CHECK_FAILS(lunet_adam_step(p, g, m, v, -1e-3f, 0.9f, 0.999f, 1e-8f, 0, 1),
                LUNET_ERR_ARGUMENT, "adam_step: lr must be a finite number >= 0, got -0.001");
    CHECK_FAILS(lunet_adam_step(p, g, m, v, 1e-3f, 1.0f, 0.999f, 1e-8f, 0, 1),
                LUNET_ERR_ARGUMENT, "adam_step: beta1 must be in [0, 1), got 1");
    CHECK_FAILS(lunet_adam_step(p, g, m, v, 1e-3f, 0.9f, -0.1f, 1e-8f, 0, 1),
                LUNET_ERR_ARGUMENT, "adam_step: beta2 must be in [0, 1), got -0.1");
    CHECK_FAILS(lunet_adam_step(p, g, m, v, 1e-3f, 0.9f, 0.999f, 0.0f, 0, 1),
                LUNET_ERR_ARGUMENT, "adam_step: eps must be a finite number > 0, got 0");
    CHECK_FAILS(lunet_adam_step(p, g, m, v, 1e-3f, 0.9f, 0.999f, 1e-8f, -1.0f, 1),
                LUNET_ERR_ARGUMENT, "adam_step: weight_decay must be a finite number >= 0");
    CHECK_FAILS(lunet_adam_step(p, g, m, v, 1e-3f, 0.9f, 0.999f, 1e-8f, 0, 0),
                LUNET_ERR_ARGUMENT, "adam_step: step must be >= 1 (1-based), got 0");

    lunet_context *other = NULL;
    REQUIRE_OK(lunet_context_create(NULL, &other));
    lunet_tensor *g_other = NULL;
    REQUIRE_OK(lunet_tensor_create(other, 1, (int64_t[]){ 5 }, &g_other));
    lunet_status st = lunet_adam_step(p, g_other, m, v, 1e-3f, 0.9f, 0.999f, 1e-8f, 0, 1);
    CHECK(st != LUNET_OK && strstr(lunet_last_error(), "adam_step"),
          "grad on another context: %s", lunet_last_error());
    lunet_tensor_free(g_other);
    lunet_context_destroy(other);

    lunet_tensor *all[] = { p, g, m, v, bad };
    for (int i = 0; i < 5; i++) lunet_tensor_free(all[i]);
}

int main(void) {
    TEST_BEGIN();
    RUN(test_sgd_steps);
    RUN(test_sgd_momentum0_leaves_velocity);
    RUN(test_sgd_by_hand);
    RUN(test_adam_steps);
    RUN(test_adam_by_hand);
    RUN(test_one_launch_per_step);
    RUN(test_sgd_errors);
    RUN(test_adam_errors);
    return TEST_END();
}
