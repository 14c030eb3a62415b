//===- Pipelines.cpp - SQA pass pipelines ---------------------------------===//

#include "sqa/Pipelines/Pipelines.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/GPU/Transforms/Passes.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "llvm/Support/ErrorHandling.h"
#include "llvm/Support/FormatVariadic.h"

using namespace mlir;
using namespace mlir::sqa;

namespace {
/// One named step of a pipeline, in textual pass-pipeline syntax.
struct Stage {
  StringRef name;
  std::string passes;
};
} // namespace

/// Appends `stages` to `pm`. The texts are this file's own constants, so a
/// parse failure is a bug in this file, not a user error.
static void addStages(OpPassManager &pm, ArrayRef<Stage> stages) {
  for (const Stage &stage : stages) {
    std::string errors;
    llvm::raw_string_ostream os(errors);
    if (failed(parsePassPipeline(stage.passes, pm, os)))
      llvm::report_fatal_error(llvm::Twine("invalid '") + stage.name +
                               "' stage: " + errors);
  }
}

/// Bufferizes whole functions: tensor arguments and results become memrefs
/// with the identity layout, so that callers (the JIT runner, the GPU host
/// code) pass plain contiguous buffers.
static constexpr const char *kBufferize =
    "one-shot-bufferize{bufferize-function-boundaries "
    "function-boundary-type-conversion=identity-layout-map},"
    "canonicalize,cse,canonicalize";

void mlir::sqa::buildCPUPipeline(OpPassManager &pm,
                                 const CPUPipelineOptions &options) {
  std::string lowerSQA;
  switch (options.lowering) {
  case AttentionLowering::Reference:
    lowerSQA = "func.func(convert-sqa-to-linalg)";
    break;
  case AttentionLowering::Rowwise:
    lowerSQA = "func.func(convert-sqa-to-scf)";
    break;
  case AttentionLowering::GPUMapped:
  case AttentionLowering::TensorCore:
    break;
  case AttentionLowering::Tiled:
    lowerSQA = llvm::formatv("func.func(sqa-tile-and-fuse{{q-block={0} "
                             "kv-block={1}})",
                             options.queryBlock.getValue(),
                             options.keyBlock.getValue())
                   .str();
    break;
  }
  // The GPU-mapped level and the tensor-core kernel are built on buffers,
  // after bufferization. A q-block that is not whole warps becomes warps=0,
  // which both passes reject.
  int64_t warps = options.queryBlock % 16 == 0 ? options.queryBlock / 16 : 0;
  const char *gpuLevel = nullptr;
  if (options.lowering == AttentionLowering::GPUMapped)
    gpuLevel = "func.func(sqa-map-to-gpu{{warps={0} kv-block={1}},"
               "sqa-gpu-mapped-to-cpu)";
  if (options.lowering == AttentionLowering::TensorCore)
    gpuLevel = "func.func(convert-sqa-to-nvgpu{{warps={0} kv-block={1} "
               "strict=true}),sqa-gpu-launch-to-openmp";
  std::string mapToGPU;
  if (gpuLevel)
    mapToGPU =
        llvm::formatv(gpuLevel, warps, options.keyBlock.getValue()).str() +
        ",canonicalize,cse";
  SmallVector<Stage> stages;
  if (!lowerSQA.empty())
    stages.push_back({"lower sqa", lowerSQA + ",canonicalize,cse"});
  stages.push_back(
      {"bufferize",
       std::string(kBufferize) +
           ",buffer-deallocation-pipeline,convert-bufferization-to-memref"});
  if (!mapToGPU.empty())
    stages.push_back({"GPU level, run on the CPU", mapToGPU});
  Stage tail[] = {
      {"loops",
       "func.func(convert-linalg-to-loops,scf-forall-to-for,"
       "convert-vector-to-scf{full-unroll},lower-vector-multi-reduction,"
       "lower-affine),"
       "convert-scf-to-cf"},
      {"to LLVM",
       "func.func(arith-expand{include-bf16}),expand-strided-metadata,lower-"
       "affine,"
       "convert-vector-to-llvm,finalize-memref-to-llvm,convert-math-to-llvm,"
       "convert-math-to-libm,convert-arith-to-llvm,convert-index-to-llvm,"
       "convert-cf-to-llvm,convert-func-to-llvm,convert-ub-to-llvm,"
       "convert-openmp-to-llvm,reconcile-unrealized-casts"},
  };
  stages.append(std::begin(tail), std::end(tail));
  addStages(pm, stages);
}

