//===- sqa-compile.cpp - Compile sqa.attention to GPU kernels -------------===//
//
// sqa-compile FILE.mlir --chip sm_80 --emit ptx -o OUT.ptx
//
// Runs the GPU pipeline (sqa-gpu-pipeline) on FILE and writes the PTX (or
// cubin) of every kernel module: to OUT when there is one, otherwise to
// OUT with the module name before the extension (OUT.ptx -> OUT.<name>.ptx).
//
//===----------------------------------------------------------------------===//

#include "sqa/InitAll.h"
#include "sqa/Pipelines/Pipelines.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Support/FileUtilities.h"

#include "llvm/Support/CommandLine.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Regex.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/ToolOutputFile.h"

#include <cstdlib>

using namespace mlir;
namespace cl = llvm::cl;

static cl::OptionCategory compileCategory("sqa-compile options");
static cl::opt<std::string> inputFilename(cl::Positional, cl::Required,
                                          cl::desc("<input .mlir file>"),
                                          cl::cat(compileCategory));
static cl::opt<std::string> outputFilename("o", cl::Required,
                                           cl::desc("Output file"),
                                           cl::value_desc("file"),
                                           cl::cat(compileCategory));
static cl::opt<std::string> chip("chip", cl::init("sm_80"),
                                 cl::desc("Target GPU architecture"),
                                 cl::cat(compileCategory));
static cl::opt<std::string> features("features", cl::init("+ptx80"),
                                     cl::desc("PTX features"),
                                     cl::cat(compileCategory));
static cl::opt<int> optLevel("opt-level", cl::init(3),
                             cl::desc("LLVM optimisation level (0-3)"),
                             cl::cat(compileCategory));
static cl::opt<int64_t>
    rowsPerBlock("rows-per-block", cl::init(128),
                 cl::desc("Query rows per thread block (1-1024)"),
                 cl::cat(compileCategory));
enum class EmitKind { PTX, Cubin };
static cl::opt<EmitKind> emit(
    "emit", cl::init(EmitKind::PTX), cl::desc("What to write"),
    cl::values(clEnumValN(EmitKind::PTX, "ptx", "PTX text of every kernel"),
               clEnumValN(EmitKind::Cubin, "cubin",
                          "cubin of every kernel (needs ptxas)")),
    cl::cat(compileCategory));

static int fail(const Twine &message) {
  llvm::errs() << "sqa-compile: error: " << message << "\n";
  return EXIT_FAILURE;
}

/// OUT.ptx -> OUT.<name>.ptx.
static std::string getModuleOutputPath(StringRef name) {
  StringRef extension = llvm::sys::path::extension(outputFilename);
  StringRef stem = StringRef(outputFilename).drop_back(extension.size());
  return (stem + "." + name + extension).str();
}

int main(int argc, char **argv) {
  llvm::InitLLVM y(argc, argv);
  sqa::registerAllPasses();
  cl::HideUnrelatedOptions(compileCategory);
  cl::ParseCommandLineOptions(
      argc, argv, "sqa-compile: compile sqa.attention to GPU kernels\n");

  // The target options end up in pass options and in the NVPTX backend;
  // reject malformed values here with a clear message.
  if (!llvm::Regex("^sm_[0-9]+[a-z]?$").match(chip))
    return fail("--chip must look like sm_80, not '" + chip + "'");
  if (!features.empty() &&
      !llvm::Regex("^\\+[a-z0-9]+(,\\+[a-z0-9]+)*$").match(features))
    return fail("--features must look like +ptx80, not '" + features + "'");
  if (optLevel < 0 || optLevel > 3)
    return fail("--opt-level must be between 0 and 3");
  if (rowsPerBlock < 1 || rowsPerBlock > 1024)
    return fail("--rows-per-block must be between 1 and 1024");

  DialectRegistry registry;
  sqa::registerAllDialects(registry);
  MLIRContext context(registry);

  llvm::SourceMgr sourceMgr;
  SourceMgrDiagnosticHandler diagHandler(sourceMgr, &context);
  OwningOpRef<ModuleOp> module =
      parseSourceFile<ModuleOp>(inputFilename, sourceMgr, &context);
  if (!module)
    return EXIT_FAILURE;

  sqa::GPUPipelineOptions options;
  options.chip = chip;
  options.features = features;
  options.optLevel = optLevel;
  options.rowsPerBlock = rowsPerBlock;
  options.format =
      emit == EmitKind::PTX ? sqa::KernelFormat::PTX : sqa::KernelFormat::Cubin;
  FailureOr<SmallVector<sqa::KernelObject>> kernels =
      sqa::compileGPUKernels(*module, options);
  if (failed(kernels))
    return fail("compiling " + inputFilename + " for " + chip + " failed");
  if (kernels->empty())
    return fail(inputFilename + " has no GPU kernels (no sqa.attention op)");

  for (const sqa::KernelObject &kernel : *kernels) {
    std::string path = kernels->size() == 1
                           ? outputFilename.getValue()
                           : getModuleOutputPath(kernel.moduleName);
    std::string errorMessage;
    std::unique_ptr<llvm::ToolOutputFile> output =
        openOutputFile(path, &errorMessage);
    if (!output)
      return fail(errorMessage);
    output->os() << kernel.object;
    output->keep();
  }
  return EXIT_SUCCESS;
}
