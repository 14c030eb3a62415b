//===- KernelLibrary.cpp - Generated GPU kernel libraries -----------------===//

#include "sqa/Target/KernelLibrary.h"

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

//===----------------------------------------------------------------------===//
// Configurations
//===----------------------------------------------------------------------===//

bool mlir::sqa::isValidKernelLibraryName(StringRef name) {
  // A C identifier that is not reserved to the implementation (a leading
  // underscore followed by an underscore or a capital).
  return !name.empty() && !llvm::isDigit(name.front()) &&
         llvm::all_of(name,
                      [](char c) { return llvm::isAlnum(c) || c == '_'; }) &&
         !(name.size() > 1 && name[0] == '_' &&
           (name[1] == '_' || llvm::isUpper(name[1])));
}

/// The largest head count and head dim a --config may ask for.
static constexpr int64_t kMaxConfigHeads = 65535;
static constexpr int64_t kMaxConfigHeadDim = 4096;

static bool isElementTypeName(StringRef name) {
  return name == "f16" || name == "bf16" || name == "f32";
}

FailureOr<AttentionConfig>
mlir::sqa::parseAttentionConfig(StringRef spec, std::string &error) {
  AttentionConfig config;
  auto [name, fields] = spec.split(':');
  if (!isValidKernelLibraryName(name)) {
    error = "configuration '" + spec.str() +
            "' must start with a C identifier and ':' (NAME:hq=...)";
    return failure();
  }
  config.name = name.str();
  auto parseInt = [&](StringRef key, StringRef text,
                      int64_t &result) -> LogicalResult {
    if (text.getAsInteger(10, result)) {
      error = "'" + key.str() + "' expects an integer, not '" + text.str() +
              "'";
      return failure();
    }
    return success();
  };
  SmallVector<StringRef> items;
  fields.split(items, ',', /*MaxSplit=*/-1, /*KeepEmpty=*/false);
  llvm::StringSet<> seen;
  for (StringRef item : items) {
    auto [key, value] = item.split('=');
    key = key.trim();
    value = value.trim();
    // A repeated field would silently take the last value.
    if (!seen.insert(key).second) {
      error =
          "configuration '" + config.name + "' gives '" + key.str() + "' twice";
      return failure();
    }
    if (key == "hq" || key == "hkv" || key == "d" || key == "dv") {
      int64_t &field = key == "hq"    ? config.numQueryHeads
                       : key == "hkv" ? config.numKvHeads
                       : key == "d"   ? config.headDim
                                      : config.valueHeadDim;
      if (failed(parseInt(key, value, field)))
        return failure();
    } else if (key == "dtype" || key == "out") {
      if (!isElementTypeName(value)) {
        error = "'" + key.str() + "' expects f16, bf16 or f32, not '" +
                value.str() + "'";
        return failure();
      }
      (key == "dtype" ? config.elementType : config.outputType) = value.str();
    } else if (key == "mask") {
      std::optional<MaskKind> mask = symbolizeMaskKind(value);
      if (!mask) {
        error = "'mask' expects none, causal_bottom_right or "
                "causal_top_left, not '" +
                value.str() + "'";
        return failure();
      }
      config.mask = *mask;
    } else if (key == "window") {
      auto [left, right] = value.split(':');
      std::array<int64_t, 2> window;
      if (failed(parseInt("window", left, window[0])) ||
          failed(parseInt("window", right, window[1])))
        return failure();
      config.window = window;
    } else if (key == "scale") {
      double scale;
      if (value.getAsDouble(scale)) {
        error = "'scale' expects a number, not '" + value.str() + "'";
        return failure();
      }
      config.scale = static_cast<float>(scale);
    } else if (key == "lse" && value.empty()) {
      config.withLse = true;
    } else if (key == "grad") {
      // The gradients' type; `grad` alone: the inputs' (set below).
      if (!value.empty() && !isElementTypeName(value)) {
        error = "'grad' expects f16, bf16 or f32 (or no value), not '" +
                value.str() + "'";
        return failure();
      }
      config.gradType = value.empty() ? "same" : value.str();
    } else {
      error = "unknown configuration field '" + item.str() +
              "' (expected hq, hkv, d, dv, dtype, out, mask, window, "
              "scale, lse, grad)";
      return failure();
    }
  }
  if (config.gradType == "same")
    config.gradType = config.elementType;
  if (!config.gradType.empty() && config.withLse) {
    error = "configuration '" + config.name +
            "': 'grad' (the backward) takes the forward's lse as an input; "
            "'lse' is for forward entries";
    return failure();
  }
  for (auto [key, field] :
       {std::pair<StringRef, int64_t>{"hq", config.numQueryHeads},
        {"hkv", config.numKvHeads},
        {"d", config.headDim}}) {
    if (field <= 0) {
      error = "configuration '" + config.name + "' needs a positive '" +
              key.str() + "'";
      return failure();
    }
  }
  // An explicit dv=0 is an error, not the default it would read as.
  if (config.valueHeadDim < 0 ||
      (config.valueHeadDim == 0 && seen.contains("dv"))) {
    error = "configuration '" + config.name +
            "' needs a positive 'dv' (or none: the head dim)";
    return failure();
  }
  // Bounds before any type is built from them: output heads are a grid
  // dimension (at most 65535 blocks in CUDA), and a head dim beyond 4096 is
  // no attention head (the row-wise kernel keeps one in registers).
  for (auto [key, field, limit] :
       {std::tuple<StringRef, int64_t, int64_t>{"hq", config.numQueryHeads,
                                                kMaxConfigHeads},
        {"hkv", config.numKvHeads, kMaxConfigHeads},
        {"d", config.headDim, kMaxConfigHeadDim},
        {"dv", config.valueHeadDim, kMaxConfigHeadDim}}) {
    if (field > limit) {
      error = "configuration '" + config.name + "': '" + key.str() + "' is " +
              std::to_string(field) + ", more than " + std::to_string(limit);
      return failure();
    }
  }
  return config;
}

