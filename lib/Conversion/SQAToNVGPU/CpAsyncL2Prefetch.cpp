//===- CpAsyncL2Prefetch.cpp - L2 prefetch size on cp.async ---------------===//
//
// FlashAttention-2's copies are `cp.async.cg.shared.global.L2::128B`. MLIR
// 22's nvvm.cp.async.shared.global and LLVM's cp.async intrinsics have no
// prefetch-size modifier, so the copy is written as inline PTX here.
//
//===----------------------------------------------------------------------===//

#include "sqa/Conversion/SQAToNVGPU/SQAToNVGPU.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/IR/PatternMatch.h"

namespace mlir {
namespace sqa {
#define GEN_PASS_DEF_CPASYNCL2PREFETCHPASS
#include "sqa/Conversion/Passes.h.inc"
} // namespace sqa
} // namespace mlir

using namespace mlir;

namespace {
struct CpAsyncL2PrefetchPass
    : sqa::impl::CpAsyncL2PrefetchPassBase<CpAsyncL2PrefetchPass> {
  using Base::Base;

  void runOnOperation() override {
    IRRewriter rewriter(&getContext());
    getOperation().walk([&](NVVM::CpAsyncOp copy) {
      if (copy.getModifier() != NVVM::LoadCacheModifierKind::CG ||
          copy.getSize() != 16)
        return;
      SmallVector<Value> operands = {copy.getDst(), copy.getSrc()};
      std::string ptx = "cp.async.cg.shared.global.L2::128B [$0], [$1], 16";
      // Addresses are 64-bit ("l"); the source size a 32-bit register.
      std::string constraints = "l,l";
      if (Value sourceSize = copy.getCpSize()) {
        operands.push_back(sourceSize);
        ptx += ", $2";
        constraints += ",r";
      }
      ptx += ";";
      rewriter.setInsertionPoint(copy);
      LLVM::InlineAsmOp::create(
          rewriter, copy.getLoc(), /*res=*/Type(), operands, ptx, constraints,
          /*has_side_effects=*/true, /*is_align_stack=*/false,
          LLVM::tailcallkind::TailCallKind::None,
          /*asm_dialect=*/LLVM::AsmDialectAttr(),
          /*operand_attrs=*/ArrayAttr());
      rewriter.eraseOp(copy);
    });
  }
};
} // namespace
