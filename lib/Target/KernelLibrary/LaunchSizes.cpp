//===- LaunchSizes.cpp - Launch sizes in C --------------------------------===//

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
LogicalResult
mlir::sqa::library_detail::extractLaunches(StringRef lib, func::FuncOp host,
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
