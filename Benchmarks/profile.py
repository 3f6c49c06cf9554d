"""Where the time goes: a flat perf profile of one command, by category of op.

    python3 Benchmarks/profile.py -- .build/release/fusionlab-bench train-reference --threads 1
    python3 Benchmarks/profile.py -- .build/release/fusionlab run Experiments/avdigits/avdigits.json

Samples the command with `perf record` (3 kHz, user and kernel, no call graphs: each sample
counts for the function it was taken in), then sums the samples by category of the function's
symbol (Swift symbols are mangled; the categories match on the readable parts). Prints a
Markdown table: category, share of samples, and the top symbols of each category. Needs perf
(Debian: linux-perf) with kernel.perf_event_paranoid <= 2.
"""
import re
import subprocess
import sys
import tempfile
from collections import defaultdict

CATEGORIES = [
    ("GEMM (OpenBLAS and the convolution GEMMs)", r"sgemm|gemm_|cblas|blas_|ssyrk|strsm|fl_conv_gemm|dots_tile|dots_avx|dots_baseline"),
    ("convolution glue (im2col, col2im, bias, plan)", r"conv2d|conv1d|ConvPlan|im2col|col2im|Convolution|copy_row|add_row"),
    ("depthwise convolution (C kernels)", r"fl_dw|depthwise|Depthwise"),
    ("pooling (with the convolution epilogue's bias and ReLU)", r"maxPool|maxpool|avgPool|Pool|pool_|pool2x2|pool2d|pool1d|globalPool"),
    ("normalisation", r"batchNorm|layerNorm|Normalization|BatchNorm|LayerNorm"),
    ("recurrent cells", r"recurrent|Recurrent|gru|lstm"),
    ("data (decoding, MFCC, caches, batches, RNG)", r"MFCC|FFT|fft|Feature|Batch|loader|Loader|PNG|png_|sndfile|sf_|soxr|SeededGenerator|nextNormal|randn|uniform|__cos|__sin|__ieee754_log|__log|inflate|jpeg"),
    ("softmax, losses, reductions", r"softmax|Softmax|crossEntropy|logSoftmax|sumAxis|sumAll|mean|argmax|Reductions|reduce"),
    ("elementwise (activations, arithmetic, broadcasting)", r"vectorShift|relu|broadcastBinary|affine|Elementwise|sigmoid|tanh|gelu|vvexp|addInPlace|axpy|scale"),
    ("optimizer", r"FusionOptim|Adam|adam|SGD|Optimizer|clipGrad"),
    ("autograd bookkeeping", r"backward|Autograd|Tape|accumulateGrad|topolog"),
    ("memory (allocation, zeroing, copies, page faults)", r"memset|memmove|memcpy|malloc|free|calloc|_int_|page_fault|clear_page|mem_cgroup|swift_allocObject|swift_slowAlloc|swift_release|swift_retain|swift_bridgeObject"),
]


def main():
    if "--" not in sys.argv:
        sys.exit(__doc__)
    command = sys.argv[sys.argv.index("--") + 1:]
    with tempfile.NamedTemporaryFile(suffix=".data") as data:
        subprocess.run(["perf", "record", "-F", "3000", "-o", data.name, "--"] + command, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        report = subprocess.run(["perf", "report", "-i", data.name, "--stdio", "--no-children", "--sort", "dso,symbol",
                                 "--percent-limit", "0"], capture_output=True, text=True, check=True).stdout
    shares = defaultdict(float)
    tops = defaultdict(list)
    for line in report.splitlines():
        m = re.match(r"\s*([\d.]+)%\s+(\S+)\s+\[[.k]\]\s+(\S+)", line)
        if not m:
            continue
        share, dso, symbol = float(m.group(1)), m.group(2), m.group(3)
        category = next((name for name, pattern in CATEGORIES if re.search(pattern, symbol)), "other")
        shares[category] += share
        tops[category].append((share, symbol[:60]))
    print("| category | share of samples | top symbols |")
    print("|---|---|---|")
    for name, share in sorted(shares.items(), key=lambda kv: -kv[1]):
        top = ", ".join(f"`{s}` {p:.1f} %" for p, s in sorted(tops[name], reverse=True)[:2])
        print(f"| {name} | {share:.1f} % | {top} |")


if __name__ == "__main__":
    main()
