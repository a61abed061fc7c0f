/* gemm.h — choosing the GEMM kernel variant explicitly (tests exercise both on any device). */
#ifndef LUNET_OPS_GEMM_H
#define LUNET_OPS_GEMM_H

#include "internal.h"

typedef enum lunet__gemm_kind {
    LUNET__GEMM_AUTO = 0,   /* the tuning store's gemm.variant (tiled on GPUs, else reg) */
    LUNET__GEMM_REG = 1,    /* register blocks per work-item, no local memory (CPU) */
    LUNET__GEMM_TILED = 2   /* local-memory tiles per work-group (GPU) */
} lunet__gemm_kind;

/* lunet__gemm with the variant forced. */
lunet_status lunet__gemm_variant(lunet_context *ctx, lunet__gemm_kind kind, int trans_a,
                                 int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                                 cl_mem a, size_t a_offset, cl_mem b, size_t b_offset,
                                 float beta, cl_mem c, size_t c_offset);

#endif
