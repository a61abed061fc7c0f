/*
 * pool.cl — max and average pooling, forward and backward, over NCHW tensors.
 *
 * 1-D pooling runs these kernels with H = 1, KH = 1, SH = 1, PH = 0. Every window holds
 * at least one real cell because the host enforces pad <= k/2. Backward overwrites grad_x
 * and needs no atomics.
 *
 * Work sizes: a work item owns a run of up to `chunk` outputs of one output row (or
 * input cells of one input row), never a single value: PoCL's cost per work item is
 * several times that of a 2x2 window. Ranges are 2-D (chunk of the row, flat row index
 * plane*rows + row), so the only integer division is one per work item.
 *
 * Results are bit-identical to one-window-at-a-time code: max keeps the first largest
 * cell in row-major order (comparisons v > best in that order, so a NaN wins only as the
 * window's first cell), sums add cells in row-major order from 0.0f and then divide by
 * KH*KW, and a gradient cell that sums several windows adds them in (oh, ow) order.
 * Backward kernels that write each gradient once add `zero` to it: -0.0f leaves every
 * value as is, +0.0f turns -0 into +0 as a sum that starts from 0.0f does (see pool.c).
 */

#define POOL_ARGS                                                                   \
    const int total, const int H, const int W, const int OH, const int OW,          \
    const int KH, const int KW, const int SH, const int SW, const int PH, const int PW

/* Columns [lo, hi) of the real cells of the window that starts at w0 (padding clipped). */
#define CLIP_LO(w0) max((w0), 0)
#define CLIP_HI(w0, K, W) min((w0) + (K), (W))

/* The first largest real cell of window (oh, ow) of a plane: its value and row-major
 * index in the plane. */
static float window_max(__global const float *plane, const int oh, const int ow,
                        const int H, const int W, const int KH, const int KW,
                        const int SH, const int SW, const int PH, const int PW, int *best) {
    const int h0 = oh * SH - PH, w0 = ow * SW - PW;
    const int h_lo = CLIP_LO(h0), h_hi = CLIP_HI(h0, KH, H);
    const int w_lo = CLIP_LO(w0), w_hi = CLIP_HI(w0, KW, W);
    int b = h_lo * W + w_lo;
    float best_value = plane[b];
    for (int h = h_lo; h < h_hi; h++) {
        __global const float *row = plane + h * W;
        for (int w = w_lo; w < w_hi; w++) {
            const float v = row[w];
            if (v > best_value) { best_value = v; b = h * W + w; }  /* ties keep the first */
        }
    }
    *best = b;
    return best_value;
}

/* Sum of the real cells of window (oh, ow) in row-major order; padded cells are zeros. */
static float window_sum(__global const float *plane, const int oh, const int ow,
                        const int H, const int W, const int KH, const int KW,
                        const int SH, const int SW, const int PH, const int PW) {
    const int h0 = oh * SH - PH, w0 = ow * SW - PW;
    const int h_hi = CLIP_HI(h0, KH, H), w_hi = CLIP_HI(w0, KW, W), w_lo = CLIP_LO(w0);
    float sum = 0.0f;
    for (int h = CLIP_LO(h0); h < h_hi; h++) {
        __global const float *row = plane + h * W;
        for (int w = w_lo; w < w_hi; w++) sum += row[w];
    }
    return sum;
}

/* First output index whose window (start o*S - P, length K) reaches position i. */
static int first_window(const int i, const int K, const int S, const int P) {
    const int a = i + P - K + 1;
    return a <= 0 ? 0 : (a + S - 1) / S;
}

/* Last output index whose window starts at or before position i. */
static int last_window(const int i, const int S, const int P, const int O) {
    return min((i + P) / S, O - 1);
}

/* Four neighbouring windows (ow .. ow+3) at once, for windows whose columns are all real
 * (interior_lo <= ow, ow + 3 <= interior_hi): lane k holds window ow + k. The cells go
 * through the same comparisons (or additions) in the same row-major order as above. */
#define GATHER4(p, SW) ((float4)((p)[0], (p)[SW], (p)[2 * (SW)], (p)[3 * (SW)]))

