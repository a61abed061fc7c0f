/* conv_direct.cl — convolution without a column matrix, for CPU devices (PoCL).
 *
 * im2col + GEMM writes and reads a column matrix KH*KW times the size of the input; on a
 * CPU that traffic costs more than the arithmetic. Here each work-item keeps a register
 * block of POS output positions x 8 output channels (POS float8 accumulators) and
 * streams the input and the packed weights once:
 *
 *   conv_pack_weight  w [O, C, KH, KW] -> wp [OG][C*KH*KW][8], O padded to OG*8 with
 *                     zeros (flip: the weights of the transposed convolution instead);
 *   conv_pad          x -> a zero-bordered copy, so that the inner loops never test bounds;
 *   conv_direct       y [N,O,OH,OW] = xp * wp (+ bias): the forward pass, and the
 *                     input gradient of a stride-1 convolution (padded grad_y * flipped w);
 *   conv_pack_grad    grad_y [N,O,P] -> gt [N][P][OG*8] (channels innermost);
 *   conv_weight_grad  partial weight and bias gradients over a chunk of the batch;
 *   conv_weight_reduce  sums the chunks into grad_weight / grad_bias (+=).
 *
 * Sizes are int arguments; POS and TB (taps per work-item) are build options.
 */

#ifndef POS
#define POS 8
#endif
#ifndef TB
#define TB 8
#endif

/* Global (T, OG*8): wp[og][t][lane] for output channel og*8 + lane and tap t = (c*KH +
 * kh)*KW + kw. flip: the weights of the convolution whose output is the input gradient
 * (its output channels are C, its taps (o*KH + kh)*KW + kw, kernel rotated 180 degrees). */
__kernel void conv_pack_weight(__global const float *w, __global float *wp, int O, int C,
                               int KH, int KW, int flip) {
    const int t = (int)get_global_id(0), ol = (int)get_global_id(1);
    const int khw = KH * KW, T = (flip ? O : C) * khw, OUT = flip ? C : O;
    if (t >= T) return;
    const int og = ol / 8, lane = ol % 8;
    const int i = t / khw, k = t % khw;     /* input channel of this conv, kernel offset */
    float v = 0.0f;
    if (ol < OUT) v = flip ? w[((size_t)i * C + ol) * khw + (khw - 1 - k)]
                           : w[((size_t)ol * C + i) * khw + k];
    wp[((size_t)og * T + t) * 8 + lane] = v;
}

/* Global (C, N): one channel plane of xp [N, C, HP, WP], x [N, C, H, W] placed at (ph, pw).
 * A plane per work-item: PoCL's per-work-item cost outweighs a row's copy. */
__kernel void conv_pad(__global const float *x, __global float *xp, int C, int H, int W,
                       int HP, int WP, int ph, int pw) {
    const int c = (int)get_global_id(0), n = (int)get_global_id(1);
    if (c >= C) return;
    __global float *dst = xp + (size_t)(n * C + c) * HP * WP;
    __global const float *src = x + (size_t)(n * C + c) * H * W;
    for (int i = 0; i < ph * WP; i++) dst[i] = 0.0f;
    dst += ph * WP;
    for (int h = 0; h < H; h++, dst += WP, src += W) {
        for (int i = 0; i < pw; i++) dst[i] = 0.0f;
        for (int i = 0; i < W; i++) dst[pw + i] = src[i];
        for (int i = pw + W; i < WP; i++) dst[i] = 0.0f;
    }
    for (int i = 0; i < (HP - ph - H) * WP; i++) dst[i] = 0.0f;
}

/* Store lane L of the POS accumulators: POS consecutive positions of channel o0 + L. */
#define STORE_LANE(L, comp)                                                   \
    if (o0 + L < O) {                                                        \
        __global float *dst = y + ((size_t)n * O + o0 + L) * P + p0;         \
        for (int j = 0; j < npos; j++) dst[j] = acc[j].comp;                 \
    }

/* Global (ceil(P / POS), OG, N), P = OH*OW. xp [N, C, HP, WP] already padded, its rows
 * [pad_rows, pad_rows + real_rows) holding data: kernel rows that meet only border rows
 * for every position of the block are skipped (the input gradient pads grad_y by the
 * kernel size - 1, where this saves a third of the work). wp from conv_pack_weight (T =
 * C*KH*KW taps); bias [O] when has_bias. */
__kernel void conv_direct(__global const float *xp, __global const float *wp,
                          __global const float *bias, __global float *y, int C, int HP,
                          int WP, int O, int OH, int OW, int KH, int KW, int sh, int sw,
                          int has_bias, int pad_rows, int real_rows) {
    const int pb = (int)get_global_id(0), og = (int)get_global_id(1), n = (int)get_global_id(2);
    const int P = OH * OW, p0 = pb * POS, o0 = og * 8;
    if (p0 >= P) return;
    const int npos = min(POS, P - p0);
    int off[POS];
    float8 acc[POS];
    float8 b0 = (float8)(0.0f);
    if (has_bias) {
        float bl[8];
        for (int l = 0; l < 8; l++) bl[l] = o0 + l < O ? bias[o0 + l] : 0.0f;
        b0 = vload8(0, bl);
    }
#pragma unroll
    for (int j = 0; j < POS; j++) {
        const int p = min(p0 + j, P - 1), oy = p / OW, ox = p - oy * OW;
        off[j] = oy * sh * WP + ox * sw;
        acc[j] = b0;
    }
    const int T = C * KH * KW;
    __global const float *x = xp + (size_t)n * C * HP * WP;
    __global const float *wk = wp + (size_t)og * T * 8;
    const int row_first = (p0 / OW) * sh, row_last = ((p0 + npos - 1) / OW) * sh;
    for (int c = 0; c < C; c++) {
        for (int kh = 0; kh < KH; kh++) {
            if (row_last + kh < pad_rows || row_first + kh >= pad_rows + real_rows) {
                wk += 8 * KW;
                continue;
            }
            __global const float *row = x + (c * HP + kh) * WP;
            for (int kw = 0; kw < KW; kw++) {
                const float8 wv = vload8(0, wk);
                wk += 8;
#pragma unroll
                for (int j = 0; j < POS; j++) acc[j] = fma((float8)(row[off[j] + kw]), wv, acc[j]);
            }
        }
    }
    STORE_LANE(0, s0) STORE_LANE(1, s1) STORE_LANE(2, s2) STORE_LANE(3, s3)
    STORE_LANE(4, s4) STORE_LANE(5, s5) STORE_LANE(6, s6) STORE_LANE(7, s7)
}

