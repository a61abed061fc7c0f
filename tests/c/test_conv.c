/* test_conv.c — conv2d and conv1d, forward and backward, against the plain-C reference
 * (ref_dense.c) on random shapes (batch > 1, several channels, strides 1-3, padding,
 * non-square kernels); the course's worked example; the output-size formula;
 * accumulation into parameter gradients; optional gradients; launch counts that do not
 * grow with the batch; and the error paths. The shape tests run every variant (column
 * matrix + GEMM for GPUs, direct for CPUs) whatever the device, through
 * lunet__conv_*_algo; the others run the device's own choice. */
#include <stdbool.h>

#include "internal.h"
#include "ref_dense.h"
#include "testlib.h"

static const lunet__conv_algo ALGOS[] = {LUNET__CONV_IM2COL, LUNET__CONV_DIRECT};
static const char *const ALGO_NAMES[] = {"auto", "im2col", "direct"};

/* ---- a conv problem: host data, device tensors, reference results ---- */

typedef struct problem {
    ref_conv g;
    int dims;                     /* 2: NCHW; 1: NCL (g.h == g.kh == 1) */
    bool has_bias;
    lunet__conv_algo algo;        /* AUTO: the device's choice */
    float *x, *w, *b, *gy;        /* inputs */
    float *gw0, *gb0;             /* initial gradient contents (backward accumulates) */
    lunet_tensor *tx, *tw, *tb, *ty, *tgy, *tgx, *tgw, *tgb;
} problem;

static lunet_conv_params params_of(const ref_conv *g) {
    return (lunet_conv_params){g->sh, g->sw, g->ph, g->pw};
}

static int act_shape(const problem *p, int64_t n, int64_t c, int64_t h, int64_t w, int64_t *s) {
    s[0] = n, s[1] = c;
    if (p->dims == 1) return s[2] = w, 3;
    return s[2] = h, s[3] = w, 4;
}

static lunet_tensor *act_tensor(const problem *p, int64_t c, int64_t h, int64_t w,
                                const float *v) {
    int64_t s[4];
    int nd = act_shape(p, p->g.n, c, h, w, s);
    return test_tensor(nd, s, v);
}

static lunet_tensor *weight_tensor(const problem *p, const float *v) {
    int64_t s[4];
    int nd = act_shape(p, p->g.o, p->g.c, p->g.kh, p->g.kw, s);
    return test_tensor(nd, s, v);
}

static float *random_host(int64_t n, uint64_t seed) {
    float *v = malloc((size_t)n * sizeof(float));
    test_fill_random(v, n, seed);
    return v;
}

static problem problem_make(int dims, ref_conv g, bool has_bias, uint64_t seed) {
    problem p = {.g = g, .dims = dims, .has_bias = has_bias};
    ref_conv_init(&p.g);
    p.x = random_host(ref_conv_x_numel(&p.g), seed);
    p.w = random_host(ref_conv_w_numel(&p.g), seed + 1);
    p.b = random_host(p.g.o, seed + 2);
    p.gy = random_host(ref_conv_y_numel(&p.g), seed + 3);
    p.gw0 = random_host(ref_conv_w_numel(&p.g), seed + 4);
    p.gb0 = random_host(p.g.o, seed + 5);
    p.tx = act_tensor(&p, g.c, g.h, g.w, p.x);
    p.tw = weight_tensor(&p, p.w);
    p.tb = test_tensor(1, (int64_t[]){g.o}, p.b);
    p.ty = act_tensor(&p, g.o, p.g.oh, p.g.ow, NULL);
    p.tgy = act_tensor(&p, g.o, p.g.oh, p.g.ow, p.gy);
    p.tgx = act_tensor(&p, g.c, g.h, g.w, NULL);
    p.tgw = weight_tensor(&p, p.gw0);
    p.tgb = test_tensor(1, (int64_t[]){g.o}, p.gb0);
    return p;
}

static void problem_free(problem *p) {
    free(p->x), free(p->w), free(p->b), free(p->gy), free(p->gw0), free(p->gb0);
    lunet_tensor *ts[] = {p->tx, p->tw, p->tb, p->ty, p->tgy, p->tgx, p->tgw, p->tgb};
    for (int i = 0; i < 8; i++) lunet_tensor_free(ts[i]);
}

static lunet_status run_forward(problem *p) {
    lunet_conv_params cp = params_of(&p->g);
    const lunet_tensor *bias = p->has_bias ? p->tb : NULL;
    if (p->algo != LUNET__CONV_AUTO)
        return lunet__conv_forward_algo(p->algo, p->dims, p->tx, p->tw, bias, p->ty, &cp);
    return p->dims == 2 ? lunet_conv2d_forward(p->tx, p->tw, bias, p->ty, &cp)
                        : lunet_conv1d_forward(p->tx, p->tw, bias, p->ty, &cp);
}

