/* gemm.cl — row-major C[M,N] = alpha * op(A) op(B) + beta * C, op(X) = X or X^T.
 *
 * A is [M,K] ([K,M] when transposed), B is [K,N] ([N,K] when transposed). Every
 * variant exists for the four transposition cases: gemm_<variant>_nn, _nt, _tn, _tt.
 * Buffers come with element offsets so that callers can address sub-matrices.
 * beta == 0 never reads C (its old contents may be NaN).
 *
 * Two variants, one per program build (-DGEMM_TILED selects the second):
 *   reg   — for CPUs: no local memory, no barriers (PoCL runs it as plain loops), explicit
 *           vectors. nn/tn/tt: each work-item computes RM rows x RN columns, a floatRN
 *           row vector per row; global (ceil(N/RN), ceil(M/RM)). nt (both operands read
 *           along k): DM x DN dot products in DV-wide pieces; global (ceil(N/DN), ceil(M/DM)).
 *           Large products first pack op(B) into panels (gemm_pack_b_n/t, gemm_packed_n/t).
 *           Register-block loops are unrolled and use fma(): without that PoCL keeps the
 *           accumulators in memory and splits mad() into a multiply and an add (3x slower).
 *   tiled — for GPUs: a work-group stages TSM x TSK tiles of A and TSK x TSN tiles of
 *           B in local memory; each work-item computes WPTM x WPTN outputs.
 *           Work-group (TSN/WPTN, TSM/WPTM); global (ceil(N/TSN), ceil(M/TSM)) groups.
 */

#ifndef RM
#define RM 8
#endif
#ifndef RN
#define RN 16   /* a vector width: 2, 4, 8 or 16 */
#endif
#ifndef DM
#define DM 4
#endif
#ifndef DN
#define DN 8
#endif
#ifndef DV
#define DV 16   /* 8 or 16 */
#endif

#ifndef TSM
#define TSM 64
#endif
#ifndef TSN
#define TSN 64
#endif
#ifndef TSK
#define TSK 16
#endif
#ifndef WPTM
#define WPTM 4
#endif
#ifndef WPTN
#define WPTN 4
#endif
#define RTSM (TSM / WPTM)
#define RTSN (TSN / WPTN)
#define TILED_WG (RTSM * RTSN)

/* Element (i,k) of op(A) and (k,j) of op(B); ta/tb are constants after inlining. */
#define A_AT(ta, i, k) ((ta) ? a[(k) * M + (i)] : a[(i) * K + (k)])
#define B_AT(tb, k, j) ((tb) ? b[(j) * K + (k)] : b[(k) * N + (j)])

static inline void store_c(__global float *c, int idx, float alpha, float acc, float beta) {
    c[idx] = beta == 0.0f ? alpha * acc : mad(beta, c[idx], alpha * acc);
}

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
#define FLOATV CAT(float, RN)
#define VLOAD CAT(vload, RN)
#define VSTORE CAT(vstore, RN)

/* Row k of op(B) at columns j0 .. j0+RN-1 (clamped indices at the right edge). */
static inline FLOATV load_b_row(const int tb, int N, int K, __global const float *b, int k,
                                int j0, int full) {
    if (!tb && full) return VLOAD(0, b + k * N + j0);
    float v[RN];
    for (int q = 0; q < RN; q++) v[q] = B_AT(tb, k, min(j0 + q, N - 1));
    return VLOAD(0, v);
}

/* packed: b holds op(B) as panels (pack_b below) instead of B itself (tb is then unused). */
static inline void gemm_reg(const int ta, const int tb, const int packed, int M, int N, int K,
                            float alpha, __global const float *a, __global const float *b,
                            float beta, __global float *c) {
    const int j0 = (int)get_global_id(0) * RN;
    const int i0 = (int)get_global_id(1) * RM;
    if (i0 >= M || j0 >= N) return;
    const int full = j0 + RN <= N;

    /* Edge blocks read clamped (valid) rows and store only what is inside. */
    int ri[RM];
#pragma unroll
    for (int r = 0; r < RM; r++) ri[r] = min(i0 + r, M - 1);

    FLOATV acc[RM];
#pragma unroll
    for (int r = 0; r < RM; r++) acc[r] = (FLOATV)(0.0f);

    __global const float *panel = b + (size_t)get_global_id(0) * K * RN;
    for (int k = 0; k < K; k++) {
        const FLOATV bv = packed ? VLOAD(0, panel + k * RN) : load_b_row(tb, N, K, b, k, j0, full);
#pragma unroll
        for (int r = 0; r < RM; r++) acc[r] = fma((FLOATV)(A_AT(ta, ri[r], k)), bv, acc[r]);
    }

    for (int r = 0; r < RM; r++) {
        if (i0 + r >= M) break;
        float out[RN];
        VSTORE(acc[r], 0, out);
        for (int q = 0; q < RN; q++)
            if (j0 + q < N) store_c(c, (i0 + r) * N + j0 + q, alpha, out[q], beta);
    }
}

