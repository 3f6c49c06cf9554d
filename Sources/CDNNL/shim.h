// oneDNN's C API (Debian's libdnnl-dev, 2.x): int8 convolution, matmul and reorders.
#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl_debug.h>

// Macros Swift does not import (casts and macro chains), as inline functions.
static inline void *fusionlab_dnnl_allocate(void) { return DNNL_MEMORY_ALLOCATE; }
static inline int fusionlab_dnnl_arg_src(void) { return DNNL_ARG_SRC; }
static inline int fusionlab_dnnl_arg_dst(void) { return DNNL_ARG_DST; }
static inline int fusionlab_dnnl_arg_weights(void) { return DNNL_ARG_WEIGHTS; }
static inline int fusionlab_dnnl_arg_bias(void) { return DNNL_ARG_BIAS; }
