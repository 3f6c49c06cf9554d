// glibc declarations Swift's Glibc module does not export (mallopt and its parameters).
#include <malloc.h>