static Type getElementType(MLIRContext *context, StringRef name) {
  return llvm::StringSwitch<Type>(name)
      .Case("f16", Float16Type::get(context))
      .Case("bf16", BFloat16Type::get(context))
      .Default(Float32Type::get(context));
}

FailureOr<func::FuncOp>
mlir::sqa::buildAttentionFunc(ModuleOp module, const AttentionConfig &config,
                              Location loc) {
  MLIRContext *context = module.getContext();
  context->loadDialect<func::FuncDialect, SQADialect>();
  Type elementType = getElementType(context, config.elementType);
  Type outputType = getElementType(
      context,
      config.outputType.empty() ? config.elementType : config.outputType);
  int64_t dyn = ShapedType::kDynamic;
  int64_t valueHeadDim =
      config.valueHeadDim ? config.valueHeadDim : config.headDim;
  int64_t numOutputHeads = std::max(config.numQueryHeads, config.numKvHeads);
  auto tensorType = [&](int64_t heads, int64_t dim, Type type) -> Type {
    return RankedTensorType::get({dyn, heads, dyn, dim}, type);
  };
  Type queryType =
      tensorType(config.numQueryHeads, config.headDim, elementType);
  Type keyType = tensorType(config.numKvHeads, config.headDim, elementType);
  Type valueType = tensorType(config.numKvHeads, valueHeadDim, elementType);
  Type outType = tensorType(numOutputHeads, valueHeadDim, outputType);
  Type lseType =
      RankedTensorType::get({dyn, numOutputHeads, dyn}, Float32Type::get(context));
  OpBuilder builder = OpBuilder::atBlockEnd(module.getBody());
  auto maskAttr = config.mask == MaskKind::none
                      ? MaskKindAttr()
                      : MaskKindAttr::get(context, config.mask);
  auto windowAttr = config.window ? builder.getDenseI64ArrayAttr(*config.window)
                                  : DenseI64ArrayAttr();
  auto scaleAttr =
      config.scale ? builder.getF32FloatAttr(*config.scale) : FloatAttr();

  if (!config.gradType.empty()) {
    // The backward: q, k, v, out, dout, lse in; dq, dk, dv out.
    Type gradType = getElementType(context, config.gradType);
    SmallVector<Type> argTypes = {
        queryType, keyType, valueType, outType, outType, lseType,
        tensorType(config.numQueryHeads, config.headDim, gradType),
        tensorType(config.numKvHeads, config.headDim, gradType),
        tensorType(config.numKvHeads, valueHeadDim, gradType)};
    ArrayRef<Type> resultTypes = ArrayRef<Type>(argTypes).drop_front(6);
    auto func = func::FuncOp::create(
        builder, loc, config.name,
        builder.getFunctionType(argTypes, resultTypes));
    Block *body = func.addEntryBlock();
    builder.setInsertionPointToStart(body);
    ValueRange args = body->getArguments();
    auto grad = AttentionGradOp::create(
        builder, loc, resultTypes, args[0], args[1], args[2], args[3], args[4],
        args[5], args.drop_front(6), /*diagonal_offset=*/Value(), maskAttr,
        windowAttr, scaleAttr);
    func::ReturnOp::create(builder, loc, grad.getResults());
    if (failed(verify(grad))) {
      func.erase();
      return failure();
    }
    return func;
  }

  SmallVector<Type> argTypes = {queryType, keyType, valueType, outType};
  if (config.withLse)
    argTypes.push_back(lseType);
  ArrayRef<Type> resultTypes = ArrayRef<Type>(argTypes).drop_front(3);
  auto func = func::FuncOp::create(
      builder, loc, config.name,
      builder.getFunctionType(argTypes, resultTypes));
  Block *body = func.addEntryBlock();
  builder.setInsertionPointToStart(body);
  auto attention = AttentionOp::create(
      builder, loc, resultTypes, body->getArgument(0), body->getArgument(1),
      body->getArgument(2), body->getArguments().drop_front(3),
      /*diagonal_offset=*/Value(), maskAttr, windowAttr, scaleAttr);
  func::ReturnOp::create(builder, loc, attention.getResults());
  if (failed(verify(attention))) {
    func.erase();
    return failure();
  }
  return func;
}

