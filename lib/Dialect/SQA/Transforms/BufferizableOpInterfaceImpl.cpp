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
/// Bufferization of sqa.attention and sqa.attention_grad. Unlike linalg ops,
/// whose payload may read the init, these ops overwrite every element of
/// their outputs: a destination such as tensor.empty needs no copy. The
/// buffer form is the same op on the buffers (and the same index operands,
/// attributes and properties), with no results.
template <typename OpTy>
struct OverwritingDestinationModel
    : DstBufferizableOpInterfaceExternalModel<OverwritingDestinationModel<OpTy>,
                                              OpTy> {
  bool bufferizesToMemoryRead(Operation *op, OpOperand &operand,
                              const AnalysisState &) const {
    return !cast<OpTy>(op).isDpsInit(&operand);
  }

  LogicalResult bufferize(Operation *op, RewriterBase &rewriter,
                          const BufferizationOptions &options,
                          BufferizationState &state) const {
    SmallVector<Value> operands;
    SmallVector<Value> outBuffers;
    for (OpOperand &operand : op->getOpOperands()) {
      if (!isa<TensorType>(operand.get().getType())) {
        operands.push_back(operand.get());
        continue;
      }
      FailureOr<Value> buffer =
          getBuffer(rewriter, operand.get(), options, state);
      if (failed(buffer))
        return failure();
      operands.push_back(*buffer);
      if (cast<OpTy>(op).isDpsInit(&operand))
        outBuffers.push_back(*buffer);
    }
    OpBuilder::InsertionGuard guard(rewriter);
    rewriter.setInsertionPoint(op);
    OperationState bufferized(op->getLoc(), op->getName());
    bufferized.addOperands(operands);
    bufferized.propertiesAttr = op->getPropertiesAsAttribute();
    bufferized.addAttributes(llvm::to_vector(op->getDiscardableAttrs()));
    rewriter.create(bufferized);
    replaceOpWithBufferizedValues(rewriter, op, outBuffers);
    return success();
  }
};
} // namespace

void mlir::sqa::registerBufferizableOpInterfaceExternalModels(
    DialectRegistry &registry) {
  registry.addExtension(+[](MLIRContext *ctx, SQADialect *) {
    AttentionOp::attachInterface<OverwritingDestinationModel<AttentionOp>>(
        *ctx);
    AttentionGradOp::attachInterface<
        OverwritingDestinationModel<AttentionGradOp>>(*ctx);
  });
}
