/* gemm.h — choosing the GEMM kernel variant explicitly (tests exercise both on any device). */
#ifndef LUNET_OPS_GEMM_H
#define LUNET_OPS_GEMM_H

#include "internal.h"

typedef enum lunet__gemm_kind {
    LUNET__GEMM_AUTO = 0,   /* the tuning store's gemm.variant (tiled on GPUs, else reg) */
    LUNET__GEMM_REG = 1,    /* register blocks per work-item, no local memory (CPU) */
    LUNET__GEMM_TILED = 2   /* local-memory tiles per work-group (GPU) */
} lunet__gemm_kind;

/* When the tiled (GPU) variant splits the depth k into chunks, each a work-group's partial
 * product, summed by gemm_sum_partials. The register variant never splits. */
typedef enum lunet__gemm_split {
    LUNET__SPLIT_NEVER = 0,   /* one launch (lunet__gemm: forward and input gradients) */
    LUNET__SPLIT_SHAPE = 1,   /* when the output has fewer tiles than the device has compute
                                 units and k is long (lunet_gemm) */
    LUNET__SPLIT_ALWAYS = 2   /* the split path at any shape (lunet__gemm_reduce), so that the
                                 launches of a training step do not depend on the batch */
} lunet__gemm_split;

/* lunet__gemm with the variant and the split policy forced. */
lunet_status lunet__gemm_ex(lunet_context *ctx, lunet__gemm_kind kind, lunet__gemm_split split,
                            int trans_a, int trans_b, int64_t m, int64_t n, int64_t k,
                            float alpha, cl_mem a, size_t a_offset, cl_mem b, size_t b_offset,
                            float beta, cl_mem c, size_t c_offset);

/* lunet__gemm_ex splitting by shape (LUNET__SPLIT_SHAPE), with the variant forced. */
lunet_status lunet__gemm_variant(lunet_context *ctx, lunet__gemm_kind kind, int trans_a,
                                 int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                                 cl_mem a, size_t a_offset, cl_mem b, size_t b_offset,
                                 float beta, cl_mem c, size_t c_offset);

#endif