/* Global (OG, N): gt[n][p][og*8 + lane] = gy[n][og*8 + lane][p] (0 past O), the P
 * positions of one group of 8 channels per work-item (eight sequential read streams). */
__kernel void conv_pack_grad(__global const float *gy, __global float *gt, int O, int P) {
    const int og = (int)get_global_id(0), n = (int)get_global_id(1);
    const int OP = (int)get_global_size(0) * 8, o0 = og * 8;
    __global const float *src[8];
    for (int l = 0; l < 8; l++) src[l] = gy + ((size_t)n * O + min(o0 + l, O - 1)) * P;
    const float8 live = (float8)(0 < O - o0, 1 < O - o0, 2 < O - o0, 3 < O - o0, 4 < O - o0,
                                 5 < O - o0, 6 < O - o0, 7 < O - o0);
    __global float *dst = gt + (size_t)n * P * OP + o0;
    for (int p = 0; p < P; p++, dst += OP) {
        const float8 v = (float8)(src[0][p], src[1][p], src[2][p], src[3][p], src[4][p],
                                  src[5][p], src[6][p], src[7][p]);
        vstore8(v * live, 0, dst);
    }
}

/* Global (ceil(T / TB), OG, chunks). Work-item: TB taps x 8 output channels summed over
 * the images [chunk*per_chunk, ...) and all positions; writes part[chunk][o][t] for its
 * taps, and the tap-block-0 item also part[chunk][o][T] = the bias gradient's sum.
 * part is [chunks][O][T + 1]. */
__kernel void conv_weight_grad(__global const float *xp, __global const float *gt,
                               __global float *part, int N, int C, int HP, int WP, int O,
                               int OH, int OW, int KH, int KW, int sh, int sw, int per_chunk) {
    const int tb = (int)get_global_id(0), og = (int)get_global_id(1);
    const int chunk = (int)get_global_id(2);
    const int T = C * KH * KW, t0 = tb * TB, o0 = og * 8;
    if (t0 >= T) return;
    const int OP = (int)get_global_size(1) * 8, P = OH * OW, khw = KH * KW;
    const int ntaps = min(TB, T - t0);
    int toff[TB];
    float8 acc[TB];
#pragma unroll
    for (int j = 0; j < TB; j++) {
        const int t = min(t0 + j, T - 1), c = t / khw, k = t - c * khw, kh = k / KW;
        toff[j] = (c * HP + kh) * WP + (k - kh * KW);
        acc[j] = (float8)(0.0f);
    }
    float8 bsum = (float8)(0.0f);
    const int n_end = min(N, (chunk + 1) * per_chunk);
    for (int n = chunk * per_chunk; n < n_end; n++) {
        __global const float *x = xp + (size_t)n * C * HP * WP;
        __global const float *g = gt + (size_t)n * P * OP + o0;
        for (int oh = 0; oh < OH; oh++) {
            for (int ow = 0; ow < OW; ow++) {
                const float8 gv = vload8(0, g);
                g += OP;
                __global const float *xs = x + oh * sh * WP + ow * sw;
                bsum += gv;
#pragma unroll
                for (int j = 0; j < TB; j++) acc[j] = fma((float8)(xs[toff[j]]), gv, acc[j]);
            }
        }
    }
    __global float *dst = part + ((size_t)chunk * O) * (T + 1);
    float a[8];
    for (int j = 0; j < ntaps; j++) {
        vstore8(acc[j], 0, a);
        for (int l = 0; l < 8 && o0 + l < O; l++) dst[(size_t)(o0 + l) * (T + 1) + t0 + j] = a[l];
    }
    if (tb == 0) {
        vstore8(bsum, 0, a);
        for (int l = 0; l < 8 && o0 + l < O; l++) dst[(size_t)(o0 + l) * (T + 1) + T] = a[l];
    }
}

/* Global (T + 1, O): gw[o][t] += sum over chunks of part[chunk][o][t]; column T goes to
 * gb[o] (when has_gw / has_gb say the gradient is wanted). Fixed order: deterministic. */
__kernel void conv_weight_reduce(__global const float *part, __global float *gw,
                                 __global float *gb, int O, int T, int chunks, int has_gw,
                                 int has_gb) {
    const int t = (int)get_global_id(0), o = (int)get_global_id(1);
    if (t > T || o >= O) return;
    if (t < T ? !has_gw : !has_gb) return;
    float s = 0.0f;
    for (int k = 0; k < chunks; k++) s += part[((size_t)k * O + o) * (T + 1) + t];
    if (t < T) gw[(size_t)o * T + t] += s;
    else gb[o] += s;
}
