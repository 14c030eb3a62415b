//===- sqa-run.cpp - JIT-run a function on .npy inputs --------------------===//
//
// sqa-run FILE.mlir -e FUNC -i a.npy ... -o out.npy ...
//
// Lowers FILE with the CPU pipeline, JIT-compiles it, calls FUNC with the
// tensors read from the -i files (in argument order) and writes each result
// to the matching -o file. Tensor arguments cross the boundary as memref
// descriptors through FUNC's C interface (llvm.emit_c_interface).
//
//===----------------------------------------------------------------------===//

#include "Npy.h"

#include "sqa/Dialect/SQA/IR/SQAOps.h"
#include "sqa/Dialect/SQA/Transforms/Transforms.h"
#include "sqa/InitAll.h"
#include "sqa/Tools/ParseGuard.h"
#include "sqa/Tools/Version.h"
#include "sqa/Pipelines/Pipelines.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/IR/AsmState.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/DebugStringHelper.h"
#include "mlir/Support/Timing.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/ScopeExit.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/TargetSelect.h"

#include <cstdlib>
#include <cstring>

using namespace mlir;

namespace cl = llvm::cl;

static cl::OptionCategory runCategory("sqa-run options");
static cl::opt<std::string> inputFilename(cl::Positional, cl::Required,
                                          cl::desc("<input .mlir file>"),
                                          cl::cat(runCategory));
static cl::opt<std::string> entryPoint("e", cl::Required,
                                       cl::desc("Function to run"),
                                       cl::value_desc("name"),
                                       cl::cat(runCategory));
static cl::list<std::string>
    inputFiles("i",
               cl::desc("Input .npy file, one per function argument, in order"),
               cl::value_desc("file.npy"), cl::cat(runCategory));
static cl::list<std::string>
    outputFiles("o",
                cl::desc("Output .npy file, one per function result, in order"),
                cl::value_desc("file.npy"), cl::cat(runCategory));
static cl::opt<sqa::AttentionLowering> lowering(
    "lowering", cl::init(sqa::AttentionLowering::Reference),
    cl::desc("How sqa.attention is lowered"),
    cl::values(clEnumValN(sqa::AttentionLowering::Reference, "reference",
                          "naive linalg ops with materialised scores"),
               clEnumValN(sqa::AttentionLowering::Rowwise, "rowwise",
                          "online-softmax loops (the GPU kernel's algorithm)"),
               clEnumValN(sqa::AttentionLowering::Tiled, "tiled",
                          "FlashAttention tiling (sqa-tile-and-fuse)"),
               clEnumValN(sqa::AttentionLowering::TensorCore, "tensor-core",
                          "the sm_80 tensor-core kernel (convert-sqa-to-nvgpu) "
                          "with one OpenMP thread per GPU thread")),
    cl::cat(runCategory));
static cl::opt<int64_t>
    queryBlock("q-block", cl::init(64),
               cl::desc("Query rows per tile (tiled) or per block "
                        "(tensor-core: whole warps of --warp-rows rows, "
                        "up to 16 warps)"),
               cl::cat(runCategory));
static cl::opt<int64_t>
    warpRows("warp-rows", cl::init(16),
             cl::desc("Query rows per warp (tensor-core: 16 or 32)"),
             cl::cat(runCategory));
static cl::opt<int64_t> keyBlock("kv-block", cl::init(64),
                                 cl::desc("Keys per online-softmax step "
                                          "(tiled, tensor-core)"),
                                 cl::cat(runCategory));
static cl::opt<bool> rawBF16(
    "raw-bf16", cl::init(false),
    cl::desc("Exchange bf16 tensors as raw 16-bit words (.npy dtype <u2)"),
    cl::cat(runCategory));

