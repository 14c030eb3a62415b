//===- KernelSchedule.h - Tile schedules and plans of the GPU kernels -*- C++ -*-//
//
// How the GPU kernels of an attention op are tiled, and whether the
// tensor-core kernels can take it. The schedule of each op is chosen once
// (chooseSchedule, the sqa-choose-schedule pass) and carried in the IR as
// `sqa.schedule = #sqa.schedule<...>`: what a producer may choose. From it
// one function per direction derives the kernel's plan, every decision a
// builder needs (getForwardPlan: ForwardPlan; getGradPlan: GradPlan), and
// the builders, the launches and the shared-memory checks read the plan and
// nothing else. It sits below the conversions, so that none of them
// includes another's header.
//
//===----------------------------------------------------------------------===//

#ifndef SQA_GPU_KERNELSCHEDULE_H
#define SQA_GPU_KERNELSCHEDULE_H

#include "sqa/Dialect/SQA/IR/SQAOps.h"

#include "llvm/ADT/SmallVector.h"

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

/// The descriptions of the schedule's knobs, for the surfaces that declare
/// them in C++ (the GPU pipeline's options, sqa-compile); the passes' ODS
/// options repeat them, and test/Conversion/SQAToNVGPU/schedule-defaults.mlir
/// checks every surface's text against the schedule the code chooses.
inline constexpr const char kWarpsKnobDescription[] =
    "Warps per block of the tensor-core kernels (1 to 16)";
inline constexpr const char kKeyBlockKnobDescription[] =
    "Keys per step of the tensor-core kernels (0: 128 up to head dim 64, "
    "else 64, halved where the tiles need it)";
inline constexpr const char kWarpRowsKnobDescription[] =
    "Query rows per warp of the forward tensor-core kernel (0: 32, or 16 "
    "where the tiles would exceed 72 KiB of shared memory or two row tiles "
    "the registers)";

/// The one check of the schedule's knobs, wherever they are declared
/// (sqa-choose-schedule, the GPU pipeline, sqa-compile): warps in [1, 16],
/// kv-block 0 (the default) or a multiple of 16 in [16, 256], warp-rows 0
/// (the default), 16 or 32 -- what the tensor-core kernels can tile. Returns
/// the first violation, naming the knob and its value, or an empty string.
std::string checkScheduleKnobs(int64_t numWarps, int64_t keyBlock,
                               int64_t warpRows);

/// Tile sizes of the tensor-core kernel: `numWarps` warps of `warpRows`
/// query rows (whole m16n8k16 row tiles) per block.
struct TensorCoreKernelOptions {
  int64_t numWarps = 4;
  /// Keys per step of the online softmax; 0 picks FlashAttention-2's (128
  /// up to head dim 64, else 64), halved where the rows per warp need it
  /// (getForwardPlan).
  int64_t keyBlock = 0;
  /// Query rows per warp of the forward kernel (16 or 32; the backward's
  /// kernels take 16); 0 picks 32 (FlashAttention-2's 128-row blocks of 4
  /// warps), or 16 where two row tiles' accumulators do not fit in registers
  /// with a kv-block of 32 or more, or their tiles in kPreferredSharedMemory.
  int64_t warpRows = 0;
};

/// The `#sqa.schedule` of the kernels `op` (sqa.attention or
/// sqa.attention_grad) gets with `options`: warps and kv-block (their
/// defaults resolved) and, for the backward, its dK/dV kernel's warps and
/// q-block (getGradPlan).
ScheduleAttr chooseSchedule(Operation *op,
                            const TensorCoreKernelOptions &options);

/// The kernel options of a pass's `warps`, `kv-block` and `warp-rows`, or an
/// error at `root` (prefixed by `passName`) when they are out of range
/// (checkScheduleKnobs).
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

/// A shared-memory buffer of a kernel: its logical shape (a leading dim of
/// stages where there are several), of the kernel's 16-bit element type,
/// whose rows are padded as getSharedRowElements says, or of f32.
struct SharedTile {
  SmallVector<int64_t> shape;
  bool isF32 = false;

  /// The shape as allocated (16-bit rows padded).
  SmallVector<int64_t> getAllocatedShape() const;
  int64_t getBytes() const;
};

