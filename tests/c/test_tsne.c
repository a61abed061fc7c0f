/* test_tsne.c — exact t-SNE on the device against plain-C references in double precision:
 * the affinities (every row's conditional distribution has entropy log(perplexity), P is
 * symmetric, sums to 1, matches the reference), one gradient step and several (y, update
 * and gains), the KL divergence, determinism, launches per step, and every error path. */
#include <math.h>

#include "testlib.h"

/* ---- plain-C references ------------------------------------------------------------------ */

static double *ref_sqdist(const float *x, int n, int d) {
    double *dist = malloc(sizeof(double) * (size_t)n * (size_t)n);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            double s = 0.0;
            for (int c = 0; c < d; c++) {
                double v = (double)x[i * d + c] - (double)x[j * d + c];
                s += v * v;
            }
            dist[(size_t)i * n + j] = s;
        }
    return dist;
}

/* Entropy (nats) of row i's conditional p_{j|i} ~ exp(-beta d_ij), j != i; the
 * probabilities go to row_p when it is not NULL. */
static double ref_row_entropy(const double *dist, int n, int i, double beta, double *row_p) {
    const double *row = dist + (size_t)i * n;
    double dmin = INFINITY;
    for (int j = 0; j < n; j++)
        if (j != i && row[j] < dmin) dmin = row[j];
    double sum = 0.0, sum_dp = 0.0;
    for (int j = 0; j < n; j++) {
        if (j == i) continue;
        double e = exp(-beta * (row[j] - dmin));
        sum += e;
        sum_dp += (row[j] - dmin) * e;
    }
    if (row_p)
        for (int j = 0; j < n; j++) row_p[j] = j == i ? 0.0 : exp(-beta * (row[j] - dmin)) / sum;
    return log(sum) + beta * sum_dp / sum;
}

/* Reference affinities: bisection on log(beta) per row to 1e-12, then symmetrised. */
static double *ref_affinities(const double *dist, int n, double perplexity, double *betas) {
    double *cond = malloc(sizeof(double) * (size_t)n * (size_t)n);
    double target = log(perplexity);
    for (int i = 0; i < n; i++) {
        double lo = -60.0, hi = 60.0;  /* log(beta): entropy falls as beta grows */
        for (int it = 0; it < 200; it++) {
            double mid = 0.5 * (lo + hi);
            if (ref_row_entropy(dist, n, i, exp(mid), NULL) > target) lo = mid;
            else hi = mid;
        }
        betas[i] = exp(0.5 * (lo + hi));
        ref_row_entropy(dist, n, i, betas[i], cond + (size_t)i * n);
    }
    double *p = malloc(sizeof(double) * (size_t)n * (size_t)n);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            p[(size_t)i * n + j] = (cond[(size_t)i * n + j] + cond[(size_t)j * n + i]) / (2.0 * n);
    free(cond);
    return p;
}

/* One step as documented in lunet.h, in double. */
static void ref_step(const float *p, double *y, double *update, double *gains, int n,
                     double exaggeration, double momentum, double lr) {
    double z = 0.0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            if (i == j) continue;
            double dx = y[2 * i] - y[2 * j], dy = y[2 * i + 1] - y[2 * j + 1];
            z += 1.0 / (1.0 + dx * dx + dy * dy);
        }
    double *grad = calloc((size_t)(2 * n), sizeof(double));
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            if (i == j) continue;
            double dx = y[2 * i] - y[2 * j], dy = y[2 * i + 1] - y[2 * j + 1];
            double num = 1.0 / (1.0 + dx * dx + dy * dy);
            double m = (exaggeration * p[(size_t)i * n + j] - num / z) * num;
            grad[2 * i] += m * dx;
            grad[2 * i + 1] += m * dy;
        }
    double mean[2] = {0.0, 0.0};
    for (int k = 0; k < 2 * n; k++) {
        gains[k] = (grad[k] > 0.0) != (update[k] > 0.0) ? gains[k] + 0.2 : gains[k] * 0.8;
        if (gains[k] < 0.01) gains[k] = 0.01;
        update[k] = momentum * update[k] - lr * gains[k] * grad[k];
        y[k] += update[k];
        mean[k % 2] += y[k] / n;
    }
    for (int k = 0; k < 2 * n; k++) y[k] -= mean[k % 2];
    free(grad);
}

