/*
 * gemm.c — row-major C = alpha * op(A) op(B) + beta * C on the device (kernels/gemm.cl).
 *
 * Conv and linear layers run on lunet__gemm (raw buffers with element offsets);
 * lunet_gemm is the public form on tensors. Two kernel variants: register blocks per
 * work-item for CPUs (PoCL), local-memory tiles for GPUs, with a tile size that the
 * device's work-group limit allows; which one, and its block sizes, the context's tuning
 * store says (defaults by device type, scripts/tune.lua measures better ones).
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "ops/gemm.h"

/* The variant and the block sizes come from the context's tuning store (tuning.c):
 * gemm.variant (reg|tiled), for reg the block gemm.rm x gemm.rn of gemm_reg_nn/tn/tt (RN a
 * float vector width) and gemm.dm x gemm.dn dot products in gemm.dv-wide pieces for
 * gemm_reg_nt, for tiled the largest tile gemm.tile. The fallbacks here are the defaults
 * of the store's table (tuned on PoCL, AVX-512). */
enum { VARIANT_REG = 0, VARIANT_TILED = 1 };   /* the order of gemm.variant's names */
enum { REG_GROUP_ROWS = 8 };

typedef struct tiled_config {
    int tsm, tsn, tsk, wptm, wptn;
} tiled_config;

/* Largest first; the work-group is (tsn/wptn) x (tsm/wptm). */
static const tiled_config TILED_CONFIGS[] = {
    {64, 64, 16, 4, 4}, {32, 32, 16, 4, 4}, {16, 16, 8, 4, 4}, {8, 8, 8, 4, 4}, {4, 4, 4, 4, 4},
};

static const char *kernel_suffix(int trans_a, int trans_b) {
    static const char *const names[2][2] = {{"nn", "nt"}, {"tn", "tt"}};
    return names[trans_a != 0][trans_b != 0];
}

static void tiled_options(const tiled_config *t, char *buf, size_t size) {
    snprintf(buf, size, "-DGEMM_TILED -DTSM=%d -DTSN=%d -DTSK=%d -DWPTM=%d -DWPTN=%d", t->tsm,
             t->tsn, t->tsk, t->wptm, t->wptn);
}

/* The first tile configuration, from gemm.tile down, whose work-group the device and the
 * built kernel accept. */
static lunet_status pick_tiled(lunet_context *ctx, const char *name, const tiled_config **out,
                               char *options, size_t size) {
    int largest = lunet__tuned(ctx, "gemm.tile", 64);
    for (size_t i = 0; i < sizeof TILED_CONFIGS / sizeof TILED_CONFIGS[0]; i++) {
        const tiled_config *t = &TILED_CONFIGS[i];
        if (t->tsm > largest) continue;
        size_t wg = (size_t)(t->tsm / t->wptm) * (size_t)(t->tsn / t->wptn);
        if (wg > ctx->max_work_group_size) continue;
        tiled_options(t, options, size);
        cl_kernel kernel;
        lunet_status st = lunet__kernel(ctx, "gemm", name, options, &kernel);
        if (st != LUNET_OK) return st;
        size_t kernel_wg = 0;
        cl_int err = clGetKernelWorkGroupInfo(kernel, ctx->device, CL_KERNEL_WORK_GROUP_SIZE,
                                              sizeof kernel_wg, &kernel_wg, NULL);
        if (err != CL_SUCCESS) return lunet__cl_fail(err, "clGetKernelWorkGroupInfo(gemm)");
        if (wg <= kernel_wg) {
            *out = t;
            return LUNET_OK;
        }
    }
    return lunet__fail(LUNET_ERR_OPENCL, "gemm: no tile size fits the work-group limit of %s",
                       ctx->info.name);
}