/* Large products (lib/src/ops/gemm.c decides): op(B) packed first into panels of RN
 * columns, bp[ceil(N/RN)][K][RN] (zeros past N), so that the product reads each panel
 * sequentially instead of one cache line (and, for N >= 1024, one page) per k.
 * gemm_pack_b: global (ceil(N/RN), K), one RN-vector per work-item. */
static inline void pack_b(const int tb, int N, int K, __global const float *b,
                          __global float *bp) {
    const int jb = (int)get_global_id(0), k = (int)get_global_id(1);
    const int j0 = jb * RN;
    if (j0 >= N || k >= K) return;
    float v[RN];
    for (int q = 0; q < RN; q++) v[q] = j0 + q < N ? B_AT(tb, k, j0 + q) : 0.0f;
    VSTORE(VLOAD(0, v), 0, bp + ((size_t)jb * K + k) * RN);
}

/* op(A) op(B)^T with A [M,K] and B [N,K] both read along k (the NT case, where B's
 * columns are strided): every output is a dot product, computed in DV-wide pieces of
 * k; each work-item computes a DM x DN block. */
#define FLOATD CAT(float, DV)
#define VLOADD CAT(vload, DV)

static inline float hsum(FLOATD v) {
#if DV == 16
    const float8 h = v.lo + v.hi;
#else
    const float8 h = v;
#endif
    const float4 q = h.lo + h.hi;
    return (q.x + q.y) + (q.z + q.w);
}

static inline void gemm_dot(int M, int N, int K, float alpha, __global const float *a,
                            __global const float *b, float beta, __global float *c) {
    const int j0 = (int)get_global_id(0) * DN;
    const int i0 = (int)get_global_id(1) * DM;
    if (i0 >= M || j0 >= N) return;
    __global const float *ar[DM], *br[DN];
#pragma unroll
    for (int r = 0; r < DM; r++) ar[r] = a + min(i0 + r, M - 1) * K;
#pragma unroll
    for (int q = 0; q < DN; q++) br[q] = b + min(j0 + q, N - 1) * K;

    FLOATD acc[DM][DN];
#pragma unroll
    for (int r = 0; r < DM; r++)
#pragma unroll
        for (int q = 0; q < DN; q++) acc[r][q] = (FLOATD)(0.0f);
    int k = 0;
    for (; k + DV <= K; k += DV) {
        FLOATD av[DM], bv[DN];
#pragma unroll
        for (int r = 0; r < DM; r++) av[r] = VLOADD(0, ar[r] + k);
#pragma unroll
        for (int q = 0; q < DN; q++) bv[q] = VLOADD(0, br[q] + k);
#pragma unroll
        for (int r = 0; r < DM; r++)
#pragma unroll
            for (int q = 0; q < DN; q++) acc[r][q] = fma(av[r], bv[q], acc[r][q]);
    }

    for (int r = 0; r < DM; r++) {
        if (i0 + r >= M) break;
        for (int q = 0; q < DN; q++) {
            float sum = hsum(acc[r][q]);
            for (int kk = k; kk < K; kk++) sum = mad(ar[r][kk], br[q][kk], sum);
            if (j0 + q < N) store_c(c, (i0 + r) * N + j0 + q, alpha, sum, beta);
        }
    }
}

/* Stage the tiles of op(A) and op(B) starting at row i0 / column j0 / depth k0; the
 * index order follows the memory order so that neighbouring work-items read
 * neighbouring addresses. Outside the matrices, and at depths from ke on, the tiles hold
 * zeros. */
static inline void load_tiles(const int ta, const int tb, int M, int N, int K, int ke,
                              __global const float *a, __global const float *b, int i0,
                              int j0, int k0, int tid, __local float (*as)[TSM],
                              __local float (*bs)[TSN]) {
    for (int l = tid; l < TSM * TSK; l += TILED_WG) {
        const int ii = ta ? l % TSM : l / TSK;
        const int kk = ta ? l / TSM : l % TSK;
        const int gi = i0 + ii, gk = k0 + kk;
        as[kk][ii] = (gi < M && gk < ke) ? A_AT(ta, gi, gk) : 0.0f;
    }
    for (int l = tid; l < TSK * TSN; l += TILED_WG) {
        const int jj = tb ? l / TSK : l % TSN;
        const int kk = tb ? l % TSK : l / TSN;
        const int gj = j0 + jj, gk = k0 + kk;
        bs[kk][jj] = (gj < N && gk < ke) ? B_AT(tb, gk, gj) : 0.0f;
    }
}