static double ref_kl(const float *p, const double *y, int n) {
    double z = 0.0, kl = 0.0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            if (i == j) continue;
            double dx = y[2 * i] - y[2 * j], dy = y[2 * i + 1] - y[2 * j + 1];
            z += 1.0 / (1.0 + dx * dx + dy * dy);
        }
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            double pij = p[(size_t)i * n + j];
            if (i == j || pij <= 0.0) continue;
            double dx = y[2 * i] - y[2 * j], dy = y[2 * i + 1] - y[2 * j + 1];
            kl += pij * log(pij / (1.0 / (1.0 + dx * dx + dy * dy) / z));
        }
    return kl;
}

/* ---- helpers ------------------------------------------------------------------------------ */

/* n points in d dimensions around `clusters` centres spread over [-scale, scale]. */
static float *clustered_points(int n, int d, int clusters, float scale, uint64_t seed) {
    float *x = malloc(sizeof(float) * (size_t)n * (size_t)d);
    float *centres = malloc(sizeof(float) * (size_t)clusters * (size_t)d);
    test_fill_random(centres, (int64_t)clusters * d, seed);
    test_fill_random(x, (int64_t)n * d, seed + 1);
    for (int i = 0; i < n; i++)
        for (int c = 0; c < d; c++)
            x[i * d + c] = 3.0f + scale * centres[(i % clusters) * d + c] + x[i * d + c];
    free(centres);
    return x;
}

/* max |a - b| / max |b| */
static double rel_to_max(const float *a, const double *b, int64_t n) {
    double err = 0.0, mag = 0.0;
    for (int64_t i = 0; i < n; i++) {
        err = fmax(err, fabs((double)a[i] - b[i]));
        mag = fmax(mag, fabs(b[i]));
    }
    return err / (mag > 0.0 ? mag : 1.0);
}

/* ---- affinities ------------------------------------------------------------------------- */

static void check_affinities(int n, int d, int clusters, float scale, float perplexity,
                             uint64_t seed) {
    float *hx = clustered_points(n, d, clusters, scale, seed);
    int64_t xs[2] = {n, d}, ps[2] = {n, n}, bs[1] = {n};
    lunet_tensor *x = test_tensor(2, xs, hx), *p = test_tensor(2, ps, NULL);
    lunet_tensor *betas = test_tensor(1, bs, NULL);
    double *dist = ref_sqdist(hx, n, d);
    double *rbetas = malloc(sizeof(double) * (size_t)n);
    double *rp = ref_affinities(dist, n, perplexity, rbetas);
    lunet_status st = lunet_tsne_affinities(x, perplexity, p, betas);
    CHECK(st == LUNET_OK, "tsne_affinities: %s", lunet_last_error());
    if (st == LUNET_OK) {
        float *dp = test_download(p), *db = test_download(betas);
        double target = log((double)perplexity), worst_h = 0.0, worst_beta = 0.0, sum = 0.0;
        int64_t asym = 0, negative = 0, diag = 0;
        for (int i = 0; i < n; i++) {
            /* the device's beta_i gives row i's conditional distribution this entropy */
            double h = ref_row_entropy(dist, n, i, (double)db[i], NULL);
            worst_h = fmax(worst_h, fabs(h - target) / target);
            worst_beta = fmax(worst_beta, fabs(db[i] - rbetas[i]) / rbetas[i]);
            for (int j = 0; j < n; j++) {
                float v = dp[(size_t)i * n + j];
                sum += v;
                asym += v != dp[(size_t)j * n + i];
                negative += v < 0.0f || !isfinite(v);
                diag += i == j && v != 0.0f;
            }
        }
        CHECK(worst_h <= 1e-3, "N %d perplexity %g: entropy off log(perplexity) by %.3g relative",
              n, perplexity, worst_h);
        CHECK(worst_beta <= 1e-2, "N %d: beta differs from the reference by %.3g relative", n,
              worst_beta);
        CHECK(asym == 0 && negative == 0 && diag == 0,
              "N %d: %lld asymmetric, %lld negative/non-finite, %lld nonzero diagonal entries", n,
              (long long)asym, (long long)negative, (long long)diag);
        CHECK(fabs(sum - 1.0) <= 1e-4, "N %d: P sums to %.8f, expected 1", n, sum);
        double err = rel_to_max(dp, rp, (int64_t)n * n);
        CHECK(err <= 2e-3, "N %d: P differs from the reference by %.3g of its largest entry", n, err);
        free(dp);
        free(db);
    }
    free(hx); free(dist); free(rbetas); free(rp);
    lunet_tensor_free(x); lunet_tensor_free(p); lunet_tensor_free(betas);
}

