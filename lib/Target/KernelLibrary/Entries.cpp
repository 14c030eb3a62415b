//===- Entries.cpp - Entries in the library's ABI form --------------------===//

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
// Entries
//===----------------------------------------------------------------------===//


std::string
mlir::sqa::library_detail::getTypeName(Type type) {
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
LogicalResult
mlir::sqa::library_detail::convertToLibraryEntry(func::FuncOp func,
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
  kernel.isDefaultScale = !interface.getScale();

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