namespace {
/// A memref descriptor for a rank-R memref, laid out as MLIR's LLVM lowering
/// defines it: {allocated ptr, aligned ptr, offset, sizes[R], strides[R]},
/// every field 8 bytes wide.
struct MemRefDescriptor {
  explicit MemRefDescriptor(int64_t rank) : fields(3 + 2 * rank, 0) {}
  int64_t getRank() const { return (fields.size() - 3) / 2; }
  void *getAligned() const { return reinterpret_cast<void *>(fields[1]); }
  int64_t getOffset() const { return fields[2]; }
  int64_t getSize(int64_t dim) const { return fields[3 + dim]; }
  int64_t getStride(int64_t dim) const { return fields[3 + getRank() + dim]; }

  SmallVector<int64_t> fields;
};
} // namespace

static int fail(const Twine &message) {
  llvm::errs() << "sqa-run: error: " << message << "\n";
  return EXIT_FAILURE;
}

/// The .npy dtype that carries `elementType`, or "" if there is none.
static std::string getNpyDescr(Type elementType) {
  if (elementType.isF32())
    return "<f4";
  if (elementType.isF16())
    return "<f2";
  if (elementType.isBF16())
    return rawBF16 ? "<u2" : "";
  return "";
}

static std::string shapeToString(ArrayRef<int64_t> shape) {
  std::string str = "(";
  for (auto [i, dim] : llvm::enumerate(shape))
    str += (i ? ", " : "") + std::to_string(dim);
  return str + ")";
}

/// Checks the sizes that sqa.attention and sqa.attention_grad ops in `func`
/// require to agree (batch, Sq, Skv) on the arguments that feed them
/// (directly or through tensor.cast): with dynamic sizes the verifier
/// cannot, and a mismatch would read or write out of bounds.
static LogicalResult checkAttentionSizes(func::FuncOp func,
                                         ArrayRef<npy::NpyHeader> inputs) {
  auto shapeOf = [&](Value value) -> std::optional<ArrayRef<int64_t>> {
    // tensor.cast keeps the sizes: look through it to the argument.
    while (auto cast = value.getDefiningOp<tensor::CastOp>())
      value = cast.getSource();
    auto arg = dyn_cast<BlockArgument>(value);
    if (!arg || arg.getOwner() != &func.getBody().front())
      return std::nullopt;
    return ArrayRef<int64_t>(inputs[arg.getArgNumber()].shape);
  };
  struct Use {
    Value value;
    unsigned dim;
    StringRef name;
  };
  auto check = [&](Operation *op, StringRef what, ArrayRef<Use> uses) {
    std::optional<int64_t> expected;
    StringRef first;
    for (const Use &use : uses) {
      std::optional<ArrayRef<int64_t>> shape = shapeOf(use.value);
      if (!shape)
        continue;
      int64_t size = (*shape)[use.dim];
      if (!expected) {
        expected = size;
        first = use.name;
      } else if (*expected != size) {
        op->emitError() << "the " << what << " of " << use.name << " (" << size
                        << ") differs from that of " << first << " ("
                        << *expected << ")";
        return false;
      }
    }
    return true;
  };
  // Every operand of an op, by the sizes it shares: batch (dim 0), the query
  // sequence (dim 2 of rows-of-queries operands), the key sequence.
  auto checkOp = [&](Operation *op, ArrayRef<Use> queryRows,
                     ArrayRef<Use> keyRows) {
    SmallVector<Use> batch;
    for (const Use &use : llvm::concat<const Use>(queryRows, keyRows))
      batch.push_back({use.value, 0, use.name});
    return check(op, "batch size", batch) &&
           check(op, "query sequence length", queryRows) &&
           check(op, "key/value sequence length", keyRows);
  };
  WalkResult result = func.walk([&](Operation *op) {
    bool ok = true;
    if (auto attention = dyn_cast<sqa::AttentionOp>(op)) {
      SmallVector<Use> queryRows = {{attention.getQuery(), 2, "query"},
                                    {attention.getOutput(), 2, "out"}};
      if (Value lse = attention.getLse())
        queryRows.push_back({lse, 2, "lse"});
      ok = checkOp(
          op, queryRows,
          {{attention.getKey(), 2, "key"}, {attention.getValue(), 2, "value"}});
    } else if (auto grad = dyn_cast<sqa::AttentionGradOp>(op)) {
      ok = checkOp(op,
                   {{grad.getQuery(), 2, "query"},
                    {grad.getOut(), 2, "out"},
                    {grad.getDout(), 2, "dout"},
                    {grad.getLse(), 2, "lse"},
                    {grad.getQueryGrad(), 2, "dq"}},
                   {{grad.getKey(), 2, "key"},
                    {grad.getValue(), 2, "value"},
                    {grad.getKeyGrad(), 2, "dk"},
                    {grad.getValueGrad(), 2, "dv"}});
    }
    return ok ? WalkResult::advance() : WalkResult::interrupt();
  });
  return failure(result.wasInterrupted());
}

