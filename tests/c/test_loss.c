/* test_loss.c — softmax + cross-entropy (forward, backward) and softmax against the
 * double-precision reference in ref_loss_optim.c, plus stability, determinism,
 * bad labels, launch counts and the error paths. */
#include <math.h>

#include "ref_loss_optim.h"
#include "testlib.h"

/* A random problem: logits [n,k] scaled by `scale`, labels 0..k-1 as floats. */
typedef struct problem {
    int n, k;
    float *logits, *labels;
    lunet_tensor *t_logits, *t_labels;
} problem;

static problem problem_make(int n, int k, float scale, uint64_t seed) {
    problem p = { n, k, malloc((size_t)n * k * sizeof(float)), malloc((size_t)n * sizeof(float)),
                  NULL, NULL };
    test_fill_random(p.logits, (int64_t)n * k, seed);
    for (int64_t i = 0; i < (int64_t)n * k; i++) p.logits[i] *= scale;
    uint64_t s = seed ^ 0x5eed;
    for (int i = 0; i < n; i++) p.labels[i] = (float)test_rand_int(&s, 0, k - 1);
    p.t_logits = test_tensor(2, (int64_t[]){ n, k }, p.logits);
    p.t_labels = test_tensor(1, (int64_t[]){ n }, p.labels);
    return p;
}

static void problem_free(problem *p) {
    lunet_tensor_free(p->t_logits);
    lunet_tensor_free(p->t_labels);
    free(p->logits);
    free(p->labels);
}

static float device_loss(const problem *p) {
    lunet_tensor *loss = test_tensor(1, (int64_t[]){ 1 }, NULL);
    float value = NAN;
    if (lunet_softmax_xent_forward(p->t_logits, p->t_labels, loss) == LUNET_OK)
        lunet_tensor_download(loss, &value, 1);
    else
        printf("  forward failed: %s\n", lunet_last_error());
    lunet_tensor_free(loss);
    return value;
}

static void test_xent_forward_random(void) {
    uint64_t s = 11;
    for (int cfg = 0; cfg < 16; cfg++) {
        int n = test_rand_int(&s, 1, 64), k = test_rand_int(&s, 2, 100);
        float scale = (float)test_rand_int(&s, 1, 20);
        problem p = problem_make(n, k, scale, 100 + cfg);
        float want = (float)ref_softmax_xent(p.logits, p.labels, n, k, NULL);
        float got = device_loss(&p);
        double err = test_rel_error(&got, &want, 1);
        CHECK(err <= 1e-4, "N=%d K=%d scale=%g: loss %.7g, expected %.7g (rel err %g)", n, k,
              (double)scale, (double)got, (double)want, err);
        problem_free(&p);
    }
}

static void test_xent_backward_random(void) {
    uint64_t s = 12;
    for (int cfg = 0; cfg < 16; cfg++) {
        int n = test_rand_int(&s, 1, 64), k = test_rand_int(&s, 2, 100);
        float scale = (float)test_rand_int(&s, 1, 20);
        problem p = problem_make(n, k, scale, 200 + cfg);
        float *want = malloc((size_t)n * k * sizeof(float));
        ref_softmax_xent(p.logits, p.labels, n, k, want);
        /* garbage in grad_logits: backward overwrites, it does not accumulate */
        lunet_tensor *grad = test_tensor_random(2, (int64_t[]){ n, k }, 7, NULL);
        REQUIRE_OK(lunet_softmax_xent_backward(p.t_logits, p.t_labels, grad));
        float *got = test_download(grad);
        double err = test_rel_error(got, want, (int64_t)n * k);
        CHECK(err <= 1e-4, "N=%d K=%d: grad rel err %g", n, k, err);
        /* every row of (softmax - onehot) / N sums to 0 */
        for (int i = 0; i < n; i++) {
            double row = 0.0;
            for (int j = 0; j < k; j++) row += got[(int64_t)i * k + j];
            CHECK(fabs(row) <= 1e-6, "N=%d K=%d: grad row %d sums to %g", n, k, i, row);
        }
        free(got);
        free(want);
        lunet_tensor_free(grad);
        problem_free(&p);
    }
}

