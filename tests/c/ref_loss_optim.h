/* ref_loss_optim.h — plain-C, double-precision references for the loss and optimizer ops. */
#ifndef LUNET_REF_LOSS_OPTIM_H
#define LUNET_REF_LOSS_OPTIM_H

#include <stdint.h>

/* Mean softmax cross-entropy over logits [n,k] (labels are 0-based indices as floats;
 * NaN when one is not an integer in 0..k-1). grad [n,k] (may be NULL) receives
 * (softmax - onehot) / n. */
double ref_softmax_xent(const float *logits, const float *labels, int n, int k, float *grad);
/* probs [n,k] = softmax of each row. */
void ref_softmax(const float *logits, float *probs, int n, int k);

/* One SGD step in place (PyTorch: dampening 0, no Nesterov); velocity unused when
 * momentum == 0 (may be NULL then). */
void ref_sgd_step(double *param, const float *grad, double *velocity, int64_t count, double lr,
                  double momentum, double weight_decay);
/* One Adam step in place (PyTorch, L2 weight decay); step is 1-based. */
void ref_adam_step(double *param, const float *grad, double *m, double *v, int64_t count,
                   double lr, double beta1, double beta2, double eps, double weight_decay,
                   int64_t step);

#endif
