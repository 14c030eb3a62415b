//===- Config.cpp - Library configurations and their entry IR -------------===//

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
      if (!value.contains(':')) {
        error = "'window' expects L:R, not '" + value.str() + "'";
        return failure();
      }
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

  // The entry: a function of `argTypes` whose last arguments, from
  // `numInputs` on, are the destinations it returns, around one attention op
  // made by `build` from the arguments, verified.
  auto createEntry = [&](ArrayRef<Type> argTypes, size_t numInputs,
                         function_ref<Operation *(ValueRange, TypeRange)>
                             build) -> FailureOr<func::FuncOp> {
    TypeRange resultTypes = TypeRange(argTypes).drop_front(numInputs);
    auto func = func::FuncOp::create(
        builder, loc, config.name,
        builder.getFunctionType(argTypes, resultTypes));
    Block *body = func.addEntryBlock();
    builder.setInsertionPointToStart(body);
    Operation *op = build(body->getArguments(), resultTypes);
    func::ReturnOp::create(builder, loc, op->getResults());
    if (failed(verify(op))) {
      func.erase();
      return failure();
    }
    return func;
  };

  if (!config.gradType.empty()) {
    // The backward: q, k, v, out, dout, lse in; dq, dk, dv out.
    Type gradType = getElementType(context, config.gradType);
    SmallVector<Type> argTypes = {
        queryType, keyType, valueType, outType, outType, lseType,
        tensorType(config.numQueryHeads, config.headDim, gradType),
        tensorType(config.numKvHeads, config.headDim, gradType),
        tensorType(config.numKvHeads, valueHeadDim, gradType)};
    return createEntry(argTypes, 6, [&](ValueRange args, TypeRange results) {
      return AttentionGradOp::create(
          builder, loc, results, args[0], args[1], args[2], args[3], args[4],
          args[5], args.drop_front(6), /*diagonal_offset=*/Value(), maskAttr,
          windowAttr, scaleAttr);
    });
  }

  SmallVector<Type> argTypes = {queryType, keyType, valueType, outType};
  if (config.withLse)
    argTypes.push_back(lseType);
  return createEntry(argTypes, 3, [&](ValueRange args, TypeRange results) {
    return AttentionOp::create(builder, loc, results, args[0], args[1],
                               args[2], args.drop_front(3),
                               /*diagonal_offset=*/Value(), maskAttr,
                               windowAttr, scaleAttr);
  });
}