static lunet_status check_sizes(int64_t m, int64_t n, int64_t k, size_t a_offset,
                                size_t b_offset, size_t c_offset) {
    if (m < 0 || n < 0 || k < 0)
        return lunet__fail(LUNET_ERR_ARGUMENT, "gemm: sizes m=%lld n=%lld k=%lld must not be negative",
                           (long long)m, (long long)n, (long long)k);
    if (m > INT_MAX || n > INT_MAX || k > INT_MAX || m * k > INT_MAX || k * n > INT_MAX ||
        m * n > INT_MAX || a_offset > INT_MAX || b_offset > INT_MAX || c_offset > INT_MAX)
        return lunet__fail(LUNET_ERR_ARGUMENT,
                           "gemm: m=%lld n=%lld k=%lld: matrices and offsets must stay below "
                           "2^31 elements",
                           (long long)m, (long long)n, (long long)k);
    return LUNET_OK;
}

static lunet_status run_reg(lunet_context *ctx, const char *suffix, int m, int n, int nargs,
                            const lunet_arg *args) {
    char name[32], options[96];
    snprintf(name, sizeof name, "gemm_reg_%s", suffix);
    int rm = lunet__tuned(ctx, "gemm.rm", 8), rn = lunet__tuned(ctx, "gemm.rn", 16);
    int dm = lunet__tuned(ctx, "gemm.dm", 4), dn = lunet__tuned(ctx, "gemm.dn", 8);
    /* One program holds all four kernels, so every block size is in its options. */
    snprintf(options, sizeof options, "-DRM=%d -DRN=%d -DDM=%d -DDN=%d -DDV=%d", rm, rn, dm, dn,
             lunet__tuned(ctx, "gemm.dv", 16));
    bool dot = strcmp(suffix, "nt") == 0;
    size_t bm = (size_t)(dot ? dm : rm), bn = (size_t)(dot ? dn : rn);
    size_t global[2] = {((size_t)n + bn - 1) / bn, ((size_t)m + bm - 1) / bm};
    /* A small explicit work-group: left to itself PoCL makes one group of thousands of
     * work-items, and their register blocks (kilobytes each) overflow its thread stack.
     * Work-items past the matrix (rounding) return at once. */
    size_t local[2] = {1, REG_GROUP_ROWS};
    return lunet__run(ctx, "gemm", name, options, 2, global, local, nargs, args);
}

/* Products at least this large (m*n*k) run on packed panels of op(B) (gemm_pack_b_*,
 * gemm_packed_*): the packing pass costs O(k*n), the strided reads it saves O(m*n*k/rm). */
#define PACKED_MIN_WORK (1 << 24)

static bool use_packed(int64_t m, int64_t n, int64_t k) {
    return m * n * k >= PACKED_MIN_WORK && m >= 64;
}

static lunet_status run_packed(lunet_context *ctx, int trans_a, int trans_b, int M, int N, int K,
                               float alpha, cl_mem a, int ao, cl_mem b, int bo, float beta,
                               cl_mem c, int co) {
    char options[96];
    int rm = lunet__tuned(ctx, "gemm.rm", 8), rn = lunet__tuned(ctx, "gemm.rn", 16);
    snprintf(options, sizeof options, "-DRM=%d -DRN=%d -DDM=%d -DDN=%d -DDV=%d", rm, rn,
             lunet__tuned(ctx, "gemm.dm", 4), lunet__tuned(ctx, "gemm.dn", 8),
             lunet__tuned(ctx, "gemm.dv", 16));
    size_t panels = ((size_t)N + (size_t)rn - 1) / (size_t)rn;
    lunet_tensor *bp = NULL;
    int64_t shape[1] = {(int64_t)(panels * (size_t)rn * (size_t)K)};
    lunet_status st = lunet__tensor_empty(ctx, 1, shape, &bp);
    if (st != LUNET_OK) return st;
    cl_mem bpm = lunet__mem(bp);
    lunet_arg pack_args[] = {LUNET_ARG(N), LUNET_ARG(K), LUNET_ARG(b), LUNET_ARG(bo), LUNET_ARG(bpm)};
    size_t pack_global[2] = {panels, (size_t)K};
    st = lunet__run(ctx, "gemm", trans_b ? "gemm_pack_b_t" : "gemm_pack_b_n", options, 2,
                    pack_global, NULL, LUNET_NARGS(pack_args), pack_args);
    lunet_arg args[] = {LUNET_ARG(M), LUNET_ARG(N),   LUNET_ARG(K),    LUNET_ARG(alpha),
                        LUNET_ARG(a), LUNET_ARG(ao),  LUNET_ARG(bpm),  LUNET_ARG(beta),
                        LUNET_ARG(c), LUNET_ARG(co)};
    size_t global[2] = {panels, ((size_t)M + (size_t)rm - 1) / (size_t)rm};
    size_t local[2] = {1, REG_GROUP_ROWS};
    if (st == LUNET_OK)
        st = lunet__run(ctx, "gemm", trans_a ? "gemm_packed_t" : "gemm_packed_n", options, 2,
                        global, local, LUNET_NARGS(args), args);
    lunet_tensor_free(bp);
    return st;
}

