// libjpeg-turbo's TurboJPEG API: JPEG decoding (baseline, progressive, grey, every chroma
// subsampling) without libjpeg's setjmp/longjmp error handling, which Swift cannot catch.
#include <turbojpeg.h>