/// Where a kernel's shared tiles lie: each at a 16-byte aligned offset (the
/// unit of cp.async and ldmatrix), in order. Above kMaxStaticSharedMemory
/// they are views of dynamic shared memory, which the launcher opts into.
struct SharedLayout {
  SmallVector<int64_t> offsets;
  int64_t bytes = 0;
  bool isDynamic() const { return bytes > kMaxStaticSharedMemory; }
};
SharedLayout layoutSharedTiles(ArrayRef<SharedTile> tiles);

/// Every decision of the forward tensor-core kernel of one sqa.attention,
/// derived once (getForwardPlan) from its schedule: the builder, the launch
/// and the shared-memory check read this and nothing else.
///
/// Fixed by the design rather than chosen here (FlashAttention-2's, and
/// documented in docs/kernels.md): one K and one V buffer in separate
/// cp.async groups (V of block j copied while S = Q Kᵀ of j runs, K of j - 1
/// while its softmax and P V run), kv-blocks visited last to first so that
/// only the prologue's copies need bounds checks.
struct ForwardPlan {
  /// Warps per block, query rows per warp (whole m16 row tiles: rowTiles of
  /// them, each K and V fragment feeding one mma.sync per row tile), rows
  /// per block, keys per kv-block.
  int64_t numWarps = 0, warpRows = 0, rowTiles = 0, blockRows = 0,
          keyBlock = 0;
  /// k-steps (16 head-dim columns) of Q fragments held in registers over the
  /// loop; the rest are read from the Q tile at each k-step.
  int64_t heldQuerySteps = 0;
  /// How far (exp2 units) the softmax reference trails the row max: it
  /// moves only where the scores exceed it by more than this, so P <=
  /// 2^trail, and O and l are rescaled only where a row's reference moved.
  float referenceTrail = 0;
  /// The shared tiles, in the launch's order: Q (blockRows x D), K
  /// (keyBlock x D), V (keyBlock x Dv); and their layout.
  SmallVector<SharedTile, 3> tiles;
  SharedLayout shared;
};

/// The plan of the forward kernel of `op`: from its `sqa.schedule` when it
/// carries one, else from `options` with their defaults resolved (the first
/// of two row tiles per warp, then one, with FlashAttention-2's kv-block or
/// its halves, that fits the registers of the f32 accumulators and
/// kPreferredSharedMemory, each thread making at most 8 copies of a K or V
/// block), and as much of Q held as fits beside the accumulators in 192
/// registers (16 fewer with a mask, 32 with a window, 8 fewer at head dims
/// that are not multiples of 64 and 8 more where D or Dv is an odd multiple
/// of 16: measured with the spill sweeps).
ForwardPlan getForwardPlan(AttentionOp op,
                           const TensorCoreKernelOptions &options);

/// Every decision of the two backward kernels of one sqa.attention_grad,
/// derived once (getGradPlan) and read by everything that builds or sizes
/// them.
struct GradPlan {
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

  /// The shared tiles of each kernel, in its launch's order, and their
  /// layouts. dK/dV: K and V of the block once (keys x D, keys x Dv), Q and
  /// dO in two stages (2 x queryBlock x D, 2 x queryBlock x Dv), lse and
  /// Dsum of the q-block (f32). dQ: one row tile for Q and then dO (rows x
  /// max(D, Dv)), K and V in two stages.
  SmallVector<SharedTile, 6> keyValueTiles, queryTiles;
  SharedLayout keyValueShared, queryShared;
};

/// The plan of the backward kernels for `op`: `options.numWarps` warps
/// in both, and kv-block (dQ) and q-block (dK/dV) of `options.keyBlock`, or
/// by default 64 for both, except the dQ kernel's kv-block at head dims of
/// 128 and more: 16, which keeps its Q, dO and dQ registers from spilling.
/// The dK/dV
/// kernel's tiles are then halved (q-block first, down to 16, then warps)
/// until they fit in kPreferredSharedMemory. An op's `sqa.schedule`
/// overrides all of this.
GradPlan getGradPlan(AttentionGradOp op,
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
