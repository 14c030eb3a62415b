//===- main.cpp - A compiler embedding the sqa dialect --------------------===//
//
// Registers the sqa dialect and passes, parses an sqa.attention, tiles it
// with a pass named in a pipeline string, then lowers it for the CPU with
// the pipeline builder, and prints what it found.
//
//===----------------------------------------------------------------------===//

#include "sqa/Dialect/SQA/IR/SQAOps.h"
#include "sqa/InitAll.h"
#include "sqa/Pipelines/Pipelines.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"

#include "llvm/Support/raw_ostream.h"

static const char *kSource = R"mlir(
func.func @sqa(%q: tensor<?x8x?x16xf32>, %k: tensor<?x4x?x16xf32>,
               %v: tensor<?x4x?x16xf32>, %o: tensor<?x8x?x16xf32>) -> tensor<?x8x?x16xf32> {
  %r = sqa.attention ins(%q, %k, %v : tensor<?x8x?x16xf32>, tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32>)
                     outs(%o : tensor<?x8x?x16xf32>) mask = causal_bottom_right -> tensor<?x8x?x16xf32>
  return %r : tensor<?x8x?x16xf32>
}
)mlir";

static int countOps(mlir::ModuleOp module, llvm::StringRef name) {
  int count = 0;
  module.walk([&](mlir::Operation *op) {
    count += op->getName().getStringRef() == name;
  });
  return count;
}

int main() {
  mlir::DialectRegistry registry;
  mlir::sqa::registerAllDialects(registry);
  mlir::sqa::registerAllPasses();
  mlir::MLIRContext context(registry);

  mlir::OwningOpRef<mlir::ModuleOp> module =
      mlir::parseSourceString<mlir::ModuleOp>(kSource, &context);
  if (!module)
    return 1;
  llvm::outs() << "parsed: " << countOps(*module, "sqa.attention")
               << " sqa.attention\n";

  mlir::PassManager tile(&context);
  if (mlir::failed(mlir::parsePassPipeline(
          "func.func(sqa-tile-and-fuse{q-block=32 kv-block=32})", tile)) ||
      mlir::failed(tile.run(*module)))
    return 2;
  llvm::outs() << "tiled: " << countOps(*module, "scf.forall")
               << " scf.forall, " << countOps(*module, "sqa.attention")
               << " sqa.attention left\n";

  mlir::PassManager cpu(&context);
  mlir::sqa::buildCPUPipeline(cpu, mlir::sqa::CPUPipelineOptions());
  if (mlir::failed(cpu.run(*module)))
    return 3;
  llvm::outs() << "lowered for the CPU: " << countOps(*module, "llvm.func")
               << " llvm.func\n";
  return 0;
}
