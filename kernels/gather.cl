/*
 * gather.cl — building training batches on the device.
 *
 * bytes_to_float: dataset bytes (uploaded as uchar, 4x less transfer than floats) to
 * normalised floats b * scale + shift.
 * gather_rows: dst[r, c] = src[indices[offset + r], c]; indices are floats holding exact
 * integers. A row whose index is not an integer in [0, rows) becomes NaN, so a bad
 * permutation shows in the loss instead of reading outside the buffer.
 */

__kernel void bytes_to_float(__global const uchar *bytes, __global float *dst, const int n,
                             const float scale, const float shift) {
    const int i = get_global_id(0);
    if (i < n) dst[i] = (float)bytes[i] * scale + shift;
}

/* Global (ceil(row_size / GATHER_SPAN), count): work-item (s, r) copies elements
 * [s*GATHER_SPAN, ...) of output row r — a span, not one element: PoCL's cost per
 * work-item is larger than a float's copy. */
#define GATHER_SPAN 256
__kernel void gather_rows(__global const float *src, __global const float *indices,
                          __global float *dst, const int rows, const int row_size,
                          const int offset, const int count) {
    const int s = get_global_id(0) * GATHER_SPAN;
    const int r = get_global_id(1);
    if (s >= row_size || r >= count) return;
    const int end = min(row_size, s + GATHER_SPAN);
    const float f = indices[offset + r];
    const int k = (int)f;
    __global float *out = dst + (size_t)r * row_size;
    if (!(f >= 0.0f && f < (float)rows && (float)k == f)) {
        for (int c = s; c < end; c++) out[c] = NAN;
        return;
    }
    __global const float *in = src + (size_t)k * row_size;
    for (int c = s; c < end; c++) out[c] = in[c];
}
