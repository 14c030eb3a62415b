//===- FlashKernelCommon.h - Pieces of the tensor-core kernels --*- C++ -*-===//
//
// What the forward (SQAToNVGPU.cpp) and backward (FlashAttentionGrad.cpp)
// tensor-core kernels share beyond the warp-level toolkit: the elementwise
// mask of a warp's score tiles in either orientation, and the gpu.launch
// with its shared tiles. Internal to convert-sqa-to-nvgpu.
//
//===----------------------------------------------------------------------===//

#ifndef LIB_CONVERSION_SQATONVGPU_FLASHKERNELCOMMON_H
#define LIB_CONVERSION_SQATONVGPU_FLASHKERNELCOMMON_H

#include "sqa/Dialect/SQA/IR/SQAOps.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/IR/PatternMatch.h"

namespace mlir {
namespace sqa {

/// Static shared memory a kernel may use without opting in.
constexpr int64_t kMaxStaticSharedMemory = 48 * 1024;

/// The score tiles of one warp (16 rows, 8 columns per tile) with -inf
/// where the query does not see the key (buildVisibleKeyRange). This thread
/// holds rows `row` and `row` + 8 and, in tile n, columns `column` + 8 n and
/// `column` + 8 n + 1. With `rowsAreQueries` rows index query rows and
/// columns keys (S = Q Kᵀ); otherwise rows index keys and columns query rows
/// (Sᵀ = K Qᵀ of the backward's dK/dV kernel).
SmallVector<Value> buildMaskedScores(OpBuilder &b, Location loc,
                                     AttentionOpInterface op,
                                     ArrayRef<Value> scores, Value row,
                                     Value column, bool rowsAreQueries,
                                     Value querySeqLen, Value keySeqLen);

/// A gpu.launch of `numWarps` warps per block on the grid (`gridX`, `gridY`,
/// batch of `query`), with one workgroup buffer per shape in `sharedTiles`
/// (of `elementType`, or f32 where the shape is marked f32). The caller
/// builds the body at the start of its block and then the terminator.
struct SharedTile {
  SmallVector<int64_t> shape;
  bool isF32 = false;
};
gpu::LaunchOp createKernelLaunch(RewriterBase &rewriter, Location loc,
                                 Value query, Value gridX, int64_t gridY,
                                 int64_t numWarps, Type elementType,
                                 ArrayRef<SharedTile> sharedTiles);

/// ceil(`size` / `block`) in plain arith: the kernel libraries translate the
/// host's grid computation to C.
Value buildBlockCount(OpBuilder &b, Location loc, Value size, int64_t block);

/// Lowers the buffer-semantics sqa.attention_grad ops of a pass to the
/// backward kernels (FlashAttentionGrad.cpp).
struct TensorCoreKernelOptions;
void populateAttentionGradToNVGPUPatterns(
    RewritePatternSet &patterns, const TensorCoreKernelOptions &options);

} // namespace sqa
} // namespace mlir

#endif // LIB_CONVERSION_SQATONVGPU_FLASHKERNELCOMMON_H
