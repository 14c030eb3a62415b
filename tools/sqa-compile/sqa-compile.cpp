//===- sqa-compile.cpp - Compile sqa.attention to GPU kernels -------------===//
//
// sqa-compile FILE.mlir --chip sm_80 --emit ptx -o OUT.ptx
// sqa-compile [FILE.mlir] [--config NAME:hq=4,hkv=4,d=16 ...]
//             --emit library [--library-name NAME] [--cubin-chips sm_80,sm_90]
//             -o DIR
//
// Runs the GPU pipeline (sqa-gpu-pipeline) on FILE and writes the PTX (or
// cubin) of every kernel module: to OUT when there is one, otherwise to
// OUT with the module name before the extension (OUT.ptx -> OUT.<name>.ptx).
// With --emit library, every function of FILE and every --config becomes a
// kernel of a library in DIR (see sqa/Target/KernelLibrary.h).
//
//===----------------------------------------------------------------------===//

#include "sqa/InitAll.h"
#include "sqa/Tools/ParseGuard.h"
#include "sqa/Tools/Version.h"
#include "sqa/Pipelines/Pipelines.h"
#include "sqa/Target/KernelLibrary.h"

#include "mlir/IR/AsmState.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/FileUtilities.h"
#include "mlir/Support/Timing.h"

#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/Regex.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/ToolOutputFile.h"

#include <cstdlib>

using namespace mlir;
namespace cl = llvm::cl;

static cl::OptionCategory compileCategory("sqa-compile options");
static cl::opt<std::string> inputFilename(cl::Positional,
                                          cl::desc("<input .mlir file>"),
                                          cl::cat(compileCategory));
static cl::opt<std::string>
    outputFilename("o", cl::Required,
                   cl::desc("Output file (a directory for --emit library)"),
                   cl::value_desc("file"), cl::cat(compileCategory));
static cl::opt<std::string> chip("chip", cl::init("sm_80"),
                                 cl::desc("Target GPU architecture"),
                                 cl::cat(compileCategory));
static cl::opt<std::string> features("features", cl::init("+ptx80"),
                                     cl::desc("PTX features"),
                                     cl::cat(compileCategory));
static cl::opt<int> optLevel("opt-level", cl::init(3),
                             cl::desc("LLVM optimisation level (0-3)"),
                             cl::cat(compileCategory));
static cl::opt<sqa::GPUKernel> kernel(
    "kernel", cl::init(sqa::GPUKernel::Auto), cl::desc("Kernel design"),
    cl::values(clEnumValN(sqa::GPUKernel::Auto, "auto",
                          "tensor cores (FlashAttention-2) where supported: "
                          "f16/bf16, head dims 16 to 256 where the tiles fit; "
                          "else row-wise"),
               clEnumValN(sqa::GPUKernel::TensorCore, "tensor-core",
                          "tensor cores; an unsupported op is an error"),
               clEnumValN(sqa::GPUKernel::Rowwise, "rowwise",
                          "one thread per query row")),
    cl::cat(compileCategory));
static cl::opt<int64_t>
    warps("warps", cl::init(4),
          cl::desc(sqa::kWarpsKnobDescription),
          cl::cat(compileCategory));
static cl::opt<int64_t>
    keyBlock("kv-block", cl::init(0),
             cl::desc(sqa::kKeyBlockKnobDescription),
             cl::cat(compileCategory));
static cl::opt<int64_t>
    warpRows("warp-rows", cl::init(0),
             cl::desc(sqa::kWarpRowsKnobDescription),
             cl::cat(compileCategory));
static cl::opt<int64_t>
    rowsPerBlock("rows-per-block", cl::init(128),
                 cl::desc("Query rows per thread block of the row-wise "
                          "kernel (1-1024)"),
                 cl::cat(compileCategory));
enum class EmitKind { PTX, Cubin, Library, Config };
static cl::opt<EmitKind> emit(
    "emit", cl::init(EmitKind::PTX), cl::desc("What to write"),
    cl::values(clEnumValN(EmitKind::PTX, "ptx", "PTX text of every kernel"),
               clEnumValN(EmitKind::Cubin, "cubin",
                          "cubin of every kernel (needs ptxas)"),
               clEnumValN(EmitKind::Library, "library",
                          "a kernel library: PTX, cubin (with ptxas), C "
                          "header, driver-API launcher, CMake config"),
               clEnumValN(EmitKind::Config, "config",
                          "what each --config (or entry function) computes, "
                          "as JSON (a library manifest's kernel fields), "
                          "compiling nothing")),
    cl::cat(compileCategory));
static cl::list<std::string> configs(
    "config",
    cl::desc("A library kernel: NAME:hq=N,hkv=N,d=N[,dv=N][,dtype=f16|bf16|"
             "f32][,out=f32][,mask=KIND][,window=L:R][,scale=F][,lse]"
             "[,grad[=T]] (repeatable; --emit library; grad: the backward, "
             "gradients of type T, default dtype)"),
    cl::value_desc("spec"), cl::cat(compileCategory));
