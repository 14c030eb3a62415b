//===- SQADialect.cpp - SQA dialect -----------------------------*- C++ -*-===//

#include "sqa/Dialect/SQA/IR/SQADialect.h"
#include "sqa/Dialect/SQA/IR/SQAOps.h"

#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace mlir::sqa;

#include "sqa/Dialect/SQA/IR/SQAOpsDialect.cpp.inc"

#include "sqa/Dialect/SQA/IR/SQAEnums.cpp.inc"

#define GET_ATTRDEF_CLASSES
#include "sqa/Dialect/SQA/IR/SQAAttrs.cpp.inc"

void SQADialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "sqa/Dialect/SQA/IR/SQAOps.cpp.inc"
      >();
  addAttributes<
#define GET_ATTRDEF_LIST
#include "sqa/Dialect/SQA/IR/SQAAttrs.cpp.inc"
      >();
}

LogicalResult
ScheduleAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                     int64_t warps, int64_t kvBlock, int64_t warpRows,
                     int64_t kvWarps, int64_t qBlock) {
  // (S1)
  if (warps < 1 || warps > 16)
    return emitError() << "schedule warps must be in [1, 16], got " << warps;
  if (kvBlock < 1 || kvBlock > kMaxAttentionBlock)
    return emitError() << "schedule kv_block must be in [1, "
                       << kMaxAttentionBlock << "], got " << kvBlock;
  if (warpRows < 16 || warpRows > 64 || warpRows % 16 != 0)
    return emitError() << "schedule warp_rows must be a multiple of 16 in "
                          "[16, 64], got "
                       << warpRows;
  // (S2)
  if ((kvWarps == 0) != (qBlock == 0))
    return emitError() << "schedule kv_warps and q_block must be given "
                          "together (the backward's dK/dV kernel)";
  if (kvWarps != 0 && (kvWarps < 1 || kvWarps > 16))
    return emitError() << "schedule kv_warps must be in [1, 16], got "
                       << kvWarps;
  if (qBlock < 0 || qBlock > kMaxAttentionBlock)
    return emitError() << "schedule q_block must be in [1, "
                       << kMaxAttentionBlock << "], got " << qBlock;
  return success();
}

LogicalResult SQADialect::verifyOperationAttribute(Operation *op,
                                                   NamedAttribute attr) {
  if (attr.getName() != getScheduleAttrName())
    return op->emitError() << "unknown sqa dialect attribute '"
                           << attr.getName().getValue() << "'";
  // (S3)
  auto schedule = dyn_cast<ScheduleAttr>(attr.getValue());
  if (!schedule)
    return op->emitError() << "'" << getScheduleAttrName()
                           << "' must be a #sqa.schedule";
  if (isa<AttentionOp>(op) && schedule.hasBackwardFields())
    return op->emitError() << "'" << getScheduleAttrName()
                           << "' of sqa.attention takes no kv_warps or "
                              "q_block (the backward's dK/dV kernel)";
  if (isa<AttentionGradOp>(op) && !schedule.hasBackwardFields())
    return op->emitError() << "'" << getScheduleAttrName()
                           << "' of sqa.attention_grad needs kv_warps and "
                              "q_block (its dK/dV kernel)";
  if (!isa<AttentionOp, AttentionGradOp>(op))
    return op->emitError() << "'" << getScheduleAttrName()
                           << "' belongs on sqa.attention or "
                              "sqa.attention_grad";
  return success();
}