/* Logits of +-1000 would overflow a naive exp: the result must be finite and exact. */
static void test_xent_huge_logits(void) {
    float logits[] = { 1000, -1000, 0,     /* label 0: loss ~ 0 */
                       -1000, 1000, 999,   /* label 2: loss = 1 + log(1 + e^-1) */
                       1000, 1000, -1000,  /* label 1: loss = log 2 */
                       -1000, -1000, -1000 };
    float labels[] = { 0, 2, 1, 2 };
    int n = 4, k = 3;
    lunet_tensor *tl = test_tensor(2, (int64_t[]){ n, k }, logits);
    lunet_tensor *tb = test_tensor(1, (int64_t[]){ n }, labels);
    lunet_tensor *loss = test_tensor(1, (int64_t[]){ 1 }, NULL);
    lunet_tensor *grad = test_tensor(2, (int64_t[]){ n, k }, NULL);
    REQUIRE_OK(lunet_softmax_xent_forward(tl, tb, loss));
    REQUIRE_OK(lunet_softmax_xent_backward(tl, tb, grad));
    float got, want_grad[12];
    REQUIRE_OK(lunet_tensor_download(loss, &got, 1));
    float want = (float)ref_softmax_xent(logits, labels, n, k, want_grad);
    /* by hand: 0, log(1 + e^-1) + 1, log 2, log 3 */
    double by_hand = (0.0 + (log1p(exp(-1.0)) + 1.0) + log(2.0) + log(3.0)) / 4.0;
    CHECK(isfinite(got), "loss %g is not finite", (double)got);
    CHECK(fabs(got - by_hand) <= 1e-5, "loss %.7g, expected %.7g", (double)got, by_hand);
    CHECK(fabs(want - by_hand) <= 1e-6, "reference %.7g, expected %.7g", (double)want, by_hand);
    float *g = test_download(grad);
    for (int i = 0; i < n * k; i++) CHECK(isfinite(g[i]), "grad[%d] = %g", i, (double)g[i]);
    CHECK(test_rel_error(g, want_grad, n * k) <= 1e-4, "grad rel err %g",
          test_rel_error(g, want_grad, n * k));
    free(g);
    lunet_tensor_free(tl);
    lunet_tensor_free(tb);
    lunet_tensor_free(loss);
    lunet_tensor_free(grad);
}

/* The same inputs give bit-identical losses (fixed-order reduction). */
static void test_xent_deterministic(void) {
    problem p = problem_make(64, 100, 10.0f, 33);
    float first = device_loss(&p);
    CHECK(isfinite(first), "loss %g", (double)first);
    for (int rep = 0; rep < 5; rep++) {
        float again = device_loss(&p);
        CHECK(memcmp(&first, &again, sizeof first) == 0, "call %d: %.9g vs %.9g", rep,
              (double)again, (double)first);
    }
    problem_free(&p);
}

/* A label outside 0..K-1 or not an integer makes the loss (and that grad row) NaN. */
static void test_xent_bad_label(void) {
    const float bad[] = { 10.0f, -1.0f, 2.5f, 1e9f, NAN };
    int n = 3, k = 10;
    for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++) {
        problem p = problem_make(n, k, 1.0f, 44);
        p.labels[1] = bad[b];
        REQUIRE_OK(lunet_tensor_upload(p.t_labels, p.labels, n));
        float loss = device_loss(&p);
        CHECK(isnan(loss), "label %g: loss %g, expected NaN", (double)bad[b], (double)loss);
        lunet_tensor *grad = test_tensor(2, (int64_t[]){ n, k }, NULL);
        REQUIRE_OK(lunet_softmax_xent_backward(p.t_logits, p.t_labels, grad));
        float *g = test_download(grad);
        CHECK(isnan(g[k]), "label %g: grad row 1 is %g, expected NaN", (double)bad[b],
              (double)g[k]);
        CHECK(isfinite(g[0]) && isfinite(g[2 * k]), "label %g: valid rows must stay finite",
              (double)bad[b]);
        free(g);
        lunet_tensor_free(grad);
        problem_free(&p);
    }
    problem p = problem_make(n, k, 1.0f, 44);  /* and valid labels still work afterwards */
    CHECK(isfinite(device_loss(&p)), "valid labels after bad ones");
    problem_free(&p);
}

