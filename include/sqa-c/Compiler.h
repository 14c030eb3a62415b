/*===-- sqa-c/Compiler.h - C API of the sqa compiler ----------*- C -*-===*\
|*                                                                            *|
|* A self-contained C interface for compilers and runtimes that are not      *|
|* written in C++: compile MLIR text with sqa.attention to PTX, or run any   *|
|* pass pipeline (with the sqa dialect, passes and pipelines registered) and *|
|* get the resulting IR. Strings come back through callbacks, valid only     *|
|* during the call, as in MLIR's own C API.                                  *|
|*                                                                            *|
\*===----------------------------------------------------------------------===*/

#ifndef SQA_C_COMPILER_H
#define SQA_C_COMPILER_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Receives a piece of text (not NUL-terminated) and the caller's data.
typedef void (*SqaStringCallback)(const char *data, size_t length,
                                  void *userData);

/// Receives one kernel module: its name and its PTX text.
typedef void (*SqaKernelCallback)(const char *moduleName, const char *ptx,
                                  size_t ptxLength, void *userData);

/// Compiles `source` (MLIR text, `sourceLength` bytes) with the GPU pipeline
/// for `chip` (e.g. "sm_80"), PTX `features` (e.g. "+ptx80") and LLVM
/// optimisation level `optLevel` (0-3); NULL chip/features take the
/// defaults. Calls `onKernel` once per kernel module. Returns the number of
/// kernel modules, or -1 on error, in which case the diagnostics (with
/// locations in `source`) go to `onDiagnostics` when it is not NULL.
int sqaCompileToPTX(const char *source, size_t sourceLength, const char *chip,
                    const char *features, int optLevel,
                    SqaKernelCallback onKernel, SqaStringCallback onDiagnostics,
                    void *userData);

/// Parses `source`, runs the textual pass pipeline `pipeline` (e.g.
/// "builtin.module(sqa-cpu-pipeline{lowering=tiled})") and passes the
/// printed result to `onOutput`. Returns 0 on success and -1 on error, with
/// diagnostics to `onDiagnostics` when it is not NULL.
int sqaRunPipeline(const char *source, size_t sourceLength,
                   const char *pipeline, SqaStringCallback onOutput,
                   SqaStringCallback onDiagnostics, void *userData);

/// Makes the calls after it survive crashes of MLIR's own parser on some
/// malformed inputs (docs/testing.md, "Inputs that crash upstream MLIR"): such a call
/// returns -1 with a diagnostic instead of ending the process. It installs
/// LLVM's crash-recovery signal handlers (SIGSEGV, SIGABRT, ...) for the
/// whole process, so it is off until the host asks: a host with signal
/// handlers of its own should not call it. The context a crash leaves behind
/// is leaked. Returns 0.
int sqaEnableParserCrashRecovery(void);

#ifdef __cplusplus
}
#endif

#endif /* SQA_C_COMPILER_H */
