//===- InitAll.cpp - Register everything sqa provides ---------------------===//

#include "sqa/InitAll.h"

#include "sqa/Conversion/Passes.h"
#include "sqa/Dialect/SQA/IR/SQADialect.h"
#include "sqa/Dialect/SQA/Transforms/BufferizableOpInterfaceImpl.h"
#include "sqa/Dialect/SQA/Transforms/Passes.h"
#include "sqa/Pipelines/Pipelines.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Target/LLVM/NVVM/Target.h"
#include "mlir/Target/LLVMIR/Dialect/All.h"

void mlir::sqa::registerAllDialects(DialectRegistry &registry) {
  registry.insert<SQADialect>();
  registerBufferizableOpInterfaceExternalModels(registry);
  mlir::registerAllDialects(registry);
  mlir::registerAllExtensions(registry);
  mlir::registerAllToLLVMIRTranslations(registry);
  NVVM::registerNVVMTargetInterfaceExternalModels(registry);
}

void mlir::sqa::registerAllPasses() {
  // The pipelines are written as textual pass pipelines, which resolve pass
  // names through the global registry.
  mlir::registerAllPasses();
  registerSQAConversionPasses();
  registerSQATransformsPasses();
  registerSQAPipelines();
}
