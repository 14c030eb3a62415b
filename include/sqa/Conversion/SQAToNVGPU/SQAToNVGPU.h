//===- SQAToNVGPU.h - Tensor-core FlashAttention-2 kernels ------*- C++ -*-===//

#ifndef SQA_CONVERSION_SQATONVGPU_SQATONVGPU_H
#define SQA_CONVERSION_SQATONVGPU_SQATONVGPU_H

#include "mlir/Pass/Pass.h"
#include "sqa/Dialect/SQA/IR/SQAOps.h"

namespace mlir {
class RewritePatternSet;
namespace sqa {

#define GEN_PASS_DECL_CONVERTSQATONVGPUPASS
#define GEN_PASS_DECL_SETNVVMLAUNCHBOUNDSPASS
#define GEN_PASS_DECL_CHECKPTXSYMBOLSPASS
#define GEN_PASS_DECL_CHOOSESCHEDULEPASS
#include "sqa/Conversion/Passes.h.inc"

/// Tile sizes of the tensor-core kernel. Each warp owns 16 query rows (one
/// m16n8k16 row tile), so a block holds 16 * numWarps rows.
struct TensorCoreKernelOptions {
  int64_t numWarps = 4;
  /// Keys per step of the online softmax; 0 picks 64, or 32 when a head dim
  /// is 128 (two stages of K and V and the Q tile then fit in 48 KiB of
  /// static shared memory).
  int64_t keyBlock = 0;
};

/// The kernel options of `op`: those of its `sqa.schedule` when it carries
/// one (chosen once, by sqa-choose-schedule or by the producer of the IR),
/// else `options`. Every pass that builds or sizes a kernel goes through
/// this, so that an op's schedule is read, never re-derived.
TensorCoreKernelOptions
getScheduledKernelOptions(Operation *op, const TensorCoreKernelOptions &options);

/// The `#sqa.schedule` of the kernels `op` (sqa.attention or
/// sqa.attention_grad) gets with `options`: warps and kv-block (their
/// defaults resolved) and, for the backward, its dK/dV kernel's warps and
/// q-block (getTensorCoreGradSchedule).
ScheduleAttr chooseSchedule(Operation *op,
                            const TensorCoreKernelOptions &options);

/// The kv-block of the kernel for `op`: options.keyBlock, or its default.
int64_t getTensorCoreKeyBlock(AttentionOp op,
                              const TensorCoreKernelOptions &options);

/// The kernel options of a pass's `warps` and `kv-block`, or an error at
/// `root` (prefixed by `passName`) when they are out of range (warps in
/// [1, 16], kv-block >= 0).
FailureOr<TensorCoreKernelOptions>
getPassKernelOptions(Operation *root, StringRef passName, int64_t numWarps,
                     int64_t keyBlock);

/// Why `op` cannot use the tensor-core kernel with `options`, or an empty
/// string when it can: f16/bf16 operands, D and Dv in {16, 32, 64, 128},
/// and tiles that fit in static shared memory.
std::string
getTensorCoreIncompatibility(AttentionOp op,
                             const TensorCoreKernelOptions &options);

/// Shared memory in bytes that the kernel for `op` uses with `options`.
int64_t getTensorCoreSharedMemoryBytes(AttentionOp op,
                                       const TensorCoreKernelOptions &options);

/// The tiles of the two backward kernels of sqa.attention_grad, chosen once
/// per op by getTensorCoreGradSchedule and read by everything that builds or
/// sizes them.
struct TensorCoreGradSchedule {
  /// dK/dV kernel: warps per block (16 keys each) and the query rows it
  /// streams through per step.
  int64_t keyWarps = 0, queryBlock = 0;
  /// dQ kernel: warps per block (16 query rows each) and the keys it streams
  /// through per step.
  int64_t queryWarps = 0, keyBlock = 0;
  /// Whether the dK/dV kernel keeps its K and V fragments in registers over
  /// the loop (small head dims) rather than reloading them from shared
  /// memory at each step.
  bool holdKeyValueFragments = false;

  /// Shared memory of each kernel in bytes.
  int64_t getKeyValueKernelSharedBytes(int64_t headDim,
                                       int64_t valueHeadDim) const;
  int64_t getQueryKernelSharedBytes(int64_t headDim,
                                    int64_t valueHeadDim) const;
};

/// The schedule of the backward kernels for `op`: `options.numWarps` warps
/// in both, and kv-block (dQ) and q-block (dK/dV) of `options.keyBlock`, or
/// by default 64 for both, except the dQ kernel's kv-block at head dim 128:
/// 16, which keeps its Q, dO and dQ registers from spilling. The dK/dV
/// kernel's tiles are then halved (q-block first, down to 16, then warps)
/// until they fit in 48 KiB of static shared memory. An op's `sqa.schedule`
/// overrides all of this.
TensorCoreGradSchedule
getTensorCoreGradSchedule(AttentionGradOp op,
                          const TensorCoreKernelOptions &options);

/// Why `op` cannot use the backward tensor-core kernels with `options`, or
/// an empty string: f16/bf16 query, key, value, out and dout, D and Dv in
/// {16, 32, 64, 128}, and tiles that fit in static shared memory.
std::string
getTensorCoreIncompatibility(AttentionGradOp op,
                             const TensorCoreKernelOptions &options);

void populateSQAToNVGPUConversionPatterns(
    RewritePatternSet &patterns, const TensorCoreKernelOptions &options);

} // namespace sqa
} // namespace mlir

#endif // SQA_CONVERSION_SQATONVGPU_SQATONVGPU_H
