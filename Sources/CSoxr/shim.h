// libsoxr: high-quality one-dimensional sample-rate conversion.
#include <soxr.h>