//===----------------------------------------------------------------------===//
// Entries
//===----------------------------------------------------------------------===//

namespace {
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
} // namespace

static std::string getTypeName(Type type) {
  if (type.isF16())
    return "f16";
  if (type.isBF16())
    return "bf16";
  return "f32";
}

/// Replaces the attention entry `func` by its library form: memref arguments
/// (query, key, value, out[, lse]; for a backward query, key, value, out,
/// dout, lse, dq, dk, dv) with dynamic strides and a unit innermost stride,
/// read and written in place; records its description in `kernel`.
static LogicalResult convertToLibraryEntry(func::FuncOp func,
                                           LibraryKernel &kernel) {
  auto fail = [&]() {
    return func.emitError()
           << "kernel library entry @" << func.getName()
           << " must return the results of one sqa.attention or "
              "sqa.attention_grad whose inputs are its arguments "
              "(destinations: arguments or tensor.empty)";
  };
  if (func.isExternal() || !func.getBody().hasOneBlock())
    return fail();
  Operation *attention = nullptr;
  for (Operation &op : func.getBody().front()) {
    if (isa<AttentionOp, AttentionGradOp>(op)) {
      if (attention)
        return fail();
      attention = &op;
    } else if (!isa<tensor::EmptyOp, func::ReturnOp>(op)) {
      return fail();
    }
  }
  if (!attention)
    return fail();
  auto interface = cast<AttentionOpInterface>(attention);
  auto dps = cast<DestinationStyleOpInterface>(attention);
  if (interface.getDiagonalOffset())
    return fail();
  auto isArgument = [&](Value value) {
    auto arg = dyn_cast<BlockArgument>(value);
    return arg && arg.getOwner() == &func.getBody().front();
  };
  SmallVector<Value> inputs = llvm::to_vector(dps.getDpsInputs());
  if (!llvm::all_of(inputs, isArgument))
    return fail();
  for (Value init : dps.getDpsInits())
    if (!isArgument(init) && !init.getDefiningOp<tensor::EmptyOp>())
      return fail();
  auto returnOp = cast<func::ReturnOp>(func.getBody().front().getTerminator());
  if (returnOp.getOperands() != ValueRange(attention->getResults()))
    return fail();

  kernel.name = func.getName().str();
  kernel.isBackward = isa<AttentionGradOp>(attention);
  kernel.numQueryHeads = interface.getNumQueryHeads();
  kernel.numKvHeads = interface.getNumKvHeads();
  kernel.numOutputHeads = interface.getNumOutputHeads();
  kernel.headDim = interface.getHeadDim();
  kernel.valueHeadDim = interface.getValueHeadDim();
  kernel.elementType = getTypeName(interface.getQueryType().getElementType());
  // The forward's output, or the backward's out and dout.
  kernel.outputType = getTypeName(
      cast<ShapedType>(attention->getOperand(3).getType()).getElementType());
  kernel.mask = stringifyMaskKind(interface.getMaskKind()).str();
  if (std::optional<ArrayRef<int64_t>> window = interface.getWindow())
    kernel.window = {(*window)[0], (*window)[1]};
  kernel.scale = interface.getScaleOrDefault();

  // Any strides with a unit innermost one: [B, H, S, D] and [B, S, H, D]
  // tensors are both views of this type.
  auto getMemRefType = [](Value tensor) {
    auto type = cast<RankedTensorType>(tensor.getType());
    SmallVector<int64_t> strides(type.getRank(), ShapedType::kDynamic);
    strides.back() = 1;
    return MemRefType::get(
        type.getShape(), type.getElementType(),
        StridedLayoutAttr::get(type.getContext(), /*offset=*/0, strides));
  };
  SmallVector<Value> tensors = inputs;
  llvm::append_range(tensors, dps.getDpsInits());
  kernel.numInputs = inputs.size();
  if (kernel.isBackward)
    kernel.tensorNames = {"q",  "k",   "v",  "out", "dout",
                          "lse", "dq", "dk", "dv"};
  else
    kernel.tensorNames = {"q", "k", "v", "out", "lse"};
  kernel.tensorNames.resize(tensors.size());
  for (Value tensor : tensors)
    kernel.tensorTypes.push_back(getMemRefType(tensor));

  OpBuilder builder(func);
  Location loc = func.getLoc();
  auto entry = func::FuncOp::create(
      builder, loc, func.getName(),
      builder.getFunctionType(llvm::to_vector_of<Type>(kernel.tensorTypes), {}));
  Block *body = entry.addEntryBlock();
  builder.setInsertionPointToStart(body);
  // The tensors are distinct buffers (restrict); the destinations are
  // written in place (writable). The operands are set one by one, not
  // through an IRMapping: an entry may pass one argument as several of them.
  SmallVector<Value> views;
  for (auto [index, tensor] : llvm::enumerate(tensors)) {
    bool isDestination = index >= kernel.numInputs;
    views.push_back(bufferization::ToTensorOp::create(
        builder, loc, tensor.getType(), body->getArgument(index),
        /*restrict=*/true, /*writable=*/isDestination));
  }
  Operation *clone = builder.clone(*attention);
  clone->setOperands(views);
  for (auto [result, buffer] :
       llvm::zip_equal(clone->getResults(),
                       body->getArguments().drop_front(kernel.numInputs))) {
    bufferization::MaterializeInDestinationOp::create(
        builder, loc, /*result=*/Type(), result, buffer, /*restrict=*/true,
        /*writable=*/true);
  }
  func::ReturnOp::create(builder, loc);
  func.erase();
  return success();
}