int main(int argc, char **argv) {
  llvm::InitLLVM y(argc, argv);
  mlir::sqa::registerVersionPrinter();
  llvm::InitializeNativeTarget();
  llvm::InitializeNativeTargetAsmPrinter();
  sqa::registerAllPasses();
  cl::HideUnrelatedOptions(runCategory);
  // MLIR's debugging options, as sqa-opt has them: printing IR around passes,
  // pass timing and statistics, and the IR printer's options.
  registerAsmPrinterCLOptions();
  registerMLIRContextCLOptions();
  registerPassManagerCLOptions();
  registerDefaultTimingManagerCLOptions();
  cl::ParseCommandLineOptions(
      argc, argv,
      "sqa-run: lower an .mlir file for the CPU, JIT-run one function on "
      ".npy inputs and write its results as .npy\n");

  if (queryBlock <= 0 || keyBlock <= 0 ||
      queryBlock > sqa::kMaxAttentionBlock ||
      keyBlock > sqa::kMaxAttentionBlock)
    return fail("--q-block and --kv-block must be in [1, " +
                Twine(sqa::kMaxAttentionBlock) + "]");
  bool warpBlocks = lowering == sqa::AttentionLowering::TensorCore;
  if (warpRows != 16 && warpRows != 32)
    return fail("--warp-rows must be 16 or 32");
  if (warpBlocks &&
      (queryBlock % warpRows != 0 || queryBlock > 16 * warpRows))
    return fail("--q-block of the tensor-core lowering must be a multiple "
                "of --warp-rows up to 16 warps");

  DialectRegistry registry;
  sqa::registerAllDialects(registry);
  MLIRContext context(registry);

  llvm::SourceMgr sourceMgr;
  SourceMgrDiagnosticHandler diagHandler(sourceMgr, &context);
  OwningOpRef<ModuleOp> module =
      sqa::parseSourceFileGuarded(inputFilename, sourceMgr, &context);
  if (!module)
    return EXIT_FAILURE;

  auto func = module->lookupSymbol<func::FuncOp>(entryPoint);
  if (!func || func.isExternal())
    return fail("no function '" + entryPoint + "' with a body in " +
                inputFilename);
  FunctionType funcType = func.getFunctionType();

  // Read and check the inputs against the signature before compiling.
  if (inputFiles.size() != funcType.getNumInputs())
    return fail("'" + entryPoint + "' takes " + Twine(funcType.getNumInputs()) +
                " arguments, but " + Twine(inputFiles.size()) +
                " -i files were given");
  if (outputFiles.size() != funcType.getNumResults())
    return fail("'" + entryPoint + "' returns " +
                Twine(funcType.getNumResults()) + " results, but " +
                Twine(outputFiles.size()) + " -o files were given");
  auto checkTensorType = [&](Type type, StringRef what,
                             unsigned index) -> FailureOr<RankedTensorType> {
    auto tensorType = dyn_cast<RankedTensorType>(type);
    if (!tensorType || getNpyDescr(tensorType.getElementType()).empty()) {
      std::string hint = tensorType && tensorType.getElementType().isBF16()
                             ? " (pass --raw-bf16 to exchange bf16 as <u2)"
                             : "";
      fail(what + " #" + Twine(index) + " has type " + debugString(type) +
           ": sqa-run supports ranked tensors of f32, f16 and bf16" + hint);
      return failure();
    }
    return tensorType;
  };

  // Headers only: every shape and dtype is checked before any payload is
  // read or allocated for (a 2 GiB input of the wrong shape fails at once).
  SmallVector<npy::NpyHeader> inputs;
  for (auto [index, type, path] :
       llvm::enumerate(funcType.getInputs(), inputFiles)) {
    FailureOr<RankedTensorType> tensorType =
        checkTensorType(type, "argument", index);
    if (failed(tensorType))
      return EXIT_FAILURE;
    llvm::Expected<npy::NpyHeader> array = npy::readNpyHeader(path);
    if (!array)
      return fail(llvm::toString(array.takeError()));
    std::string descr = getNpyDescr(tensorType->getElementType());
    if (array->descr != descr)
      return fail(path + ": dtype '" + array->descr + "' does not match " +
                  debugString(tensorType->getElementType()) + " of argument #" +
                  Twine(index) + " (expected '" + descr + "')");
    if (static_cast<int64_t>(array->shape.size()) != tensorType->getRank())
      return fail(path + ": shape " + shapeToString(array->shape) +
                  " does not match argument #" + Twine(index) + " of type " +
                  debugString(*tensorType) + " (rank differs)");
    for (auto [dim, size] : llvm::enumerate(tensorType->getShape()))
      if (!ShapedType::isDynamic(size) && size != array->shape[dim])
        return fail(path + ": shape " + shapeToString(array->shape) +
                    " does not match argument #" + Twine(index) + " of type " +
                    debugString(*tensorType));
    inputs.push_back(std::move(*array));
  }
  for (auto [index, type] : llvm::enumerate(funcType.getResults()))
    if (failed(checkTensorType(type, "result", index)))
      return EXIT_FAILURE;
  if (failed(checkAttentionSizes(func, inputs)))
    return EXIT_FAILURE;
  // The backward has the reference, tiled and tensor-core lowerings.
  if (lowering != sqa::AttentionLowering::Reference &&
      lowering != sqa::AttentionLowering::Tiled &&
      lowering != sqa::AttentionLowering::TensorCore) {
    WalkResult grad = module->walk([](sqa::AttentionGradOp op) {
      op.emitError() << "sqa.attention_grad has the reference, tiled and "
                        "tensor-core lowerings: run it with "
                        "--lowering=reference, tiled or tensor-core";
      return WalkResult::interrupt();
    });
    if (grad.wasInterrupted())
      return EXIT_FAILURE;
  }

  // Lower for the CPU.
  func->setAttr(LLVM::LLVMDialect::getEmitCWrapperAttrName(),
                UnitAttr::get(&context));
  PassManager pm(&context);
  sqa::CPUPipelineOptions options;
  options.lowering = lowering;
  options.queryBlock = queryBlock;
  options.keyBlock = keyBlock;
  options.warpRows = warpRows;
  sqa::buildCPUPipeline(pm, options);
  if (failed(applyPassManagerCLOptions(pm)))
    return fail("invalid pass manager options (--mlir-print-ir-*, "
                "--mlir-pass-statistics)");
  applyDefaultTimingPassManagerCLOptions(pm);
  if (failed(pm.run(*module)))
    return fail("lowering " + inputFilename + " for the CPU failed");

  ExecutionEngineOptions engineOptions;
  auto transformer = makeOptimizingTransformer(/*optLevel=*/2,
                                               /*sizeLevel=*/0, nullptr);
  engineOptions.transformer = transformer;
  // The tensor-core lowering runs GPU threads on OpenMP threads.
  SmallVector<StringRef> sharedLibs;
  if (lowering == sqa::AttentionLowering::TensorCore) {
#ifdef SQA_LIBOMP_PATH
    sharedLibs.push_back(SQA_LIBOMP_PATH);
#else
    return fail("the tensor-core lowering needs the OpenMP runtime, which "
                "was not found when sqa-run was built (libomp-22-dev)");
#endif
  }
  engineOptions.sharedLibPaths = sharedLibs;
  auto engine = ExecutionEngine::create(*module, engineOptions);
  if (!engine)
    return fail("JIT compilation failed: " +
                llvm::toString(engine.takeError()));

  // Arguments: one descriptor per input over its payload, read straight
  // from the file into a buffer aligned for vector loads (one copy).
  SmallVector<MemRefDescriptor> argDescriptors;
  SmallVector<void *> buffers;
  llvm::scope_exit releaseBuffers([&] {
    for (void *buffer : buffers)
      std::free(buffer);
  });
  for (auto [array, path] : llvm::zip_equal(inputs, inputFiles)) {
    int64_t rank = array.shape.size();
    size_t bytes = std::max<size_t>(array.payloadSize, 1);
    void *buffer = std::aligned_alloc(64, (bytes + 63) / 64 * 64);
    if (!buffer)
      return fail(path + ": out of memory for its " +
                  Twine(array.payloadSize) + " bytes");
    buffers.push_back(buffer);
    if (llvm::Error error =
            npy::readNpyPayload(path, array, static_cast<char *>(buffer)))
      return fail(llvm::toString(std::move(error)));
    MemRefDescriptor &desc = argDescriptors.emplace_back(rank);
    desc.fields[0] = desc.fields[1] = reinterpret_cast<int64_t>(buffer);
    int64_t stride = 1;
    for (int64_t dim = rank - 1; dim >= 0; --dim) {
      desc.fields[3 + dim] = array.shape[dim];
      desc.fields[3 + rank + dim] = stride;
      stride *= array.shape[dim];
    }
  }

  // Results: the C interface writes them, as consecutive descriptors, to
  // the struct its first argument points to.
  SmallVector<int64_t> resultRanks;
  int64_t resultFields = 0;
  for (Type type : funcType.getResults()) {
    resultRanks.push_back(cast<RankedTensorType>(type).getRank());
    resultFields += 3 + 2 * resultRanks.back();
  }
  SmallVector<int64_t> resultStorage(std::max<int64_t>(resultFields, 1), 0);
  void *resultPtr = resultStorage.data();

  SmallVector<void *> argPtrs;
  for (MemRefDescriptor &desc : argDescriptors)
    argPtrs.push_back(desc.fields.data());
  SmallVector<void *> packedArgs;
  if (!funcType.getResults().empty())
    packedArgs.push_back(&resultPtr);
  for (void *&ptr : argPtrs)
    packedArgs.push_back(&ptr);
  if (llvm::Error error =
          (*engine)->invokePacked("_mlir_ciface_" + entryPoint, packedArgs))
    return fail("invocation failed: " + llvm::toString(std::move(error)));

  // Copy each result out through its sizes and strides.
  int64_t fieldOffset = 0;
  for (auto [index, type, path] :
       llvm::enumerate(funcType.getResults(), outputFiles)) {
    auto tensorType = cast<RankedTensorType>(type);
    int64_t rank = resultRanks[index];
    MemRefDescriptor desc(rank);
    std::copy_n(resultStorage.begin() + fieldOffset, 3 + 2 * rank,
                desc.fields.begin());
    fieldOffset += 3 + 2 * rank;

    npy::NpyArray array;
    array.descr = getNpyDescr(tensorType.getElementType());
    for (int64_t dim = 0; dim < rank; ++dim)
      array.shape.push_back(desc.getSize(dim));
    int64_t elementSize = tensorType.getElementTypeBitWidth() / 8;
    int64_t numElements = array.getNumElements();
    array.data.resize(numElements * elementSize);
    const char *base = static_cast<const char *>(desc.getAligned());
    SmallVector<int64_t> position(rank, 0);
    for (int64_t linear = 0; linear < numElements; ++linear) {
      int64_t offset = desc.getOffset();
      for (int64_t dim = 0; dim < rank; ++dim)
        offset += position[dim] * desc.getStride(dim);
      std::memcpy(array.data.data() + linear * elementSize,
                  base + offset * elementSize, elementSize);
      for (int64_t dim = rank - 1; dim >= 0; --dim) {
        if (++position[dim] < desc.getSize(dim))
          break;
        position[dim] = 0;
      }
    }
    if (llvm::Error error = npy::writeNpy(path, array))
      return fail(llvm::toString(std::move(error)));
  }
  return EXIT_SUCCESS;
}