static lunet_status run_backward(problem *p, lunet_tensor *gx, lunet_tensor *gw, lunet_tensor *gb) {
    lunet_conv_params cp = params_of(&p->g);
    if (p->algo != LUNET__CONV_AUTO)
        return lunet__conv_backward_algo(p->algo, p->dims, p->tx, p->tw, p->tgy, gx, gw, gb, &cp);
    return p->dims == 2 ? lunet_conv2d_backward(p->tx, p->tw, p->tgy, gx, gw, gb, &cp)
                        : lunet_conv1d_backward(p->tx, p->tw, p->tgy, gx, gw, gb, &cp);
}

static void describe(const problem *p, char *buf, size_t size) {
    const ref_conv *g = &p->g;
    snprintf(buf, size,
             "conv%dd (%s) N=%d C=%d HxW=%dx%d O=%d K=%dx%d stride=%dx%d pad=%dx%d bias=%d",
             p->dims, ALGO_NAMES[p->algo], g->n, g->c, g->h, g->w, g->o, g->kh, g->kw, g->sh,
             g->sw, g->ph, g->pw, p->has_bias);
}

/* Compares a device tensor with the expected host values within 1e-4. */
static void expect_close(const lunet_tensor *t, const float *want, const char *what,
                         const problem *p) {
    float *got = test_download(t);
    double err = test_rel_error(got, want, lunet_tensor_numel(t));
    char d[192];
    describe(p, d, sizeof d);
    CHECK(err <= 1e-4, "%s: %s rel err %g", d, what, err);
    free(got);
}

/* Forward and backward (all three gradients, grad_weight/grad_bias accumulating onto
 * random initial values) against the reference. */
static void check_problem(problem *p) {
    char d[192];
    describe(p, d, sizeof d);
    lunet_status st = run_forward(p);
    CHECK(st == LUNET_OK, "%s: forward: %s", d, lunet_last_error());
    float *y = malloc((size_t)ref_conv_y_numel(&p->g) * sizeof(float));
    ref_conv_forward(&p->g, p->x, p->w, p->has_bias ? p->b : NULL, y);
    expect_close(p->ty, y, "y", p);

    REQUIRE_OK(lunet_tensor_fill(p->tgx, 1e30f));   /* grad_x is overwritten */
    st = run_backward(p, p->tgx, p->tgw, p->tgb);
    CHECK(st == LUNET_OK, "%s: backward: %s", d, lunet_last_error());
    float *gx = malloc((size_t)ref_conv_x_numel(&p->g) * sizeof(float));
    float *gw = malloc((size_t)ref_conv_w_numel(&p->g) * sizeof(float));
    float *gb = malloc((size_t)p->g.o * sizeof(float));
    memcpy(gw, p->gw0, (size_t)ref_conv_w_numel(&p->g) * sizeof(float));
    memcpy(gb, p->gb0, (size_t)p->g.o * sizeof(float));
    ref_conv_backward(&p->g, p->x, p->w, p->gy, gx, gw, gb);
    expect_close(p->tgx, gx, "grad_x", p);
    expect_close(p->tgw, gw, "grad_weight", p);
    expect_close(p->tgb, gb, "grad_bias", p);
    free(y), free(gx), free(gw), free(gb);
}

/* A random geometry whose kernel fits the padded input. */
static ref_conv random_geom(uint64_t *s, int dims) {
    ref_conv g = {0};
    g.n = test_rand_int(s, 1, 4);
    g.c = test_rand_int(s, 1, 4);
    g.o = test_rand_int(s, 1, 5);
    g.w = test_rand_int(s, 1, dims == 2 ? 12 : 30);
    g.sw = test_rand_int(s, 1, 3);
    g.pw = test_rand_int(s, 0, 2);
    g.kw = test_rand_int(s, 1, g.w + 2 * g.pw < 5 ? g.w + 2 * g.pw : 5);
    g.h = g.kh = g.sh = 1;
    if (dims == 2) {
        g.h = test_rand_int(s, 1, 12);
        g.sh = test_rand_int(s, 1, 3);
        g.ph = test_rand_int(s, 0, 2);
        g.kh = test_rand_int(s, 1, g.h + 2 * g.ph < 5 ? g.h + 2 * g.ph : 5);
    }
    return g;
}

/* ---- the tests ---- */

