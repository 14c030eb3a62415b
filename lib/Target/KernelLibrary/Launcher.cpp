//===- Launcher.cpp - The C header and launcher ---------------------------===//

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

//===----------------------------------------------------------------------===//
// Files
//===----------------------------------------------------------------------===//

LogicalResult
mlir::sqa::writeCheckedFile(Location loc, StringRef path,
                            function_ref<void(raw_ostream &)> write) {
  std::string errorMessage;
  std::unique_ptr<llvm::ToolOutputFile> output =
      openOutputFile(path, &errorMessage);
  if (!output)
    return emitError(loc) << errorMessage;
  write(output->os());
  output->os().close();
  if (std::error_code error = output->os().error()) {
    // Cleared so that the stream does not abort ("IO failure") when it is
    // destroyed; the partial file is removed with it (not kept).
    output->os().clear_error();
    return emitError(loc) << "cannot write '" << path
                          << "': " << error.message();
  }
  output->keep();
  return success();
}

/// Writes `bytes` as the body of a C array or string initializer, 16 bytes
/// per line.
static void writeBytes(raw_ostream &os, StringRef bytes) {
  for (size_t i = 0; i < bytes.size(); ++i) {
    if (i % 16 == 0)
      os << "\n   ";
    os << " 0x" << llvm::format_hex_no_prefix(
                       static_cast<unsigned char>(bytes[i]), 2)
       << ",";
  }
  os << "\n";
}

static int64_t getElementSize(Type type) {
  return type.getIntOrFloatBitWidth() / 8;
}

/// The fixed parts of a library's C header, launcher and CMake package: real C
/// files under Templates/, embedded at build time. `sqalib` (`SQALIB`) in them
/// stands for the library's name (upper-cased); `/* @DECLARATIONS@ */` and
/// `/* @IMAGES@ */` mark where the generated parts go.
#include "ConfigTemplate.inc"
#include "LauncherTemplate.inc"
#include "LibraryHeaderTemplate.inc"

StringRef
mlir::sqa::library_detail::getLibraryHeaderTemplate() {
  return kLibraryHeaderTemplate;
}
StringRef
mlir::sqa::library_detail::getLauncherTemplate() {
  return kLauncherTemplate;
}
StringRef
mlir::sqa::library_detail::getConfigTemplate() {
  return kConfigTemplate;
}

/// Instantiates a template for library `lib`, with `generated` at `marker`.
std::string
mlir::sqa::library_detail::instantiateTemplate(StringRef text, StringRef lib,
                                               StringRef marker,
                                               StringRef generated) {
  std::string result = text.str();
  std::string upper = lib.upper();
  for (auto [from, to] :
       {std::pair<StringRef, StringRef>{"sqalib", lib}, {"SQALIB", upper}}) {
    for (size_t at = result.find(from); at != std::string::npos;
         at = result.find(from, at + to.size()))
      result.replace(at, from.size(), to.str());
  }
  // The generated part goes in last: its names are not placeholders.
  if (!marker.empty()) {
    size_t at = result.find(marker);
    assert(at != std::string::npos && "marker missing from the template");
    result.replace(at, marker.size(), generated.str());
  }
  return result;
}

/// Whether `chip` is sm_<digits>, with no suffix (sm_90a cubins run on one
/// chip only, which the launcher's choice of cubins does not model).
bool
mlir::sqa::library_detail::isPlainChipName(StringRef chip) {
  return chip.consume_front("sm_") && !chip.empty() &&
         llvm::all_of(chip, llvm::isDigit) && chip.size() <= 3;
}

/// The compute capability of `chip` as one number (sm_86 -> 86, sm_100 ->
/// 100); a suffix (sm_90a) is ignored.
int
mlir::sqa::library_detail::getComputeCapabilityNumber(StringRef chip) {
  unsigned number = 0;
  chip.drop_front(3).take_while(llvm::isDigit).getAsInteger(10, number);
  return static_cast<int>(number);
}

