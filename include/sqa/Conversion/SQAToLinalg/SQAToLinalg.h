//===- SQAToLinalg.h - Reference lowering of sqa to linalg ------*- C++ -*-===//

#ifndef SQA_CONVERSION_SQATOLINALG_SQATOLINALG_H
#define SQA_CONVERSION_SQATOLINALG_SQATOLINALG_H

#include "mlir/Pass/Pass.h"

namespace mlir {
class RewritePatternSet;
namespace sqa {

#define GEN_PASS_DECL_CONVERTSQATOLINALGPASS
#include "sqa/Conversion/Passes.h.inc"

/// Adds the pattern that rewrites sqa.attention into naive linalg ops that
/// materialise the B x Ho x Sq x Skv scores (see ConvertSQAToLinalgPass).
void populateSQAToLinalgConversionPatterns(RewritePatternSet &patterns);

} // namespace sqa
} // namespace mlir

#endif // SQA_CONVERSION_SQATOLINALG_SQATOLINALG_H
