//===- ParseGuard.h - Parsing that survives upstream parser crashes -*- C++ -*-//
//
// Some malformed inputs crash MLIR's own parser (docs/testing.md, "Inputs
// that crash upstream MLIR"): a segfault or an abort inside a dialect's custom parser,
// after it has printed its located parse error. The tools parse through these
// functions, which run the parser under llvm::CrashRecoveryContext and turn
// such a crash into an error and a failure, so that bad input never ends a
// tool with a signal.
//
//===----------------------------------------------------------------------===//

#ifndef SQA_TOOLS_PARSEGUARD_H
#define SQA_TOOLS_PARSEGUARD_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"
#include "mlir/Support/LLVM.h"

namespace llvm {
class SourceMgr;
class MemoryBufferRef;
} // namespace llvm

namespace mlir {
class DialectRegistry;
class MLIRContext;

namespace sqa {

/// Parses the main buffer of `sourceMgr` like parseSourceFile<ModuleOp>. If the
/// parser crashes, reports an error at the start of the buffer, sets
/// `*crashed` (when given) and returns null; `context` must then not be used
/// again (the crash may have left it half-updated), only destroyed or leaked.
OwningOpRef<ModuleOp> parseSourceFileGuarded(llvm::SourceMgr &sourceMgr,
                                             MLIRContext *context,
                                             bool *crashed = nullptr);

/// The same for the file `filename` ("-": standard input), which it adds to
/// `sourceMgr`; a file that cannot be read is an error too.
OwningOpRef<ModuleOp> parseSourceFileGuarded(StringRef filename,
                                             llvm::SourceMgr &sourceMgr,
                                             MLIRContext *context);

/// Checks that every op under `root` prints back: some upstream ops verify
/// although their printer crashes or writes `<<UNKNOWN SSA VALUE>>`, which
/// does not parse (transform.structured.tile_using_for with a static tile
/// size of INT64_MIN, MLIR's dynamic-size marker). Emits an error at the
/// innermost such op and returns failure; the parsers below call it on what
/// they parse. The context may be left as a crash left it: leak it then.
LogicalResult checkPrintsBack(Operation *root);

/// For drivers that parse themselves (MlirOptMain): parses `buffer` (each
/// piece between `splitMarker` lines, when it is not empty) in a scratch
/// context of `registry`, with its diagnostics held back. Returns failure, and
/// prints the held-back diagnostics and an error, only if the parser crashes
/// or what it parsed does not print back (checkPrintsBack); an input that
/// merely fails to parse is left to the driver.
LogicalResult checkParserSurvives(llvm::MemoryBufferRef buffer,
                                  const DialectRegistry &registry,
                                  StringRef splitMarker);

} // namespace sqa
} // namespace mlir

#endif // SQA_TOOLS_PARSEGUARD_H
