import CFusionKernels

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
