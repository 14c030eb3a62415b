//===- SetNVVMLaunchBounds.cpp - Occupancy hints for ptxas ----------------===//
//
// Upstream's outlining keeps the block size of a launch (known_block_size,
// then .maxntid) but has no way to state a minimum occupancy, which is what
// decides ptxas's register budget; this pass adds it to the outlined kernels.
//
//===----------------------------------------------------------------------===//

#include "sqa/Conversion/SQAToNVGPU/SQAToNVGPU.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"

namespace mlir {
namespace sqa {
#define GEN_PASS_DEF_SETNVVMLAUNCHBOUNDSPASS
#include "sqa/Conversion/Passes.h.inc"
} // namespace sqa
} // namespace mlir

using namespace mlir;

namespace {
struct SetNVVMLaunchBoundsPass
    : sqa::impl::SetNVVMLaunchBoundsPassBase<SetNVVMLaunchBoundsPass> {
  using Base::Base;

  void runOnOperation() override {
    if (minBlocksPerSM < 0 || minBlocksPerSM > 32) {
      emitError(getOperation()->getLoc())
          << "sqa-set-nvvm-launch-bounds: min-blocks-per-sm must be in [0, "
             "32]";
      return signalPassFailure();
    }
    if (minBlocksPerSM == 0)
      return;
    StringRef name = NVVM::NVVMDialect::getMinctasmAttrName();
    auto value =
        IntegerAttr::get(IntegerType::get(&getContext(), 32), minBlocksPerSM);
    for (auto func : getOperation().getOps<gpu::GPUFuncOp>())
      if (func.isKernel() && !func->hasAttr(name))
        func->setAttr(name, value);
  }
};
} // namespace
