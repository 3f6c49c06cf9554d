// FFmpeg's libavutil (LGPL-2.1+): its transform API (av_tx, SIMD real-input FFT) and
// aligned allocation. FusionData uses only these two headers.
#include <libavutil/tx.h>
#include <libavutil/mem.h>
