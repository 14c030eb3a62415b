//===- MathToNVVMIntrinsics.h - exp2/log2 to NVVM intrinsics ----*- C++ -*-===//

#ifndef SQA_CONVERSION_MATHTONVVMINTRINSICS_MATHTONVVMINTRINSICS_H
#define SQA_CONVERSION_MATHTONVVMINTRINSICS_MATHTONVVMINTRINSICS_H

#include "mlir/Pass/Pass.h"

namespace mlir {
class RewritePatternSet;
namespace sqa {

#define GEN_PASS_DECL_CONVERTMATHTONVVMINTRINSICSPASS
#include "sqa/Conversion/Passes.h.inc"

/// Adds patterns rewriting f32 math.exp2 and math.log2 into the NVVM
/// approximate intrinsics (ex2.approx.ftz.f32, lg2.approx.ftz.f32).
void populateMathToNVVMIntrinsicsPatterns(RewritePatternSet &patterns);

} // namespace sqa
} // namespace mlir

#endif // SQA_CONVERSION_MATHTONVVMINTRINSICS_MATHTONVVMINTRINSICS_H