void mlir::sqa::buildGPUOutliningPipeline(OpPassManager &pm,
                                          const GPUPipelineOptions &options) {
  // The tensor-core kernel is built on buffers; the row-wise one on
  // tensors, before bufferization, for the ops that the former leaves.
  unsigned tensorCoreWarps =
      options.kernel == GPUKernel::Rowwise ? 0 : options.warps.getValue();
  bool strict = options.kernel == GPUKernel::TensorCore;
  SmallVector<Stage> stages;
  if (!strict)
    stages.push_back({"row-wise kernels",
                      llvm::formatv("func.func(convert-sqa-to-scf{{"
                                    "tensor-core-warps={0}}),canonicalize,cse",
                                    tensorCoreWarps)
                          .str()});
  stages.push_back({"bufferize", kBufferize});
  stages.push_back(
      // One thread per query row: tile the (row, head, batch) loop by
      // rows-per-block rows, map tiles to blocks and rows to threads. Constant
      // inner bounds (no-min-max-bounds) guard the ragged tail with an scf.if,
      // which is what convert-parallel-loops-to-gpu needs for a launch size.
      {"map to GPU",
       llvm::formatv(
           "func.func(scf-forall-to-parallel,"
           "scf-parallel-loop-tiling{{parallel-loop-tile-sizes={0},1,1 "
           "no-min-max-bounds},"
           "gpu-map-parallel-loops,convert-parallel-loops-to-gpu,"
           "lower-affine),canonicalize,cse",
           options.rowsPerBlock.getValue())
           .str()});
  // After the last cse: the launch bodies recompute sizes from the
  // buffers, and cse must not replace them by host values, which would
  // become kernel operands.
  if (tensorCoreWarps != 0)
    stages.push_back({"tensor-core kernels",
                      llvm::formatv("func.func(convert-sqa-to-nvgpu{{warps={0} "
                                    "strict={1}})",
                                    tensorCoreWarps, strict ? "true" : "false")
                          .str()});
  Stage tail[] = {
      {"exp2/log2/fma to NVVM intrinsics",
       "func.func(sqa-convert-math-to-nvvm-intrinsics)"},
      // Sinking constants and memref.dim into the launch body leaves the
      // memrefs as the only kernel operands: the ABI of the kernel libraries.
      {"outline kernels",
       "gpu-launch-sink-index-computations,gpu-kernel-outlining"},
      {"occupancy", llvm::formatv("gpu.module(sqa-set-nvvm-launch-bounds{{"
                                  "min-blocks-per-sm={0}})",
                                  options.minBlocksPerSM.getValue())
                        .str()},
  };
  stages.append(std::begin(tail), std::end(tail));
  addStages(pm, stages);

  GpuNVVMAttachTargetOptions targetOptions;
  targetOptions.chip = options.chip;
  targetOptions.features = options.features;
  targetOptions.optLevel = options.optLevel;
  pm.addPass(createGpuNVVMAttachTarget(targetOptions));
}

void mlir::sqa::buildGPUSerializationPipeline(
    OpPassManager &pm, const GPUPipelineOptions &options) {
  // Arith and vector ops are lowered before convert-gpu-to-nvvm so that they
  // become LLVM intrinsics rather than libdevice calls.
  Stage back[] = {
      {"kernels to NVVM",
       "gpu.module(convert-nvgpu-to-nvvm,expand-strided-metadata,lower-affine,"
       "convert-scf-to-cf,"
       "convert-vector-to-llvm,convert-arith-to-llvm,convert-index-to-llvm,"
       "convert-gpu-to-nvvm,canonicalize,cse,reconcile-unrealized-casts)"},
      {"host to LLVM",
       "expand-strided-metadata,lower-affine,convert-scf-to-cf,"
       "convert-vector-to-llvm,finalize-memref-to-llvm,convert-arith-to-llvm,"
       "convert-index-to-llvm,convert-cf-to-llvm,convert-func-to-llvm,"
       "gpu-to-llvm,canonicalize,cse,reconcile-unrealized-casts"},
  };
  addStages(pm, back);

  GpuModuleToBinaryPassOptions binaryOptions;
  switch (options.format) {
  case KernelFormat::PTX:
    binaryOptions.compilationTarget = "isa";
    break;
  case KernelFormat::Cubin:
    binaryOptions.compilationTarget = "bin";
    break;
  case KernelFormat::Fatbin:
    binaryOptions.compilationTarget = "fatbin";
    break;
  }
  pm.addPass(createGpuModuleToBinaryPass(binaryOptions));
}

void mlir::sqa::buildGPUPipeline(OpPassManager &pm,
                                 const GPUPipelineOptions &options) {
  buildGPUOutliningPipeline(pm, options);
  buildGPUSerializationPipeline(pm, options);
}

SmallVector<KernelObject> mlir::sqa::getKernelObjects(ModuleOp module) {
  SmallVector<KernelObject> kernels;
  module.walk([&](gpu::BinaryOp binary) {
    for (Attribute attr : binary.getObjects())
      kernels.push_back(
          {binary.getName().str(),
           cast<gpu::ObjectAttr>(attr).getObject().getValue().str()});
  });
  return kernels;
}

FailureOr<SmallVector<KernelObject>>
mlir::sqa::compileGPUKernels(ModuleOp module,
                             const GPUPipelineOptions &options) {
  PassManager pm(module.getContext());
  buildGPUPipeline(pm, options);
  if (failed(pm.run(module)))
    return failure();
  return getKernelObjects(module);
}

void mlir::sqa::registerSQAPipelines() {
  PassPipelineRegistration<CPUPipelineOptions>(
      "sqa-cpu-pipeline",
      "Lower sqa.attention to the LLVM dialect for the host CPU",
      buildCPUPipeline);
  PassPipelineRegistration<GPUPipelineOptions>(
      "sqa-gpu-pipeline",
      "Lower sqa.attention to NVVM GPU kernels in a gpu.binary, with host "
      "code in the LLVM dialect",
      buildGPUPipeline);
}