/* grad_logits may be logits itself (in place). */
static void test_xent_backward_in_place(void) {
    problem p = problem_make(5, 7, 3.0f, 55);
    float want[35];
    ref_softmax_xent(p.logits, p.labels, 5, 7, want);
    REQUIRE_OK(lunet_softmax_xent_backward(p.t_logits, p.t_labels, p.t_logits));
    float *got = test_download(p.t_logits);
    CHECK(test_rel_error(got, want, 35) <= 1e-4, "in-place grad rel err %g",
          test_rel_error(got, want, 35));
    free(got);
    problem_free(&p);
}

static void test_softmax_random(void) {
    uint64_t s = 13;
    for (int cfg = 0; cfg < 12; cfg++) {
        int n = test_rand_int(&s, 1, 64), k = test_rand_int(&s, 1, 100);
        problem p = problem_make(n, k, (float)test_rand_int(&s, 1, 50), 300 + cfg);
        float *want = malloc((size_t)n * k * sizeof(float));
        ref_softmax(p.logits, want, n, k);
        lunet_tensor *probs = test_tensor(2, (int64_t[]){ n, k }, NULL);
        REQUIRE_OK(lunet_softmax_forward(p.t_logits, probs));
        float *got = test_download(probs);
        CHECK(test_rel_error(got, want, (int64_t)n * k) <= 1e-4, "N=%d K=%d: rel err %g", n, k,
              test_rel_error(got, want, (int64_t)n * k));
        for (int i = 0; i < n; i++) {
            double sum = 0.0;
            for (int j = 0; j < k; j++) sum += got[(int64_t)i * k + j];
            CHECK(fabs(sum - 1.0) <= 1e-5, "N=%d K=%d: row %d sums to %.8g", n, k, i, sum);
        }
        free(got);
        free(want);
        lunet_tensor_free(probs);
        problem_free(&p);
    }
}

static void test_softmax_huge_and_in_place(void) {
    float logits[] = { 1000, -1000, 1000, -1000, -1000, -1000 };
    lunet_tensor *t = test_tensor(2, (int64_t[]){ 2, 3 }, logits);
    REQUIRE_OK(lunet_softmax_forward(t, t));
    float *got = test_download(t);
    const float want[] = { 0.5f, 0.0f, 0.5f, 1.0f / 3, 1.0f / 3, 1.0f / 3 };
    CHECK(test_rel_error(got, want, 6) <= 1e-6, "got %g %g %g / %g %g %g", (double)got[0],
          (double)got[1], (double)got[2], (double)got[3], (double)got[4], (double)got[5]);
    free(got);
    lunet_tensor_free(t);
}

static uint64_t launches(void) {
    lunet_stats st;
    lunet_context_stats(test_ctx(), &st);
    return st.kernel_launches;
}

/* Launches per call do not grow with the batch size: forward 2, backward 1, softmax 1. */
static void test_launch_count(void) {
    const int sizes[] = { 1, 64, 512 };
    for (int i = 0; i < 3; i++) {
        problem p = problem_make(sizes[i], 10, 1.0f, 66);
        lunet_tensor *loss = test_tensor(1, (int64_t[]){ 1 }, NULL);
        lunet_tensor *grad = test_tensor(2, (int64_t[]){ sizes[i], 10 }, NULL);
        uint64_t before = launches();
        REQUIRE_OK(lunet_softmax_xent_forward(p.t_logits, p.t_labels, loss));
        uint64_t after_forward = launches();
        REQUIRE_OK(lunet_softmax_xent_backward(p.t_logits, p.t_labels, grad));
        uint64_t after_backward = launches();
        REQUIRE_OK(lunet_softmax_forward(p.t_logits, grad));
        CHECK(after_forward - before == 2, "N=%d: forward launched %llu kernels", sizes[i],
              (unsigned long long)(after_forward - before));
        CHECK(after_backward - after_forward == 1, "N=%d: backward launched %llu", sizes[i],
              (unsigned long long)(after_backward - after_forward));
        CHECK(launches() - after_backward == 1, "N=%d: softmax launched %llu", sizes[i],
              (unsigned long long)(launches() - after_backward));
        lunet_tensor_free(loss);
        lunet_tensor_free(grad);
        problem_free(&p);
    }
}