/// (major, minor) of `chip`: sm_80 -> 8.0, sm_86 -> 8.6, sm_100 -> 10.0.
static std::pair<int, int> getComputeCapability(StringRef chip) {
  int number = getComputeCapabilityNumber(chip);
  return {number / 10, number % 10};
}

std::string
mlir::sqa::library_detail::getCubinFileName(StringRef kernel, StringRef chip) {
  return (kernel + "." + chip + ".cubin").str();
}

void
mlir::sqa::library_detail::writeHeader(raw_ostream &os, StringRef lib,
                                       ArrayRef<LibraryKernel> kernels) {
  std::string declarations;
  llvm::raw_string_ostream decl(declarations);
  for (const LibraryKernel &kernel : kernels) {
    std::string upper = StringRef((lib + "_" + kernel.name).str()).upper();
    decl << "\n/* " << kernel.name << ": "
         << (kernel.isBackward ? "the backward (dq, dk, dv) of " : "")
         << kernel.numQueryHeads
         << " query heads, " << kernel.numKvHeads << " key/value heads ("
         << kernel.numOutputHeads << " output heads), head dim "
         << kernel.headDim << ", value head dim " << kernel.valueHeadDim << ", "
         << kernel.elementType << " inputs, " << kernel.outputType
         << " output, mask " << kernel.mask << ", window ";
    if (kernel.window)
      decl << "[" << (*kernel.window)[0] << ", " << (*kernel.window)[1] << "]";
    else
      decl << "none";
    decl << ", scale " << llvm::format("%.9g", kernel.scale) << ".\n";
    for (auto [name, type] :
         llvm::zip_equal(kernel.tensorNames, kernel.tensorTypes)) {
      decl << " *   " << name << ": [";
      llvm::interleaveComma(type.getShape(), decl, [&](int64_t size) {
        if (ShapedType::isDynamic(size))
          decl << "?";
        else
          decl << size;
      });
      decl << "] " << getTypeName(type.getElementType()) << "\n";
    }
    decl << " */\n";
    decl << "#define " << upper << "_QUERY_HEADS " << kernel.numQueryHeads
         << "\n#define " << upper << "_KV_HEADS " << kernel.numKvHeads
         << "\n#define " << upper << "_HEAD_DIM " << kernel.headDim
         << "\n#define " << upper << "_VALUE_HEAD_DIM " << kernel.valueHeadDim
         << "\n";
    decl << lib << "_status " << lib << "_" << kernel.name << "(";
    for (const std::string &name : kernel.tensorNames)
      decl << "const " << lib << "_tensor *" << name << ", ";
    decl << lib << "_stream stream);\n";
  }
  os << instantiateTemplate(kLibraryHeaderTemplate, lib, "/* @DECLARATIONS@ */",
                            declarations);
}

