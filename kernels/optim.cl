/* optim.cl — on-device optimizer updates, one work-item per parameter element,
 * with PyTorch's formulas (SGD: dampening 0, no Nesterov; Adam: L2 weight decay).
 */

/* g' = g + wd p; v = mu v + g'; p -= lr v. */
__kernel void sgd_momentum(__global float *param, __global const float *grad,
                           __global float *velocity, int n, float lr, float momentum,
                           float weight_decay) {
    int i = (int)get_global_id(0);
    if (i >= n) return;
    float p = param[i];
    float v = momentum * velocity[i] + (grad[i] + weight_decay * p);
    velocity[i] = v;
    param[i] = p - lr * v;
}

/* Momentum 0: no velocity buffer. p -= lr (g + wd p). */
__kernel void sgd_plain(__global float *param, __global const float *grad, int n, float lr,
                        float weight_decay) {
    int i = (int)get_global_id(0);
    if (i >= n) return;
    float p = param[i];
    param[i] = p - lr * (grad[i] + weight_decay * p);
}

/* m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
 * p -= step_size m / (sqrt(v) / sqrt_bc2 + eps), step_size = lr / (1 - b1^t),
 * sqrt_bc2 = sqrt(1 - b2^t) (both computed on the host in double). */
__kernel void adam(__global float *param, __global const float *grad, __global float *m,
                   __global float *v, int n, float beta1, float beta2, float eps,
                   float weight_decay, float step_size, float sqrt_bc2) {
    int i = (int)get_global_id(0);
    if (i >= n) return;
    float p = param[i];
    float g = grad[i] + weight_decay * p;
    float mi = beta1 * m[i] + (1.0f - beta1) * g;
    float vi = beta2 * v[i] + (1.0f - beta2) * g * g;
    m[i] = mi;
    v[i] = vi;
    param[i] = p - step_size * mi / (sqrt(vi) / sqrt_bc2 + eps);
}
