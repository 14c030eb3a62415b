//===- KernelLibrary.h - Generated GPU kernel libraries ---------*- C++ -*-===//
//
// A kernel library is what `sqa-compile --emit library` writes: the PTX (and
// cubins, one per chip) of one kernel per attention configuration, a C header
// with one launch function per kernel, a launcher on the CUDA driver API that
// embeds the images, a JSON manifest and a CMake package configuration. The
// header and the launcher need no CUDA toolkit: the launcher loads the driver
// (libcuda.so.1) itself. Their fixed parts are the C files in
// lib/Target/KernelLibrary/Templates.
//
// The launch ABI: each kernel takes the MLIR memref descriptors (allocated
// pointer, aligned pointer, offset, sizes, strides) of its entry function's
// tensors, in the order of the gpu.launch_func operands; the host side's
// grid and block computation is translated into C statements over the
// tensors' shapes.
//
//===----------------------------------------------------------------------===//

#ifndef SQA_TARGET_KERNELLIBRARY_H
#define SQA_TARGET_KERNELLIBRARY_H

#include "sqa/Dialect/SQA/IR/SQAOps.h"
#include "sqa/Pipelines/Pipelines.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"

#include <array>
#include <optional>
#include <string>

namespace mlir {
namespace sqa {

/// One attention configuration of a kernel library, as written in
/// `sqa-compile --config`.
struct AttentionConfig {
  std::string name;
  int64_t numQueryHeads = 0;
  int64_t numKvHeads = 0;
  int64_t headDim = 0;
  /// The head dim of the values; 0 means headDim.
  int64_t valueHeadDim = 0;
  /// "f16", "bf16" or "f32".
  std::string elementType = "f16";
  /// The output's element type; empty means elementType.
  std::string outputType;
  MaskKind mask = MaskKind::none;
  std::optional<std::array<int64_t, 2>> window;
  std::optional<float> scale;
  bool withLse = false;
  /// Non-empty: the entry is the backward of this attention
  /// (sqa.attention_grad), with gradients of this element type.
  std::string gradType;
};

/// Parses `NAME:hq=N,hkv=N,d=N[,dv=N][,dtype=T][,out=T][,mask=KIND]
/// [,window=L:R][,scale=F][,lse][,grad[=T]]`. On failure, `error` says why.
FailureOr<AttentionConfig> parseAttentionConfig(StringRef spec,
                                                std::string &error);

/// Builds `func.func @name(%q, %k, %v, %out[, %lse]) -> results` around one
/// sqa.attention on tensors with dynamic batch and sequence lengths, at the
/// end of `module`, with location `loc`; for a backward configuration
/// (`grad`), `func.func @name(%q, %k, %v, %out, %dout, %lse, %dq, %dk, %dv)
/// -> (dq, dk, dv)` around one sqa.attention_grad. Fails, with the op
/// verifier's diagnostic, when the configuration is not a valid op.
FailureOr<func::FuncOp> buildAttentionFunc(ModuleOp module,
                                           const AttentionConfig &config,
                                           Location loc);

/// Whether `name` is a C identifier, as the prefix of a library's symbols.
bool isValidKernelLibraryName(StringRef name);

struct KernelLibraryOptions {
  /// A C identifier: the prefix of every symbol and file of the library.
  std::string name;
  /// The GPU pipeline's options (chip, features, opt level, rows per block);
  /// the format is always PTX, from which ptxas makes the cubins.
  GPUPipelineOptions pipeline;
  /// ptxas to assemble cubins with; empty: PTX only (the launcher JITs it).
  std::string ptxasPath;
  /// Limits of each ptxas run (0: none): wall-clock seconds, after which it
  /// is killed, and memory in MiB. The defaults are far above what the
  /// library's kernels take (seconds, well under 1 GiB) and stop a runaway.
  static constexpr unsigned kDefaultPtxasTimeoutSeconds = 600;
  static constexpr unsigned kDefaultPtxasMemoryLimitMiB = 8192;
  unsigned ptxasTimeoutSeconds = kDefaultPtxasTimeoutSeconds;
  unsigned ptxasMemoryLimitMiB = kDefaultPtxasMemoryLimitMiB;
  /// The chips (sm_NN) to assemble a cubin for, each no older than the
  /// pipeline's chip; empty: the pipeline's chip. The launcher loads the
  /// cubin of the device's architecture, else the PTX.
  SmallVector<std::string> cubinChips;
  /// Applied to each pass manager before it runs, if given.
  PassManagerConfiguration configurePassManager;
};

/// Writes `path` with `write` through a checked stream: an output that
/// cannot be opened or written (a missing directory, a full device) is an
/// error at `loc`, never an abort, and leaves no partial file.
LogicalResult writeCheckedFile(Location loc, StringRef path,
                               function_ref<void(raw_ostream &)> write);

/// Compiles every function of `module` into one kernel of a library written
/// to `directory`. Each function must be an attention entry: it returns the
/// results of one sqa.attention whose query, key and value are its
/// arguments, and whose destinations are arguments or tensor.empty. Errors
/// are emitted as diagnostics at the offending op.
LogicalResult emitKernelLibrary(ModuleOp module,
                                const KernelLibraryOptions &options,
                                StringRef directory);

/// Writes to `os`, as JSON, what each function of `module` (attention
/// entries, as emitKernelLibrary takes them: e.g. those buildAttentionFunc
/// makes from --config) computes, compiling nothing:
/// `{"configs": [{"name": ..., "query_heads": ..., ...}]}` with the fields
/// of a library manifest's kernels (defaults resolved: dv, the output type,
/// the scale). The one reader of the configuration grammar is
/// parseAttentionConfig; Python asks for this (`sqa-compile --emit config`)
/// instead of parsing the grammar again.
LogicalResult describeKernelLibraryEntries(ModuleOp module, raw_ostream &os);

} // namespace sqa
} // namespace mlir

#endif // SQA_TARGET_KERNELLIBRARY_H
