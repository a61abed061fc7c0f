/* The kernels/<family>.cl sources compiled into the library (generated kernels_embedded.c). */
#ifndef LUNET_EMBEDDED_H
#define LUNET_EMBEDDED_H
#include <stddef.h>

typedef struct lunet_embedded_kernel {
    const char *family;   /* file name without .cl */
    const char *source;
    size_t length;
} lunet_embedded_kernel;

extern const lunet_embedded_kernel lunet_embedded_kernels[];
extern const int lunet_embedded_kernel_count;

#endif
