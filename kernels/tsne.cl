/*
 * tsne.cl — exact t-SNE (van der Maaten & Hinton 2008), O(N^2) in time and memory.
 *
 * Affinities (lunet_tsne_affinities):
 *   tsne_center_columns   xc = x - column means                    (one work-item per column)
 *   tsne_row_norms        norms[i] = |xc_i|^2                       (one work-item per row)
 *   (GEMM)                p = xc xc^T
 *   tsne_gram_to_sqdist   p[i,j] = max(norms[i] + norms[j] - 2 p[i,j], 0), p[i,i] = 0
 *   tsne_conditional      row i: binary search on beta_i = 1 / (2 sigma_i^2) until the
 *                         entropy of p_{j|i} = exp(-beta d_ij) / sum equals log(perplexity);
 *                         one work-item per row, all rows in parallel, the search iterates
 *                         inside the kernel; the row is overwritten with p_{j|i}
 *   tsne_symmetrize       p_ij = p_ji = (p_{j|i} + p_{i|j}) / 2N   (one work-item per pair)
 *
 * One gradient step (lunet_tsne_step), with num_ij = 1 / (1 + |y_i - y_j|^2), Z = sum num:
 *   tsne_forces           per point i, one loop over all j: attraction sum_j P_ij num_ij
 *                         (y_i - y_j), repulsion sum_j num_ij^2 (y_i - y_j), and the row's
 *                         partial sum of num_ij (j != i)
 *   tsne_reduce_sum       Z = sum of the partial sums, by one work-item in a fixed order,
 *                         so the result does not depend on scheduling (deterministic)
 *   tsne_update           dY_i = exaggeration * attraction_i - repulsion_i / Z (the gradient
 *                         of KL(P||Q) divided by 4, as in the reference implementations
 *                         tsne.py and bhtsne, so their learning rates carry over); gains as
 *                         in the reference; update = momentum update - learning_rate gains
 *                         dY; y += update
 *   tsne_center           y -= mean(y), by one work-item in a fixed order
 *
 * The inner loops over j run 8 columns at a time in float8 vectors, so that a CPU device
 * (PoCL) uses its SIMD units; the tail is done one by one.
 */

/* ---- affinities ------------------------------------------------------------------------ */

__kernel void tsne_center_columns(__global const float *x, __global float *xc, const int n,
                                  const int d) {
    const int c = get_global_id(0);
    if (c >= d) return;
    float sum = 0.0f;
    for (int i = 0; i < n; i++) sum += x[i * d + c];
    const float mean = sum / (float)n;
    for (int i = 0; i < n; i++) xc[i * d + c] = x[i * d + c] - mean;
}

__kernel void tsne_row_norms(__global const float *xc, __global float *norms, const int n,
                             const int d) {
    const int i = get_global_id(0);
    if (i >= n) return;
    float s = 0.0f;
    for (int c = 0; c < d; c++) {
        const float v = xc[i * d + c];
        s += v * v;
    }
    norms[i] = s;
}

/* p holds the Gram matrix xc xc^T on entry and the squared distances on exit. */
__kernel void tsne_gram_to_sqdist(__global float *p, __global const float *norms, const int n) {
    const int j = get_global_id(0), i = get_global_id(1);
    if (i >= n || j >= n) return;
    const int k = i * n + j;
    p[k] = i == j ? 0.0f : fmax(norms[i] + norms[j] - 2.0f * p[k], 0.0f);
}

/* Sums of exp(-beta (d - dmin)) and of (d - dmin) exp(-beta (d - dmin)) over the row,
 * leaving out the diagonal element `self`. */
static void row_sums(__global const float *row, const int n, const int self, const float beta,
                     const float dmin, float *sum_p, float *sum_dp) {
    float8 sp = (float8)(0.0f), sdp = (float8)(0.0f);
    const int8 lane = (int8)(0, 1, 2, 3, 4, 5, 6, 7);
    int j = 0;
    for (; j + 8 <= n; j += 8) {
        const float8 dd = vload8(0, row + j) - dmin;
        const float8 e = exp(-beta * dd);
        const float8 pe = select(e, (float8)(0.0f), (lane + j) == self);
        sp += pe;
        sdp += dd * pe;
    }
    float s = 0.0f, sd = 0.0f;
    for (; j < n; j++) {
        if (j == self) continue;
        const float dd = row[j] - dmin;
        const float e = exp(-beta * dd);
        s += e;
        sd += dd * e;
    }
    *sum_p = s + ((sp.s0 + sp.s1) + (sp.s2 + sp.s3)) + ((sp.s4 + sp.s5) + (sp.s6 + sp.s7));
    *sum_dp = sd + ((sdp.s0 + sdp.s1) + (sdp.s2 + sdp.s3)) + ((sdp.s4 + sdp.s5) + (sdp.s6 + sdp.s7));
}

