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

#include "sqa/Conversion/SQAToNVGPU/SQAToNVGPU.h"
#include "sqa/Dialect/SQA/IR/SQAOps.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/IR/PatternMatch.h"

namespace mlir {
namespace sqa {

/// Index and f32 arithmetic at a builder's insertion point, for the kernel
/// builders (which derive from it) and the helpers below. Index arithmetic
/// is plain arith on `index` (unsigned division: every index in a kernel is
/// non-negative); canonicalization folds the constants.
class KernelArithmetic {
public:
  KernelArithmetic(OpBuilder &b, Location loc) : b(b), loc(loc) {}

  Value index(int64_t value) {
    return arith::ConstantIndexOp::create(b, loc, value);
  }
  Value f32Const(float value) {
    return arith::ConstantOp::create(b, loc, b.getF32FloatAttr(value));
  }
  Value add(Value x, Value y) { return arith::AddIOp::create(b, loc, x, y); }
  Value add(Value x, int64_t y) { return y ? add(x, index(y)) : x; }
  Value sub(Value x, Value y) { return arith::SubIOp::create(b, loc, x, y); }
  Value sub(Value x, int64_t y) { return y ? sub(x, index(y)) : x; }
  Value mul(Value x, Value y) { return arith::MulIOp::create(b, loc, x, y); }
  Value mul(Value x, int64_t y) { return mul(x, index(y)); }
  Value div(Value x, Value y) { return arith::DivUIOp::create(b, loc, x, y); }
  Value div(Value x, int64_t y) { return div(x, index(y)); }
  Value rem(Value x, Value y) { return arith::RemUIOp::create(b, loc, x, y); }
  Value rem(Value x, int64_t y) { return rem(x, index(y)); }
  /// `row` clamped to the last of `seqLen` rows: an address inside the
  /// buffer for rows past the end, whose values are then discarded.
  Value clampRow(Value row, Value seqLen) {
    return arith::MinUIOp::create(
        b, loc, row, arith::SubIOp::create(b, loc, seqLen, index(1)));
  }
  /// `x` (an index below 2^31: a position in a sequence, or a vector of
  /// them) as i32, for comparisons inside a kernel's loop: 32-bit values take
  /// one register where ptxas keeps loop invariants, 64-bit ones two.
  Value toI32(Value x) {
    Type type = b.getI32Type();
    if (auto vectorType = dyn_cast<VectorType>(x.getType()))
      type = vectorType.clone(type);
    return arith::IndexCastOp::create(b, loc, type, x);
  }
  Value less(Value x, Value y) {
    return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, x, y);
  }

  OpBuilder &b;
  Location loc;
};

/// The visible keys [begin, end) of a thread's two fragment rows of query
/// rows, `row` and `row` + 8 (buildVisibleKeyRange), as vector<2x2xi32>
/// tiles with one value per fragment row. A kernel builds them once, before
/// its loop over kv-blocks: they do not change along it, and ptxas keeps
/// loop-invariant values in registers wherever they are computed, in 32
/// bits here rather than the 64 of `index`.
struct QueryRowKeys {
  Value begin, end;
};
QueryRowKeys buildQueryRowKeys(OpBuilder &b, Location loc,
                               AttentionOpInterface op, Value row,
                               Value querySeqLen, Value keySeqLen);

/// The score tiles of one warp's row tile (8 columns per tile) with -inf
/// where the query does not see the key (buildVisibleKeyRange). The mask
/// is built under an scf.if on `fullyVisible` (the block's keys are all
/// visible to all its rows), which yields `scores` unchanged.
///
/// S = Q Kᵀ: this thread holds query rows with the visible keys `rows` and,
/// in tile n, keys `column` + 8 n and `column` + 8 n + 1.
SmallVector<Value> buildMaskedScores(OpBuilder &b, Location loc,
                                     ArrayRef<Value> scores, Value fullyVisible,
                                     const QueryRowKeys &rows, Value column);
/// Sᵀ = K Qᵀ (the backward's dK/dV kernel): this thread holds key rows
/// `row` and `row` + 8 and, in tile n, query columns `column` + 8 n and
/// `column` + 8 n + 1, whose visible keys are computed per tile.
SmallVector<Value> buildMaskedTransposedScores(OpBuilder &b, Location loc,
                                               AttentionOpInterface op,
                                               ArrayRef<Value> scores,
                                               Value fullyVisible, Value row,
                                               Value column, Value querySeqLen,
                                               Value keySeqLen);

/// Creates, before `op`, a gpu.launch of `numWarps` warps per block on the
/// grid (ceil(S / `blockRows`), `gridY`, batch), S being dim 2 of `blocked`
/// and the batch dim 0 of `op`'s query, with one shared buffer per
/// `sharedTiles` (of the query's element type unless marked f32):
/// workgroup attributions up to 48 KiB in all, else views of the launch's
/// dynamic shared memory, where layoutSharedTiles puts them. `buildBody` builds
/// the kernel at the start of the launch body from the launch and the
/// buffers; the terminator follows. The grid's ceil division is plain
/// arith: the kernel libraries translate the host's grid computation to C.
void createKernelLaunch(RewriterBase &rewriter, AttentionOpInterface op,
                        Value blocked, int64_t blockRows, int64_t gridY,
                        int64_t numWarps, ArrayRef<SharedTile> sharedTiles,
                        function_ref<void(gpu::LaunchOp, ValueRange)> buildBody);

/// Casts `op`'s memref operands, in place, to layouts whose strides are all
/// run-time values but the unit innermost one (the kernel libraries' ABI), so
/// that every caller's layout gets one kernel: the one the spill sweeps
/// assemble. (A static row stride, as the identity layout of a [B, H, S, D]
/// buffer gives, made ptxas spill 8 to 36 bytes at head dims 64 and 128.)
void castToRuntimeStrides(RewriterBase &rewriter, Operation *op);

/// The rewrite of every buffer-semantics op of type OpTy that the
/// tensor-core kernels support (getTensorCoreIncompatibility) by `lower`.
template <typename OpTy,
          void (*lower)(RewriterBase &, OpTy, const TensorCoreKernelOptions &)>
struct TensorCoreKernelPattern : OpRewritePattern<OpTy> {
  TensorCoreKernelPattern(MLIRContext *context,
                          const TensorCoreKernelOptions &options)
      : OpRewritePattern<OpTy>(context), options(options) {}

  LogicalResult matchAndRewrite(OpTy op,
                                PatternRewriter &rewriter) const override {
    if (!op.hasPureBufferSemantics())
      return rewriter.notifyMatchFailure(op, "expected memref operands");
    std::string reason = getTensorCoreIncompatibility(op, options);
    if (!reason.empty())
      return rewriter.notifyMatchFailure(op, reason);
    castToRuntimeStrides(rewriter, op);
    lower(rewriter, op, options);
    return success();
  }

  TensorCoreKernelOptions options;
};

/// Lowers the buffer-semantics sqa.attention_grad ops of a pass to the
/// backward kernels (FlashAttentionGrad.cpp).
void populateAttentionGradToNVGPUPatterns(
    RewritePatternSet &patterns, const TensorCoreKernelOptions &options);

} // namespace sqa
} // namespace mlir

#endif // LIB_CONVERSION_SQATONVGPU_FLASHKERNELCOMMON_H