//===----------------------------------------------------------------------===//
// The launch configuration in C
//===----------------------------------------------------------------------===//

namespace {
/// Translates the host-side computation of a launch's sizes (constants,
/// memref.dim of the entry's arguments, index arithmetic) into C statements.
/// Hand-written rather than through EmitC: upstream has no conversion of
/// memref.dim on function arguments, and the launcher must read the sizes
/// from its own tensor descriptors.
///
/// Arithmetic that can overflow calls the launcher's checked helpers
/// (`<lib>_add(&overflow, a, b)`, `_sub`, `_mul`, `_div`, `_rem`,
/// `_ceildiv`): the sizes are the caller's, and the launch function refuses
/// the launch when `overflow` is set after the statements.
class LaunchSizeEmitter {
public:
  LaunchSizeEmitter(StringRef lib, ArrayRef<std::string> tensorNames,
                    SmallVectorImpl<std::string> &statements)
      : lib(lib), tensorNames(tensorNames), statements(statements) {}

  /// Returns a C expression for `value`, adding the statements it needs.
  FailureOr<std::string> emit(Value value);

private:
  FailureOr<std::string> emitOp(Operation *op);

  StringRef lib;
  ArrayRef<std::string> tensorNames;
  SmallVectorImpl<std::string> &statements;
  DenseMap<Value, std::string> names;
};
} // namespace

FailureOr<std::string> LaunchSizeEmitter::emit(Value value) {
  auto it = names.find(value);
  if (it != names.end())
    return it->second;
  Operation *op = value.getDefiningOp();
  if (!op || op->getNumResults() != 1 ||
      !value.getType().isIntOrIndex()) {
    emitError(value.getLoc())
        << "the launch configuration depends on a value the kernel library "
           "cannot compute in C";
    return failure();
  }
  FailureOr<std::string> expr = emitOp(op);
  if (failed(expr))
    return failure();
  std::string name = "t" + std::to_string(names.size());
  statements.push_back("const int64_t " + name + " = " + *expr + ";");
  names[value] = name;
  return name;
}

