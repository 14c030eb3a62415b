//===- BufferizableOpInterfaceImpl.h - sqa bufferization -------*- C++ -*-===//
//
// One-Shot Bufferize support for sqa.attention: the op bufferizes to its
// buffer-semantics form (memref operands, no results), writing in place into
// the buffers of its destination operands.
//
//===----------------------------------------------------------------------===//

#ifndef SQA_DIALECT_SQA_TRANSFORMS_BUFFERIZABLEOPINTERFACEIMPL_H
#define SQA_DIALECT_SQA_TRANSFORMS_BUFFERIZABLEOPINTERFACEIMPL_H

namespace mlir {
class DialectRegistry;
namespace sqa {

void registerBufferizableOpInterfaceExternalModels(DialectRegistry &registry);

} // namespace sqa
} // namespace mlir

#endif // SQA_DIALECT_SQA_TRANSFORMS_BUFFERIZABLEOPINTERFACEIMPL_H