static cl::opt<std::string>
    libraryName("library-name",
                cl::desc("C prefix of the library (default: the name of the "
                         "output directory)"),
                cl::cat(compileCategory));
static cl::opt<std::string>
    ptxasPath("ptxas",
              cl::desc("ptxas for the library's cubins (default: PATH, then "
                       "/usr/local/cuda/bin); 'none' for PTX only"),
              cl::cat(compileCategory));

static cl::opt<unsigned> ptxasTimeout(
    "ptxas-timeout",
    cl::desc("Seconds each ptxas run of --emit library may take before it is "
             "killed (0: no limit)"),
    cl::init(sqa::KernelLibraryOptions::kDefaultPtxasTimeoutSeconds),
    cl::value_desc("seconds"), cl::cat(compileCategory));
static cl::opt<unsigned> ptxasMemoryLimit(
    "ptxas-memory-limit",
    cl::desc("Memory in MiB each ptxas run of --emit library may use (0: no "
             "limit)"),
    cl::init(sqa::KernelLibraryOptions::kDefaultPtxasMemoryLimitMiB),
    cl::value_desc("MiB"), cl::cat(compileCategory));

static cl::list<std::string> cubinChips(
    "cubin-chips",
    cl::desc("Chips to assemble each library kernel's cubin for (default: "
             "--chip), e.g. sm_80,sm_90; the launcher picks the device's, "
             "else JIT-compiles the PTX (--emit library)"),
    cl::CommaSeparated, cl::value_desc("sm_NN,..."), cl::cat(compileCategory));

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

/// ptxas from --ptxas, PATH or the CUDA toolkit; empty when there is none.
static std::string findPtxas() {
  if (ptxasPath == "none")
    return "";
  if (!ptxasPath.empty())
    return ptxasPath;
  if (llvm::ErrorOr<std::string> path = llvm::sys::findProgramByName("ptxas"))
    return *path;
  if (llvm::sys::fs::can_execute("/usr/local/cuda/bin/ptxas"))
    return "/usr/local/cuda/bin/ptxas";
  return "";
}

/// Applies MLIR's pass manager options (IR printing, statistics, timing)
/// from the command line to each pass manager the compilation runs.
static LogicalResult configurePassManager(PassManager &pm) {
  if (failed(applyPassManagerCLOptions(pm)))
    return failure();
  applyDefaultTimingPassManagerCLOptions(pm);
  return success();
}

/// Adds the entry function of each --config to `module`; fails with a
/// message naming the bad one.
static int addConfigEntries(ModuleOp module) {
  for (const std::string &spec : configs) {
    std::string error;
    FailureOr<sqa::AttentionConfig> config =
        sqa::parseAttentionConfig(spec, error);
    if (failed(config))
      return fail("--config: " + error);
    if (module.lookupSymbol(config->name))
      return fail("--config: a kernel named '" + config->name +
                  "' already exists");
    Location loc = FileLineColLoc::get(
        StringAttr::get(module.getContext(), "--config=" + spec), 1, 1);
    if (failed(sqa::buildAttentionFunc(module, *config, loc)))
      return fail("--config '" + spec +
                  "' is not a valid sqa.attention or sqa.attention_grad");
  }
  return EXIT_SUCCESS;
}

static int emitLibrary(ModuleOp module) {
  if (int status = addConfigEntries(module))
    return status;
  sqa::KernelLibraryOptions options;
  options.name = libraryName;
  if (options.name.empty())
    options.name =
        llvm::sys::path::filename(StringRef(outputFilename).rtrim('/'));
  if (!sqa::isValidKernelLibraryName(options.name))
    return fail(
        "the library name '" + options.name + "'" +
        (libraryName.empty() ? " (the output directory's)" : "") +
        " is not a C identifier (or is one reserved to the implementation); "
        "choose one with --library-name");
  options.pipeline.chip = chip;
  options.pipeline.features = features;
  options.pipeline.optLevel = optLevel;
  options.pipeline.rowsPerBlock = rowsPerBlock;
  options.pipeline.kernel = kernel;
  options.pipeline.warps = warps;
  options.pipeline.keyBlock = keyBlock;
  options.pipeline.warpRows = warpRows;
  options.cubinChips.assign(cubinChips.begin(), cubinChips.end());
  options.configurePassManager = configurePassManager;
  options.ptxasPath = findPtxas();
  options.ptxasTimeoutSeconds = ptxasTimeout;
  options.ptxasMemoryLimitMiB = ptxasMemoryLimit;
  if (!cubinChips.empty() && options.ptxasPath.empty())
    return fail("--cubin-chips needs ptxas (none found, or --ptxas=none)");
  if (!options.ptxasPath.empty() &&
      !llvm::sys::fs::can_execute(options.ptxasPath))
    return fail("--ptxas: '" + options.ptxasPath + "' is not executable");
  if (failed(sqa::emitKernelLibrary(module, options, outputFilename)))
    return fail("writing the kernel library " + outputFilename + " failed");
  return EXIT_SUCCESS;
}