/* The course's worked example, verbatim: 5x5 input, 3x3 filter, stride 1, no padding. */
static void test_conv_worked_example(void) {
    const float x[25] = {3, 3, 2, 1, 0, 0, 0, 1, 3, 1, 3, 1, 2, 2, 3, 2, 0, 0, 2, 2, 2, 0, 0, 0, 1};
    const float w[9] = {0, 1, 2, 2, 2, 0, 0, 1, 2};
    const float want[9] = {12, 12, 17, 10, 17, 19, 9, 6, 14};
    lunet_tensor *tx = test_tensor(4, (int64_t[]){1, 1, 5, 5}, x);
    lunet_tensor *tw = test_tensor(4, (int64_t[]){1, 1, 3, 3}, w);
    lunet_tensor *ty = test_tensor(4, (int64_t[]){1, 1, 3, 3}, NULL);
    lunet_conv_params cp = {1, 1, 0, 0};
    REQUIRE_OK(lunet_conv2d_forward(tx, tw, NULL, ty, &cp));
    float *got = test_download(ty);
    for (int i = 0; i < 9; i++)
        CHECK(got[i] == want[i], "output row %d col %d: %g, expected %g", i / 3, i % 3,
              (double)got[i], (double)want[i]);
    free(got);
    lunet_tensor_free(tx), lunet_tensor_free(tw), lunet_tensor_free(ty);
}

/* Output positions counted one by one: windows starting at o*s - p that end inside. */
static int64_t count_positions(int64_t n, int64_t f, int64_t p, int64_t s) {
    if (n + 2 * p < f) return -1;
    int64_t count = 0;
    for (int64_t start = 0; start + f <= n + 2 * p; start += s) count++;
    return count;
}

static void test_conv_out_size(void) {
    for (int n = 1; n <= 40; n++)
        for (int f = 1; f <= 7; f++)
            for (int p = 0; p <= 3; p++)
                for (int s = 1; s <= 4; s++) {
                    int64_t got = lunet_conv_out_size(n, f, p, s);
                    int64_t want = count_positions(n, f, p, s);
                    CHECK(got == want, "n=%d f=%d p=%d s=%d: %lld, expected %lld", n, f, p, s,
                          (long long)got, (long long)want);
                }
    /* "same" padding p = (f-1)/2 keeps n for odd f with stride 1 */
    for (int n = 1; n <= 40; n++)
        for (int f = 1; f <= 7; f += 2)
            CHECK(lunet_conv_out_size(n, f, (f - 1) / 2, 1) == n, "same padding n=%d f=%d", n, f);
    /* a 32x32 input shrinks by 4 per valid 5x5 convolution */
    const int64_t chain[] = {32, 28, 24, 20, 16};
    for (int i = 0; i < 4; i++)
        CHECK(lunet_conv_out_size(chain[i], 5, 0, 1) == chain[i + 1], "%lld -> %lld",
              (long long)chain[i], (long long)chain[i + 1]);
    CHECK(lunet_conv_out_size(28, 5, 2, 1) == 28, "LeNet conv1 with padding 2 keeps 28");
    CHECK(lunet_conv_out_size(3, 5, 0, 1) == -1, "kernel larger than the input");
    CHECK(lunet_conv_out_size(5, 3, 0, 0) == -1, "stride 0");
    CHECK(lunet_conv_out_size(5, 3, -1, 1) == -1, "negative padding");
    CHECK(lunet_conv_out_size(0, 1, 0, 1) == -1, "empty input");
}

/* check_problem for each variant in turn. */
static void check_all_algos(int dims, ref_conv g, bool has_bias, uint64_t seed) {
    for (size_t a = 0; a < sizeof ALGOS / sizeof ALGOS[0]; a++) {
        problem p = problem_make(dims, g, has_bias, seed);
        p.algo = ALGOS[a];
        check_problem(&p);
        problem_free(&p);
    }
}

static void test_conv2d_random(void) {
    uint64_t s = 2024;
    /* first a fixed case with everything at once: batch, channels, strides, padding,
     * non-square kernel */
    check_all_algos(2, (ref_conv){.n = 3, .c = 3, .h = 9, .w = 11, .o = 4, .kh = 3, .kw = 5,
                                  .sh = 2, .sw = 3, .ph = 1, .pw = 2},
                    true, 1);
    for (int cfg = 0; cfg < 18; cfg++)
        check_all_algos(2, random_geom(&s, 2), cfg % 3 != 0, 100 + 10 * (uint64_t)cfg);
}

