//===- KernelLibrary.cpp - Generated GPU kernel libraries -----------------===//

#include "LibraryEntry.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/FileUtilities.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/ADT/StringSwitch.h"
#include "llvm/ADT/TypeSwitch.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/ToolOutputFile.h"

using namespace mlir;
using namespace mlir::sqa;
using namespace mlir::sqa::library_detail;

/// Checks that the C the library generates compiles and means what it
/// says: every kernel name is a C identifier; no kernel's function
/// (<lib>_<kernel>) is one of the launcher's own identifiers or another
/// kernel's images (derived from the templates and the generated arrays, not
/// listed by hand); no two kernels' macros (<LIB>_<KERNEL>_...) coincide
/// after upper-casing; and the header <lib>.h does not shadow a system
/// header that the generated files include with <...>.
static LogicalResult verifyGeneratedNames(Location loc, StringRef lib,
                                          ArrayRef<LibraryKernel> kernels,
                                          ArrayRef<std::string> cubinChips) {
  std::string templates = instantiateTemplate(getLauncherTemplate(), lib) +
                          instantiateTemplate(getLibraryHeaderTemplate(), lib);
  llvm::StringSet<> reserved;
  std::string prefix = (lib + "_").str();
  for (size_t at = templates.find(prefix); at != std::string::npos;
       at = templates.find(prefix, at + 1)) {
    if (at > 0 &&
        (llvm::isAlnum(templates[at - 1]) || templates[at - 1] == '_'))
      continue;
    size_t end = at + prefix.size();
    while (end < templates.size() &&
           (llvm::isAlnum(templates[end]) || templates[end] == '_'))
      ++end;
    reserved.insert(templates.substr(at, end - at));
  }
  for (const LibraryKernel &kernel : kernels) {
    for (size_t index = 0; index < kernel.launches.size(); ++index) {
      std::string images = prefix + kernel.getImageStem(index);
      reserved.insert(images + "_ptx");
      reserved.insert(images + "_cubins");
      for (const std::string &chip : cubinChips)
        reserved.insert(images + "_cubin_" + chip);
    }
  }
  // Header names the generated files include with <...>.
  for (size_t at = templates.find("#include <"); at != std::string::npos;
       at = templates.find("#include <", at + 1)) {
    StringRef header = StringRef(templates).drop_front(at + 10);
    header = header.take_until([](char c) { return c == '>'; });
    if (header == (lib + ".h").str())
      return emitError(loc)
             << "kernel library name '" << lib << "' would make " << header
             << " shadow the system header the launcher "
                "includes; choose another name";
  }
  llvm::StringMap<StringRef> macroOwners;
  for (const LibraryKernel &kernel : kernels) {
    if (!isValidKernelLibraryName(kernel.name))
      return emitError(loc) << "kernel library: kernel name '" << kernel.name
                            << "' is not a C identifier";
    std::string function = prefix + kernel.name;
    if (reserved.contains(function))
      return emitError(loc) << "kernel library: kernel name '" << kernel.name
                            << "' makes the function " << function
                            << ", which the launcher already defines";
    auto [it, inserted] =
        macroOwners.try_emplace(StringRef(function).upper(), kernel.name);
    if (!inserted)
      return emitError(loc)
             << "kernel library: kernel names '" << it->second << "' and '"
             << kernel.name << "' make the same macros ("
             << StringRef(function).upper() << "_...)";
  }
  return success();
}

/// Assembles `ptxPath` into `cubinPath` for `chip` with ptxas, within the
/// time and memory limits of `options`.
static LogicalResult runPtxas(Location loc, const KernelLibraryOptions &options,
                              StringRef chip, StringRef ptxPath,
                              StringRef cubinPath) {
  StringRef ptxas = options.ptxasPath;
  std::string arch = ("-arch=" + chip).str();
  StringRef args[] = {ptxas, arch, "-O3", ptxPath, "-o", cubinPath};
  std::string errorMessage;
  int status = llvm::sys::ExecuteAndWait(
      ptxas, args, /*Env=*/std::nullopt, /*Redirects=*/{},
      options.ptxasTimeoutSeconds, options.ptxasMemoryLimitMiB, &errorMessage);
  // ExecuteAndWait kills the child at the deadline and returns -2.
  if (status == -2 && options.ptxasTimeoutSeconds != 0)
    return emitError(loc) << "ptxas ran past its limit of "
                          << options.ptxasTimeoutSeconds << " s on "
                          << ptxPath << " (--ptxas-timeout)";
  if (status != 0)
    return emitError(loc) << "ptxas failed on " << ptxPath
                          << (errorMessage.empty() ? "" : ": ")
                          << errorMessage
                          << (options.ptxasMemoryLimitMiB
                                  ? " (memory limited to " +
                                        std::to_string(
                                            options.ptxasMemoryLimitMiB) +
                                        " MiB: --ptxas-memory-limit)"
                                  : std::string());
  return success();
}