static void test_affinities_small(void) {
    check_affinities(40, 5, 3, 4.0f, 5.0f, 11);   /* 40 = 5 float8 blocks, no tail */
    check_affinities(37, 3, 2, 1.0f, 10.0f, 12);  /* a tail of 5 */
    check_affinities(9, 2, 1, 1.0f, 3.0f, 13);    /* one block and a tail of 1 */
}

static void test_affinities_lenet_sized(void) {
    check_affinities(301, 84, 10, 6.0f, 30.0f, 21);
}

/* Duplicate points and perplexity 1 (entropy 0 is out of reach with a duplicate): no NaN,
 * rows still sum to 1 / 2N each way. */
static void test_affinities_degenerate(void) {
    const int n = 12, d = 2;
    float hx[24];
    for (int i = 0; i < n; i++) { hx[2 * i] = (float)(i / 2); hx[2 * i + 1] = 0.0f; }  /* pairs */
    int64_t xs[2] = {n, d}, ps[2] = {n, n};
    lunet_tensor *x = test_tensor(2, xs, hx), *p = test_tensor(2, ps, NULL);
    REQUIRE_OK(lunet_tsne_affinities(x, 1.0f, p, NULL));
    float *dp = test_download(p);
    double sum = 0.0;
    int bad = 0;
    for (int k = 0; k < n * n; k++) { sum += dp[k]; bad += !isfinite(dp[k]); }
    CHECK(bad == 0 && fabs(sum - 1.0) <= 1e-5, "%d non-finite entries, sum %.8f", bad, sum);
    /* each point's twin carries (almost) all of its conditional mass: p_ij = 1 / 2N * 2 / 2 */
    CHECK(fabs(dp[0 * n + 1] - 1.0 / n) <= 1e-4, "p_01 = %g, expected about %g", dp[1], 1.0 / n);
    free(dp);
    lunet_tensor_free(x); lunet_tensor_free(p);
}

/* ---- gradient steps ----------------------------------------------------------------------- */

typedef struct step_case {
    int n;
    float *p, *y, *update, *gains;
    lunet_tensor *tp, *ty, *tu, *tg;
} step_case;

/* A random symmetric P (sum 1, zero diagonal), y ~ U(-scale, scale), update ~ U(-0.1, 0.1),
 * gains ~ U(0.5, 1.5). */
static step_case make_case(int n, float scale, uint64_t seed) {
    step_case c = {.n = n};
    c.p = malloc(sizeof(float) * (size_t)n * (size_t)n);
    c.y = malloc(sizeof(float) * 2 * (size_t)n);
    c.update = malloc(sizeof(float) * 2 * (size_t)n);
    c.gains = malloc(sizeof(float) * 2 * (size_t)n);
    test_fill_random(c.p, (int64_t)n * n, seed);
    double sum = 0.0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j <= i; j++) {
            float v = i == j ? 0.0f : c.p[(size_t)i * n + j] + 1.0f;
            c.p[(size_t)i * n + j] = c.p[(size_t)j * n + i] = v;
            sum += i == j ? 0.0 : 2.0 * v;
        }
    for (int k = 0; k < n * n; k++) c.p[k] = (float)(c.p[k] / sum);
    test_fill_random(c.y, 2 * n, seed + 1);
    test_fill_random(c.update, 2 * n, seed + 2);
    test_fill_random(c.gains, 2 * n, seed + 3);
    for (int k = 0; k < 2 * n; k++) {
        c.y[k] *= scale;
        c.update[k] *= 0.1f;
        c.gains[k] = 1.0f + 0.5f * c.gains[k];
    }
    int64_t ps[2] = {n, n}, ys[2] = {n, 2};
    c.tp = test_tensor(2, ps, c.p);
    c.ty = test_tensor(2, ys, c.y);
    c.tu = test_tensor(2, ys, c.update);
    c.tg = test_tensor(2, ys, c.gains);
    return c;
}

