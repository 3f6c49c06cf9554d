// Open MPI's C API (Debian's libopenmpi-dev 4.1) through functions: MPI_COMM_WORLD, MPI_FLOAT,
// MPI_SUM and friends are macros over library globals, which Swift does not import.
#include <mpi.h>
#include <unistd.h>

static inline int fusionlab_mpi_initialized(void) { int flag = 0; MPI_Initialized(&flag); return flag; }
static inline int fusionlab_mpi_finalized(void) { int flag = 0; MPI_Finalized(&flag); return flag; }
static inline int fusionlab_mpi_init(void) {
    int provided = 0;
    return MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided);
}
static inline int fusionlab_mpi_rank(void) { int r = 0; MPI_Comm_rank(MPI_COMM_WORLD, &r); return r; }
static inline int fusionlab_mpi_size(void) { int n = 1; MPI_Comm_size(MPI_COMM_WORLD, &n); return n; }
static inline int fusionlab_mpi_allreduce_sum_float(float *data, int count) {
    return MPI_Allreduce(MPI_IN_PLACE, data, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
}
static inline int fusionlab_mpi_allreduce_sum_double(double *data, int count) {
    return MPI_Allreduce(MPI_IN_PLACE, data, count, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
}
static inline int fusionlab_mpi_allreduce_max_int(int *data, int count) {
    return MPI_Allreduce(MPI_IN_PLACE, data, count, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
}
static inline int fusionlab_mpi_bcast_bytes(void *data, int count, int root) {
    return MPI_Bcast(data, count, MPI_BYTE, root, MPI_COMM_WORLD);
}
static inline int fusionlab_mpi_bcast_float(float *data, int count, int root) {
    return MPI_Bcast(data, count, MPI_FLOAT, root, MPI_COMM_WORLD);
}
static inline int fusionlab_mpi_barrier(void) { return MPI_Barrier(MPI_COMM_WORLD); }
// A barrier that sleeps between polls instead of spinning, so a rank that waits (for rank 0
// building the feature cache, or for the last jobs of a queue) leaves its core to the others.
static inline int fusionlab_mpi_barrier_sleeping(unsigned int sleep_us) {
    MPI_Request request;
    int done = 0;
    int status = MPI_Ibarrier(MPI_COMM_WORLD, &request);
    if (status != MPI_SUCCESS) return status;
    while (!done) {
        status = MPI_Test(&request, &done, MPI_STATUS_IGNORE);
        if (status != MPI_SUCCESS) return status;
        if (!done) usleep(sleep_us);
    }
    return MPI_SUCCESS;
}
static inline int fusionlab_mpi_finalize(void) { return MPI_Finalize(); }
static inline void fusionlab_mpi_abort(int code) { MPI_Abort(MPI_COMM_WORLD, code); }
static inline double fusionlab_mpi_wtime(void) { return MPI_Wtime(); }