LogicalResult mlir::sqa::emitKernelLibrary(ModuleOp module,
                                           const KernelLibraryOptions &options,
                                           StringRef directory) {
  Location loc = module.getLoc();
  StringRef lib = options.name;
  if (!isValidKernelLibraryName(lib))
    return emitError(loc) << "kernel library name '" << lib
                          << "' is not a C identifier";

  if (failed(verifyGPUTarget(options.pipeline, [&](const Twine &message) {
        emitError(loc) << "kernel library: " << message;
      })))
    return failure();
  // Cubins run on their own major architecture only, so each chip gets one;
  // the PTX they are assembled from targets the pipeline's chip.
  SmallVector<std::string> cubinChips(options.cubinChips);
  if (cubinChips.empty())
    cubinChips.push_back(options.pipeline.chip);
  int ptxTarget = getComputeCapabilityNumber(options.pipeline.chip);
  for (const std::string &chip : cubinChips) {
    if (!isPlainChipName(chip))
      return emitError(loc) << "kernel library: cubin chip '" << chip
                            << "' must look like sm_80 (no suffix)";
    if (getComputeCapabilityNumber(chip) < ptxTarget)
      return emitError(loc) << "kernel library: cubin chip '" << chip
                            << "' is older than the PTX's target '"
                            << options.pipeline.chip.getValue() << "'";
  }

  module.getContext()
      ->loadDialect<bufferization::BufferizationDialect, func::FuncDialect>();
  SmallVector<LibraryKernel, 1> kernels;
  for (auto func : llvm::make_early_inc_range(module.getOps<func::FuncOp>())) {
    LibraryKernel &kernel = kernels.emplace_back();
    if (failed(convertToLibraryEntry(func, kernel)))
      return failure();
  }
  if (kernels.empty())
    return emitError(loc) << "kernel library: no attention functions";
  // The names, before any pass runs; the images' once the launches are known.
  if (failed(verifyGeneratedNames(loc, lib, kernels, cubinChips)))
    return failure();

  GPUPipelineOptions pipelineOptions;
  pipelineOptions.copyOptionValuesFrom(options.pipeline);
  pipelineOptions.format = KernelFormat::PTX;

  PassManager outlining(module.getContext());
  buildGPUOutliningPipeline(outlining, pipelineOptions);
  if ((options.configurePassManager &&
       failed(options.configurePassManager(outlining))) ||
      failed(outlining.run(module)))
    return failure();
  int64_t numImages = 0;
  for (LibraryKernel &kernel : kernels) {
    auto host = module.lookupSymbol<func::FuncOp>(kernel.name);
    if (failed(extractLaunches(lib, host, kernel)))
      return failure();
    for (LibraryLaunch &launch : kernel.launches)
      launch.imageIndex = numImages++;
  }
  if (failed(verifyGeneratedNames(loc, lib, kernels, cubinChips)))
    return failure();

  PassManager serialization(module.getContext());
  buildGPUSerializationPipeline(serialization, pipelineOptions);
  if ((options.configurePassManager &&
       failed(options.configurePassManager(serialization))) ||
      failed(serialization.run(module)))
    return failure();
  llvm::StringMap<std::string> objects;
  for (KernelObject &object : getKernelObjects(module))
    objects[object.moduleName] = std::move(object.object);

  if (std::error_code error = llvm::sys::fs::create_directories(directory))
    return emitError(loc) << "cannot create '" << directory
                          << "': " << error.message();
  auto getPath = [&](const Twine &file) {
    SmallString<128> path(directory);
    llvm::sys::path::append(path, file);
    return std::string(path);
  };
  for (LibraryKernel &kernel : kernels) {
    for (auto [index, launch] : llvm::enumerate(kernel.launches)) {
      std::string stem = kernel.getImageStem(index);
      launch.ptx = objects.lookup(launch.kernelModule);
      std::string ptxPath = getPath(stem + ".ptx");
      if (failed(writeCheckedFile(
              loc, ptxPath, [&](raw_ostream &os) { os << launch.ptx; })))
        return failure();
      if (options.ptxasPath.empty())
        continue;
      for (const std::string &chip : cubinChips) {
        std::string cubinPath = getPath(getCubinFileName(stem, chip));
        if (failed(
                runPtxas(loc, options, chip, ptxPath, cubinPath)))
          return failure();
        llvm::ErrorOr<std::unique_ptr<llvm::MemoryBuffer>> cubin =
            llvm::MemoryBuffer::getFile(cubinPath, /*IsText=*/false);
        if (!cubin)
          return emitError(loc) << "cannot read '" << cubinPath
                                << "': " << cubin.getError().message();
        launch.cubins.emplace_back(chip, (*cubin)->getBuffer().str());
      }
    }
  }

  if (failed(writeCheckedFile(
          loc, getPath(lib + ".h"),
          [&](raw_ostream &os) { writeHeader(os, lib, kernels); })) ||
      failed(writeCheckedFile(loc, getPath(lib + ".c"),
                              [&](raw_ostream &os) {
                                writeLauncher(os, lib, kernels,
                                              pipelineOptions.chip);
                              })) ||
      failed(writeCheckedFile(loc, getPath(lib + ".json"),
                              [&](raw_ostream &os) {
                                writeManifest(os, lib, kernels, options);
                              })) ||
      failed(writeCheckedFile(loc, getPath(lib + "Config.cmake"),
                              [&](raw_ostream &os) {
                                os << instantiateTemplate(getConfigTemplate(), lib);
                              })))
    return failure();
  return success();
}