/* The direct variant's blocks: 8 output channels (O = 17: three groups, the last with one
 * channel), 8 positions (P = 7x9 = 63: a partial last block), 8 taps (C*KH*KW = 3*3*3 = 27),
 * batch chunks of the weight gradient (N = 11, not a multiple of any chunk size), the
 * stride-1 input gradient with padding up to kernel - 1, and its fallback (padding 3 >= 3). */
static void test_conv2d_direct_blocks(void) {
    ref_conv shapes[] = {
        {.n = 11, .c = 3, .h = 9, .w = 11, .o = 17, .kh = 3, .kw = 3, .sh = 1, .sw = 1, .ph = 1, .pw = 1},
        {.n = 2, .c = 9, .h = 5, .w = 4, .o = 8, .kh = 3, .kw = 2, .sh = 1, .sw = 1, .ph = 2, .pw = 1},
        {.n = 3, .c = 2, .h = 6, .w = 5, .o = 9, .kh = 3, .kw = 3, .sh = 1, .sw = 1, .ph = 3, .pw = 0},
        {.n = 70, .c = 1, .h = 4, .w = 4, .o = 2, .kh = 2, .kw = 2, .sh = 2, .sw = 1, .ph = 0, .pw = 0},
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        check_all_algos(2, shapes[i], i % 2 == 0, 900 + 10 * (uint64_t)i);
}

/* Every block size the tuning store allows for the direct variant (conv.pos x conv.taps),
 * on shapes that leave partial blocks, with the weight gradient split into batch chunks. */
static void test_conv_direct_every_tuning(void) {
    char pos[TEST_MAX_ALLOWED][16], taps[TEST_MAX_ALLOWED][16];
    int n_pos = test_allowed_values("conv.pos", pos), n_taps = test_allowed_values("conv.taps", taps);
    ref_conv shapes[] = {
        {.n = 11, .c = 3, .h = 9, .w = 7, .o = 10, .kh = 3, .kw = 3, .sh = 1, .sw = 1, .ph = 1, .pw = 2},
        {.n = 5, .c = 2, .h = 6, .w = 9, .o = 3, .kh = 2, .kw = 3, .sh = 2, .sw = 1, .ph = 0, .pw = 1},
    };
    for (int i = 0; i < n_pos; i++)
        for (int j = 0; j < n_taps; j++) {
            REQUIRE_OK(lunet_tuning_set(test_ctx(), "conv.pos", pos[i]));
            REQUIRE_OK(lunet_tuning_set(test_ctx(), "conv.taps", taps[j]));
            for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
                problem p = problem_make(2, shapes[s], true, 1200 + 10 * (uint64_t)s);
                p.algo = LUNET__CONV_DIRECT;
                check_problem(&p);
                problem_free(&p);
            }
        }
    REQUIRE_OK(lunet_tuning_reset(test_ctx()));
}

/* Every conv.layout of the direct variant (flat blocks, row blocks, the automatic choice)
 * on shapes with full and partial row blocks, 1 to 10 channels (one or two row groups),
 * vertical stride 2, padding up to kernel - 1 (row blocks skip the border rows exactly)
 * and horizontal stride 2 (row blocks need 1: flat then). */
static void test_conv_direct_every_layout(void) {
    char layouts[TEST_MAX_ALLOWED][16];
    int n_layouts = test_allowed_values("conv.layout", layouts);
    ref_conv shapes[] = {
        {.n = 3, .c = 1, .h = 12, .w = 20, .o = 6, .kh = 5, .kw = 5, .sh = 1, .sw = 1, .ph = 2, .pw = 2},
        {.n = 2, .c = 6, .h = 9, .w = 13, .o = 10, .kh = 3, .kw = 4, .sh = 1, .sw = 1, .ph = 2, .pw = 0},
        {.n = 2, .c = 3, .h = 11, .w = 17, .o = 1, .kh = 2, .kw = 3, .sh = 2, .sw = 1, .ph = 1, .pw = 1},
        {.n = 2, .c = 2, .h = 7, .w = 16, .o = 5, .kh = 3, .kw = 3, .sh = 1, .sw = 2, .ph = 1, .pw = 1},
    };
    for (int i = 0; i < n_layouts; i++) {
        REQUIRE_OK(lunet_tuning_set(test_ctx(), "conv.layout", layouts[i]));
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            problem p = problem_make(2, shapes[s], s != 2, 1300 + 10 * (uint64_t)s);
            p.algo = LUNET__CONV_DIRECT;
            check_problem(&p);
            problem_free(&p);
        }
        check_all_algos(2, (ref_conv){.n = 4, .c = 6, .h = 14, .w = 14, .o = 16, .kh = 5, .kw = 5,
                                      .sh = 1, .sw = 1, .ph = 0, .pw = 0},
                        true, 1350);
    }
    REQUIRE_OK(lunet_tuning_reset(test_ctx()));
}

