//===- Compiler.cpp - C API of the sqa compiler ---------------------------===//

#include "sqa-c/Compiler.h"

#include "sqa/InitAll.h"
#include "sqa/Pipelines/Pipelines.h"
#include "sqa/Tools/ParseGuard.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/SourceMgr.h"

#include <atomic>
#include <memory>
#include <mutex>

using namespace mlir;

/// Set by sqaEnableParserCrashRecovery: parse under ParseGuard.
static std::atomic<bool> parserCrashRecovery{false};

namespace {
/// A context with everything sqa needs, the parsed module, and the
/// diagnostics printed against the source, for one C API call.
class Session {
public:
  Session(const char *source, size_t length)
      : context(getRegistry()), diagnosticStream(diagnostics),
        handler(sourceMgr, &context, diagnosticStream) {
    sourceMgr.AddNewSourceBuffer(
        llvm::MemoryBuffer::getMemBufferCopy(llvm::StringRef(source, length),
                                             "<sqa-c input>"),
        llvm::SMLoc());
    if (parserCrashRecovery) {
      // One guarded parse at a time: the guard installs and removes LLVM's
      // process-wide bad-alloc handler around each.
      static std::mutex guardedParse;
      std::lock_guard<std::mutex> lock(guardedParse);
      module = sqa::parseSourceFileGuarded(sourceMgr, &context, &crashed);
    } else {
      module = parseSourceFile<ModuleOp>(sourceMgr, &context);
    }
  }

  /// Fails a session whose parse failed; one whose parse crashed is leaked,
  /// never destroyed, since its context may be half-updated.
  static int failAndLeak(std::unique_ptr<Session> session,
                         SqaStringCallback callback, void *userData) {
    int result = session->fail(callback, userData);
    if (session->crashed)
      (void)session.release();
    return result;
  }

  /// Hands the collected diagnostics to `callback` and returns -1.
  int fail(SqaStringCallback callback, void *userData,
           llvm::StringRef message = "") {
    if (!message.empty())
      diagnosticStream << "error: " << message << "\n";
    if (callback)
      callback(diagnostics.data(), diagnostics.size(), userData);
    return -1;
  }

  MLIRContext context;
  llvm::SourceMgr sourceMgr;
  std::string diagnostics;
  llvm::raw_string_ostream diagnosticStream;
  SourceMgrDiagnosticHandler handler;
  OwningOpRef<ModuleOp> module;
  bool crashed = false;

private:
  static const DialectRegistry &getRegistry() {
    // Pass and pipeline registration is global and must happen once.
    static std::once_flag registered;
    std::call_once(registered, [] { sqa::registerAllPasses(); });
    static DialectRegistry registry = [] {
      DialectRegistry r;
      sqa::registerAllDialects(r);
      return r;
    }();
    return registry;
  }
};
} // namespace

int sqaCompileToPTX(const char *source, size_t sourceLength, const char *chip,
                    const char *features, int optLevel,
                    SqaKernelCallback onKernel, SqaStringCallback onDiagnostics,
                    void *userData) {
  auto owned = std::make_unique<Session>(source, sourceLength);
  if (!owned->module)
    return Session::failAndLeak(std::move(owned), onDiagnostics, userData);
  Session &session = *owned;
  if (optLevel < 0 || optLevel > 3)
    return session.fail(onDiagnostics, userData,
                        "optLevel must be between 0 and 3");
  sqa::GPUPipelineOptions options;
  if (chip)
    options.chip = chip;
  if (features)
    options.features = features;
  options.optLevel = optLevel;
  options.format = sqa::KernelFormat::PTX;
  FailureOr<SmallVector<sqa::KernelObject>> kernels =
      sqa::compileGPUKernels(*session.module, options);
  if (failed(kernels))
    return session.fail(onDiagnostics, userData);
  for (const sqa::KernelObject &kernel : *kernels)
    if (onKernel)
      onKernel(kernel.moduleName.c_str(), kernel.object.data(),
               kernel.object.size(), userData);
  return static_cast<int>(kernels->size());
}

int sqaRunPipeline(const char *source, size_t sourceLength,
                   const char *pipeline, SqaStringCallback onOutput,
                   SqaStringCallback onDiagnostics, void *userData) {
  auto owned = std::make_unique<Session>(source, sourceLength);
  if (!owned->module)
    return Session::failAndLeak(std::move(owned), onDiagnostics, userData);
  Session &session = *owned;
  // The anchored form, "builtin.module(...)", parsed as such: the overload
  // that adds to a pass manager reads its text as a pipeline nested under
  // the manager's own anchor, so "builtin.module(p)" ran p on modules nested
  // in the module, of which there are none, and returned the input.
  std::string parseErrors;
  llvm::raw_string_ostream parseStream(parseErrors);
  FailureOr<OpPassManager> parsed =
      pipeline ? parsePassPipeline(pipeline, parseStream)
               : FailureOr<OpPassManager>(failure());
  if (failed(parsed))
    return session.fail(onDiagnostics, userData,
                        "invalid pass pipeline: " + parseErrors);
  StringRef anchor = parsed->getOpAnchorName();
  if (anchor != ModuleOp::getOperationName() &&
      anchor != OpPassManager::getAnyOpAnchorName())
    return session.fail(onDiagnostics, userData,
                        "invalid pass pipeline: it is anchored on '" +
                            anchor.str() +
                            "', not on builtin.module (e.g. "
                            "\"builtin.module(sqa-tile-and-fuse)\")");
  PassManager pm(&session.context, anchor);
  static_cast<OpPassManager &>(pm) = std::move(*parsed);
  if (failed(pm.run(*session.module)))
    return session.fail(onDiagnostics, userData);
  std::string output;
  llvm::raw_string_ostream os(output);
  session.module->print(os);
  if (onOutput)
    onOutput(output.data(), output.size(), userData);
  return 0;
}

int sqaEnableParserCrashRecovery(void) {
  parserCrashRecovery = true;
  return 0;
}
