//===- SQAOps.h - SQA operations --------------------------------*- C++ -*-===//

#ifndef SQA_DIALECT_SQA_IR_SQAOPS_H
#define SQA_DIALECT_SQA_IR_SQAOPS_H

#include "mlir/IR/AffineExpr.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/Interfaces/DestinationStyleOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "mlir/Interfaces/TilingInterface.h"
#include "sqa/Dialect/SQA/IR/SQADialect.h"
#include "llvm/Support/MathExtras.h"

#include "sqa/Dialect/SQA/IR/SQAEnums.h.inc"

namespace mlir {
namespace sqa {
/// The largest q-block or kv-block the tilings and schedules accept: larger
/// blocks are no tiling, and their tile sizes would overflow the containers
/// that hold them.
constexpr int64_t kMaxAttentionBlock = 65536;
} // namespace sqa
} // namespace mlir

#define GET_ATTRDEF_CLASSES
#include "sqa/Dialect/SQA/IR/SQAAttrs.h.inc"

#include <cmath>

#include "sqa/Dialect/SQA/IR/SQAInterfaces.h.inc"

#define GET_OP_CLASSES
#include "sqa/Dialect/SQA/IR/SQAOps.h.inc"

#endif // SQA_DIALECT_SQA_IR_SQAOPS_H
