//===- BufferizableOpInterfaceImpl.cpp - sqa bufferization ----------------===//

#include "sqa/Dialect/SQA/Transforms/BufferizableOpInterfaceImpl.h"

#include "sqa/Dialect/SQA/IR/SQADialect.h"
#include "sqa/Dialect/SQA/IR/SQAOps.h"

#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Bufferization/IR/DstBufferizableOpInterfaceImpl.h"
#include "mlir/IR/DialectRegistry.h"

using namespace mlir;
using namespace mlir::bufferization;
using namespace mlir::sqa;

namespace {
struct AttentionOpInterface
    : DstBufferizableOpInterfaceExternalModel<AttentionOpInterface,
                                              AttentionOp> {
  /// Unlike linalg ops, whose payload may read the init, sqa.attention
  /// overwrites every element of its outputs: a destination such as
  /// tensor.empty needs no copy.
  bool bufferizesToMemoryRead(Operation *op, OpOperand &operand,
                              const AnalysisState &) const {
    return !cast<AttentionOp>(op).isDpsInit(&operand);
  }

  LogicalResult bufferize(Operation *op, RewriterBase &rewriter,
                          const BufferizationOptions &options,
                          BufferizationState &state) const {
    auto attention = cast<AttentionOp>(op);
    auto bufferOf = [&](Value tensor) -> FailureOr<Value> {
      return getBuffer(rewriter, tensor, options, state);
    };
    FailureOr<Value> query = bufferOf(attention.getQuery());
    FailureOr<Value> key = bufferOf(attention.getKey());
    FailureOr<Value> value = bufferOf(attention.getValue());
    if (failed(query) || failed(key) || failed(value))
      return failure();
    SmallVector<Value> outBuffers;
    for (Value output : attention.getOutputs()) {
      FailureOr<Value> buffer = bufferOf(output);
      if (failed(buffer))
        return failure();
      outBuffers.push_back(*buffer);
    }
    OpBuilder::InsertionGuard guard(rewriter);
    rewriter.setInsertionPoint(op);
    AttentionOp::create(rewriter, op->getLoc(), TypeRange(), *query, *key,
                        *value, outBuffers, attention.getDiagonalOffset(),
                        attention.getMaskAttr(), attention.getWindowAttr(),
                        attention.getScaleAttr());
    replaceOpWithBufferizedValues(rewriter, op, outBuffers);
    return success();
  }
};
} // namespace

void mlir::sqa::registerBufferizableOpInterfaceExternalModels(
    DialectRegistry &registry) {
  registry.addExtension(+[](MLIRContext *ctx, SQADialect *) {
    AttentionOp::attachInterface<AttentionOpInterface>(*ctx);
  });
}
