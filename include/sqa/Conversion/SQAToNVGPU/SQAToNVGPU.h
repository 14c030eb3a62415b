//===- SQAToNVGPU.h - Tensor-core FlashAttention-2 kernels ------*- C++ -*-===//

#ifndef SQA_CONVERSION_SQATONVGPU_SQATONVGPU_H
#define SQA_CONVERSION_SQATONVGPU_SQATONVGPU_H

#include "sqa/GPU/KernelSchedule.h"

#include "mlir/Pass/Pass.h"

namespace mlir {
class RewritePatternSet;
namespace sqa {

#define GEN_PASS_DECL_CONVERTSQATONVGPUPASS
#define GEN_PASS_DECL_SETNVVMLAUNCHBOUNDSPASS
#define GEN_PASS_DECL_CHECKPTXSYMBOLSPASS
#define GEN_PASS_DECL_EXTERNDYNAMICSHAREDMEMORYPASS
#define GEN_PASS_DECL_CPASYNCL2PREFETCHPASS
#include "sqa/Conversion/Passes.h.inc"

void populateSQAToNVGPUConversionPatterns(
    RewritePatternSet &patterns, const TensorCoreKernelOptions &options);

} // namespace sqa
} // namespace mlir

#endif // SQA_CONVERSION_SQATONVGPU_SQATONVGPU_H