void
mlir::sqa::library_detail::writeLauncher(raw_ostream &os, StringRef lib,
                                         ArrayRef<LibraryKernel> kernels,
                                         StringRef chip) {
  std::string images;
  llvm::raw_string_ostream img(images);
  int64_t numImages = 0;
  for (const LibraryKernel &kernel : kernels)
    numImages += kernel.launches.size();
  img << "#define " << lib << "_NUM_KERNELS " << numImages << "\n";
  // Binaries per image: its cubins and its PTX.
  size_t maxBinaries = 1;
  for (const LibraryKernel &kernel : kernels)
    for (const LibraryLaunch &launch : kernel.launches)
      maxBinaries = std::max(maxBinaries, launch.cubins.size() + 1);
  img << "#define " << lib << "_MAX_BINARIES " << maxBinaries << "\n";
  for (const LibraryKernel &kernel : kernels) {
    for (auto [launchIndex, launch] : llvm::enumerate(kernel.launches)) {
      std::string prefix = (lib + "_" + kernel.getImageStem(launchIndex)).str();
      img << "\n/* " << kernel.name << ", launch " << launchIndex << " ("
          << launch.kernelModule << "::" << launch.kernelFunction << ") */\n";
      img << "static const unsigned char " << prefix << "_ptx[] = {";
      // The PTX is NUL-terminated for cuLibraryLoadData.
      writeBytes(img, StringRef(launch.ptx.c_str(), launch.ptx.size() + 1));
      img << "};\n";
      for (const auto &[cubinChip, cubin] : launch.cubins) {
        img << "static const unsigned char " << prefix << "_cubin_"
            << cubinChip << "[] = {";
        writeBytes(img, cubin);
        img << "};\n";
      }
      if (launch.cubins.empty())
        continue;
      img << "static const " << lib << "_cubin " << prefix
          << "_cubins[] = {\n";
      for (const auto &[cubinChip, cubin] : launch.cubins) {
        auto [major, minor] = getComputeCapability(cubinChip);
        img << "    {" << major << ", " << minor << ", " << prefix
            << "_cubin_" << cubinChip << "},\n";
      }
      img << "};\n";
    }
  }
  auto [ptxMajor, ptxMinor] = getComputeCapability(chip);
  img << "\nstatic const " << lib << "_image " << lib << "_images[" << lib
      << "_NUM_KERNELS] = {\n";
  for (const LibraryKernel &kernel : kernels) {
    for (auto [launchIndex, launch] : llvm::enumerate(kernel.launches)) {
      std::string prefix = (lib + "_" + kernel.getImageStem(launchIndex)).str();
      img << "    {\"" << launch.kernelFunction << "\", " << prefix << "_ptx, "
          << ptxMajor << ", " << ptxMinor << ", " << launch.cubins.size()
          << ", " << (launch.cubins.empty() ? "NULL" : prefix + "_cubins")
          << "},\n";
    }
  }
  img << "};";
  os << instantiateTemplate(kLauncherTemplate, lib, "/* @IMAGES@ */", images);

  for (const LibraryKernel &kernel : kernels) {
    os << "\n" << lib << "_status " << lib << "_" << kernel.name << "(";
    for (const std::string &name : kernel.tensorNames)
      os << "const " << lib << "_tensor *" << name << ", ";
    os << lib << "_stream stream) {\n";
    os << "  " << lib << "_status status;\n";
    // Tensor-core kernels copy the rows of their 4-D inputs (query, key,
    // value; and out, dout for the backward) in 16-byte chunks.
    bool usesAsyncCopies = llvm::any_of(kernel.launches, [](const auto &l) {
      return StringRef(l.ptx).contains("cp.async");
    });
    for (auto [tensorIndex, name, type] :
         llvm::enumerate(kernel.tensorNames, kernel.tensorTypes)) {
      int64_t elementSize = getElementSize(type.getElementType());
      bool isRowInput = tensorIndex < kernel.numInputs && type.getRank() == 4;
      int64_t alignment = usesAsyncCopies && isRowInput ? 16 : elementSize;
      os << "  static const int64_t " << name << "_sizes[] = {";
      llvm::interleaveComma(type.getShape(), os, [&](int64_t size) {
        os << (ShapedType::isDynamic(size) ? -1 : size);
      });
      os << "};\n";
      os << "  if ((status = " << lib << "_check_tensor(" << name << ", "
         << type.getRank() << ", " << name << "_sizes, " << elementSize
         << ", " << alignment << ")) != " << lib << "_SUCCESS)\n    return status;\n";
    }
    // Batch agrees everywhere; each tensor's length with the query's or the
    // key's.
    os << "  if (";
    SmallVector<std::string> conditions;
    for (const std::string &name : ArrayRef(kernel.tensorNames).drop_front())
      conditions.push_back(name + "->shape[0] != q->shape[0]");
    for (auto [index, name] : llvm::enumerate(kernel.tensorNames)) {
      if (name == "q" || name == "k")
        continue;
      conditions.push_back(name + "->shape[2] != " +
                           (kernel.isKeySized(index) ? "k" : "q") +
                           "->shape[2]");
    }
    os << llvm::join(conditions, " ||\n      ") << ")\n    return " << lib
       << "_ERROR_SHAPE;\n";
    os << "  if (q->shape[0] == 0)\n    return " << lib << "_SUCCESS;\n";
    os << "  int overflow = 0;\n";
    for (const std::string &statement : kernel.setup)
      os << "  " << statement << "\n";
    os << "  (void)overflow;\n  if (overflow)\n    return " << lib
       << "_ERROR_TOO_LARGE;\n";
    // A launch with no blocks along x (no query rows, or for the backward's
    // dK/dV kernel no keys) has nothing to do: the others still write their
    // gradients (zeros where nothing is seen).
    for (const LibraryLaunch &launch : kernel.launches) {
      os << "  if (" << launch.grid[0] << " > 0) {\n";
      os << llvm::formatv(
          "    if ({0} > INT64_C(2147483647) || {1} < 1 || {1} > 65535 ||\n"
          "        {2} < 1 || {2} > 65535)\n"
          "      return {3}_ERROR_TOO_LARGE;\n",
          launch.grid[0], launch.grid[1], launch.grid[2], lib);
      os << "    " << lib << "_CUfunction function;\n    if ((status = " << lib
         << "_get_function(" << launch.imageIndex
         << ", &function)) != " << lib
         << "_SUCCESS)\n      return status;\n";
      // One memref descriptor per kernel operand: allocated and aligned
      // pointers, offset, sizes, strides.
      SmallVector<std::string> params;
      for (auto [operand, argIndex] : llvm::enumerate(launch.kernelOperands)) {
        const std::string &name = kernel.tensorNames[argIndex];
        int64_t rank = kernel.tensorTypes[argIndex].getRank();
        std::string prefix = "a" + std::to_string(operand);
        os << "    void *" << prefix << "_data = " << name << "->data;\n";
        os << "    int64_t " << prefix << "_offset = 0;\n";
        os << "    int64_t " << prefix << "_shape[" << rank << "], " << prefix
           << "_strides[" << rank << "];\n";
        os << "    memcpy(" << prefix << "_shape, " << name
           << "->shape, sizeof(" << prefix << "_shape));\n";
        os << "    memcpy(" << prefix << "_strides, " << name
           << "->strides, sizeof(" << prefix << "_strides));\n";
        params.push_back("&" + prefix + "_data");
        params.push_back("&" + prefix + "_data");
        params.push_back("&" + prefix + "_offset");
        for (int64_t i = 0; i < rank; ++i)
          params.push_back("&" + prefix + "_shape[" + std::to_string(i) + "]");
        for (int64_t i = 0; i < rank; ++i)
          params.push_back("&" + prefix + "_strides[" + std::to_string(i) +
                           "]");
      }
      os << "    void *params[] = {\n        "
         << llvm::join(params, ",\n        ") << "};\n";
      // Dynamic shared memory above 48 KiB must be opted into per function.
      if (launch.dynamicSharedMemory != "0")
        os << llvm::formatv(
            "    if ((unsigned)({1}) > 49152u &&\n"
            "        (status = {0}_check({0}_driver.cuFuncSetAttribute(\n"
            "             function, "
            "{0}_CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,\n"
            "             (int)({1})))) != {0}_SUCCESS)\n"
            "      return status;\n",
            lib, launch.dynamicSharedMemory);
      os << llvm::formatv(
          "    if ((status = {0}_check({0}_driver.cuLaunchKernel(\n"
          "             function, (unsigned){1}, (unsigned){2}, (unsigned){3},\n"
          "             (unsigned){4}, (unsigned){5}, (unsigned){6}, "
          "(unsigned){7}, stream,\n"
          "             params, NULL))) != {0}_SUCCESS)\n"
          "      return status;\n  }\n",
          lib, launch.grid[0], launch.grid[1], launch.grid[2], launch.block[0],
          launch.block[1], launch.block[2], launch.dynamicSharedMemory);
    }
    os << "  return " << lib << "_SUCCESS;\n}\n";
  }
}