/* The depth range [kb, ke) of the product; kb is a multiple of TSK (split-K chunks). */
static inline void gemm_tiled(const int ta, const int tb, int M, int N, int K, int kb, int ke,
                              float alpha, __global const float *a, __global const float *b,
                              float beta, __global float *c, __local float (*as)[TSM],
                              __local float (*bs)[TSN]) {
    const int tn = (int)get_local_id(0), tm = (int)get_local_id(1);
    const int tid = tm * RTSN + tn;
    const int i0 = (int)get_group_id(1) * TSM, j0 = (int)get_group_id(0) * TSN;

    float acc[WPTM][WPTN];
    for (int r = 0; r < WPTM; r++)
        for (int q = 0; q < WPTN; q++) acc[r][q] = 0.0f;

    for (int k0 = kb; k0 < ke; k0 += TSK) {
        load_tiles(ta, tb, M, N, K, ke, a, b, i0, j0, k0, tid, as, bs);
        barrier(CLK_LOCAL_MEM_FENCE);
        for (int kk = 0; kk < TSK; kk++) {
            float bv[WPTN];
            for (int q = 0; q < WPTN; q++) bv[q] = bs[kk][tn + q * RTSN];
            for (int r = 0; r < WPTM; r++) {
                const float av = as[kk][tm + r * RTSM];
                for (int q = 0; q < WPTN; q++) acc[r][q] = mad(av, bv[q], acc[r][q]);
            }
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }

    for (int r = 0; r < WPTM; r++) {
        const int i = i0 + tm + r * RTSM;
        for (int q = 0; q < WPTN; q++) {
            const int j = j0 + tn + q * RTSN;
            if (i < M && j < N) store_c(c, i * N + j, alpha, acc[r][q], beta);
        }
    }
}

#define GEMM_ARGS                                                                       \
    int M, int N, int K, float alpha, __global const float *a, int a_off,               \
        __global const float *b, int b_off, float beta, __global float *c, int c_off

#define DEFINE_REG(suffix, ta, tb)                                                       \
    __kernel void gemm_reg_##suffix(GEMM_ARGS) {                                         \
        gemm_reg(ta, tb, 0, M, N, K, alpha, a + a_off, b + b_off, beta, c + c_off);      \
    }

#define DEFINE_TILED(suffix, ta, tb)                                                     \
    __kernel __attribute__((reqd_work_group_size(RTSN, RTSM, 1)))                        \
    void gemm_tiled_##suffix(GEMM_ARGS) {                                                \
        __local float as[TSK][TSM];                                                      \
        __local float bs[TSK][TSN];                                                      \
        gemm_tiled(ta, tb, M, N, K, 0, K, alpha, a + a_off, b + b_off, beta, c + c_off, as, \
                   bs);                                                                  \
    }                                                                                    \
    /* Split-K: work-group z takes the depths [z*kc, (z+1)*kc) and writes its partial   \
     * product to partial[z] (M x N); gemm_sum_partials adds them up. */                 \
    __kernel __attribute__((reqd_work_group_size(RTSN, RTSM, 1)))                        \
    void gemm_tiled_split_##suffix(int M, int N, int K, int kc, __global const float *a,  \
                                   int a_off, __global const float *b, int b_off,        \
                                   __global float *partial) {                            \
        __local float as[TSK][TSM];                                                      \
        __local float bs[TSK][TSN];                                                      \
        const int z = (int)get_group_id(2), kb = z * kc;                                 \
        gemm_tiled(ta, tb, M, N, K, kb, min(K, kb + kc), 1.0f, a + a_off, b + b_off, 0.0f, \
                   partial + (size_t)z * M * N, as, bs);                                 \
    }

/* One variant per program build (-DGEMM_TILED picks the tiled one): compiling is slow. */
#ifdef GEMM_TILED
DEFINE_TILED(nn, 0, 0)
DEFINE_TILED(nt, 0, 1)
DEFINE_TILED(tn, 1, 0)
DEFINE_TILED(tt, 1, 1)
/* C = alpha * (partial[0] + ... + partial[S-1]) + beta * C, summed in a fixed order so that
 * the result does not depend on scheduling. */
__kernel void gemm_sum_partials(int MN, int S, __global const float *partial, float alpha,
                                float beta, __global float *c, int c_off) {
    const int i = (int)get_global_id(0);
    if (i >= MN) return;
    float sum = 0.0f;
    for (int z = 0; z < S; z++) sum += partial[(size_t)z * MN + i];
    store_c(c + c_off, i, alpha, sum, beta);
}
#else
DEFINE_REG(nn, 0, 0)
__kernel void gemm_reg_nt(GEMM_ARGS) {
    gemm_dot(M, N, K, alpha, a + a_off, b + b_off, beta, c + c_off);
}
DEFINE_REG(tn, 1, 0)
DEFINE_REG(tt, 1, 1)
__kernel void gemm_pack_b_n(int N, int K, __global const float *b, int b_off, __global float *bp) {
    pack_b(0, N, K, b + b_off, bp);
}
__kernel void gemm_pack_b_t(int N, int K, __global const float *b, int b_off, __global float *bp) {
    pack_b(1, N, K, b + b_off, bp);
}
__kernel void gemm_packed_n(int M, int N, int K, float alpha, __global const float *a, int a_off,
                            __global const float *bp, float beta, __global float *c, int c_off) {
    gemm_reg(0, 0, 1, M, N, K, alpha, a + a_off, bp, beta, c + c_off);
}
__kernel void gemm_packed_t(int M, int N, int K, float alpha, __global const float *a, int a_off,
                            __global const float *bp, float beta, __global float *c, int c_off) {
    gemm_reg(1, 0, 1, M, N, K, alpha, a + a_off, bp, beta, c + c_off);
}
#endif