/* The public ops follow conv.algo: im2col runs the im2col kernel, direct packs weights. */
static void test_conv_algo_from_store(void) {
    lunet_context *ctx = NULL;   /* a fresh context: no kernels built yet */
    REQUIRE_OK(lunet_context_create(NULL, &ctx));
    lunet_tensor *x = NULL, *w = NULL, *y = NULL;
    REQUIRE_OK(lunet_tensor_create(ctx, 4, (int64_t[]){1, 1, 4, 4}, &x));
    REQUIRE_OK(lunet_tensor_create(ctx, 4, (int64_t[]){2, 1, 3, 3}, &w));
    REQUIRE_OK(lunet_tensor_create(ctx, 4, (int64_t[]){1, 2, 2, 2}, &y));
    lunet_conv_params cp = {1, 1, 0, 0};
    const char *algos[] = {"im2col", "direct"}, *kernels[] = {"im2col", "conv_pack_weight"};
    for (int a = 0; a < 2; a++) {
        REQUIRE_OK(lunet_tuning_set(ctx, "conv.algo", algos[a]));
        REQUIRE_OK(lunet_conv2d_forward(x, w, NULL, y, &cp));
        bool found = false;
        for (int i = 0; i < ctx->n_kernels; i++) found |= strcmp(ctx->kernels[i].name, kernels[a]) == 0;
        CHECK(found, "conv.algo = %s did not run %s", algos[a], kernels[a]);
    }
    CHECK(lunet_tuning_set(ctx, "conv.algo", "winograd") == LUNET_ERR_ARGUMENT,
          "conv.algo accepted an unknown variant");
    lunet_tensor_free(x), lunet_tensor_free(w), lunet_tensor_free(y);
    lunet_context_destroy(ctx);
}

/* LeNet's convolutions at batch 8: C=1->6 5x5 pad 2 on 28x28, then 6->16 5x5 on 14x14. */
static void test_conv2d_lenet_shapes(void) {
    ref_conv conv1 = {.n = 8, .c = 1, .h = 28, .w = 28, .o = 6, .kh = 5, .kw = 5,
                      .sh = 1, .sw = 1, .ph = 2, .pw = 2};
    problem p1 = problem_make(2, conv1, true, 7);
    CHECK(p1.g.oh == 28 && p1.g.ow == 28, "conv1 output %dx%d", p1.g.oh, p1.g.ow);
    problem_free(&p1);
    check_all_algos(2, conv1, true, 7);
    check_all_algos(2, (ref_conv){.n = 8, .c = 6, .h = 14, .w = 14, .o = 16, .kh = 5, .kw = 5,
                                  .sh = 1, .sw = 1, .ph = 0, .pw = 0},
                    true, 8);
}

static void test_conv1d_random(void) {
    uint64_t s = 77;
    check_all_algos(1, (ref_conv){.n = 3, .c = 2, .h = 1, .w = 17, .o = 3, .kh = 1, .kw = 4,
                                  .sh = 1, .sw = 2, .ph = 0, .pw = 1},
                    true, 3);
    for (int cfg = 0; cfg < 14; cfg++)
        check_all_algos(1, random_geom(&s, 1), cfg % 2 == 0, 500 + 10 * (uint64_t)cfg);
}

/* conv1d ignores stride_h and pad_h: it is conv2d with H = 1. */
static void test_conv1d_ignores_h_params(void) {
    problem p = problem_make(1, (ref_conv){.n = 2, .c = 2, .h = 1, .w = 9, .o = 2, .kh = 1,
                                           .kw = 3, .sh = 1, .sw = 1, .ph = 0, .pw = 1},
                             true, 9);
    lunet_conv_params cp = {5, 1, 7, 1};
    REQUIRE_OK(lunet_conv1d_forward(p.tx, p.tw, p.tb, p.ty, &cp));
    float *y = malloc((size_t)ref_conv_y_numel(&p.g) * sizeof(float));
    ref_conv_forward(&p.g, p.x, p.w, p.b, y);
    expect_close(p.ty, y, "y", &p);
    free(y);
    problem_free(&p);
}

