//===- ParseGuard.cpp - Parsing that survives upstream parser crashes -----===//

#include "sqa/Tools/ParseGuard.h"

#include "mlir/IR/Diagnostics.h"
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
    "bug; README, 'Inputs that crash upstream MLIR')";

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

OwningOpRef<ModuleOp>
mlir::sqa::parseSourceFileGuarded(llvm::SourceMgr &sourceMgr,
                                  MLIRContext *context, bool *crashed) {
  OwningOpRef<ModuleOp> module;
  bool survived = runRecovering(
      [&] { module = parseSourceFile<ModuleOp>(sourceMgr, context); });
  if (crashed)
    *crashed = !survived;
  if (survived)
    return module;
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
    line += piece.count('\n') + splitMarker.count('\n');
  }
  return success();
}
