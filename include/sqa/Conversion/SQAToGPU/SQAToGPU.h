//===- SQAToGPU.h - The GPU-mapped level of sqa.attention -------*- C++ -*-===//

#ifndef SQA_CONVERSION_SQATOGPU_SQATOGPU_H
#define SQA_CONVERSION_SQATOGPU_SQATOGPU_H

#include "mlir/Pass/Pass.h"

namespace mlir {
class RewritePatternSet;
namespace sqa {

#define GEN_PASS_DECL_SQAMAPTOGPUPASS
#define GEN_PASS_DECL_SQAGPUMAPPEDTOCPUPASS
#include "sqa/Conversion/Passes.h.inc"

/// Block and tile sizes of the GPU-mapped form.
struct GPUMappingOptions {
  /// Warps per block, 16 query rows each.
  int64_t numWarps = 4;
  /// Keys per online-softmax step; 0 picks convert-sqa-to-nvgpu's default.
  int64_t keyBlock = 0;
};

/// Rewrites buffer-semantics sqa.attention ops into the GPU-mapped form.
void populateSQAMapToGPUPatterns(RewritePatternSet &patterns,
                                 const GPUMappingOptions &options);

} // namespace sqa
} // namespace mlir

#endif // SQA_CONVERSION_SQATOGPU_SQATOGPU_H
