// kissfft (float build, libkissfft-float): complex and real-input FFTs.
#include <stdlib.h>
#include <kissfft/kiss_fft.h>
#include <kissfft/kiss_fftr.h>

/// Frees a real-FFT plan (kiss_fftr_free is a macro Swift cannot call).
static inline void fl_kiss_fftr_free(kiss_fftr_cfg cfg) { kiss_fft_free(cfg); }