/* Split-K: a product with few output tiles and a long depth (LeNet's weight gradients,
 * 6x25 outputs over 64 images x 784 positions) would run on as many work-groups as tiles,
 * each walking the whole depth; on an H100 that made conv1's weight gradient 4.8 ms.
 * Chunks of the depth, at least SPLIT_MIN_CHUNK deep, then run side by side until about
 * two work-groups per compute unit are busy, and gemm_sum_partials adds them up. Layers
 * ask for it only where the depth is the batch (lunet__gemm_reduce: weight gradients), and
 * then always, so that a step's launches stay the same at any batch size. */
#define SPLIT_MIN_CHUNK 128

/* The number of depth chunks worth running (1: none) and their depth *kc, a multiple of tsk. */
static int split_count(const lunet_context *ctx, size_t tiles, int K, int tsk, int *kc) {
    size_t units = ctx->info.compute_units > 0 ? (size_t)ctx->info.compute_units : 1;
    *kc = K > 0 ? K : 1;
    if (tiles >= units || K < 2 * SPLIT_MIN_CHUNK) return 1;
    size_t want = (2 * units + tiles - 1) / tiles, most = (size_t)K / SPLIT_MIN_CHUNK;
    size_t chunks = want < most ? want : most;
    if (chunks < 2) return 1;
    int depth = (int)(((size_t)K + chunks - 1) / chunks);
    *kc = (depth + tsk - 1) / tsk * tsk;
    return (K + *kc - 1) / *kc;
}

static lunet_status run_split(lunet_context *ctx, const char *suffix, const char *options,
                              const size_t *global, const size_t *local, int chunks, int kc,
                              int M, int N, int K, float alpha, cl_mem a, int ao, cl_mem b,
                              int bo, float beta, cl_mem c, int co) {
    lunet_tensor *partial = NULL;
    int64_t shape[1] = {(int64_t)chunks * M * N};
    lunet_status st = lunet__tensor_empty(ctx, 1, shape, &partial);
    if (st != LUNET_OK) return st;
    cl_mem p = lunet__mem(partial);
    char name[40];
    snprintf(name, sizeof name, "gemm_tiled_split_%s", suffix);
    lunet_arg args[] = {LUNET_ARG(M), LUNET_ARG(N),  LUNET_ARG(K), LUNET_ARG(kc), LUNET_ARG(a),
                        LUNET_ARG(ao), LUNET_ARG(b), LUNET_ARG(bo), LUNET_ARG(p)};
    size_t global3[3] = {global[0], global[1], (size_t)chunks}, local3[3] = {local[0], local[1], 1};
    st = lunet__run(ctx, "gemm", name, options, 3, global3, local3, LUNET_NARGS(args), args);
    int mn = M * N;
    lunet_arg sum_args[] = {LUNET_ARG(mn),   LUNET_ARG(chunks), LUNET_ARG(p), LUNET_ARG(alpha),
                            LUNET_ARG(beta), LUNET_ARG(c),      LUNET_ARG(co)};
    size_t sum_global[1] = {(size_t)mn}, sum_local[1] = {64};
    if (st == LUNET_OK)
        st = lunet__run(ctx, "gemm", "gemm_sum_partials", options, 1, sum_global, sum_local,
                        LUNET_NARGS(sum_args), sum_args);
    lunet_tensor_free(partial);
    return st;
}

