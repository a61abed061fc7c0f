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

/* Work item (c, r): element c of output row r. */
__kernel void gather_rows(__global const float *src, __global const float *indices,
                          __global float *dst, const int rows, const int row_size,
                          const int offset, const int count) {
    const int c = get_global_id(0);
    const int r = get_global_id(1);
    if (c >= row_size || r >= count) return;
    const float f = indices[offset + r];
    const int k = (int)f;
    const bool valid = f >= 0.0f && f < (float)rows && (float)k == f;
    dst[r * row_size + c] = valid ? src[k * row_size + c] : NAN;
}
