//===- MathToNVVMIntrinsics.cpp - exp2/log2 to NVVM intrinsics ------------===//
//
// Upstream's NVVM lowering sends math.exp2/log2 to libdevice; the NVVM
// dialect has no op for ex2/lg2.approx, so the intrinsics are called by name
// through llvm.call_intrinsic.
//
//===----------------------------------------------------------------------===//

#include "sqa/Conversion/MathToNVVMIntrinsics/MathToNVVMIntrinsics.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir {
namespace sqa {
#define GEN_PASS_DEF_CONVERTMATHTONVVMINTRINSICSPASS
#include "sqa/Conversion/Passes.h.inc"
} // namespace sqa
} // namespace mlir

using namespace mlir;
using namespace mlir::sqa;

namespace {
/// Rewrites the f32 form of `MathOp` into a call of `intrinsic`.
template <typename MathOp>
struct MathToIntrinsicPattern : OpRewritePattern<MathOp> {
  MathToIntrinsicPattern(MLIRContext *context, StringRef intrinsic)
      : OpRewritePattern<MathOp>(context), intrinsic(intrinsic) {}

  LogicalResult matchAndRewrite(MathOp op,
                                PatternRewriter &rewriter) const override {
    if (!op.getType().isF32())
      return rewriter.notifyMatchFailure(op, "only f32 has an approx form");
    rewriter.replaceOpWithNewOp<LLVM::CallIntrinsicOp>(
        op, op.getType(), rewriter.getStringAttr(intrinsic), op->getOperands());
    return success();
  }

  StringRef intrinsic;
};

struct ConvertMathToNVVMIntrinsicsPass
    : sqa::impl::ConvertMathToNVVMIntrinsicsPassBase<
          ConvertMathToNVVMIntrinsicsPass> {
  using Base::Base;

  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    populateMathToNVVMIntrinsicsPatterns(patterns);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      return signalPassFailure();
  }
};
} // namespace

void mlir::sqa::populateMathToNVVMIntrinsicsPatterns(
    RewritePatternSet &patterns) {
  MLIRContext *context = patterns.getContext();
  patterns.add<MathToIntrinsicPattern<math::Exp2Op>>(
      context, "llvm.nvvm.ex2.approx.ftz.f");
  patterns.add<MathToIntrinsicPattern<math::Log2Op>>(
      context, "llvm.nvvm.lg2.approx.ftz.f");
  patterns.add<MathToIntrinsicPattern<math::FmaOp>>(context, "llvm.fma.f32");
}
