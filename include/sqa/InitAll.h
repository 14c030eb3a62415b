//===- InitAll.h - Register everything sqa provides -------------*- C++ -*-===//
//
// Entry points for tools and for compilers that embed the sqa dialect.
//
//===----------------------------------------------------------------------===//

#ifndef SQA_INITALL_H
#define SQA_INITALL_H

namespace mlir {
class DialectRegistry;
namespace sqa {

/// Registers the sqa dialect and the upstream dialects, interfaces and
/// LLVM IR translations that its pipelines need.
void registerAllDialects(DialectRegistry &registry);

/// Registers every sqa pass and pipeline, and the upstream passes that the
/// pipelines are built from.
void registerAllPasses();

} // namespace sqa
} // namespace mlir

#endif // SQA_INITALL_H
