#include "ref_loss_optim.h"

#include <math.h>

static int ref_label(float label, int k) {
    if (!(label >= 0.0f && label < (float)k && label == floorf(label))) return -1;
    return (int)label;
}

/* log(sum(exp(row))) computed stably; *max_out gets the row maximum. */
static double ref_logsumexp(const float *row, int k, double *max_out) {
    double m = row[0];
    for (int j = 1; j < k; j++) if (row[j] > m) m = row[j];
    double s = 0.0;
    for (int j = 0; j < k; j++) s += exp((double)row[j] - m);
    *max_out = m;
    return m + log(s);
}

double ref_softmax_xent(const float *logits, const float *labels, int n, int k, float *grad) {
    double total = 0.0;
    for (int i = 0; i < n; i++) {
        const float *row = logits + (int64_t)i * k;
        int label = ref_label(labels[i], k);
        double m, lse = ref_logsumexp(row, k, &m);
        total += label < 0 ? NAN : lse - row[label];
        if (!grad) continue;
        for (int j = 0; j < k; j++) {
            double p = exp((double)row[j] - lse);
            grad[(int64_t)i * k + j] = label < 0 ? NAN : (float)((p - (j == label)) / n);
        }
    }
    return total / n;
}

void ref_softmax(const float *logits, float *probs, int n, int k) {
    for (int i = 0; i < n; i++) {
        const float *row = logits + (int64_t)i * k;
        double m, lse = ref_logsumexp(row, k, &m);
        for (int j = 0; j < k; j++) probs[(int64_t)i * k + j] = (float)exp((double)row[j] - lse);
    }
}

void ref_sgd_step(double *param, const float *grad, double *velocity, int64_t count, double lr,
                  double momentum, double weight_decay) {
    for (int64_t i = 0; i < count; i++) {
        double g = grad[i] + weight_decay * param[i];
        if (momentum != 0.0) {
            velocity[i] = momentum * velocity[i] + g;
            g = velocity[i];
        }
        param[i] -= lr * g;
    }
}

void ref_adam_step(double *param, const float *grad, double *m, double *v, int64_t count,
                   double lr, double beta1, double beta2, double eps, double weight_decay,
                   int64_t step) {
    double bc1 = 1.0 - pow(beta1, (double)step), bc2 = 1.0 - pow(beta2, (double)step);
    for (int64_t i = 0; i < count; i++) {
        double g = grad[i] + weight_decay * param[i];
        m[i] = beta1 * m[i] + (1.0 - beta1) * g;
        v[i] = beta2 * v[i] + (1.0 - beta2) * g * g;
        param[i] -= lr * (m[i] / bc1) / (sqrt(v[i] / bc2) + eps);
    }
}
