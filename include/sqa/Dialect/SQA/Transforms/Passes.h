//===- Passes.h - SQA transformation passes ---------------------*- C++ -*-===//

#ifndef SQA_DIALECT_SQA_TRANSFORMS_PASSES_H
#define SQA_DIALECT_SQA_TRANSFORMS_PASSES_H

#include "sqa/Dialect/SQA/IR/SQADialect.h"

#include "mlir/Pass/Pass.h"

namespace mlir {
namespace sqa {

#define GEN_PASS_DECL
#include "sqa/Dialect/SQA/Transforms/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "sqa/Dialect/SQA/Transforms/Passes.h.inc"

} // namespace sqa
} // namespace mlir

#endif // SQA_DIALECT_SQA_TRANSFORMS_PASSES_H