static void test_loss_errors(void) {
    lunet_tensor *x = test_tensor(2, (int64_t[]){ 4, 10 }, NULL);
    lunet_tensor *x3 = test_tensor(3, (int64_t[]){ 4, 10, 1 }, NULL);
    lunet_tensor *y = test_tensor(1, (int64_t[]){ 4 }, NULL);
    lunet_tensor *y5 = test_tensor(1, (int64_t[]){ 5 }, NULL);
    lunet_tensor *y2d = test_tensor(2, (int64_t[]){ 4, 1 }, NULL);
    lunet_tensor *loss = test_tensor(1, (int64_t[]){ 1 }, NULL);
    lunet_tensor *loss2 = test_tensor(1, (int64_t[]){ 2 }, NULL);
    lunet_tensor *g = test_tensor(2, (int64_t[]){ 4, 10 }, NULL);
    lunet_tensor *g_bad = test_tensor(2, (int64_t[]){ 10, 4 }, NULL);

    CHECK_FAILS(lunet_softmax_xent_forward(NULL, y, loss), LUNET_ERR_ARGUMENT, "logits");
    CHECK_FAILS(lunet_softmax_xent_forward(x, NULL, loss), LUNET_ERR_ARGUMENT, "labels");
    CHECK_FAILS(lunet_softmax_xent_forward(x, y, NULL), LUNET_ERR_ARGUMENT, "loss");
    CHECK_FAILS(lunet_softmax_xent_forward(x3, y, loss), LUNET_ERR_SHAPE, "softmax_xent_forward");
    CHECK_FAILS(lunet_softmax_xent_forward(x, y5, loss), LUNET_ERR_SHAPE,
                "labels has shape [5] but logits has shape [4,10]");
    CHECK_FAILS(lunet_softmax_xent_forward(x, y2d, loss), LUNET_ERR_SHAPE,
                "labels has shape [4,1] but logits has shape [4,10]");
    CHECK_FAILS(lunet_softmax_xent_forward(x, y, loss2), LUNET_ERR_SHAPE, "[2]");
    CHECK_FAILS(lunet_softmax_xent_backward(x, y, NULL), LUNET_ERR_ARGUMENT, "grad_logits");
    CHECK_FAILS(lunet_softmax_xent_backward(x, y5, g), LUNET_ERR_SHAPE, "labels has shape [5]");
    CHECK_FAILS(lunet_softmax_xent_backward(x, y, g_bad), LUNET_ERR_SHAPE, "[10,4]");
    CHECK_FAILS(lunet_softmax_xent_backward(x3, y, g), LUNET_ERR_SHAPE, "softmax_xent_backward");
    CHECK_FAILS(lunet_softmax_forward(x, g_bad), LUNET_ERR_SHAPE, "softmax_forward");
    CHECK_FAILS(lunet_softmax_forward(NULL, g), LUNET_ERR_ARGUMENT, "logits");
    CHECK_FAILS(lunet_softmax_forward(x, NULL), LUNET_ERR_ARGUMENT, "probs");

    lunet_context *other = NULL;
    REQUIRE_OK(lunet_context_create(NULL, &other));
    lunet_tensor *y_other = NULL;
    REQUIRE_OK(lunet_tensor_create(other, 1, (int64_t[]){ 4 }, &y_other));
    lunet_status st = lunet_softmax_xent_forward(x, y_other, loss);
    CHECK(st != LUNET_OK && strstr(lunet_last_error(), "softmax_xent_forward"),
          "labels on another context: %s", lunet_last_error());
    lunet_tensor_free(y_other);
    lunet_context_destroy(other);

    lunet_tensor *all[] = { x, x3, y, y5, y2d, loss, loss2, g, g_bad };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) lunet_tensor_free(all[i]);
}

int main(void) {
    TEST_BEGIN();
    RUN(test_xent_forward_random);
    RUN(test_xent_backward_random);
    RUN(test_xent_huge_logits);
    RUN(test_xent_deterministic);
    RUN(test_xent_bad_label);
    RUN(test_xent_backward_in_place);
    RUN(test_softmax_random);
    RUN(test_softmax_huge_and_in_place);
    RUN(test_launch_count);
    RUN(test_loss_errors);
    return TEST_END();
}