static lunet_status run_tiled(lunet_context *ctx, lunet__gemm_split split, const char *suffix,
                              int M, int N, int K, float alpha, cl_mem a, int ao, cl_mem b,
                              int bo, float beta, cl_mem c, int co) {
    char name[32], options[160];
    snprintf(name, sizeof name, "gemm_tiled_%s", suffix);
    const tiled_config *t = NULL;
    lunet_status st = pick_tiled(ctx, name, &t, options, sizeof options);
    if (st != LUNET_OK) return st;
    size_t local[2] = {(size_t)(t->tsn / t->wptn), (size_t)(t->tsm / t->wptm)};
    size_t groups[2] = {(size_t)(N + t->tsn - 1) / (size_t)t->tsn,
                        (size_t)(M + t->tsm - 1) / (size_t)t->tsm};
    size_t global[2] = {groups[0] * local[0], groups[1] * local[1]};
    int kc = K, chunks = split_count(ctx, groups[0] * groups[1], K, t->tsk, &kc);
    if (split == LUNET__SPLIT_ALWAYS || (split == LUNET__SPLIT_SHAPE && chunks > 1))
        return run_split(ctx, suffix, options, global, local, chunks, kc, M, N, K, alpha, a, ao,
                         b, bo, beta, c, co);
    lunet_arg args[] = {LUNET_ARG(M), LUNET_ARG(N),  LUNET_ARG(K),    LUNET_ARG(alpha),
                        LUNET_ARG(a), LUNET_ARG(ao), LUNET_ARG(b),    LUNET_ARG(bo),
                        LUNET_ARG(beta), LUNET_ARG(c), LUNET_ARG(co)};
    return lunet__run(ctx, "gemm", name, options, 2, global, local, LUNET_NARGS(args), args);
}

lunet_status lunet__gemm_ex(lunet_context *ctx, lunet__gemm_kind kind, lunet__gemm_split split,
                            int trans_a, int trans_b, int64_t m, int64_t n, int64_t k,
                            float alpha, cl_mem a, size_t a_offset, cl_mem b, size_t b_offset,
                            float beta, cl_mem c, size_t c_offset) {
    lunet_status st = check_sizes(m, n, k, a_offset, b_offset, c_offset);
    if (st != LUNET_OK || m == 0 || n == 0) return st;
    if (kind == LUNET__GEMM_AUTO)
        kind = lunet__tuned(ctx, "gemm.variant", lunet__is_gpu(ctx)) == VARIANT_TILED
                   ? LUNET__GEMM_TILED
                   : LUNET__GEMM_REG;
    int M = (int)m, N = (int)n, K = (int)k;
    int ao = (int)a_offset, bo = (int)b_offset, co = (int)c_offset;
    lunet_arg args[] = {LUNET_ARG(M), LUNET_ARG(N),  LUNET_ARG(K),    LUNET_ARG(alpha),
                        LUNET_ARG(a), LUNET_ARG(ao), LUNET_ARG(b),    LUNET_ARG(bo),
                        LUNET_ARG(beta), LUNET_ARG(c), LUNET_ARG(co)};
    const char *suffix = kernel_suffix(trans_a, trans_b);
    if (kind == LUNET__GEMM_REG && use_packed(m, n, k))
        return run_packed(ctx, trans_a, trans_b, M, N, K, alpha, a, ao, b, bo, beta, c, co);
    if (kind == LUNET__GEMM_REG) return run_reg(ctx, suffix, M, N, LUNET_NARGS(args), args);
    return run_tiled(ctx, split, suffix, M, N, K, alpha, a, ao, b, bo, beta, c, co);
}

