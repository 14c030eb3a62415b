//===- sqa-opt.cpp - The sqa optimizer driver -----------------------------===//
//
// mlir-opt with the sqa dialect, its passes and pipelines. The input is
// parsed once in a scratch context first, so that an input that crashes
// MLIR's own parser is an error rather than a signal (sqa/Tools/ParseGuard.h).
//
//===----------------------------------------------------------------------===//

#include "sqa/InitAll.h"
#include "sqa/Tools/ParseGuard.h"
#include "sqa/Tools/Version.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/Support/FileUtilities.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdlib>

int main(int argc, char **argv) {
  llvm::InitLLVM initLLVM(argc, argv);
  mlir::sqa::registerAllPasses();
  mlir::sqa::registerVersionPrinter();
  mlir::DialectRegistry registry;
  mlir::sqa::registerAllDialects(registry);
  auto [inputFilename, outputFilename] = mlir::registerAndParseCLIOptions(
      argc, argv, "sqa optimizer driver\n", registry);

  // The options MlirOptMain reads from the command line, read here first.
  mlir::MlirOptMainConfig config = mlir::MlirOptMainConfig::createFromCLOptions();
  if (config.shouldShowDialects() || config.shouldListPasses())
    return mlir::asMainReturnCode(mlir::MlirOptMain(
        argc, argv, inputFilename, outputFilename, registry));
  std::string error;
  std::unique_ptr<llvm::MemoryBuffer> input =
      mlir::openInputFile(inputFilename, &error);
  if (!input) {
    llvm::errs() << "sqa-opt: error: " << error << "\n";
    return EXIT_FAILURE;
  }
  if (mlir::failed(mlir::sqa::checkParserSurvives(
          input->getMemBufferRef(), registry,
          config.inputSplitMarker())))
    return EXIT_FAILURE;

  std::unique_ptr<llvm::ToolOutputFile> output =
      mlir::openOutputFile(outputFilename, &error);
  if (!output) {
    llvm::errs() << "sqa-opt: error: " << error << "\n";
    return EXIT_FAILURE;
  }
  if (mlir::failed(
          mlir::MlirOptMain(output->os(), std::move(input), registry, config)))
    return EXIT_FAILURE;
  output->keep();
  return EXIT_SUCCESS;
}
