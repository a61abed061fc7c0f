/* loss.cl — softmax and the fused softmax + cross-entropy loss over logits [N,K].
 *
 * Every kernel runs one work-item per row (batch is the kernel dimension). Rows are
 * max-subtracted before exp, so huge logits (+-1000) give finite results.
 * Labels are 0-based class indices stored as floats; a label that is not an integer
 * in 0..K-1 makes its row NaN (loss and gradient).
 */

/* The label of a row as an index, or -1 when it is not an integer in 0..K-1. */
static int label_index(float label, int K) {
    if (!(label >= 0.0f && label < (float)K && label == floor(label))) return -1;
    return (int)label;
}

static float row_max(__global const float *row, int K) {
    float m = row[0];
    for (int k = 1; k < K; k++) m = fmax(m, row[k]);
    return m;
}

static float row_sum_exp(__global const float *row, int K, float max_value) {
    float s = 0.0f;
    for (int k = 0; k < K; k++) s += exp(row[k] - max_value);
    return s;
}

/* row_loss[n] = logsumexp(logits[n,:]) - logits[n, label[n]], written as
 * log(sum exp(x - max)) - (x[label] - max) so that no digits are lost next to a huge max. */
__kernel void xent_rows(__global const float *logits, __global const float *labels,
                        __global float *row_loss, int N, int K) {
    int n = (int)get_global_id(0);
    if (n >= N) return;
    __global const float *row = logits + (size_t)n * K;
    int label = label_index(labels[n], K);
    if (label < 0) { row_loss[n] = NAN; return; }
    float m = row_max(row, K);
    row_loss[n] = log(row_sum_exp(row, K, m)) - (row[label] - m);
}

/* loss[0] = mean of row_loss[0..N-1], summed in a fixed order (Kahan) by one
 * work-item: the same inputs give bit-identical results on a device. */
__kernel void xent_mean(__global const float *row_loss, __global float *loss, int N) {
    if (get_global_id(0) != 0) return;
    float sum = 0.0f, carry = 0.0f;
    for (int n = 0; n < N; n++) {
        float y = row_loss[n] - carry;
        float t = sum + y;
        carry = (t - sum) - y;
        sum = t;
    }
    loss[0] = sum / (float)N;
}

/* grad[n,:] = (softmax(logits[n,:]) - onehot(label[n])) / N. grad may be logits. */
__kernel void xent_backward(__global const float *logits, __global const float *labels,
                            __global float *grad, int N, int K) {
    int n = (int)get_global_id(0);
    if (n >= N) return;
    __global const float *row = logits + (size_t)n * K;
    __global float *out = grad + (size_t)n * K;
    int label = label_index(labels[n], K);
    float m = row_max(row, K);
    float scale = 1.0f / (row_sum_exp(row, K, m) * (float)N);
    float inv_n = 1.0f / (float)N;
    for (int k = 0; k < K; k++) {
        float g = exp(row[k] - m) * scale;
        out[k] = label < 0 ? NAN : (k == label ? g - inv_n : g);
    }
}

/* probs[n,:] = softmax(logits[n,:]). probs may be logits. */
__kernel void softmax_rows(__global const float *logits, __global float *probs, int N, int K) {
    int n = (int)get_global_id(0);
    if (n >= N) return;
    __global const float *row = logits + (size_t)n * K;
    __global float *out = probs + (size_t)n * K;
    float m = row_max(row, K);
    float inv_sum = 1.0f / row_sum_exp(row, K, m);
    for (int k = 0; k < K; k++) out[k] = exp(row[k] - m) * inv_sum;
}
