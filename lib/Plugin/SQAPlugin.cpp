//===- SQAPlugin.cpp - The sqa dialect and passes as an MLIR plugin -------===//
//
// Loads the sqa dialect, its passes and its pipelines into an upstream MLIR
// tool built on the same shared libMLIR.so (Debian's mlir-opt, or any host
// that loads MLIR plugins):
//
//   mlir-opt --load-dialect-plugin=SQAPlugin.so \
//            --load-pass-plugin=SQAPlugin.so in.mlir --sqa-tile-and-fuse
//
// One library exposes both entry points. The dialect half registers the
// dialect and its bufferization models (the host has registered the upstream
// dialects); the pass half registers the sqa passes and the two pipelines.
//
//===----------------------------------------------------------------------===//

#include "sqa/Conversion/Passes.h"
#include "sqa/Dialect/SQA/IR/SQADialect.h"
#include "sqa/Dialect/SQA/Transforms/BufferizableOpInterfaceImpl.h"
#include "sqa/Dialect/SQA/Transforms/Passes.h"
#include "sqa/Pipelines/Pipelines.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/Plugins/DialectPlugin.h"
#include "mlir/Tools/Plugins/PassPlugin.h"

using namespace mlir;

extern "C" LLVM_ATTRIBUTE_WEAK DialectPluginLibraryInfo
mlirGetDialectPluginInfo() {
  return {MLIR_PLUGIN_API_VERSION, "SQA", SQA_VERSION,
          [](DialectRegistry *registry) {
            registry->insert<sqa::SQADialect>();
            sqa::registerBufferizableOpInterfaceExternalModels(*registry);
          }};
}

extern "C" LLVM_ATTRIBUTE_WEAK PassPluginLibraryInfo mlirGetPassPluginInfo() {
  return {MLIR_PLUGIN_API_VERSION, "SQA", SQA_VERSION, [] {
            sqa::registerSQAConversionPasses();
            sqa::registerSQATransformsPasses();
            sqa::registerSQAPipelines();
          }};
}