static float4 window_max4(__global const float *plane, const int oh, const int ow,
                          const int H, const int W, const int KH, const int KW,
                          const int SH, const int SW, const int PH, const int PW, int4 *best) {
    const int h0 = oh * SH - PH, c0 = ow * SW - PW;
    const int h_lo = CLIP_LO(h0), h_hi = CLIP_HI(h0, KH, H);
    const int4 lane = (int4)(0, SW, 2 * SW, 3 * SW);
    float4 b = GATHER4(plane + h_lo * W + c0, SW);
    int4 bi = (int4)(h_lo * W + c0) + lane;
    for (int h = h_lo; h < h_hi; h++) {
        __global const float *row = plane + h * W + c0;
        for (int k = 0; k < KW; k++) {
            const float4 v = GATHER4(row + k, SW);
            const int4 wins = v > b;
            b = select(b, v, wins);
            bi = select(bi, (int4)(h * W + c0 + k) + lane, wins);
        }
    }
    *best = bi;
    return b;
}

static float4 window_sum4(__global const float *plane, const int oh, const int ow,
                          const int H, const int W, const int KH, const int KW,
                          const int SH, const int SW, const int PH, const int PW) {
    const int h0 = oh * SH - PH, c0 = ow * SW - PW;
    const int h_hi = CLIP_HI(h0, KH, H);
    float4 sum = (float4)(0.0f);
    for (int h = CLIP_LO(h0); h < h_hi; h++) {
        __global const float *row = plane + h * W + c0;
        for (int k = 0; k < KW; k++) sum += GATHER4(row + k, SW);
    }
    return sum;
}

/* The outputs whose windows have no padded column: [interior_lo, interior_hi]. */
#define INTERIOR_LO ((PW + SW - 1) / SW)
#define INTERIOR_HI ((W + PW - KW) / SW)

/* ---- any geometry ------------------------------------------------------------------ */

/* Global (ceil(OW/chunk), planes*OH): outputs [ow0, ow0 + chunk) of output row r. */
#define OUTPUT_RUN                                                                   \
    const int r = get_global_id(1), ow0 = get_global_id(0) * chunk;                  \
    if (r >= total * OH || ow0 >= OW) return;                                        \
    const int plane = r / OH, oh = r - plane * OH, ow1 = min(ow0 + chunk, OW);       \
    __global const float *xp = x + plane * H * W

/* Splits the run [ow0, ow1) around its interior part [v0, v1), a whole number of
 * groups of four: outputs before v0 and from v1 on go one at a time. */
#define SPLIT_RUN(lo, hi, from, to)                                                  \
    const int v0 = clamp(lo, from, to);                                              \
    const int v1 = v0 + max(min(hi + 1, to) - v0, 0) / 4 * 4

__kernel void pool_max_forward(__global const float *x, __global float *y, POOL_ARGS,
                               const int chunk) {
    OUTPUT_RUN;
    __global float *yr = y + r * OW;
    SPLIT_RUN(INTERIOR_LO, INTERIOR_HI, ow0, ow1);
    int best;
    int4 best4;
    for (int ow = ow0; ow < v0; ow++)
        yr[ow] = window_max(xp, oh, ow, H, W, KH, KW, SH, SW, PH, PW, &best);
    for (int ow = v0; ow < v1; ow += 4)
        vstore4(window_max4(xp, oh, ow, H, W, KH, KW, SH, SW, PH, PW, &best4), 0, yr + ow);
    for (int ow = v1; ow < ow1; ow++)
        yr[ow] = window_max(xp, oh, ow, H, W, KH, KW, SH, SW, PH, PW, &best);
}

__kernel void pool_avg_forward(__global const float *x, __global float *y, POOL_ARGS,
                               const int chunk) {
    OUTPUT_RUN;
    __global float *yr = y + r * OW;
    SPLIT_RUN(INTERIOR_LO, INTERIOR_HI, ow0, ow1);
    const float count = (float)(KH * KW);
    for (int ow = ow0; ow < v0; ow++)
        yr[ow] = window_sum(xp, oh, ow, H, W, KH, KW, SH, SW, PH, PW) / count;
    for (int ow = v0; ow < v1; ow += 4)
        vstore4(window_sum4(xp, oh, ow, H, W, KH, KW, SH, SW, PH, PW) / count, 0, yr + ow);
    for (int ow = v1; ow < ow1; ow++)
        yr[ow] = window_sum(xp, oh, ow, H, W, KH, KW, SH, SW, PH, PW) / count;
}

/* Global (ceil(W/chunk), planes*H): input cells [w0, w1) of input row h, which windows
 * oh_lo..oh_hi reach. Each cell sums its windows' gradients in (oh, ow) order. */
#define INPUT_RUN                                                                    \
    const int r = get_global_id(1), w0 = get_global_id(0) * chunk;                   \
    if (r >= total * H || w0 >= W) return;                                           \
    const int plane = r / H, h = r - plane * H, w1 = min(w0 + chunk, W);             \
    __global float *gxr = grad_x + r * W;                                            \
    __global const float *gyp = grad_y + plane * OH * OW;                            \
    const int oh_lo = first_window(h, KH, SH, PH), oh_hi = last_window(h, SH, PH, OH)

