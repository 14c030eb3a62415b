//===- ParseGuard.cpp - Parsing that survives upstream parser crashes -----===//

#include "sqa/Tools/ParseGuard.h"

#include "mlir/IR/AsmState.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/OperationSupport.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Support/FileUtilities.h"
#include "llvm/Support/CrashRecoveryContext.h"
#include "llvm/Support/ErrorHandling.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;

static constexpr const char kCrashMessage[] =
    "MLIR's parser crashed on this input, which is malformed (an upstream "
    "bug; docs/testing.md, 'Inputs that crash upstream MLIR')";

/// Runs `parse` under a crash recovery context; returns false if it crashed.
/// A failed allocation of a size read from garbage ("LLVM ERROR: out of
/// memory") is a crash too: LLVM's handler would abort without a context to
/// return to, so the parse gets one that returns to the recovery context.
static bool runRecovering(function_ref<void()> parse) {
  llvm::CrashRecoveryContext::Enable();
  llvm::install_bad_alloc_error_handler(
      [](void *, const char *, bool) {
        if (auto *current = llvm::CrashRecoveryContext::GetCurrent())
          current->HandleExit(1);
        llvm::errs() << "sqa: out of memory\n";
        abort();
      },
      nullptr);
  llvm::CrashRecoveryContext recovery;
  bool survived = recovery.RunSafely(parse);
  llvm::remove_bad_alloc_error_handler();
  return survived;
}

/// Whether `op` holds a static list entry equal to ShapedType::kDynamic
/// (INT64_MIN), the marker upstream uses for "the next dynamic operand", in
/// an attribute or a property.
static bool hasDynamicSentinel(Operation *op) {
  auto holdsSentinel = [](NamedAttribute attr) {
    auto array = dyn_cast<DenseI64ArrayAttr>(attr.getValue());
    return array && llvm::is_contained(array.asArrayRef(), ShapedType::kDynamic);
  };
  auto properties =
      dyn_cast_or_null<DictionaryAttr>(op->getPropertiesAsAttribute());
  return llvm::any_of(op->getAttrs(), holdsSentinel) ||
         (properties && llvm::any_of(properties.getValue(), holdsSentinel));
}

/// Prints `op` (with `state`) under crash recovery; false when the printer
/// crashed or wrote a value it cannot name.
static bool printsBack(Operation *op, AsmState &state) {
  std::string text;
  llvm::raw_string_ostream os(text);
  if (!runRecovering([&] { op->print(os, state); }))
    return false;
  return !StringRef(text).contains("<<UNKNOWN SSA VALUE>>");
}

LogicalResult mlir::sqa::checkPrintsBack(Operation *root) {
  AsmState state(root);
  if (printsBack(root, state))
    return success();
  // Find the innermost op that does not print (post-order: nested ops
  // first) and report it where it was written.
  Operation *culprit = root;
  root->walk([&](Operation *op) {
    if (printsBack(op, state))
      return WalkResult::advance();
    culprit = op;
    return WalkResult::interrupt();
  });
  InFlightDiagnostic diag = culprit->emitError()
                            << "MLIR cannot print this op back (an upstream "
                               "verifier gap: its printer crashes or names a "
                               "value that does not exist)";
  if (hasDynamicSentinel(culprit))
    diag << ": a static list entry is -9223372036854775808 (INT64_MIN), "
            "MLIR's marker for a dynamic value, with no value for it";
  return failure();
}

OwningOpRef<ModuleOp>
mlir::sqa::parseSourceFileGuarded(llvm::SourceMgr &sourceMgr,
                                  MLIRContext *context, bool *crashed) {
  OwningOpRef<ModuleOp> module;
  bool survived = runRecovering(
      [&] { module = parseSourceFile<ModuleOp>(sourceMgr, context); });
  if (crashed)
    *crashed = !survived;
  if (survived) {
    if (module && failed(checkPrintsBack(*module))) {
      // The printer may have crashed in the context: leak both.
      (void)module.release();
      if (crashed)
        *crashed = true;
      return nullptr;
    }
    return module;
  }
  // Whatever the parser built is in an unknown state: leak it.
  (void)module.release();
  const llvm::MemoryBuffer *buffer =
      sourceMgr.getMemoryBuffer(sourceMgr.getMainFileID());
  emitError(FileLineColLoc::get(context, buffer->getBufferIdentifier(), 1, 1))
      << kCrashMessage;
  return nullptr;
}

OwningOpRef<ModuleOp>
mlir::sqa::parseSourceFileGuarded(StringRef filename,
                                  llvm::SourceMgr &sourceMgr,
                                  MLIRContext *context) {
  std::string error;
  std::unique_ptr<llvm::MemoryBuffer> file = openInputFile(filename, &error);
  if (!file) {
    emitError(UnknownLoc::get(context))
        << "could not open input file " << filename;
    return nullptr;
  }
  sourceMgr.AddNewSourceBuffer(std::move(file), llvm::SMLoc());
  return parseSourceFileGuarded(sourceMgr, context);
}

LogicalResult mlir::sqa::checkParserSurvives(llvm::MemoryBufferRef buffer,
                                             const DialectRegistry &registry,
                                             StringRef splitMarker) {
  SmallVector<StringRef> pieces;
  if (splitMarker.empty())
    pieces.push_back(buffer.getBuffer());
  else
    buffer.getBuffer().split(pieces, splitMarker);

  unsigned line = 1;
  for (StringRef piece : pieces) {
    // A scratch context per piece, as the driver makes; it is leaked if the
    // parser crashes in it.
    auto context = std::make_unique<MLIRContext>(
        registry, MLIRContext::Threading::DISABLED);
    llvm::SourceMgr sourceMgr;
    sourceMgr.AddNewSourceBuffer(
        llvm::MemoryBuffer::getMemBuffer(piece, buffer.getBufferIdentifier(),
                                         /*RequiresNullTerminator=*/false),
        llvm::SMLoc());
    std::string held;
    llvm::raw_string_ostream heldStream(held);
    // Prints against the piece; lines are shifted back to the whole file.
    ScopedDiagnosticHandler handler(context.get(), [&](Diagnostic &diag) {
      auto loc = dyn_cast<FileLineColLoc>(diag.getLocation());
      heldStream << buffer.getBufferIdentifier();
      if (loc)
        heldStream << ":" << loc.getLine() + line - 1 << ":"
                   << loc.getColumn();
      heldStream << ": "
                 << (diag.getSeverity() == DiagnosticSeverity::Error ? "error"
                     : diag.getSeverity() == DiagnosticSeverity::Warning
                         ? "warning"
                         : "note")
                 << ": " << diag.str() << "\n";
      return success();
    });
    OwningOpRef<ModuleOp> module;
    if (!runRecovering(
            [&] { module = parseSourceFile<ModuleOp>(sourceMgr, context.get()); })) {
      (void)module.release();
      (void)context.release();
      llvm::errs() << held << buffer.getBufferIdentifier() << ":" << line
                   << ":1: error: " << kCrashMessage << "\n";
      return failure();
    }
    if (module && failed(checkPrintsBack(*module))) {
      (void)module.release();
      (void)context.release();
      llvm::errs() << held;
      return failure();
    }
    line += piece.count('\n') + splitMarker.count('\n');
  }
  return success();
}
