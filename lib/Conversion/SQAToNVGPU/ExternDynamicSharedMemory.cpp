//===- ExternDynamicSharedMemory.cpp - PTX linkage of dynamic smem --------===//
//
// Upstream's lowering of gpu.dynamic_shared_memory makes an internal
// zero-sized global, which the NVPTX backend demotes to a 1-byte static
// shared variable; CUDA's dynamic shared memory is an extern array. Written
// here because MLIR 22's convert-gpu-to-nvvm has no option for the linkage.
//
//===----------------------------------------------------------------------===//

#include "sqa/Conversion/SQAToNVGPU/SQAToNVGPU.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"

namespace mlir {
namespace sqa {
#define GEN_PASS_DEF_EXTERNDYNAMICSHAREDMEMORYPASS
#include "sqa/Conversion/Passes.h.inc"
} // namespace sqa
} // namespace mlir

using namespace mlir;

namespace {
struct ExternDynamicSharedMemoryPass
    : sqa::impl::ExternDynamicSharedMemoryPassBase<
          ExternDynamicSharedMemoryPass> {
  using Base::Base;

  void runOnOperation() override {
    for (auto global : getOperation().getOps<LLVM::GlobalOp>()) {
      auto array = dyn_cast<LLVM::LLVMArrayType>(global.getGlobalType());
      if (!array || array.getNumElements() != 0 ||
          global.getAddrSpace() !=
              static_cast<unsigned>(NVVM::NVVMMemorySpace::Shared) ||
          global.getLinkage() == LLVM::Linkage::External)
        continue;
      global.setLinkage(LLVM::Linkage::External);
      global.removeValueAttr();
      global.setDsoLocal(false);
    }
  }
};
} // namespace