static void free_case(step_case *c) {
    free(c->p); free(c->y); free(c->update); free(c->gains);
    lunet_tensor_free(c->tp); lunet_tensor_free(c->ty);
    lunet_tensor_free(c->tu); lunet_tensor_free(c->tg);
}

static double *to_double(const float *v, int64_t n) {
    double *d = malloc(sizeof(double) * (size_t)n);
    for (int64_t i = 0; i < n; i++) d[i] = v[i];
    return d;
}

/* `steps` steps on the device and in the reference; y, update, gains agree within tol. */
static void check_steps(int n, float scale, int steps, float exaggeration, float momentum,
                        float lr, double tol, uint64_t seed) {
    step_case c = make_case(n, scale, seed);
    double *y = to_double(c.y, 2 * n), *u = to_double(c.update, 2 * n);
    double *g = to_double(c.gains, 2 * n);
    for (int s = 0; s < steps; s++) {
        lunet_status st = lunet_tsne_step(c.tp, c.ty, c.tu, c.tg, exaggeration, momentum, lr);
        REQUIRE(st == LUNET_OK, "tsne_step: %s", lunet_last_error());
        ref_step(c.p, y, u, g, n, exaggeration, momentum, lr);
    }
    float *dy = test_download(c.ty), *du = test_download(c.tu), *dg = test_download(c.tg);
    double ey = rel_to_max(dy, y, 2 * n), eu = rel_to_max(du, u, 2 * n);
    double eg = rel_to_max(dg, g, 2 * n);
    CHECK(ey <= tol && eu <= tol && eg <= tol,
          "N %d, %d steps, exaggeration %g: errors y %.3g, update %.3g, gains %.3g (bound %.g)",
          n, steps, exaggeration, ey, eu, eg, tol);
    double mx = 0.0, my = 0.0;
    for (int i = 0; i < n; i++) { mx += dy[2 * i]; my += dy[2 * i + 1]; }
    CHECK(fabs(mx / n) <= 1e-5 * (1.0 + fabs(y[0])) && fabs(my / n) <= 1e-5 * (1.0 + fabs(y[1])),
          "y is not centred: mean (%g, %g)", mx / n, my / n);
    free(dy); free(du); free(dg); free(y); free(u); free(g);
    free_case(&c);
}

static void test_one_step(void) {
    check_steps(24, 1e-2f, 1, 12.0f, 0.5f, 200.0f, 1e-4, 31);  /* early exaggeration phase */
    check_steps(37, 3.0f, 1, 1.0f, 0.8f, 200.0f, 1e-4, 32);    /* a tail of 5 */
    check_steps(5, 1.0f, 1, 4.0f, 0.0f, 10.0f, 1e-4, 33);      /* fewer points than a block */
}

static void test_several_steps(void) {
    check_steps(50, 1.0f, 10, 1.0f, 0.8f, 20.0f, 1e-3, 41);
}

