//===- Pipelines.h - SQA pass pipelines -------------------------*- C++ -*-===//
//
// The routes from sqa.attention to executable code, each a list of named
// stages (spelled out in lib/Pipelines/Pipelines.cpp).
//
//===----------------------------------------------------------------------===//

#ifndef SQA_PIPELINES_PIPELINES_H
#define SQA_PIPELINES_PIPELINES_H

#include "sqa/GPU/KernelSchedule.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassOptions.h"

#include <functional>

#include <string>

namespace mlir {
class OpPassManager;
namespace sqa {

/// How sqa.attention leaves the dialect on the way to the CPU.
enum class AttentionLowering {
  /// convert-sqa-to-linalg: materialised scores, the oracle.
  Reference,
  /// convert-sqa-to-scf: online-softmax loops, the GPU kernel's algorithm.
  Rowwise,
  /// sqa-tile-and-fuse: FlashAttention's query and key blocks.
  Tiled,
  /// convert-sqa-to-nvgpu + sqa-gpu-launch-to-openmp: the sm_80 tensor-core
  /// kernel itself, lane by lane, with one OpenMP thread per GPU thread.
  TensorCore,
};

struct CPUPipelineOptions : PassPipelineOptions<CPUPipelineOptions> {
  PassOptions::Option<AttentionLowering> lowering{
      *this, "lowering", llvm::cl::desc("How sqa.attention is lowered"),
      llvm::cl::init(AttentionLowering::Reference),
      llvm::cl::values(
          clEnumValN(AttentionLowering::Reference, "reference",
                     "naive linalg ops with materialised scores"),
          clEnumValN(AttentionLowering::Rowwise, "rowwise",
                     "online-softmax loops (the GPU kernel's algorithm)"),
          clEnumValN(AttentionLowering::Tiled, "tiled",
                     "FlashAttention tiling (sqa-tile-and-fuse)"),
          clEnumValN(AttentionLowering::TensorCore, "tensor-core",
                     "the tensor-core kernel (convert-sqa-to-nvgpu) emulated "
                     "on OpenMP threads; needs libomp"))};
  PassOptions::Option<int64_t> queryBlock{
      *this, "q-block",
      llvm::cl::desc("Query rows per tile (tiled) or per block ("
                     "tensor-core: whole warps of warp-rows rows, 1 to 16 "
                     "warps)"),
      llvm::cl::init(64)};
  PassOptions::Option<int64_t> warpRows{
      *this, "warp-rows",
      llvm::cl::desc("Query rows per warp (tensor-core: 16 or 32)"),
      llvm::cl::init(16)};
  PassOptions::Option<int64_t> keyBlock{
      *this, "kv-block",
      llvm::cl::desc("Keys per online-softmax step (tiled, tensor-core)"),
      llvm::cl::init(64)};
};

/// What gpu-module-to-binary produces for each kernel module.
enum class KernelFormat { PTX, Cubin, Fatbin };

/// Which kernel design the GPU pipeline lowers sqa.attention to.
enum class GPUKernel {
  /// The tensor-core kernel where convert-sqa-to-nvgpu supports the op (f16
  /// or bf16, head dims 16 to 256 where the tiles fit), the row-wise kernel
  /// elsewhere.
  Auto,
  /// FlashAttention-2 on mma.sync; an op it does not support is an error.
  TensorCore,
  /// One thread per query row (convert-sqa-to-scf), for every op.
  Rowwise,
};

/// The largest head dim (D and Dv) of the row-wise GPU kernel, which holds a
/// query row and a Dv accumulator per thread in registers; the GPU pipeline
/// refuses larger ones with a diagnostic (FlashAttention's largest is 256 too).
inline constexpr int64_t kMaxRowwiseGPUHeadDim = 256;

struct GPUPipelineOptions : PassPipelineOptions<GPUPipelineOptions> {
  PassOptions::Option<std::string> chip{
      *this, "chip", llvm::cl::desc("Target GPU architecture"),
      llvm::cl::init("sm_80")};
  PassOptions::Option<std::string> features{
      *this, "features", llvm::cl::desc("PTX features (e.g. +ptx80)"),
      llvm::cl::init("+ptx80")};
  PassOptions::Option<int> optLevel{
      *this, "opt-level",
      llvm::cl::desc("LLVM optimisation level of the NVVM compilation"),
      llvm::cl::init(3)};
  PassOptions::Option<KernelFormat> format{
      *this, "format", llvm::cl::desc("Kernel binary format"),
      llvm::cl::init(KernelFormat::PTX),
      llvm::cl::values(
          clEnumValN(KernelFormat::PTX, "isa", "PTX text"),
          clEnumValN(KernelFormat::Cubin, "bin", "cubin (needs ptxas)"),
          clEnumValN(KernelFormat::Fatbin, "fatbin",
                     "fatbin (needs ptxas and fatbinary)"))};
  PassOptions::Option<GPUKernel> kernel{
      *this, "kernel", llvm::cl::desc("Kernel design"),
      llvm::cl::init(GPUKernel::Auto),
      llvm::cl::values(
          clEnumValN(GPUKernel::Auto, "auto",
                     "tensor cores where supported, else row-wise"),
          clEnumValN(GPUKernel::TensorCore, "tensor-core",
                     "FlashAttention-2 on mma.sync (f16/bf16 only)"),
          clEnumValN(GPUKernel::Rowwise, "rowwise",
                     "one thread per query row"))};
  PassOptions::Option<unsigned> warps{
      *this, "warps",
      llvm::cl::desc(kWarpsKnobDescription), llvm::cl::init(4)};
  PassOptions::Option<unsigned> warpRows{
      *this, "warp-rows", llvm::cl::desc(kWarpRowsKnobDescription),
      llvm::cl::init(0)};
  PassOptions::Option<unsigned> keyBlock{
      *this, "kv-block", llvm::cl::desc(kKeyBlockKnobDescription),
      llvm::cl::init(0)};
  PassOptions::Option<unsigned> rowsPerBlock{
      *this, "rows-per-block",
      llvm::cl::desc("Query rows per thread block of the row-wise kernel "
                     "(one thread each)"),
      llvm::cl::init(128)};
  PassOptions::Option<unsigned> minBlocksPerSM{
      *this, "min-blocks-per-sm",
      llvm::cl::desc("Resident blocks per SM that ptxas's register budget "
                     "must allow (.minnctapersm; 0 leaves the budget to "
                     "ptxas's heuristic)"),
      llvm::cl::init(1)};
};

/// Lowers sqa.attention to a module of the LLVM dialect for the host CPU:
/// lower sqa -> bufferize -> loops -> LLVM.
void buildCPUPipeline(OpPassManager &pm, const CPUPipelineOptions &options);

/// Lowers sqa.attention to GPU kernels compiled for NVIDIA GPUs, with a host
/// side in the LLVM dialect that launches them: buildGPUOutliningPipeline
/// followed by buildGPUSerializationPipeline.
void buildGPUPipeline(OpPassManager &pm, const GPUPipelineOptions &options);

/// The first half of buildGPUPipeline: convert-sqa-to-scf (ops without a
/// tensor-core kernel) -> bufferize -> convert-sqa-to-nvgpu -> map rows to
/// threads -> exp2/log2 to NVVM intrinsics -> outline kernels ->
/// attach the NVVM target. Host functions are left in func/arith/memref with
/// one gpu.launch_func per sqa.attention, whose kernel operands are the
/// function's memref arguments (constants and sizes are sunk into kernels).
void buildGPUOutliningPipeline(OpPassManager &pm,
                               const GPUPipelineOptions &options);

/// The second half of buildGPUPipeline: kernels to NVVM, host to LLVM, and
/// gpu-module-to-binary in `format`.
void buildGPUSerializationPipeline(OpPassManager &pm,
                                   const GPUPipelineOptions &options);

/// One kernel module serialized by the GPU pipeline.
struct KernelObject {
  /// The name of the gpu.binary (the outlined kernel module).
  std::string moduleName;
  /// PTX text or cubin bytes, as `format` asked.
  std::string object;
};

/// The object of every gpu.binary in `module`.
SmallVector<KernelObject> getKernelObjects(ModuleOp module);

/// Checks, before anything is lowered, that the GPU pipeline can target
/// `options.chip` with `options.features`: a plain or arch-specific sm_NN
/// (sm_80 or newer: the kernels use cp.async, ldmatrix and bf16 mma.sync)
/// that LLVM's NVPTX backend knows, features it knows, and a PTX version
/// (+ptxNN) no older than the chip needs. Otherwise reports why through
/// `emitError`, naming the option and what is allowed, and fails: LLVM
/// itself would abort ("Cannot select", "PTX version ... does not support
/// target") or silently ignore an unknown chip or feature.
LogicalResult
verifyGPUTarget(const GPUPipelineOptions &options,
                function_ref<void(const Twine &message)> emitError);

/// Configures a pass manager before it runs (a tool's IR printing, timing
/// and statistics options, say); a failure stops the compilation.
using PassManagerConfiguration = std::function<LogicalResult(PassManager &)>;

/// Runs buildGPUPipeline on `module` and returns the object of every
/// gpu.binary it produces. Failures are reported as diagnostics on `module`.
/// `configure`, if given, is applied to the pass manager first.
FailureOr<SmallVector<KernelObject>>
compileGPUKernels(ModuleOp module, const GPUPipelineOptions &options,
                  const PassManagerConfiguration &configure = nullptr);

/// Registers `sqa-cpu-pipeline` and `sqa-gpu-pipeline`.
void registerSQAPipelines();

} // namespace sqa
} // namespace mlir

#endif // SQA_PIPELINES_PIPELINES_H
