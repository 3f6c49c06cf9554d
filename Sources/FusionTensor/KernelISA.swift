import CBLAS
import CFusionKernels
import Glibc

/// The instruction set FusionLab's hand-vectorised C kernels (CFusionKernels) run with: chosen
/// once at start-up from what the CPU supports (AVX-512F, else AVX2 with FMA, else the baseline
/// any CPU runs), never fixed at build time. `FUSIONLAB_ISA=avx2` (or `baseline`) caps it.
public enum KernelISA {
    /// "avx512", "avx2" or "baseline".
    public static var current: String { String(cString: fl_kernels_isa()) }

    /// Switches the kernels to `name` when this CPU supports it (for tests comparing the paths;
    /// not thread-safe). Returns whether it switched.
    @discardableResult
    public static func use(_ name: String) -> Bool { fl_kernels_use_isa(name) == 1 }
}

/// OpenBLAS (DYNAMIC_ARCH, as Debian ships it) picks its GEMM kernels from the CPU's model
/// number at load time, and falls back to its SSE3 "Prescott" kernels on a model it does not
/// know, as virtual machines often report: half the speed of its Haswell or SkylakeX kernels on
/// the same CPU. The choice is made before `main`, so the command line tools restart themselves
/// once with `OPENBLAS_CORETYPE` set from the instruction set the CPU does have.
public enum BLASCore {
    /// The OpenBLAS kernel family in use ("Prescott", "Haswell", "SkylakeX", …).
    public static var name: String { openblas_get_corename().map { String(cString: $0) } ?? "unknown" }

    /// The core to ask for when OpenBLAS fell back to its generic kernels on a CPU with AVX2 or
    /// AVX-512, or nil when its choice stands (or `OPENBLAS_CORETYPE` was set by the user).
    public static var better: String? {
        guard getenv("OPENBLAS_CORETYPE") == nil, name.lowercased() == "prescott" else { return nil }
        switch KernelISA.current {
        case "avx512": return "SkylakeX"
        case "avx2": return "Haswell"
        default: return nil
        }
    }

    /// Restarts this process (same PID, arguments and environment) with `OPENBLAS_CORETYPE` set
    /// when `better` names a core; returns only when there is nothing to change or exec fails.
    public static func restartWithBetterCoreIfNeeded() {
        guard let core = better, getenv("FUSIONLAB_BLAS_RESTARTED") == nil else { return }
        setenv("OPENBLAS_CORETYPE", core, 1)
        setenv("FUSIONLAB_BLAS_RESTARTED", "1", 1)
        execv("/proc/self/exe", CommandLine.unsafeArgv)
        // exec failed: carry on with the kernels OpenBLAS chose.
        unsetenv("OPENBLAS_CORETYPE")
    }
}