/* A step worked by hand: three points on a line, P pulls the outer two together. */
static void test_step_by_hand(void) {
    const int n = 3;
    float p[9] = {0, 0, 0.5f, 0, 0, 0, 0.5f, 0, 0};
    float y[6] = {-1, 0, 0, 0, 1, 0}, zero[6] = {0}, ones[6] = {1, 1, 1, 1, 1, 1};
    int64_t ps[2] = {n, n}, ys[2] = {n, 2};
    lunet_tensor *tp = test_tensor(2, ps, p), *ty = test_tensor(2, ys, y);
    lunet_tensor *tu = test_tensor(2, ys, zero), *tg = test_tensor(2, ys, ones);
    REQUIRE_OK(lunet_tsne_step(tp, ty, tu, tg, 1.0f, 0.0f, 1.0f));
    float *d = test_download(ty), *g = test_download(tg), *u = test_download(tu);
    /* num_01 = num_12 = 1/2, num_02 = 1/5, Z = 2 (1/2 + 1/2 + 1/5) = 2.4.
     * dY_0x = (0 - 0.5/2.4) 0.5 (-1) + (0.5 - 0.2/2.4) 0.2 (-2) = -0.0625, dY_2x = +0.0625,
     * dY_1x = 0 and every dY_y = 0. With update 0: a gain grows (+0.2) only where dY > 0
     * (point 2), else shrinks (x 0.8). update = -gain dY: +0.05, 0, -0.075; y_x before
     * centring -0.95, 0, 0.925, mean -0.025/3. */
    const float want_x[3] = {-0.95f + 0.025f / 3, 0.025f / 3, 0.925f + 0.025f / 3};
    const float want_g[3] = {0.8f, 0.8f, 1.2f}, want_u[3] = {0.05f, 0.0f, -0.075f};
    for (int i = 0; i < n; i++) {
        CHECK(fabsf(d[2 * i] - want_x[i]) <= 1e-5f, "y_%d x = %.7g, expected %.7g", i, d[2 * i], want_x[i]);
        CHECK(d[2 * i + 1] == 0.0f, "y_%d moved off the line to y = %g", i, d[2 * i + 1]);
        CHECK(fabsf(g[2 * i] - want_g[i]) <= 1e-6f, "gain_%d x = %.7g, expected %.7g", i, g[2 * i], want_g[i]);
        CHECK(fabsf(g[2 * i + 1] - 0.8f) <= 1e-6f, "gain_%d y = %.7g, expected 0.8", i, g[2 * i + 1]);
        CHECK(fabsf(u[2 * i] - want_u[i]) <= 1e-6f, "update_%d x = %.7g, expected %.7g", i, u[2 * i], want_u[i]);
    }
    free(d); free(g); free(u);
    lunet_tensor_free(tp); lunet_tensor_free(ty); lunet_tensor_free(tu); lunet_tensor_free(tg);
}

static void test_kl(void) {
    const int n = 45;
    step_case c = make_case(n, 2.0f, 51);
    float kl = 0.0f;
    REQUIRE_OK(lunet_tsne_kl(c.tp, c.ty, &kl));
    double *y = to_double(c.y, 2 * n);
    double want = ref_kl(c.p, y, n);
    CHECK(fabs(kl - want) <= 1e-4 * fmax(1.0, fabs(want)), "KL %.7g, reference %.7g", kl, want);
    /* a few steps at exaggeration 1 lower it */
    for (int s = 0; s < 20; s++) REQUIRE_OK(lunet_tsne_step(c.tp, c.ty, c.tu, c.tg, 1.0f, 0.5f, 5.0f));
    float after = 0.0f;
    REQUIRE_OK(lunet_tsne_kl(c.tp, c.ty, &after));
    CHECK(after < kl, "KL did not fall over 20 steps: %g -> %g", kl, after);
    free(y);
    free_case(&c);
}

/* The same inputs give bit-identical results (the sums are in a fixed order). */
static void test_deterministic(void) {
    float *results[2];
    for (int run = 0; run < 2; run++) {
        step_case c = make_case(203, 1.0f, 61);
        for (int s = 0; s < 15; s++) REQUIRE_OK(lunet_tsne_step(c.tp, c.ty, c.tu, c.tg, 12.0f, 0.5f, 50.0f));
        results[run] = test_download(c.ty);
        free_case(&c);
    }
    CHECK(memcmp(results[0], results[1], sizeof(float) * 2 * 203) == 0, "two runs differ");
    free(results[0]); free(results[1]);
}

