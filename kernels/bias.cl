/* bias.cl — per-channel bias on y [N,C,S] (S = the product of the dimensions after C;
 * 1 for a dense layer's [N,C]). */

#ifndef BIAS_WG
#define BIAS_WG 64   /* work-group size of bias_grad: a power of two */
#endif

/* y[n,c,s] += bias[c]. Global (numel). */
__kernel void bias_add(__global float *y, __global const float *bias, int C, int S,
                       int numel) {
    const int i = (int)get_global_id(0);
    if (i >= numel) return;
    y[i] += bias[(i / S) % C];
}

/* gb[c] += sum over n and s of gy[n,c,s]: one work-group of BIAS_WG items per channel,
 * a strided sum per item, then a tree in local memory (fixed order: deterministic).
 * Global (C * BIAS_WG), local (BIAS_WG). */
__kernel __attribute__((reqd_work_group_size(BIAS_WG, 1, 1)))
void bias_grad(__global const float *gy, __global float *gb, int N, int C, int S) {
    __local float partial[BIAS_WG];
    const int c = (int)get_group_id(0), lid = (int)get_local_id(0);
    float sum = 0.0f;
    if (S >= BIAS_WG) {   /* whole rows: no division per element */
        for (int n = 0; n < N; n++) {
            __global const float *row = gy + ((size_t)n * C + c) * S;
            for (int s = lid; s < S; s += BIAS_WG) sum += row[s];
        }
    } else {
        for (int j = lid; j < N * S; j += BIAS_WG) {
            const int n = j / S, s = j - n * S;
            sum += gy[((size_t)n * C + c) * S + s];
        }
    }
    partial[lid] = sum;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int span = BIAS_WG / 2; span > 0; span >>= 1) {
        if (lid < span) partial[lid] += partial[lid + span];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (lid == 0) gb[c] += partial[0];
}
