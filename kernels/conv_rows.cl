/* conv_rows.cl — the direct convolution (kernels/conv_direct.cl) with the register block
 * along an output row instead of across output channels, for horizontal stride 1.
 *
 * A work-item computes 8 consecutive outputs of one row (a float8, loaded from the padded
 * input with one vload8 per tap) for OB output channels (OB accumulators, a build option:
 * the channel count itself when it is at most 8, so that 6 channels fill 6 registers
 * rather than 6 of 8 lanes). Its kernel rows are exactly those that meet data rows, not
 * the zero border. conv_direct's blocks waste lanes on few channels (LeNet's conv1, and
 * conv2's input gradient with its 6 channels); these waste them on short rows, so the
 * host picks whichever fills more lanes.
 *
 * Weights come packed as for conv_direct: wp[o / 8][t][o % 8], t = (c*KH + kh)*KW + kw.
 */

#ifndef OB
#define OB 8
#endif

/* Global (ceil(OW / 8), OH, N * ceil(O / OB)). xp [N, C, HP, WP] padded, its rows
 * [pad_rows, pad_rows + real_rows) holding data; y [N, O, OH, OW]; bias [O] when has_bias. */
__kernel void conv_rows(__global const float *xp, __global const float *wp,
                        __global const float *bias, __global float *y, int N, int C, int HP,
                        int WP, int O, int OH, int OW, int KH, int KW, int sh, int has_bias,
                        int pad_rows, int real_rows) {
    const int xb = (int)get_global_id(0), oy = (int)get_global_id(1);
    const int groups = (O + OB - 1) / OB, ng = (int)get_global_id(2);
    const int n = ng / groups, o0 = (ng - n * groups) * OB, ox0 = xb * 8;
    if (ox0 >= OW || oy >= OH) return;
    const int T = C * KH * KW, full = ox0 + 8 <= OW;
    /* o0 is a multiple of 8 or 0 with O <= OB <= 8: the block's channels are lanes
     * o0 % 8 .. of one packed group, so tap t's weights are wk[t*8 + j] */
    __global const float *wk = wp + (size_t)(o0 / 8) * T * 8 + o0 % 8;
    float8 acc[OB];
#pragma unroll
    for (int j = 0; j < OB; j++) acc[j] = (float8)(has_bias ? bias[min(o0 + j, O - 1)] : 0.0f);
    const int r0 = oy * sh;
    const int kh_lo = max(0, pad_rows - r0), kh_hi = min(KH, pad_rows + real_rows - r0);
    __global const float *x = xp + (size_t)n * C * HP * WP;
    /* A block past the row's end still loads 8 cells (the extra lanes read the next row
     * and are never stored) unless that would read past the buffer: then clamped cells. */
    const size_t last = ((size_t)(n * C + C - 1) * HP + r0 + kh_hi - 1) * WP + ox0 + 7 + KW - 1;
    const int vec = full || last < (size_t)N * C * HP * WP;
    for (int c = 0; c < C; c++) {
        for (int kh = kh_lo; kh < kh_hi; kh++) {
            __global const float *row = x + (c * HP + r0 + kh) * WP + ox0;
            const int t0 = (c * KH + kh) * KW;
            for (int kw = 0; kw < KW; kw++) {
                float8 v;
                if (vec) {
                    v = vload8(0, row + kw);
                } else {
                    float s[8];
                    for (int i = 0; i < 8; i++) s[i] = row[min(i, OW - 1 - ox0) + kw];
                    v = vload8(0, s);
                }
                __global const float *wt = wk + (t0 + kw) * 8;
#pragma unroll
                for (int j = 0; j < OB; j++) acc[j] = fma(v, (float8)(wt[j]), acc[j]);
            }
        }
    }
#pragma unroll
    for (int j = 0; j < OB; j++) {
        __global float *dst = y + (((size_t)n * O + min(o0 + j, O - 1)) * OH + oy) * OW + ox0;
        if (o0 + j < O && full) vstore8(acc[j], 0, dst);
        if (o0 + j < O && !full) {
            float s[8];
            vstore8(acc[j], 0, s);
            for (int i = 0; i < OW - ox0; i++) dst[i] = s[i];
        }
    }
}