/* Backward twice: parameter gradients gain the gradient twice, grad_x is overwritten. */
static void conv_backward_accumulates_with(lunet__conv_algo algo) {
    problem p = problem_make(2, (ref_conv){.n = 2, .c = 2, .h = 7, .w = 6, .o = 3, .kh = 3,
                                           .kw = 2, .sh = 2, .sw = 1, .ph = 1, .pw = 0},
                             true, 11);
    p.algo = algo;
    REQUIRE_OK(lunet_tensor_fill(p.tgw, 0.0f));
    REQUIRE_OK(lunet_tensor_fill(p.tgb, 0.0f));
    REQUIRE_OK(run_backward(&p, p.tgx, p.tgw, p.tgb));
    float *gx1 = test_download(p.tgx), *gw1 = test_download(p.tgw), *gb1 = test_download(p.tgb);
    REQUIRE_OK(run_backward(&p, p.tgx, p.tgw, p.tgb));
    float *gx2 = test_download(p.tgx), *gw2 = test_download(p.tgw), *gb2 = test_download(p.tgb);
    int64_t nw = ref_conv_w_numel(&p.g);
    for (int64_t i = 0; i < nw; i++) gw1[i] *= 2.0f;
    for (int i = 0; i < p.g.o; i++) gb1[i] *= 2.0f;
    CHECK(test_rel_error(gw2, gw1, nw) <= 1e-6, "grad_weight after two calls is not 2x");
    CHECK(test_rel_error(gb2, gb1, p.g.o) <= 1e-6, "grad_bias after two calls is not 2x");
    CHECK(test_rel_error(gx2, gx1, ref_conv_x_numel(&p.g)) == 0.0, "grad_x must be overwritten");
    free(gx1), free(gw1), free(gb1), free(gx2), free(gw2), free(gb2);
    problem_free(&p);
}

static void test_conv_backward_accumulates(void) {
    for (size_t a = 0; a < sizeof ALGOS / sizeof ALGOS[0]; a++) conv_backward_accumulates_with(ALGOS[a]);
}

/* Each gradient may be NULL; the others are still right. */
static void conv_optional_gradients_with(lunet__conv_algo algo) {
    problem p = problem_make(2, (ref_conv){.n = 2, .c = 3, .h = 6, .w = 7, .o = 2, .kh = 2,
                                           .kw = 3, .sh = 1, .sw = 2, .ph = 1, .pw = 1},
                             true, 13);
    p.algo = algo;
    float *gx = malloc((size_t)ref_conv_x_numel(&p.g) * sizeof(float));
    float *gw = malloc((size_t)ref_conv_w_numel(&p.g) * sizeof(float));
    float *gb = malloc((size_t)p.g.o * sizeof(float));
    memcpy(gw, p.gw0, (size_t)ref_conv_w_numel(&p.g) * sizeof(float));
    memcpy(gb, p.gb0, (size_t)p.g.o * sizeof(float));
    ref_conv_backward(&p.g, p.x, p.w, p.gy, gx, gw, gb);

    REQUIRE_OK(run_backward(&p, p.tgx, NULL, NULL));
    expect_close(p.tgx, gx, "grad_x alone", &p);
    REQUIRE_OK(run_backward(&p, NULL, p.tgw, NULL));
    expect_close(p.tgw, gw, "grad_weight alone", &p);
    REQUIRE_OK(run_backward(&p, NULL, NULL, p.tgb));
    expect_close(p.tgb, gb, "grad_bias alone", &p);
    REQUIRE_OK(run_backward(&p, NULL, NULL, NULL));
    free(gx), free(gw), free(gb);
    problem_free(&p);
}

static void test_conv_optional_gradients(void) {
    for (size_t a = 0; a < sizeof ALGOS / sizeof ALGOS[0]; a++) conv_optional_gradients_with(ALGOS[a]);
}

/* Batch is a kernel dimension: a step launches as many kernels for N=1 as for N=9. */
static void test_conv_launches_independent_of_batch(void) {
    uint64_t counts[2];
    int batches[2] = {1, 9};
    for (int i = 0; i < 2; i++) {
        problem p = problem_make(2, (ref_conv){.n = batches[i], .c = 2, .h = 8, .w = 8, .o = 3,
                                               .kh = 3, .kw = 3, .sh = 1, .sw = 1, .ph = 1, .pw = 1},
                                 true, 17);
        uint64_t before = test_kernel_launches();
        REQUIRE_OK(run_forward(&p));
        REQUIRE_OK(run_backward(&p, p.tgx, p.tgw, p.tgb));
        counts[i] = test_kernel_launches() - before;
        problem_free(&p);
    }
    CHECK(counts[0] == counts[1], "N=1: %llu launches, N=9: %llu", (unsigned long long)counts[0],
          (unsigned long long)counts[1]);
    CHECK(counts[0] <= 10, "forward + backward took %llu launches", (unsigned long long)counts[0]);
}