/* Four launches per step whatever N; the affinities take a fixed number too. */
static void test_launches(void) {
    for (int n = 16; n <= 160; n *= 10) {
        step_case c = make_case(n, 1.0f, 71);
        lunet_stats before, after;
        lunet_context_stats(test_ctx(), &before);
        CHECK(lunet_tsne_step(c.tp, c.ty, c.tu, c.tg, 1.0f, 0.5f, 10.0f) == LUNET_OK, "%s",
              lunet_last_error());
        lunet_context_stats(test_ctx(), &after);
        CHECK(after.kernel_launches - before.kernel_launches == 4, "N=%d: %llu launches per step", n,
              (unsigned long long)(after.kernel_launches - before.kernel_launches));
        free_case(&c);
    }
}

static void test_errors(void) {
    int64_t xs[2] = {10, 4}, ps[2] = {10, 10}, ys[2] = {10, 2}, bad[2] = {9, 9}, bs[1] = {10};
    int64_t tiny[2] = {2, 4}, tinyp[2] = {2, 2}, y3[2] = {10, 3}, x1[1] = {10}, b9[1] = {9};
    lunet_tensor *x = test_tensor(2, xs, NULL), *p = test_tensor(2, ps, NULL);
    lunet_tensor *y = test_tensor(2, ys, NULL), *u = test_tensor(2, ys, NULL);
    lunet_tensor *g = test_tensor(2, ys, NULL), *pbad = test_tensor(2, bad, NULL);
    lunet_tensor *betas = test_tensor(1, bs, NULL), *betas9 = test_tensor(1, b9, NULL);
    lunet_tensor *xt = test_tensor(2, tiny, NULL), *pt = test_tensor(2, tinyp, NULL);
    lunet_tensor *ybad = test_tensor(2, y3, NULL), *xflat = test_tensor(1, x1, NULL);
    lunet_tensor *alias = NULL;
    REQUIRE_OK(lunet_tensor_view(p, 2, ps, &alias));

    CHECK_FAILS(lunet_tsne_affinities(NULL, 5, p, NULL), LUNET_ERR_ARGUMENT, "tsne_affinities: x is NULL");
    CHECK_FAILS(lunet_tsne_affinities(xflat, 5, p, NULL), LUNET_ERR_SHAPE, "tsne_affinities: x");
    CHECK_FAILS(lunet_tsne_affinities(x, 5, NULL, NULL), LUNET_ERR_ARGUMENT, "tsne_affinities: p is NULL");
    CHECK_FAILS(lunet_tsne_affinities(x, 5, pbad, NULL), LUNET_ERR_SHAPE,
                "tsne_affinities: p has shape [9,9], expected [10,10]");
    CHECK_FAILS(lunet_tsne_affinities(x, 5, p, betas9), LUNET_ERR_SHAPE,
                "tsne_affinities: betas has shape [9], expected [10]");
    CHECK_FAILS(lunet_tsne_affinities(xt, 1, pt, NULL), LUNET_ERR_SHAPE,
                "tsne_affinities: x has 2 points, expected 3 to 46340");
    CHECK_FAILS(lunet_tsne_affinities(x, 9, p, betas), LUNET_ERR_ARGUMENT,
                "tsne_affinities: perplexity = 9 must be at least 1 and less than N - 1 = 9 (N = 10 points)");
    CHECK_FAILS(lunet_tsne_affinities(x, 0.5f, p, betas), LUNET_ERR_ARGUMENT,
                "perplexity = 0.5 must be at least 1");
    CHECK_FAILS(lunet_tsne_affinities(x, NAN, p, betas), LUNET_ERR_ARGUMENT, "perplexity = nan");
    CHECK_FAILS(lunet_tsne_affinities(x, 5, p, alias), LUNET_ERR_SHAPE, "betas has shape [10,10]");

    CHECK_FAILS(lunet_tsne_step(NULL, y, u, g, 1, 0.5f, 200), LUNET_ERR_ARGUMENT, "tsne_step: p is NULL");
    CHECK_FAILS(lunet_tsne_step(p, NULL, u, g, 1, 0.5f, 200), LUNET_ERR_ARGUMENT, "tsne_step: y is NULL");
    CHECK_FAILS(lunet_tsne_step(p, y, NULL, g, 1, 0.5f, 200), LUNET_ERR_ARGUMENT, "tsne_step: update is NULL");
    CHECK_FAILS(lunet_tsne_step(p, y, u, NULL, 1, 0.5f, 200), LUNET_ERR_ARGUMENT, "tsne_step: gains is NULL");
    CHECK_FAILS(lunet_tsne_step(p, ybad, u, g, 1, 0.5f, 200), LUNET_ERR_SHAPE,
                "tsne_step: y has shape [10,3], expected [10,2]");
    CHECK_FAILS(lunet_tsne_step(pbad, y, u, g, 1, 0.5f, 200), LUNET_ERR_SHAPE,
                "tsne_step: p has shape [9,9], expected [10,10]");
    CHECK_FAILS(lunet_tsne_step(p, y, ybad, g, 1, 0.5f, 200), LUNET_ERR_SHAPE,
                "tsne_step: update has shape [10,3], expected [10,2]");
    CHECK_FAILS(lunet_tsne_step(p, y, u, ybad, 1, 0.5f, 200), LUNET_ERR_SHAPE,
                "tsne_step: gains has shape [10,3], expected [10,2]");
    CHECK_FAILS(lunet_tsne_step(p, y, u, u, 1, 0.5f, 200), LUNET_ERR_ARGUMENT,
                "tsne_step: p, y, update and gains must be four separate tensors");
    CHECK_FAILS(lunet_tsne_step(p, y, u, g, 0, 0.5f, 200), LUNET_ERR_ARGUMENT,
                "tsne_step: exaggeration = 0 must be positive and finite");
    CHECK_FAILS(lunet_tsne_step(p, y, u, g, INFINITY, 0.5f, 200), LUNET_ERR_ARGUMENT,
                "exaggeration = inf must be positive and finite");
    CHECK_FAILS(lunet_tsne_step(p, y, u, g, 1, 1.0f, 200), LUNET_ERR_ARGUMENT,
                "tsne_step: momentum = 1 must be in [0, 1)");
    CHECK_FAILS(lunet_tsne_step(p, y, u, g, 1, -0.1f, 200), LUNET_ERR_ARGUMENT,
                "momentum = -0.1 must be in [0, 1)");
    CHECK_FAILS(lunet_tsne_step(p, y, u, g, 1, 0.5f, -5), LUNET_ERR_ARGUMENT,
                "tsne_step: learning_rate = -5 must be positive and finite");
    CHECK_FAILS(lunet_tsne_step(p, y, u, g, 1, 0.5f, NAN), LUNET_ERR_ARGUMENT, "learning_rate = nan");

    float kl = 0.0f;
    CHECK_FAILS(lunet_tsne_kl(p, y, NULL), LUNET_ERR_ARGUMENT, "tsne_kl: kl is NULL");
    CHECK_FAILS(lunet_tsne_kl(NULL, y, &kl), LUNET_ERR_ARGUMENT, "tsne_kl: p is NULL");
    CHECK(isnan(kl), "a failed tsne_kl must leave NaN in *kl, got %g", kl);
    CHECK_FAILS(lunet_tsne_kl(p, ybad, &kl), LUNET_ERR_SHAPE, "tsne_kl: y has shape [10,3], expected [10,2]");
    CHECK_FAILS(lunet_tsne_kl(pbad, y, &kl), LUNET_ERR_SHAPE, "tsne_kl: p has shape [9,9], expected [10,10]");

    lunet_tensor *list[] = {x, p, y, u, g, pbad, betas, betas9, xt, pt, ybad, xflat, alias};
    for (size_t i = 0; i < sizeof list / sizeof list[0]; i++) lunet_tensor_free(list[i]);
}

int main(void) {
    TEST_BEGIN();
    RUN(test_affinities_small);
    RUN(test_affinities_lenet_sized);
    RUN(test_affinities_degenerate);
    RUN(test_one_step);
    RUN(test_several_steps);
    RUN(test_step_by_hand);
    RUN(test_kl);
    RUN(test_deterministic);
    RUN(test_launches);
    RUN(test_errors);
    return TEST_END();
}
