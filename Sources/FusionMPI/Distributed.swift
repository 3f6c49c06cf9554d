import CMPI
import Foundation
import Synchronization

/// The processes of an Open MPI job (`mpirun -np N fusionlab …`): who this process is, and the
/// collectives that data-parallel training and job-parallel comparisons use.
///
/// Started by `start()` only when Open MPI launched the process (its environment names the world
/// size); otherwise this is rank 0 of 1 and every collective is a no-op, so a plain
/// `fusionlab run` never touches MPI. MPI's default error handler ends the whole job on a
/// communication error; a rank that fails otherwise exits without finalising MPI, which makes
/// mpirun end the others, so no rank waits forever (`abort` ends the job at once explicitly).
public enum Distributed {
    private static let lock = Mutex(State())
    private static var state: State { lock.withLock { $0 } }
    struct State: Sendable {
        var rank = 0, size = 1, started = false, dataParallel = true, collectiveSeconds = 0.0
    }
    /// This process's rank.
    public static var rank: Int { state.rank }
    /// The number of processes.
    public static var size: Int { state.size }
    /// Whether MPI was initialised.
    public static var started: Bool { state.started }
    /// Whether training splits each batch across the ranks (on by default; job-parallel
    /// comparisons turn it off so that each rank trains whole runs alone).
    public static var dataParallel: Bool {
        get { state.dataParallel }
        set { lock.withLock { $0.dataParallel = newValue } }
    }
    /// Seconds spent inside collectives since start (all-reduce, broadcast, barrier).
    public static var collectiveSeconds: Double { state.collectiveSeconds }

    /// Restarts the `collectiveSeconds` clock.
    public static func resetCollectiveClock() { lock.withLock { $0.collectiveSeconds = 0 } }

    /// Whether Open MPI started this process (mpirun sets the world size in its environment).
    public static var launchedByMPI: Bool {
        let env = ProcessInfo.processInfo.environment
        return env["OMPI_COMM_WORLD_SIZE"] != nil || env["PMIX_RANK"] != nil
    }

    /// Initialises MPI when launched by mpirun. Call `finish` after success; a process that
    /// exits without it makes mpirun end the job (the other ranks may be waiting on it).
    public static func start() {
        guard launchedByMPI, !started else { return }
        if fusionlab_mpi_initialized() == 0 {
            let status = fusionlab_mpi_init()
            guard status == 0 else {
                FileHandle.standardError.write(Data("error: MPI_Init_thread failed (status \(status)) in a process mpirun started\n".utf8))
                exit(1)
            }
        }
        let (r, n) = (Int(fusionlab_mpi_rank()), Int(fusionlab_mpi_size()))
        lock.withLock { $0.rank = r; $0.size = n; $0.started = true }
    }

    /// Finalises MPI (idempotent).
    public static func finish() {
        guard started, fusionlab_mpi_finalized() == 0 else { return }
        _ = fusionlab_mpi_finalize()
    }

    /// More than one process.
    public static var isActive: Bool { size > 1 }
    /// Training is split across ranks right now.
    public static var splitsBatches: Bool { isActive && dataParallel }
    /// Whether this process writes files (rank 0, or a single process).
    public static var isWriter: Bool { rank == 0 || !dataParallel }

    private static func timed<T>(_ body: () -> T) -> T {
        let start = fusionlab_mpi_wtime()
        defer { let spent = fusionlab_mpi_wtime() - start; lock.withLock { $0.collectiveSeconds += spent } }
        return body()
    }

    /// Sums `count` floats at `values` across ranks, in place (every rank gets the sum).
    public static func sum(_ values: UnsafeMutablePointer<Float>, count: Int) {
        guard isActive else { return }
        var offset = 0
        while offset < count {  // MPI counts are 32-bit
            let n = min(count - offset, Int(Int32.max))
            _ = timed { fusionlab_mpi_allreduce_sum_float(values + offset, Int32(n)) }
            offset += n
        }
    }

    /// Sums doubles across ranks, in place.
    public static func sum(_ values: inout [Double]) {
        guard isActive, !values.isEmpty else { return }
        let n = Int32(values.count)
        values.withUnsafeMutableBufferPointer { p in _ = timed { fusionlab_mpi_allreduce_sum_double(p.baseAddress, n) } }
    }

    /// The largest value of each entry across ranks, in place.
    public static func maximum(_ values: inout [Int32]) {
        guard isActive, !values.isEmpty else { return }
        let n = Int32(values.count)
        values.withUnsafeMutableBufferPointer { p in _ = timed { fusionlab_mpi_allreduce_max_int(p.baseAddress, n) } }
    }

    /// Copies rank `root`'s `count` floats at `values` to every rank.
    public static func broadcast(_ values: UnsafeMutablePointer<Float>, count: Int, from root: Int = 0) {
        guard isActive else { return }
        var offset = 0
        while offset < count {
            let n = min(count - offset, Int(Int32.max))
            _ = timed { fusionlab_mpi_bcast_float(values + offset, Int32(n), Int32(root)) }
            offset += n
        }
    }

    /// Rank `root`'s doubles on every rank, in place.
    public static func broadcast(_ values: inout [Double], from root: Int = 0) {
        guard isActive, !values.isEmpty else { return }
        let n = Int32(values.count * 8)
        values.withUnsafeMutableBytes { p in _ = timed { fusionlab_mpi_bcast_bytes(p.baseAddress, n, Int32(root)) } }
    }

    /// Rank `root`'s string on every rank.
    public static func broadcast(_ text: String, from root: Int = 0) -> String {
        guard isActive else { return text }
        var length = [Int32(rank == root ? text.utf8.count : 0)]
        length.withUnsafeMutableBytes { p in _ = timed { fusionlab_mpi_bcast_bytes(p.baseAddress, 4, Int32(root)) } }
        var bytes = rank == root ? Array(text.utf8) : [UInt8](repeating: 0, count: Int(length[0]))
        if !bytes.isEmpty {
            bytes.withUnsafeMutableBytes { p in _ = timed { fusionlab_mpi_bcast_bytes(p.baseAddress, length[0], Int32(root)) } }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Waits until every rank arrives, sleeping a millisecond between polls (not spinning).
    public static func barrier() {
        guard isActive else { return }
        _ = timed { fusionlab_mpi_barrier_sleeping(1000) }
    }

    /// Ends the whole job at once: after an error on one rank, the others would otherwise wait
    /// in the next collective forever.
    public static func abort(_ code: Int32) -> Never {
        if started && fusionlab_mpi_finalized() == 0 { fusionlab_mpi_abort(code) }
        exit(code)
    }
}
