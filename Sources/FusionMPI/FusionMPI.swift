// FusionMPI: Open MPI through a C shim.
//
//   Distributed   who this process is in an mpirun job; all-reduce, broadcast, barrier, abort
