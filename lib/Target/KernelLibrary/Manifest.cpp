//===- Manifest.cpp - The library's JSON manifest -------------------------===//

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

/// The fields of `kernel` that say what it computes, in a manifest's kernel
/// object (and in --emit config's), after its name.
void mlir::sqa::library_detail::writeKernelDescription(
    llvm::json::OStream &json, const LibraryKernel &kernel) {
  json.attribute("query_heads", kernel.numQueryHeads);
  json.attribute("kv_heads", kernel.numKvHeads);
  json.attribute("output_heads", kernel.numOutputHeads);
  json.attribute("head_dim", kernel.headDim);
  json.attribute("value_head_dim", kernel.valueHeadDim);
  json.attribute("dtype", kernel.elementType);
  json.attribute("out_dtype", kernel.outputType);
  json.attribute("mask", kernel.mask);
  if (kernel.window)
    json.attributeArray("window", [&] {
      json.value((*kernel.window)[0]);
      json.value((*kernel.window)[1]);
    });
  json.attribute("scale", kernel.scale);
  json.attribute("default_scale", kernel.isDefaultScale);
  json.attribute("lse", !kernel.isBackward && kernel.tensorNames.size() == 5);
  json.attribute("backward", kernel.isBackward);
  if (kernel.isBackward)
    json.attribute("grad_dtype",
                   getTypeName(kernel.tensorTypes.back().getElementType()));
  json.attribute("tensors", llvm::json::Array(kernel.tensorNames));
}

void
mlir::sqa::library_detail::writeManifest(raw_ostream &os, StringRef lib,
                                         ArrayRef<LibraryKernel> kernels,
                                         const KernelLibraryOptions &options) {
  llvm::json::OStream json(os, /*IndentSize=*/2);
  json.object([&] {
    json.attribute("library", lib);
    // The PTX's target; each kernel lists its cubins by chip.
    json.attribute("chip", options.pipeline.chip.getValue());
    json.attribute("header", (lib + ".h").str());
    json.attribute("launcher", (lib + ".c").str());
    json.attributeArray("kernels", [&] {
      for (const LibraryKernel &kernel : kernels) {
        json.object([&] {
          json.attribute("name", kernel.name);
          json.attribute("function", (lib + "_" + kernel.name).str());
          writeKernelDescription(json, kernel);
          // The images of each launch, in launch order.
          json.attributeArray("launches", [&] {
            for (auto [index, launch] : llvm::enumerate(kernel.launches)) {
              std::string stem = kernel.getImageStem(index);
              json.object([&] {
                json.attribute("function", launch.kernelFunction);
                json.attribute("ptx", stem + ".ptx");
                if (!launch.cubins.empty())
                  json.attributeObject("cubins", [&] {
                    for (const auto &[chip, cubin] : launch.cubins)
                      json.attribute(chip, getCubinFileName(stem, chip));
                  });
              });
            }
          });
        });
      }
    });
  });
  os << "\n";
}

LogicalResult mlir::sqa::describeKernelLibraryEntries(ModuleOp module,
                                                      raw_ostream &os) {
  // convertToLibraryEntry builds the entry's buffer form, as
  // emitKernelLibrary does.
  module.getContext()
      ->loadDialect<bufferization::BufferizationDialect, func::FuncDialect>();
  SmallVector<LibraryKernel, 1> kernels;
  for (auto func : llvm::make_early_inc_range(module.getOps<func::FuncOp>()))
    if (failed(convertToLibraryEntry(func, kernels.emplace_back())))
      return failure();
  llvm::json::OStream json(os, /*IndentSize=*/2);
  json.object([&] {
    json.attributeArray("configs", [&] {
      for (const LibraryKernel &kernel : kernels)
        json.object([&] {
          json.attribute("name", kernel.name);
          writeKernelDescription(json, kernel);
        });
    });
  });
  os << "\n";
  return success();
}