static void test_conv2d_errors(void) {
    lunet_tensor *x = test_tensor(4, (int64_t[]){1, 1, 28, 28}, NULL);
    lunet_tensor *w = test_tensor(4, (int64_t[]){6, 1, 5, 5}, NULL);
    lunet_tensor *w2 = test_tensor(4, (int64_t[]){6, 2, 5, 5}, NULL);
    lunet_tensor *b = test_tensor(1, (int64_t[]){6}, NULL);
    lunet_tensor *b5 = test_tensor(1, (int64_t[]){5}, NULL);
    lunet_tensor *y = test_tensor(4, (int64_t[]){1, 6, 24, 24}, NULL);
    lunet_tensor *y28 = test_tensor(4, (int64_t[]){1, 6, 28, 28}, NULL);
    lunet_tensor *x3 = test_tensor(4, (int64_t[]){1, 1, 3, 3}, NULL);
    lunet_tensor *x3d = test_tensor(3, (int64_t[]){1, 28, 28}, NULL);
    lunet_tensor *y1 = test_tensor(4, (int64_t[]){1, 6, 1, 1}, NULL);
    lunet_conv_params cp = {1, 1, 0, 0};

    CHECK_FAILS(lunet_conv2d_forward(NULL, w, b, y, &cp), LUNET_ERR_ARGUMENT, "conv2d: x is NULL");
    CHECK_FAILS(lunet_conv2d_forward(x, NULL, b, y, &cp), LUNET_ERR_ARGUMENT,
                "conv2d: weight is NULL");
    CHECK_FAILS(lunet_conv2d_forward(x, w, b, NULL, &cp), LUNET_ERR_ARGUMENT, "conv2d: y is NULL");
    CHECK_FAILS(lunet_conv2d_forward(x, w, b, y, NULL), LUNET_ERR_ARGUMENT,
                "conv2d: params is NULL");
    CHECK_FAILS(lunet_conv2d_forward(x3d, w, b, y, &cp), LUNET_ERR_SHAPE,
                "conv2d: x must have 4 dimensions, got shape [1,28,28]");
    CHECK_FAILS(lunet_conv2d_forward(x, w2, b, y, &cp), LUNET_ERR_SHAPE,
                "conv2d: weight has shape [6,2,5,5] (2 input channels) but x has 1 channel "
                "(x has shape [1,1,28,28])");
    CHECK_FAILS(lunet_conv2d_forward(x, w, b5, y, &cp), LUNET_ERR_SHAPE,
                "conv2d: bias has shape [5], expected [6]");
    CHECK_FAILS(lunet_conv2d_forward(x, w, b, y28, &cp), LUNET_ERR_SHAPE,
                "conv2d: y has shape [1,6,28,28], expected [1,6,24,24]");
    CHECK_FAILS(lunet_conv2d_forward(x3, w, b, y1, &cp), LUNET_ERR_SHAPE,
                "conv2d: kernel 5x5 does not fit input 3x3 with padding 0");
    lunet_conv_params padded = {1, 1, 1, 0};
    CHECK_FAILS(lunet_conv2d_forward(x3, w, b, y1, &padded), LUNET_ERR_SHAPE,
                "conv2d: kernel 5x5 does not fit input 3x3 with padding 1x0");
    lunet_conv_params bad_stride = {0, 1, 0, 0}, bad_pad = {1, 1, -1, 0};
    CHECK_FAILS(lunet_conv2d_forward(x, w, b, y, &bad_stride), LUNET_ERR_ARGUMENT,
                "conv2d: stride 0x1 must be at least 1x1");
    CHECK_FAILS(lunet_conv2d_forward(x, w, b, y, &bad_pad), LUNET_ERR_ARGUMENT,
                "conv2d: padding -1x0 must not be negative");

    /* backward: grad_y and gradient shapes */
    CHECK_FAILS(lunet_conv2d_backward(x, w, y28, NULL, NULL, NULL, &cp), LUNET_ERR_SHAPE,
                "conv2d_backward: grad_y has shape [1,6,28,28], expected [1,6,24,24]");
    CHECK_FAILS(lunet_conv2d_backward(x, w, NULL, NULL, NULL, NULL, &cp), LUNET_ERR_ARGUMENT,
                "conv2d_backward: grad_y is NULL");
    CHECK_FAILS(lunet_conv2d_backward(x, w, y, x3, NULL, NULL, &cp), LUNET_ERR_SHAPE,
                "conv2d_backward: grad_x has shape [1,1,3,3], expected [1,1,28,28]");
    CHECK_FAILS(lunet_conv2d_backward(x, w, y, NULL, w2, NULL, &cp), LUNET_ERR_SHAPE,
                "conv2d_backward: grad_weight has shape [6,2,5,5], expected [6,1,5,5]");
    CHECK_FAILS(lunet_conv2d_backward(x, w, y, NULL, NULL, b5, &cp), LUNET_ERR_SHAPE,
                "conv2d_backward: grad_bias has shape [5], expected [6]");

    /* tensors of another context */
    lunet_context *other = NULL;
    REQUIRE_OK(lunet_context_create(NULL, &other));
    lunet_tensor *wo = NULL;
    REQUIRE_OK(lunet_tensor_create(other, 4, (int64_t[]){6, 1, 5, 5}, &wo));
    CHECK_FAILS(lunet_conv2d_forward(x, wo, b, y, &cp), LUNET_ERR_ARGUMENT,
                "conv2d: tensors belong to different contexts");
    CHECK_FAILS(lunet_conv2d_backward(x, w, y, NULL, wo, NULL, &cp), LUNET_ERR_ARGUMENT,
                "conv2d_backward: tensors belong to different contexts");
    lunet_tensor_free(wo);
    lunet_context_destroy(other);

    lunet_tensor *ts[] = {x, w, w2, b, b5, y, y28, x3, x3d, y1};
    for (int i = 0; i < 10; i++) lunet_tensor_free(ts[i]);
}

