//===- SQADialect.h - SQA dialect -------------------------------*- C++ -*-===//

#ifndef SQA_DIALECT_SQA_IR_SQADIALECT_H
#define SQA_DIALECT_SQA_IR_SQADIALECT_H

#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Dialect.h"

#include "sqa/Dialect/SQA/IR/SQAOpsDialect.h.inc"

#endif // SQA_DIALECT_SQA_IR_SQADIALECT_H