FailureOr<std::string> LaunchSizeEmitter::emitOp(Operation *op) {
  // A size of an argument: the launcher's tensor descriptor has it.
  if (auto dim = dyn_cast<memref::DimOp>(op)) {
    auto arg = dyn_cast<BlockArgument>(dim.getSource());
    std::optional<int64_t> index = dim.getConstantIndex();
    if (arg && index && arg.getArgNumber() < tensorNames.size())
      return tensorNames[arg.getArgNumber()] + "->shape[" +
             std::to_string(*index) + "]";
  }
  SmallVector<std::string> operands;
  for (Value operand : op->getOperands()) {
    FailureOr<std::string> expr = emit(operand);
    if (failed(expr))
      return failure();
    operands.push_back(*expr);
  }
  auto binary = [&](StringRef symbol) {
    return ("(" + operands[0] + " " + symbol + " " + operands[1] + ")").str();
  };
  auto checked = [&](StringRef helper) {
    return llvm::formatv("{0}_{1}(&overflow, {2}, {3})", lib, helper,
                         operands[0], operands[1])
        .str();
  };
  // Divisions by a value only known at run time are left out: the
  // launcher would have to guard them.
  auto hasConstantDivisor = [&](Operation *op) {
    APInt divisor;
    return matchPattern(op->getOperand(1), m_ConstantInt(&divisor)) &&
           !divisor.isZero();
  };
  std::optional<std::string> expr =
      llvm::TypeSwitch<Operation *, std::optional<std::string>>(op)
          .Case([&](arith::ConstantOp constant) -> std::optional<std::string> {
            auto attr = dyn_cast<IntegerAttr>(constant.getValue());
            if (!attr)
              return std::nullopt;
            return "INT64_C(" + std::to_string(attr.getInt()) + ")";
          })
          .Case([&](arith::AddIOp) { return checked("add"); })
          .Case([&](arith::SubIOp) { return checked("sub"); })
          .Case([&](arith::MulIOp) { return checked("mul"); })
          .Case([&](arith::AndIOp) { return binary("&"); })
          .Case([&](arith::OrIOp) { return binary("|"); })
          .Case([&](arith::DivSIOp op) -> std::optional<std::string> {
            if (!hasConstantDivisor(op))
              return std::nullopt;
            return checked("div");
          })
          .Case([&](arith::RemSIOp op) -> std::optional<std::string> {
            if (!hasConstantDivisor(op))
              return std::nullopt;
            return checked("rem");
          })
          .Case([&](arith::CeilDivSIOp op) -> std::optional<std::string> {
            if (!hasConstantDivisor(op))
              return std::nullopt;
            return checked("ceildiv");
          })
          .Case([&](arith::MaxSIOp) {
            return llvm::formatv("({0} > {1} ? {0} : {1})", operands[0],
                                 operands[1])
                .str();
          })
          .Case([&](arith::MinSIOp) {
            return llvm::formatv("({0} < {1} ? {0} : {1})", operands[0],
                                 operands[1])
                .str();
          })
          .Case([&](arith::SelectOp) {
            return llvm::formatv("({0} ? {1} : {2})", operands[0], operands[1],
                                 operands[2])
                .str();
          })
          .Case([&](arith::CmpIOp cmp) {
            // slt -> "<", ult -> "<" on unsigned operands, eq -> "==", ...
            StringRef name = arith::stringifyCmpIPredicate(cmp.getPredicate());
            bool isUnsigned = name.consume_front("u");
            name.consume_front("s");
            StringRef symbol = llvm::StringSwitch<StringRef>(name)
                                   .Case("eq", "==")
                                   .Case("ne", "!=")
                                   .Case("lt", "<")
                                   .Case("le", "<=")
                                   .Case("gt", ">")
                                   .Case("ge", ">=");
            if (!isUnsigned)
              return binary(symbol);
            return llvm::formatv("((uint64_t){0} {1} (uint64_t){2})",
                                 operands[0], symbol, operands[1])
                .str();
          })
          .Case<arith::IndexCastOp, arith::IndexCastUIOp, arith::ExtSIOp>(
              [&](Operation *) { return operands[0]; })
          .Default([](Operation *) { return std::nullopt; });
  if (!expr) {
    op->emitError() << "kernel library: cannot compute '" << op->getName()
                    << "' of the launch configuration in C";
    return failure();
  }
  return *expr;
}

