//===- SQAToGPU.h - The GPU-mapped level of sqa.attention -------*- C++ -*-===//

#ifndef SQA_CONVERSION_SQATOGPU_SQATOGPU_H
#define SQA_CONVERSION_SQATOGPU_SQATOGPU_H

#include "sqa/Conversion/SQAToNVGPU/SQAToNVGPU.h"

#include "mlir/Pass/Pass.h"

namespace mlir {
class RewritePatternSet;
namespace sqa {

#define GEN_PASS_DECL_SQAMAPTOGPUPASS
#define GEN_PASS_DECL_SQAGPUMAPPEDTOCPUPASS
#include "sqa/Conversion/Passes.h.inc"

/// Rewrites buffer-semantics sqa.attention ops into the GPU-mapped form of
/// the tensor-core kernel with `options` (its block and tile sizes).
void populateSQAMapToGPUPatterns(RewritePatternSet &patterns,
                                 const TensorCoreKernelOptions &options);

} // namespace sqa
} // namespace mlir

#endif // SQA_CONVERSION_SQATOGPU_SQATOGPU_H