/* Row i of p: squared distances in, p_{j|i} out. The entropy of the row, in nats, is
 * H = log(sum_p) + beta sum_dp / sum_p; the search moves beta until |H - log(perplexity)|
 * < tol: doubling or halving until the target is bracketed, then bisecting. Distances are
 * shifted by the row's smallest, which changes no p_{j|i} but keeps exp from underflowing.
 * betas[i] receives the final beta (for the tests and for diagnostics). */
__kernel void tsne_conditional(__global float *p, __global float *betas, const int n,
                               const float log_perplexity, const float tol, const int max_iter) {
    const int i = get_global_id(0);
    if (i >= n) return;
    __global float *row = p + (size_t)i * (size_t)n;
    float dmin = INFINITY;
    for (int j = 0; j < n; j++)
        if (j != i) dmin = fmin(dmin, row[j]);
    float beta = 1.0f, lo = 0.0f, hi = INFINITY;
    float sum_p = 1.0f, sum_dp = 0.0f;
    for (int it = 0; it < max_iter; it++) {
        row_sums(row, n, i, beta, dmin, &sum_p, &sum_dp);
        const float h = log(sum_p) + beta * sum_dp / sum_p;
        const float diff = h - log_perplexity;
        if (fabs(diff) < tol) break;
        if (diff > 0.0f) {  /* too flat: sharpen */
            lo = beta;
            beta = isinf(hi) ? beta * 2.0f : 0.5f * (beta + hi);
        } else {
            hi = beta;
            beta = lo == 0.0f ? beta * 0.5f : 0.5f * (beta + lo);
        }
    }
    row_sums(row, n, i, beta, dmin, &sum_p, &sum_dp);
    const float inv = 1.0f / sum_p;
    for (int j = 0; j < n; j++) row[j] = j == i ? 0.0f : exp(-beta * (row[j] - dmin)) * inv;
    betas[i] = beta;
}

/* p_ij = p_ji = (p_{j|i} + p_{i|j}) / 2N, in place: the work-item of (i, j) with j > i owns
 * both elements. */
__kernel void tsne_symmetrize(__global float *p, const int n, const float scale) {
    const int j = get_global_id(0), i = get_global_id(1);
    if (i >= n || j >= n || j < i) return;
    const int a = i * n + j, b = j * n + i;
    if (i == j) {
        p[a] = 0.0f;
        return;
    }
    const float v = (p[a] + p[b]) * scale;
    p[a] = v;
    p[b] = v;
}

/* ---- gradient descent ------------------------------------------------------------------ */

/* forces[i] = (attraction x, attraction y, repulsion x, repulsion y); partial[i] = sum over
 * j != i of num_ij. y is [N,2], row-major. */