/* Overlapping windows, first pass: the plane index of each window's first largest cell
 * (global and runs as the forward kernels), so that the gather below finds it once
 * rather than once per input row the window covers. */
__kernel void pool_max_argmax(__global const float *x, __global int *y, POOL_ARGS,
                              const int chunk) {
    OUTPUT_RUN;
    __global int *yr = y + r * OW;
    SPLIT_RUN(INTERIOR_LO, INTERIOR_HI, ow0, ow1);
    int best;
    int4 best4;
    for (int ow = ow0; ow < v0; ow++) {
        window_max(xp, oh, ow, H, W, KH, KW, SH, SW, PH, PW, &best);
        yr[ow] = best;
    }
    for (int ow = v0; ow < v1; ow += 4) {
        window_max4(xp, oh, ow, H, W, KH, KW, SH, SW, PH, PW, &best4);
        vstore4(best4, 0, yr + ow);
    }
    for (int ow = v1; ow < ow1; ow++) {
        window_max(xp, oh, ow, H, W, KH, KW, SH, SW, PH, PW, &best);
        yr[ow] = best;
    }
}

/* Second pass: grad_x[i] = sum of grad_y over the windows whose argmax is i. */
__kernel void pool_max_backward(__global const int *argmax, __global const float *grad_y,
                                __global float *grad_x, POOL_ARGS, const int chunk) {
    INPUT_RUN;
    __global const int *ap = argmax + plane * OH * OW;
    const int ow_lo = first_window(w0, KW, SW, PW), ow_hi = last_window(w1 - 1, SW, PW, OW);
    for (int w = w0; w < w1; w++) gxr[w] = 0.0f;   /* then add in (oh, ow) order */
    const int lo = h * W + w0, hi = h * W + w1;   /* this run's cells, as plane indices */
    for (int oh = oh_lo; oh <= oh_hi; oh++)
        for (int ow = ow_lo; ow <= ow_hi; ow++) {
            const int best = ap[oh * OW + ow];
            if (best >= lo && best < hi) gxr[best - h * W] += gyp[oh * OW + ow];
        }
}

/* Overlapping windows: grad_x[i] = sum of grad_y over the windows containing i, divided
 * by KH*KW. Each cell sums in registers; its window columns [c_lo, c_hi] advance with w
 * by counting (no division per cell). */
__kernel void pool_avg_backward(__global const float *x, __global const float *grad_y,
                                __global float *grad_x, POOL_ARGS, const int chunk) {
    (void)x;
    INPUT_RUN;
    const float count = (float)(KH * KW);
    int c_lo = first_window(w0, KW, SW, PW), c_hi = (w0 + PW) / SW;
    int to_lo = c_lo * SW - PW + KW - 1 - w0;   /* cells until window c_lo leaves */
    int to_hi = (c_hi + 1) * SW - PW - w0;      /* cells until window c_hi + 1 starts */
    for (int w = w0; w < w1; w++) {
        float sum = 0.0f;
        const int c_end = min(c_hi, OW - 1);
        for (int oh = oh_lo; oh <= oh_hi; oh++)
            for (int ow = c_lo; ow <= c_end; ow++) sum += gyp[oh * OW + ow];
        gxr[w] = sum / count;
        if (--to_lo < 0) { c_lo++; to_lo += SW; }
        if (--to_hi == 0) { c_hi++; to_hi = SW; }
    }
}

/* ---- windows that do not overlap (stride >= window), any padding ------------------- */

/* Global (ceil(OW/chunk), planes*OH). Each input cell lies in at most one window, so a
 * work item owns the input block of its outputs: rows [oh*SH - PH, (oh+1)*SH - PH) and
 * the matching columns, widened at the plane's edges to cover cells in no window. It
 * zeroes the block, then writes each window's cells. */
#define BLOCK_RUN                                                                    \
    const int r = get_global_id(1), ow0 = get_global_id(0) * chunk;                  \
    if (r >= total * OH || ow0 >= OW) return;                                        \
    const int plane = r / OH, oh = r - plane * OH, ow1 = min(ow0 + chunk, OW);       \
    const int hb0 = oh == 0 ? 0 : oh * SH - PH, hb1 = oh == OH - 1 ? H : (oh + 1) * SH - PH; \
    const int wb0 = ow0 == 0 ? 0 : ow0 * SW - PW, wb1 = ow1 == OW ? W : ow1 * SW - PW; \
    __global float *gxp = grad_x + plane * H * W;                                    \
    __global const float *gyr = grad_y + r * OW;                                     \
    for (int h = hb0; h < hb1; h++)                                                  \
        for (int w = wb0; w < wb1; w++) gxp[h * W + w] = 0.0f

