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
/// The per-entry parts, filled by fillTemplate: an entry's declaration in
/// the header (entry.h) and its launch function (entry.c), made of a check
/// per tensor (tensor-check.c) and a block per kernel launch (launch.c), with
/// a memref descriptor per kernel operand (operand.c) and, for dynamic
/// shared memory, its opt-in (shared-memory.c).
#include "EntryDeclarationTemplate.inc"
#include "EntryTemplate.inc"
#include "LaunchTemplate.inc"
#include "OperandTemplate.inc"
#include "SharedMemoryTemplate.inc"
#include "TensorCheckTemplate.inc"

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

namespace {
/// The values of a per-entry template's placeholders, `@NAME@` in its text.
using TemplateValues = ArrayRef<std::pair<StringRef, std::string>>;
} // namespace

/// `text` instantiated for library `lib`, each `@NAME@` replaced by its value
/// in `values`. Values are inserted as they are (a value that reads like a
/// placeholder or a library name stays); every placeholder of the template
/// must have a value, and every value a placeholder.
static std::string fillTemplate(StringRef text, StringRef lib,
                                TemplateValues values) {
  std::string named = instantiateTemplate(text, lib);
  std::string result;
  llvm::SmallDenseSet<StringRef> used;
  StringRef rest = named;
  while (!rest.empty()) {
    size_t open = rest.find('@');
    size_t close =
        open == StringRef::npos ? StringRef::npos : rest.find('@', open + 1);
    if (close == StringRef::npos) {
      result += rest;
      break;
    }
    StringRef key = rest.slice(open + 1, close);
    const auto *value = llvm::find_if(
        values, [&](const auto &entry) { return entry.first == key; });
    if (value == values.end()) {
      // Not a placeholder: keep the '@' and look on from the next one.
      result += rest.take_front(open + 1);
      rest = rest.drop_front(open + 1);
      continue;
    }
    used.insert(key);
    result += rest.take_front(open);
    result += value->second;
    rest = rest.drop_front(close + 1);
  }
  assert(used.size() == values.size() && "a template value has no placeholder");
  assert(StringRef(result).count('@') == 0 && "a placeholder has no value");
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

/// `const sqalib_tensor *q, ...`: the tensor parameters of `kernel`'s launch
/// function, each followed by ", ".
static std::string getTensorParameters(StringRef lib,
                                       const LibraryKernel &kernel) {
  std::string parameters;
  for (const std::string &name : kernel.tensorNames)
    parameters += "const " + lib.str() + "_tensor *" + name + ", ";
  return parameters;
}

void
mlir::sqa::library_detail::writeHeader(raw_ostream &os, StringRef lib,
                                       ArrayRef<LibraryKernel> kernels) {
  std::string declarations;
  for (const LibraryKernel &kernel : kernels) {
    std::string description;
    llvm::raw_string_ostream desc(description);
    desc << (kernel.isBackward ? "the backward (dq, dk, dv) of " : "")
         << kernel.numQueryHeads << " query heads, " << kernel.numKvHeads
         << " key/value heads (" << kernel.numOutputHeads
         << " output heads), head dim " << kernel.headDim
         << ", value head dim " << kernel.valueHeadDim << ", "
         << kernel.elementType << " inputs, " << kernel.outputType
         << " output, mask " << kernel.mask << ", window ";
    if (kernel.window)
      desc << "[" << (*kernel.window)[0] << ", " << (*kernel.window)[1] << "]";
    else
      desc << "none";
    desc << ", scale " << llvm::format("%.9g", kernel.scale);
    std::string tensors;
    llvm::raw_string_ostream tens(tensors);
    for (auto [name, type] :
         llvm::zip_equal(kernel.tensorNames, kernel.tensorTypes)) {
      tens << " *   " << name << ": [";
      llvm::interleaveComma(type.getShape(), tens, [&](int64_t size) {
        if (ShapedType::isDynamic(size))
          tens << "?";
        else
          tens << size;
      });
      tens << "] " << getTypeName(type.getElementType()) << "\n";
    }
    declarations += fillTemplate(
        kEntryDeclarationTemplate, lib,
        {{"NAME", kernel.name},
         {"UPPER_NAME", StringRef(kernel.name).upper()},
         {"DESCRIPTION", description},
         {"TENSORS", tensors},
         {"QUERY_HEADS", std::to_string(kernel.numQueryHeads)},
         {"KV_HEADS", std::to_string(kernel.numKvHeads)},
         {"HEAD_DIM", std::to_string(kernel.headDim)},
         {"VALUE_HEAD_DIM", std::to_string(kernel.valueHeadDim)},
         {"PARAMETERS", getTensorParameters(lib, kernel)}});
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
    // Tensor-core kernels copy the rows of their 4-D inputs (query, key,
    // value; and out, dout for the backward) in 16-byte chunks.
    bool usesAsyncCopies = llvm::any_of(kernel.launches, [](const auto &l) {
      return StringRef(l.ptx).contains("cp.async");
    });
    std::string tensorChecks;
    for (auto [tensorIndex, name, type] :
         llvm::enumerate(kernel.tensorNames, kernel.tensorTypes)) {
      int64_t elementSize = getElementSize(type.getElementType());
      bool isRowInput = tensorIndex < kernel.numInputs && type.getRank() == 4;
      int64_t alignment = usesAsyncCopies && isRowInput ? 16 : elementSize;
      SmallVector<std::string> sizes;
      for (int64_t size : type.getShape())
        sizes.push_back(
            std::to_string(ShapedType::isDynamic(size) ? -1 : size));
      tensorChecks += fillTemplate(
          kTensorCheckTemplate, lib,
          {{"TENSOR", name},
           {"SIZES", llvm::join(sizes, ", ")},
           {"RANK", std::to_string(type.getRank())},
           {"ELEMENT_SIZE", std::to_string(elementSize)},
           {"ALIGNMENT", std::to_string(alignment)}});
    }
    // Batch agrees everywhere; each tensor's length with the query's or the
    // key's.
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
    std::string launchSizes;
    for (const std::string &statement : kernel.setup)
      launchSizes += "  " + statement + "\n";
    // A launch with no blocks along x (no query rows, or for the backward's
    // dK/dV kernel no keys) has nothing to do: the others still write their
    // gradients (zeros where nothing is seen).
    std::string launches;
    for (const LibraryLaunch &launch : kernel.launches) {
      // One memref descriptor per kernel operand: allocated and aligned
      // pointers, offset, sizes, strides.
      std::string operands;
      SmallVector<std::string> params;
      for (auto [operand, argIndex] : llvm::enumerate(launch.kernelOperands)) {
        const std::string &name = kernel.tensorNames[argIndex];
        int64_t rank = kernel.tensorTypes[argIndex].getRank();
        std::string prefix = "a" + std::to_string(operand);
        operands += fillTemplate(kOperandTemplate, lib,
                                 {{"OPERAND", prefix},
                                  {"TENSOR", name},
                                  {"RANK", std::to_string(rank)}});
        params.push_back("&" + prefix + "_data");
        params.push_back("&" + prefix + "_data");
        params.push_back("&" + prefix + "_offset");
        for (int64_t i = 0; i < rank; ++i)
          params.push_back("&" + prefix + "_shape[" + std::to_string(i) + "]");
        for (int64_t i = 0; i < rank; ++i)
          params.push_back("&" + prefix + "_strides[" + std::to_string(i) +
                           "]");
      }
      // Dynamic shared memory above 48 KiB must be opted into per function.
      std::string optIn;
      if (launch.dynamicSharedMemory != "0")
        optIn = fillTemplate(kSharedMemoryTemplate, lib,
                             {{"SHARED_BYTES", launch.dynamicSharedMemory}});
      launches += fillTemplate(
          kLaunchTemplate, lib,
          {{"GRID_X", launch.grid[0]},
           {"GRID_Y", launch.grid[1]},
           {"GRID_Z", launch.grid[2]},
           {"BLOCK_X", launch.block[0]},
           {"BLOCK_Y", launch.block[1]},
           {"BLOCK_Z", launch.block[2]},
           {"SHARED_BYTES", launch.dynamicSharedMemory},
           {"IMAGE", std::to_string(launch.imageIndex)},
           {"OPERANDS", operands},
           {"PARAMS", llvm::join(params, ",\n        ")},
           {"SHARED_MEMORY_OPT_IN", optIn}});
    }
    os << fillTemplate(kEntryTemplate, lib,
                       {{"NAME", kernel.name},
                        {"PARAMETERS", getTensorParameters(lib, kernel)},
                        {"TENSOR_CHECKS", tensorChecks},
                        {"SHAPE_MISMATCH", llvm::join(conditions, " ||\n      ")},
                        {"LAUNCH_SIZES", launchSizes},
                        {"LAUNCHES", launches}});
  }
}