int main(int argc, char **argv) {
  llvm::InitLLVM y(argc, argv);
  mlir::sqa::registerVersionPrinter();
  sqa::registerAllPasses();
  cl::HideUnrelatedOptions(compileCategory);
  // MLIR's debugging options, as sqa-opt has them: printing IR around passes,
  // pass timing and statistics, and the IR printer's options.
  registerAsmPrinterCLOptions();
  registerMLIRContextCLOptions();
  registerPassManagerCLOptions();
  registerDefaultTimingManagerCLOptions();
  cl::ParseCommandLineOptions(
      argc, argv, "sqa-compile: compile sqa.attention to GPU kernels\n");

  // The target options end up in pass options and in the NVPTX backend;
  // reject malformed values here with a clear message.
  if (!features.empty() &&
      !llvm::Regex("^\\+[a-z0-9]+(,\\+[a-z0-9]+)*$").match(features))
    return fail("--features must look like +ptx80, not '" + features + "'");
  {
    sqa::GPUPipelineOptions target;
    target.chip = chip;
    target.features = features;
    std::string error;
    if (failed(sqa::verifyGPUTarget(
            target, [&](const Twine &message) { error = message.str(); })))
      return fail("--chip/--features: " + error);
  }
  if (optLevel < 0 || optLevel > 3)
    return fail("--opt-level must be between 0 and 3");
  if (rowsPerBlock < 1 || rowsPerBlock > 1024)
    return fail("--rows-per-block must be between 1 and 1024");
  if (std::string error = sqa::checkScheduleKnobs(warps, keyBlock, warpRows);
      !error.empty())
    return fail("--" + error);

  if (emit != EmitKind::Library && emit != EmitKind::Config &&
      !configs.empty())
    return fail("--config needs --emit library or --emit config");
  if (emit != EmitKind::Library && !cubinChips.empty())
    return fail("--cubin-chips needs --emit library");
  if (inputFilename.empty() && configs.empty())
    return fail("no input: give an .mlir file or --config");

  DialectRegistry registry;
  sqa::registerAllDialects(registry);
  MLIRContext context(registry);

  llvm::SourceMgr sourceMgr;
  SourceMgrDiagnosticHandler diagHandler(sourceMgr, &context);
  OwningOpRef<ModuleOp> module;
  if (!inputFilename.empty())
    module = sqa::parseSourceFileGuarded(inputFilename, sourceMgr, &context);
  else
    module = ModuleOp::create(UnknownLoc::get(&context));
  if (!module)
    return EXIT_FAILURE;

  if (emit == EmitKind::Library)
    return emitLibrary(*module);
  if (emit == EmitKind::Config) {
    if (int status = addConfigEntries(*module))
      return status;
    std::string text;
    llvm::raw_string_ostream os(text);
    if (failed(sqa::describeKernelLibraryEntries(*module, os)))
      return EXIT_FAILURE;
    return failed(sqa::writeCheckedFile(UnknownLoc::get(&context),
                                        outputFilename,
                                        [&](raw_ostream &out) { out << text; }))
               ? EXIT_FAILURE
               : EXIT_SUCCESS;
  }

  sqa::GPUPipelineOptions options;
  options.chip = chip;
  options.features = features;
  options.optLevel = optLevel;
  options.rowsPerBlock = rowsPerBlock;
  options.kernel = kernel;
  options.warps = warps;
  options.keyBlock = keyBlock;
  options.warpRows = warpRows;
  options.format =
      emit == EmitKind::PTX ? sqa::KernelFormat::PTX : sqa::KernelFormat::Cubin;
  FailureOr<SmallVector<sqa::KernelObject>> kernels =
      sqa::compileGPUKernels(*module, options, configurePassManager);
  if (failed(kernels))
    return fail("compiling " + inputFilename + " for " + chip + " failed");
  if (kernels->empty())
    return fail(inputFilename + " has no GPU kernels (no sqa.attention op)");

  for (const sqa::KernelObject &kernel : *kernels) {
    std::string path = kernels->size() == 1
                           ? outputFilename.getValue()
                           : getModuleOutputPath(kernel.moduleName);
    if (failed(sqa::writeCheckedFile(
            UnknownLoc::get(&context), path,
            [&](raw_ostream &os) { os << kernel.object; })))
      return EXIT_FAILURE;
  }
  return EXIT_SUCCESS;
}