__kernel void pool_max_backward_blocks(__global const float *x, __global const float *grad_y,
                                       __global float *grad_x, POOL_ARGS, const int chunk,
                                       const float zero) {
    BLOCK_RUN;
    __global const float *xp = x + plane * H * W;
    int best;
    for (int ow = ow0; ow < ow1; ow++) {
        window_max(xp, oh, ow, H, W, KH, KW, SH, SW, PH, PW, &best);
        gxp[best] = gyr[ow] + zero;
    }
}

__kernel void pool_avg_backward_blocks(__global const float *x, __global const float *grad_y,
                                       __global float *grad_x, POOL_ARGS, const int chunk,
                                       const float zero) {
    (void)x;
    BLOCK_RUN;
    const float count = (float)(KH * KW);
    const int h0 = oh * SH - PH, h_hi = CLIP_HI(h0, KH, H);
    for (int ow = ow0; ow < ow1; ow++) {
        const float g = (gyr[ow] + zero) / count;
        const int c0 = ow * SW - PW, c_hi = CLIP_HI(c0, KW, W);
        for (int h = CLIP_LO(h0); h < h_hi; h++)
            for (int w = CLIP_LO(c0); w < c_hi; w++) gxp[h * W + w] = g;
    }
}

/* ---- 2x2 windows, stride 2, no padding (and 1-D: 2, stride 2) ---------------------- */

/* Global (ceil(OW/chunk), planes*OH), chunk a multiple of 4. KH = SH is 2 (2-D) or 1
 * (1-D). The windows of four outputs are two float8 loads per input row: .even holds
 * their left cells, .odd their right cells. An odd H or W leaves a last row or column
 * in no window. */
#define PAIR_RUN                                                                     \
    const int r = get_global_id(1), ow0 = get_global_id(0) * chunk;                  \
    if (r >= total * OH || ow0 >= OW) return;                                        \
    const int plane = r / OH, oh = r - plane * OH, ow1 = min(ow0 + chunk, OW);       \
    const int ow4 = ow0 + (ow1 - ow0) / 4 * 4;   /* end of the whole float4 runs */  \
    __global const float *x0 = x + (plane * H + oh * KH) * W;                        \
    __global const float *x1 = x0 + (KH - 1) * W   /* == x0 in 1-D */

/* The window's (v0 v1 / v2 v3) running max as four comparisons in row-major order. */
#define MAX4(b, v0, v1, v2, v3)                                                      \
    b = v0; b = v1 > b ? v1 : b; b = v2 > b ? v2 : b; b = v3 > b ? v3 : b

static float4 max4v(const float4 b, const float4 v) { return select(b, v, v > b); }

__kernel void pool_max_forward_2x2(__global const float *x, __global float *y, POOL_ARGS,
                                   const int chunk) {
    PAIR_RUN;
    __global float *yr = y + r * OW;
    for (int ow = ow0; ow < ow4; ow += 4) {
        const float8 a = vload8(0, x0 + 2 * ow), c = vload8(0, x1 + 2 * ow);
        float4 b = max4v(a.even, a.odd);
        if (KH == 2) b = max4v(max4v(b, c.even), c.odd);
        vstore4(b, 0, yr + ow);
    }
    for (int ow = ow4; ow < ow1; ow++) {
        float b;
        if (KH == 2) { MAX4(b, x0[2 * ow], x0[2 * ow + 1], x1[2 * ow], x1[2 * ow + 1]); }
        else b = x0[2 * ow + 1] > x0[2 * ow] ? x0[2 * ow + 1] : x0[2 * ow];
        yr[ow] = b;
    }
}

__kernel void pool_avg_forward_2x2(__global const float *x, __global float *y, POOL_ARGS,
                                   const int chunk) {
    PAIR_RUN;
    __global float *yr = y + r * OW;
    const float count = (float)(KH * KW);
    for (int ow = ow0; ow < ow4; ow += 4) {
        const float8 a = vload8(0, x0 + 2 * ow), c = vload8(0, x1 + 2 * ow);
        float4 s = (float4)(0.0f) + a.even + a.odd;
        if (KH == 2) s = s + c.even + c.odd;
        vstore4(s / count, 0, yr + ow);
    }
    for (int ow = ow4; ow < ow1; ow++) {
        float s = 0.0f + x0[2 * ow] + x0[2 * ow + 1];
        if (KH == 2) s = s + x1[2 * ow] + x1[2 * ow + 1];
        yr[ow] = s / count;
    }
}

