// libsndfile: reading and writing audio files of every format it supports.
#include <sndfile.h>
