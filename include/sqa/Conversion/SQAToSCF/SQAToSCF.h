//===- SQAToSCF.h - Row-wise online-softmax lowering ------------*- C++ -*-===//

#ifndef SQA_CONVERSION_SQATOSCF_SQATOSCF_H
#define SQA_CONVERSION_SQATOSCF_SQATOSCF_H

#include "mlir/Pass/Pass.h"

namespace mlir {
class RewritePatternSet;
namespace sqa {

#define GEN_PASS_DECL_CONVERTSQATOSCFPASS
#include "sqa/Conversion/Passes.h.inc"

/// Adds the pattern that rewrites sqa.attention into an scf.forall over
/// (query row, output head, batch) around an online-softmax scf.for over the
/// visible keys (see ConvertSQAToSCFPass).
void populateSQAToSCFConversionPatterns(RewritePatternSet &patterns);

} // namespace sqa
} // namespace mlir

#endif // SQA_CONVERSION_SQATOSCF_SQATOSCF_H
