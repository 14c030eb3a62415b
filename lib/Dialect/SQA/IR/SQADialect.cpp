//===- SQADialect.cpp - SQA dialect -----------------------------*- C++ -*-===//

#include "sqa/Dialect/SQA/IR/SQADialect.h"
#include "sqa/Dialect/SQA/IR/SQAOps.h"

#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace mlir::sqa;

#include "sqa/Dialect/SQA/IR/SQAOpsDialect.cpp.inc"

#include "sqa/Dialect/SQA/IR/SQAEnums.cpp.inc"

void SQADialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "sqa/Dialect/SQA/IR/SQAOps.cpp.inc"
      >();
}