lunet_status lunet__gemm_variant(lunet_context *ctx, lunet__gemm_kind kind, int trans_a,
                                 int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                                 cl_mem a, size_t a_offset, cl_mem b, size_t b_offset,
                                 float beta, cl_mem c, size_t c_offset) {
    return lunet__gemm_ex(ctx, kind, LUNET__SPLIT_SHAPE, trans_a, trans_b, m, n, k, alpha, a,
                          a_offset, b, b_offset, beta, c, c_offset);
}

lunet_status lunet__gemm(lunet_context *ctx, int trans_a, int trans_b, int64_t m, int64_t n,
                         int64_t k, float alpha, cl_mem a, size_t a_offset, cl_mem b,
                         size_t b_offset, float beta, cl_mem c, size_t c_offset) {
    return lunet__gemm_ex(ctx, LUNET__GEMM_AUTO, LUNET__SPLIT_NEVER, trans_a, trans_b, m, n, k,
                          alpha, a, a_offset, b, b_offset, beta, c, c_offset);
}

lunet_status lunet__gemm_reduce(lunet_context *ctx, int trans_a, int trans_b, int64_t m,
                                int64_t n, int64_t k, float alpha, cl_mem a, size_t a_offset,
                                cl_mem b, size_t b_offset, float beta, cl_mem c,
                                size_t c_offset) {
    return lunet__gemm_ex(ctx, LUNET__GEMM_AUTO, LUNET__SPLIT_ALWAYS, trans_a, trans_b, m, n, k,
                          alpha, a, a_offset, b, b_offset, beta, c, c_offset);
}

/* t must hold at least rows*cols elements. */
static lunet_status check_fits(const char *what, const lunet_tensor *t, const char *dims,
                               int64_t rows, int64_t cols) {
    lunet_status st = lunet__check_tensor("gemm", what, t);
    if (st != LUNET_OK) return st;
    if (t->numel < rows * cols) {
        char s[96];
        lunet__shape_str(t, s, sizeof s);
        return lunet__fail(LUNET_ERR_SHAPE,
                           "gemm: %s has shape %s (%lld elements) but %s = %lldx%lld needs %lld",
                           what, s, (long long)t->numel, dims, (long long)rows, (long long)cols,
                           (long long)(rows * cols));
    }
    return LUNET_OK;
}

static lunet_status check_no_alias(const lunet_tensor *c, const lunet_tensor *in,
                                   const char *what) {
    if (c->storage == in->storage)
        return lunet__fail(LUNET_ERR_ARGUMENT,
                           "gemm: c shares storage with %s; the output must not overlap an input",
                           what);
    return LUNET_OK;
}

lunet_status lunet_gemm(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                        const lunet_tensor *a, const lunet_tensor *b, float beta,
                        lunet_tensor *c) {
    lunet_status st = check_sizes(m, n, k, 0, 0, 0);
    if (st == LUNET_OK) st = check_fits("a", a, trans_a ? "k*m" : "m*k", trans_a ? k : m, trans_a ? m : k);
    if (st == LUNET_OK) st = check_fits("b", b, trans_b ? "n*k" : "k*n", trans_b ? n : k, trans_b ? k : n);
    if (st == LUNET_OK) st = check_fits("c", c, "m*n", m, n);
    if (st == LUNET_OK) st = lunet__check_same_ctx("gemm", a, b);
    if (st == LUNET_OK) st = lunet__check_same_ctx("gemm", a, c);
    if (st == LUNET_OK) st = check_no_alias(c, a, "a");
    if (st == LUNET_OK) st = check_no_alias(c, b, "b");
    if (st != LUNET_OK) return st;
    return lunet__gemm_ex(c->ctx, LUNET__GEMM_AUTO, LUNET__SPLIT_SHAPE, trans_a, trans_b, m, n, k,
                          alpha, lunet__mem(a), 0, lunet__mem(b), 0, beta, lunet__mem(c), 0);
}