/// Records in `kernel` how the gpu.launch_func ops of `host` are called, in
/// their order.
static LogicalResult extractLaunches(StringRef lib, func::FuncOp host,
                                     LibraryKernel &kernel) {
  SmallVector<gpu::LaunchFuncOp> launches;
  host.walk([&](gpu::LaunchFuncOp launch) { launches.push_back(launch); });
  if (launches.empty())
    return host.emitError() << "kernel library: no kernel launch in @"
                            << host.getName();
  // The launches must run one after the other, unconditionally.
  for (gpu::LaunchFuncOp launch : launches)
    if (launch->getBlock() != &host.getBody().front())
      return launch.emitError()
             << "kernel library: the launches of @" << host.getName()
             << " must be in its entry block";
  LaunchSizeEmitter emitter(lib, kernel.tensorNames, kernel.setup);
  for (gpu::LaunchFuncOp launch : launches) {
    LibraryLaunch &record = kernel.launches.emplace_back();
    if (launch.hasClusterSize() || launch.getAsyncToken())
      return launch.emitError() << "kernel library: clusters and async "
                                   "launches are not supported";
    for (auto [index, operand] : llvm::enumerate(launch.getKernelOperands())) {
      auto arg = dyn_cast<BlockArgument>(operand);
      if (!arg || arg.getOwner() != &host.getBody().front())
        return launch.emitError()
               << "kernel library: kernel operand #" << index
               << " is not one of the tensors of @" << host.getName();
      record.kernelOperands.push_back(arg.getArgNumber());
    }
    gpu::KernelDim3 grid = launch.getGridSizeOperandValues();
    gpu::KernelDim3 block = launch.getBlockSizeOperandValues();
    Value sizes[] = {grid.x, grid.y, grid.z, block.x, block.y, block.z};
    for (auto [index, size] : llvm::enumerate(sizes)) {
      FailureOr<std::string> expr = emitter.emit(size);
      if (failed(expr))
        return failure();
      (index < 3 ? record.grid[index] : record.block[index - 3]) = *expr;
    }
    if (Value sharedMemory = launch.getDynamicSharedMemorySize()) {
      FailureOr<std::string> expr = emitter.emit(sharedMemory);
      if (failed(expr))
        return failure();
      record.dynamicSharedMemory = *expr;
    }
    record.kernelModule = launch.getKernelModuleName().str();
    record.kernelFunction = launch.getKernelName().str();
  }
  return success();
}

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

/// Instantiates a template for library `lib`, with `generated` at `marker`.
static std::string instantiateTemplate(StringRef text, StringRef lib,
                                       StringRef marker = "",
                                       StringRef generated = "") {
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
static bool isPlainChipName(StringRef chip) {
  return chip.consume_front("sm_") && !chip.empty() &&
         llvm::all_of(chip, llvm::isDigit) && chip.size() <= 3;
}

/// The compute capability of `chip` as one number (sm_86 -> 86, sm_100 ->
/// 100); a suffix (sm_90a) is ignored.
static int getComputeCapabilityNumber(StringRef chip) {
  unsigned number = 0;
  chip.drop_front(3).take_while(llvm::isDigit).getAsInteger(10, number);
  return static_cast<int>(number);
}

/// (major, minor) of `chip`: sm_80 -> 8.0, sm_86 -> 8.6, sm_100 -> 10.0.
static std::pair<int, int> getComputeCapability(StringRef chip) {
  int number = getComputeCapabilityNumber(chip);
  return {number / 10, number % 10};
}

static std::string getCubinFileName(StringRef kernel, StringRef chip) {
  return (kernel + "." + chip + ".cubin").str();
}

static void writeHeader(raw_ostream &os, StringRef lib,
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

static void writeLauncher(raw_ostream &os, StringRef lib,
                          ArrayRef<LibraryKernel> kernels, StringRef chip) {
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

static void writeManifest(raw_ostream &os, StringRef lib,
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
          json.attribute("lse", !kernel.isBackward &&
                                    kernel.tensorNames.size() == 5);
          json.attribute("backward", kernel.isBackward);
          if (kernel.isBackward)
            json.attribute("grad_dtype",
                           getTypeName(kernel.tensorTypes.back()
                                           .getElementType()));
          json.attribute("tensors", llvm::json::Array(kernel.tensorNames));
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
  std::string templates = instantiateTemplate(kLauncherTemplate, lib) +
                          instantiateTemplate(kLibraryHeaderTemplate, lib);
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
                                os << instantiateTemplate(kConfigTemplate, lib);
                              })))
    return failure();
  return success();
}
