//===- sqa-opt.cpp - The sqa optimizer driver -----------------------------===//
//
// mlir-opt with the sqa dialect, its passes and pipelines.
//
//===----------------------------------------------------------------------===//

#include "sqa/InitAll.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"

int main(int argc, char **argv) {
  mlir::sqa::registerAllPasses();
  mlir::DialectRegistry registry;
  mlir::sqa::registerAllDialects(registry);
  return mlir::asMainReturnCode(
      mlir::MlirOptMain(argc, argv, "sqa optimizer driver\n", registry));
}