/* The input block of a PAIR_RUN work item: its windows' cells, plus the last column when
 * W is odd and the last row when H is odd (both in no window, so zero). */
#define PAIR_EDGES(gx0, gx1)                                                         \
    if (ow1 == OW && W > 2 * OW) { gx0[W - 1] = 0.0f; gx1[W - 1] = 0.0f; }            \
    if (KH == 2 && oh == OH - 1 && H > 2 * OH)                                       \
        for (int w = 2 * ow0; w < (ow1 == OW ? W : 2 * ow1); w++) gx1[W + w] = 0.0f

/* Interleaves four left cells and four right cells into one row of eight. */
static float8 zip4(const float4 left, const float4 right) {
    return shuffle2(left, right, (uint8)(0, 4, 1, 5, 2, 6, 3, 7));
}

__kernel void pool_max_backward_2x2(__global const float *x, __global const float *grad_y,
                                    __global float *grad_x, POOL_ARGS, const int chunk,
                                    const float zero) {
    PAIR_RUN;
    __global float *gx0 = grad_x + (x0 - x), *gx1 = grad_x + (x1 - x);
    __global const float *gyr = grad_y + r * OW;
    const float4 z = (float4)(0.0f);
    for (int ow = ow0; ow < ow4; ow += 4) {
        const float8 a = vload8(0, x0 + 2 * ow), c = vload8(0, x1 + 2 * ow);
        const float4 g = vload4(0, gyr + ow) + zero;
        /* in_k: cell k beats the cells before it, i.e. the running max moves to k */
        const int4 in1 = a.odd > a.even;
        float4 b = select(a.even, a.odd, in1);
        if (KH == 2) {
            const int4 in2 = c.even > b;
            b = select(b, c.even, in2);
            const int4 in3 = c.odd > b;
            const int4 last2 = in2 & ~in3, last1 = in1 & ~in2 & ~in3;
            const int4 last0 = ~(in1 | in2 | in3);
            vstore8(zip4(select(z, g, last0), select(z, g, last1)), 0, gx0 + 2 * ow);
            vstore8(zip4(select(z, g, last2), select(z, g, in3)), 0, gx1 + 2 * ow);
        } else {
            vstore8(zip4(select(g, z, in1), select(z, g, in1)), 0, gx0 + 2 * ow);
        }
    }
    for (int ow = ow4; ow < ow1; ow++) {   /* the same, one window at a time */
        const float g = gyr[ow] + zero;
        const float v0 = x0[2 * ow], v1 = x0[2 * ow + 1];
        const bool in1 = v1 > v0;
        if (KH == 2) {
            const float v2 = x1[2 * ow], v3 = x1[2 * ow + 1];
            const bool in2 = v2 > (in1 ? v1 : v0);
            const bool in3 = v3 > (in2 ? v2 : in1 ? v1 : v0);
            gx0[2 * ow] = (in1 | in2 | in3) ? 0.0f : g;
            gx0[2 * ow + 1] = (in1 & !in2 & !in3) ? g : 0.0f;
            gx1[2 * ow] = (in2 & !in3) ? g : 0.0f;
            gx1[2 * ow + 1] = in3 ? g : 0.0f;
        } else {
            gx0[2 * ow] = in1 ? 0.0f : g;
            gx0[2 * ow + 1] = in1 ? g : 0.0f;
        }
    }
    PAIR_EDGES(gx0, gx1);
}

__kernel void pool_avg_backward_2x2(__global const float *x, __global const float *grad_y,
                                    __global float *grad_x, POOL_ARGS, const int chunk,
                                    const float zero) {
    PAIR_RUN;
    __global float *gx0 = grad_x + (x0 - x), *gx1 = grad_x + (x1 - x);
    __global const float *gyr = grad_y + r * OW;
    const float count = (float)(KH * KW);
    for (int ow = ow0; ow < ow4; ow += 4) {
        const float4 g = (vload4(0, gyr + ow) + zero) / count;
        const float8 row = zip4(g, g);
        vstore8(row, 0, gx0 + 2 * ow);
        if (KH == 2) vstore8(row, 0, gx1 + 2 * ow);
    }
    for (int ow = ow4; ow < ow1; ow++) {
        const float g = (gyr[ow] + zero) / count;
        gx0[2 * ow] = g;
        gx0[2 * ow + 1] = g;
        if (KH == 2) { gx1[2 * ow] = g; gx1[2 * ow + 1] = g; }
    }
    PAIR_EDGES(gx0, gx1);
}
