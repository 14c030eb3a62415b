//===- LibraryEntry.h - Kernel library internals ----------------*- C++ -*-===//
//
// What the parts of the kernel library writer share (lib/Target/KernelLibrary,
// one job a file): Config.cpp parses configurations and builds their entry
// IR; Entries.cpp turns an entry function into the library's ABI form;
// LaunchSizes.cpp translates the host's launch-size computation into C;
// Launcher.cpp writes the C header and launcher from the templates;
// Manifest.cpp writes the JSON manifest; KernelLibrary.cpp drives them
// (compiling, checking the generated names, ptxas).
//
//===----------------------------------------------------------------------===//

#ifndef LIB_TARGET_KERNELLIBRARY_LIBRARYENTRY_H
#define LIB_TARGET_KERNELLIBRARY_LIBRARYENTRY_H

#include "sqa/Target/KernelLibrary.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinTypes.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/raw_ostream.h"

#include <array>
#include <optional>
#include <string>

namespace mlir {
namespace sqa {
namespace library_detail {

/// One kernel launch of a library entry, in the order the entry makes them.
struct LibraryLaunch {
  std::array<std::string, 3> grid, block;
  std::string dynamicSharedMemory = "0";
  /// For each kernel operand, the tensor (entry argument) it is.
  SmallVector<unsigned> kernelOperands;
  std::string kernelModule, kernelFunction;
  std::string ptx;
  /// (chip, cubin) for each architecture ptxas assembled the PTX for.
  SmallVector<std::pair<std::string, std::string>> cubins;
  /// The launch's index among the images of the whole library.
  int64_t imageIndex = 0;
};

/// What one entry (launch function) of the library computes and how it
/// launches its kernels: one for a forward, two for a backward.
struct LibraryKernel {
  /// The entry function's name: the kernel's name in the library.
  std::string name;
  /// Whether the entry is a backward (sqa.attention_grad).
  bool isBackward = false;
  /// The tensors' names and types, in the order of the launch function's
  /// parameters (query, key, value, out[, lse]; or query, key, value, out,
  /// dout, lse, dq, dk, dv), and how many of them lead as inputs.
  SmallVector<std::string> tensorNames;
  SmallVector<MemRefType> tensorTypes;
  unsigned numInputs = 3;
  /// Description of the attention, for the header and the manifest.
  int64_t numQueryHeads, numKvHeads, numOutputHeads, headDim, valueHeadDim;
  std::string elementType, outputType, mask;
  std::optional<std::array<int64_t, 2>> window;
  float scale;
  /// Whether `scale` is the default, 1/sqrt(head dim) (the op has none).
  bool isDefaultScale = true;
  /// C statements that compute the launch configurations from the shapes.
  SmallVector<std::string> setup;
  SmallVector<LibraryLaunch, 1> launches;

  /// The file and symbol stem of launch `index`'s images: the entry's name,
  /// with the launch's index when it makes several.
  std::string getImageStem(size_t index) const {
    return launches.size() == 1 ? name : name + "_" + std::to_string(index);
  }
  /// Whether the tensor `index`'s dim 2 is the key/value sequence length
  /// (else the query's).
  bool isKeySized(unsigned index) const {
    StringRef tensor = tensorNames[index];
    return tensor == "k" || tensor == "v" || tensor == "dk" || tensor == "dv";
  }
};

/// "f16", "bf16" or "f32": the manifest's and the header's name of `type`.
std::string getTypeName(Type type);

/// Replaces the attention entry `func` by its library form: memref arguments
/// (query, key, value, out[, lse]; for a backward query, key, value, out,
/// dout, lse, dq, dk, dv) with dynamic strides and a unit innermost stride,
/// read and written in place; records its description in `kernel`.
LogicalResult convertToLibraryEntry(func::FuncOp func, LibraryKernel &kernel);

/// Records in `kernel` how the gpu.launch_func ops of `host` are called, in
/// their order, with their sizes as C statements of library `lib`.
LogicalResult extractLaunches(StringRef lib, func::FuncOp host,
                              LibraryKernel &kernel);

/// The fixed parts of a library's C header, launcher and CMake package: real
/// C files under Templates/, embedded at build time.
StringRef getLibraryHeaderTemplate();
StringRef getLauncherTemplate();
StringRef getConfigTemplate();

/// Instantiates a template for library `lib` (`sqalib` and `SQALIB` in it
/// stand for the name, upper-cased), with `generated` at `marker`.
std::string instantiateTemplate(StringRef text, StringRef lib,
                                StringRef marker = "",
                                StringRef generated = "");

/// Chips as the libraries name them: plain `sm_NN` (no `a` suffix), their
/// compute capability as one number (80), and a launch's cubin file name.
bool isPlainChipName(StringRef chip);
int getComputeCapabilityNumber(StringRef chip);
std::string getCubinFileName(StringRef kernel, StringRef chip);

/// The library's C header and launcher, and its JSON manifest.
void writeHeader(raw_ostream &os, StringRef lib,
                 ArrayRef<LibraryKernel> kernels);
void writeLauncher(raw_ostream &os, StringRef lib,
                   ArrayRef<LibraryKernel> kernels, StringRef chip);
/// What `kernel` computes, as the fields of a manifest's kernel object.
void writeKernelDescription(llvm::json::OStream &json,
                            const LibraryKernel &kernel);
void writeManifest(raw_ostream &os, StringRef lib,
                   ArrayRef<LibraryKernel> kernels,
                   const KernelLibraryOptions &options);

} // namespace library_detail
} // namespace sqa
} // namespace mlir

#endif // LIB_TARGET_KERNELLIBRARY_LIBRARYENTRY_H
