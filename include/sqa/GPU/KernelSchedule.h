//===- KernelSchedule.h - Tile schedules of the GPU kernels -----*- C++ -*-===//
//
// How the GPU kernels of an attention op are tiled, and whether the
// tensor-core kernels can take it: the schedule of each op, chosen once
// (chooseSchedule, the sqa-choose-schedule pass) and carried in the IR as
// `sqa.schedule = #sqa.schedule<...>`, then read (getScheduledKernelOptions,
// getTensorCoreGradSchedule) by every pass that builds or sizes a kernel or
// decides which ops get one: the GPU-mapped level, the row-wise lowering and
// the tensor-core kernels. It sits below those levels, so that none of them
// includes another's header.
//
//===----------------------------------------------------------------------===//

#ifndef SQA_GPU_KERNELSCHEDULE_H
#define SQA_GPU_KERNELSCHEDULE_H

#include "sqa/Dialect/SQA/IR/SQAOps.h"

#include <string>

namespace mlir {
namespace sqa {

/// Static shared memory a kernel may use without opting in; above it the
/// kernels use dynamic shared memory, which the launcher opts into.
constexpr int64_t kMaxStaticSharedMemory = 48 * 1024;
/// Shared memory a block may opt into on every chip from sm_80 on: 99 KiB
/// on sm_86 and sm_89 (163 KiB on sm_80, 227 KiB on sm_90).
constexpr int64_t kMaxSharedMemory = 99 * 1024;
/// Shared memory the default schedules keep a block's tiles within: 2
/// blocks of 4 warps at 255 registers fill an SM's registers, and two such
/// blocks fit in the shared memory of sm_80 and sm_90 (sm_86/sm_89 have 100
/// KiB: one block). The forward's two row tiles at head dim 128 with 64-key
/// blocks take 68 KiB, as do the backward dK/dV kernel's 32-row q-blocks at
/// head dim 128, which read shared memory a sixth less per mma.sync than
/// 16-row ones (the static model: 70% tensor-busy against 59%).
constexpr int64_t kPreferredSharedMemory = 72 * 1024;

/// Tile sizes of the tensor-core kernel: `numWarps` warps of `warpRows`
/// query rows (whole m16n8k16 row tiles) per block.
struct TensorCoreKernelOptions {
  int64_t numWarps = 4;
  /// Keys per step of the online softmax; 0 picks FlashAttention-2's (128
  /// up to head dim 64, else 64), halved where the rows per warp need it
  /// (getTensorCoreKeyBlock).
  int64_t keyBlock = 0;
  /// Query rows per warp of the forward kernel (16 or 32; the backward's
  /// kernels take 16); 0 picks 32 (FlashAttention-2's 128-row blocks of 4
  /// warps), or 16 where two row tiles' accumulators do not fit in registers
  /// with a kv-block of 32 or more, or their tiles in kPreferredSharedMemory.
  int64_t warpRows = 0;
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

/// The kv-block of the kernel for `op`: options.keyBlock, or the first of
/// FlashAttention-2's kv-block and its halves that fits with the rows per
/// warp (two row tiles where Dv + kv-block <= 192, the registers of their f32
/// accumulators, and their tiles fit in kPreferredSharedMemory; else one)
/// and leaves each thread at most 8 copies of a K or V block.
int64_t getTensorCoreKeyBlock(AttentionOp op,
                              const TensorCoreKernelOptions &options);
/// The query rows per warp of the kernel for `op`: options.warpRows, or its
/// default.
int64_t getTensorCoreWarpRows(AttentionOp op,
                              const TensorCoreKernelOptions &options);
/// How many k-steps (16 head-dim columns) of each warp's Q fragments the
/// forward kernel keeps in registers over the loop; the rest are read from
/// the shared Q tile at each k-step (FlashAttention-2 reads all of them at
/// 128-row blocks). As many as fit, with the f32 accumulators (O and one
/// block of S), in a budget of 192 registers (measured with the spill
/// sweeps), 16 fewer with a mask, 32 with a sliding window, 8 with a head
/// dim that is not a multiple of 64 and 8 more where D or Dv is an odd
/// multiple of 16: none at FlashAttention-2's tiles for head dims 64 and 128,
/// whose accumulators take the 192 registers.
int64_t getHeldQuerySteps(AttentionOp op,
                          const TensorCoreKernelOptions &options);

/// The kernel options of a pass's `warps`, `kv-block` and `warp-rows`, or an
/// error at `root` (prefixed by `passName`) when they are out of range
/// (warps in [1, 16], kv-block in [0, kMaxAttentionBlock], warp-rows 0 or a
/// multiple of 16 in [16, 64]).
FailureOr<TensorCoreKernelOptions>
getPassKernelOptions(Operation *root, StringRef passName, int64_t numWarps,
                     int64_t keyBlock, int64_t warpRows);

/// Why `op` cannot use the tensor-core kernel with `options`, or an empty
/// string when it can: f16/bf16 operands, D and Dv in {16, 32, 48, 64, 80,
/// 96, 128, 160, 192, 224, 256}, 16 or 32 rows per warp, and tiles that fit
/// in kMaxSharedMemory.
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
/// by default 64 for both, except the dQ kernel's kv-block at head dims of
/// 128 and more: 16, which keeps its Q, dO and dQ registers from spilling.
/// The dK/dV
/// kernel's tiles are then halved (q-block first, down to 16, then warps)
/// until they fit in kPreferredSharedMemory. An op's `sqa.schedule`
/// overrides all of this.
TensorCoreGradSchedule
getTensorCoreGradSchedule(AttentionGradOp op,
                          const TensorCoreKernelOptions &options);

/// Why `op` cannot use the backward tensor-core kernels with `options`, or
/// an empty string: f16/bf16 query, key, value, out and dout, D and Dv in
/// {16, 32, 64, 128}, 16 rows per warp, and tiles that fit in
/// kMaxSharedMemory.
std::string
getTensorCoreIncompatibility(AttentionGradOp op,
                             const TensorCoreKernelOptions &options);

/// Whether `block` is a block size the kernels tile: a multiple of 16 in
/// [16, 256].
inline bool isTensorCoreBlock(int64_t block) {
  return block >= 16 && block % 16 == 0 && block <= 256;
}

} // namespace sqa
} // namespace mlir

#endif // SQA_GPU_KERNELSCHEDULE_H
