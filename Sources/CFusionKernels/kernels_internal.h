// Shared between the kernel files, not exported: the instruction set chosen at start-up.
#ifndef FUSION_KERNELS_INTERNAL_H
#define FUSION_KERNELS_INTERNAL_H

/// 0: baseline, 1: AVX2 with FMA, 2: AVX-512F. Set by depthwise.c's `install`.
extern int fl_isa_level;

/// Chooses the instruction set once (FUSIONLAB_ISA caps it); every exported kernel calls it first.
void fl_ensure_isa(void);

#endif