__kernel void tsne_forces(__global const float *p, __global const float *y,
                          __global float *forces, __global float *partial, const int n) {
    const int i = get_global_id(0);
    if (i >= n) return;
    const float yx = y[2 * i], yy = y[2 * i + 1];
    __global const float *row = p + (size_t)i * (size_t)n;
    float8 ax = (float8)(0.0f), ay = (float8)(0.0f), rx = (float8)(0.0f), ry = (float8)(0.0f);
    float8 zs = (float8)(0.0f);
    int j = 0;
    for (; j + 8 <= n; j += 8) {
        const float16 yj = vload16(0, y + 2 * j);
        const float8 dx = yx - yj.even, dy = yy - yj.odd;
        const float8 num = 1.0f / (1.0f + dx * dx + dy * dy);
        const float8 pn = vload8(0, row + j) * num;
        const float8 nn = num * num;
        ax += pn * dx;
        ay += pn * dy;
        rx += nn * dx;
        ry += nn * dy;
        zs += num;
    }
    float sax = 0.0f, say = 0.0f, srx = 0.0f, sry = 0.0f, sz = 0.0f;
    for (; j < n; j++) {
        const float dx = yx - y[2 * j], dy = yy - y[2 * j + 1];
        const float num = 1.0f / (1.0f + dx * dx + dy * dy);
        const float pn = row[j] * num;
        sax += pn * dx;
        say += pn * dy;
        srx += num * num * dx;
        sry += num * num * dy;
        sz += num;
    }
#define HSUM(v) (((v.s0 + v.s1) + (v.s2 + v.s3)) + ((v.s4 + v.s5) + (v.s6 + v.s7)))
    forces[4 * i] = sax + HSUM(ax);
    forces[4 * i + 1] = say + HSUM(ay);
    forces[4 * i + 2] = srx + HSUM(rx);
    forces[4 * i + 3] = sry + HSUM(ry);
    /* the diagonal term j == i added num_ii = 1 (and nothing to the forces: dx = dy = 0) */
    partial[i] = sz + HSUM(zs) - 1.0f;
#undef HSUM
}

/* out[0] = sum of in[0..n-1], in index order (one work-item: deterministic). */
__kernel void tsne_reduce_sum(__global const float *in, __global float *out, const int n) {
    if (get_global_id(0) != 0) return;
    float s = 0.0f, c = 0.0f;  /* Kahan summation */
    for (int i = 0; i < n; i++) {
        const float v = in[i] - c;
        const float t = s + v;
        c = (t - s) - v;
        s = t;
    }
    out[0] = s;
}

/* Gains and momentum as in van der Maaten's reference tsne.py: a gain grows by 0.2 when
 * the gradient's sign differs from the last update's and shrinks by 0.8 otherwise, never
 * below min_gain; update = momentum update - learning_rate gain dY; y += update. */
__kernel void tsne_update(__global const float *forces, __global const float *z,
                          __global float *y, __global float *update, __global float *gains,
                          const int n, const float exaggeration, const float momentum,
                          const float learning_rate, const float min_gain) {
    const int k = get_global_id(0);  /* one coordinate of one point: k = 2 i + c */
    if (k >= 2 * n) return;
    const int i = k / 2, c = k % 2;
    const float inv_z = 1.0f / z[0];
    const float grad = exaggeration * forces[4 * i + c] - forces[4 * i + 2 + c] * inv_z;
    const float u = update[k];
    float g = gains[k];
    g = (grad > 0.0f) != (u > 0.0f) ? g + 0.2f : g * 0.8f;
    g = fmax(g, min_gain);
    const float u2 = momentum * u - learning_rate * g * grad;
    gains[k] = g;
    update[k] = u2;
    y[k] += u2;
}

/* y -= mean(y) (one work-item, fixed order). */
__kernel void tsne_center(__global float *y, const int n) {
    if (get_global_id(0) != 0) return;
    float sx = 0.0f, sy = 0.0f;
    for (int i = 0; i < n; i++) {
        sx += y[2 * i];
        sy += y[2 * i + 1];
    }
    const float mx = sx / (float)n, my = sy / (float)n;
    for (int i = 0; i < n; i++) {
        y[2 * i] -= mx;
        y[2 * i + 1] -= my;
    }
}

/* ---- KL divergence (for reporting) -------------------------------------------------------- */

/* partial[i] = sum over j != i of P_ij log(P_ij Z / num_ij), with Z = z[0]; terms with
 * P_ij = 0 contribute nothing. */
__kernel void tsne_kl_rows(__global const float *p, __global const float *y,
                           __global const float *z, __global float *partial, const int n) {
    const int i = get_global_id(0);
    if (i >= n) return;
    const float yx = y[2 * i], yy = y[2 * i + 1];
    const float zz = z[0];
    __global const float *row = p + (size_t)i * (size_t)n;
    float s = 0.0f;
    for (int j = 0; j < n; j++) {
        const float pij = row[j];
        if (j == i || !(pij > 0.0f)) continue;
        const float dx = yx - y[2 * j], dy = yy - y[2 * j + 1];
        /* q_ij = num / Z = 1 / ((1 + d^2) Z) */
        s += pij * log(pij * zz * (1.0f + dx * dx + dy * dy));
    }
    partial[i] = s;
}