static void test_conv1d_errors(void) {
    lunet_tensor *x = test_tensor(3, (int64_t[]){2, 3, 3}, NULL);
    lunet_tensor *w = test_tensor(3, (int64_t[]){4, 3, 5}, NULL);
    lunet_tensor *w2 = test_tensor(3, (int64_t[]){4, 2, 3}, NULL);
    lunet_tensor *y = test_tensor(3, (int64_t[]){2, 4, 1}, NULL);
    lunet_tensor *x4 = test_tensor(4, (int64_t[]){2, 3, 1, 3}, NULL);
    lunet_conv_params cp = {1, 1, 0, 0}, bad = {1, 0, 0, 0}, neg = {1, 1, 0, -2};
    CHECK_FAILS(lunet_conv1d_forward(x4, w, NULL, y, &cp), LUNET_ERR_SHAPE,
                "conv1d: x must have 3 dimensions, got shape [2,3,1,3]");
    CHECK_FAILS(lunet_conv1d_forward(x, w, NULL, y, &cp), LUNET_ERR_SHAPE,
                "conv1d: kernel 5 does not fit input 3 with padding 0");
    CHECK_FAILS(lunet_conv1d_forward(x, w2, NULL, y, &cp), LUNET_ERR_SHAPE,
                "conv1d: weight has shape [4,2,3] (2 input channels) but x has 3 channels");
    CHECK_FAILS(lunet_conv1d_forward(x, w, NULL, y, &bad), LUNET_ERR_ARGUMENT,
                "conv1d: stride 0 must be at least 1");
    CHECK_FAILS(lunet_conv1d_forward(x, w, NULL, y, &neg), LUNET_ERR_ARGUMENT,
                "conv1d: padding -2 must not be negative");
    lunet_conv_params pad1 = {1, 1, 0, 1};
    REQUIRE_OK(lunet_conv1d_forward(x, w, NULL, y, &pad1));   /* 3 + 2 - 5 + 1 = 1 */
    CHECK_FAILS(lunet_conv1d_backward(x, w, x, NULL, NULL, NULL, &pad1), LUNET_ERR_SHAPE,
                "conv1d_backward: grad_y has shape [2,3,3], expected [2,4,1]");
    lunet_tensor *ts[] = {x, w, w2, y, x4};
    for (int i = 0; i < 5; i++) lunet_tensor_free(ts[i]);
}

int main(void) {
    TEST_BEGIN();
    RUN(test_conv_worked_example);
    RUN(test_conv_out_size);
    RUN(test_conv2d_random);
    RUN(test_conv2d_direct_blocks);
    RUN(test_conv_direct_every_tuning);
    RUN(test_conv_direct_every_layout);
    RUN(test_conv_algo_from_store);
    RUN(test_conv2d_lenet_shapes);
    RUN(test_conv1d_random);
    RUN(test_conv1d_ignores_h_params);
    RUN(test_conv_backward_accumulates);
    RUN(test_conv_optional_gradients);
    RUN(test_conv_launches_independent_of_batch);
    RUN(test_conv2d_errors);
    RUN(test_conv1d_errors);
    return TEST_END();
}
