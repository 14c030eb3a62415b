//===- Pipelines.cpp - SQA pass pipelines ---------------------------------===//

#include "sqa/Pipelines/Pipelines.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/GPU/Transforms/Passes.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "llvm/MC/MCSubtargetInfo.h"
#include "llvm/MC/TargetRegistry.h"
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
       "gpu-launch-sink-index-computations,gpu-kernel-outlining,"
       "gpu.module(sqa-check-ptx-symbols)"},
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

extern "C" void LLVMInitializeNVPTXTargetInfo();
extern "C" void LLVMInitializeNVPTXTargetMC();

namespace {
/// The oldest PTX ISA version (x 10) that can target a chip, from the PTX
/// ISA's "Target ISA notes": for sm_`number`, and for its arch-specific
/// variant sm_`number`a (0: the chip has none).
struct ChipPTXVersion {
  unsigned number;
  unsigned plain;
  unsigned archSpecific;
};
} // namespace

static constexpr ChipPTXVersion kChipPTXVersions[] = {
    {80, 70, 0},  {86, 71, 0},  {87, 74, 0},   {89, 78, 0},
    {90, 78, 80}, {100, 86, 86}, {101, 86, 86}, {120, 87, 87},
};

/// The minimum PTX version of sm_`number``suffix`, 0 when the table above
/// does not know the chip.
static unsigned getMinimumPTXVersion(unsigned number, StringRef suffix) {
  for (const ChipPTXVersion &entry : kChipPTXVersions) {
    if (entry.number != number)
      continue;
    if (suffix.empty())
      return entry.plain;
    return suffix == "a" ? entry.archSpecific : 0;
  }
  return 0;
}

/// The chips of kChipPTXVersions, for diagnostics: "sm_80, sm_86, ...".
static std::string listKnownChips() {
  std::string list;
  llvm::raw_string_ostream os(list);
  llvm::ListSeparator separator;
  for (const ChipPTXVersion &entry : kChipPTXVersions) {
    os << separator << "sm_" << entry.number;
    if (entry.archSpecific)
      os << separator << "sm_" << entry.number << "a";
  }
  return list;
}

LogicalResult
mlir::sqa::verifyGPUTarget(const GPUPipelineOptions &options,
                           function_ref<void(const Twine &)> emitError) {
  StringRef chip = options.chip.getValue();
  StringRef features = options.features.getValue();
  // sm_<digits><optional suffix>.
  StringRef rest = chip;
  unsigned number = 0;
  if (!rest.consume_front("sm_") || rest.consumeInteger(/*Radix=*/10, number)) {
    emitError("chip '" + chip + "' must look like sm_80 (sm_NN, sm_NNa)");
    return failure();
  }
  StringRef suffix = rest;
  if (number < 80) {
    emitError("chip '" + chip +
              "' is too old: the kernels need sm_80 or newer (cp.async, "
              "ldmatrix, bf16 mma.sync)");
    return failure();
  }

  // What LLVM's NVPTX backend knows: an unknown chip or feature would only
  // print a warning there and be ignored.
  LLVMInitializeNVPTXTargetInfo();
  LLVMInitializeNVPTXTargetMC();
  std::string lookupError;
  llvm::Triple triple("nvptx64-nvidia-cuda");
  const llvm::Target *target =
      llvm::TargetRegistry::lookupTarget(triple, lookupError);
  if (!target) {
    emitError("LLVM has no NVPTX target: " + lookupError);
    return failure();
  }
  std::unique_ptr<llvm::MCSubtargetInfo> subtarget(
      target->createMCSubtargetInfo(triple, "", ""));
  if (!subtarget || !subtarget->isCPUStringValid(chip)) {
    emitError("chip '" + chip + "' is not a processor of LLVM's NVPTX target");
    return failure();
  }
  unsigned ptxVersion = 0;
  SmallVector<StringRef> items;
  features.split(items, ',', /*MaxSplit=*/-1, /*KeepEmpty=*/false);
  for (StringRef item : items) {
    StringRef name = item.trim();
    if (!name.consume_front("+") && !name.consume_front("-")) {
      emitError("feature '" + item + "' must start with + or - (e.g. +ptx80)");
      return failure();
    }
    if (!llvm::any_of(subtarget->getAllProcessorFeatures(),
                      [&](const llvm::SubtargetFeatureKV &feature) {
                        return name == feature.Key;
                      })) {
      emitError("feature '" + item +
                "' is not a feature of LLVM's NVPTX target (e.g. +ptx80)");
      return failure();
    }
    unsigned version = 0;
    if (item.trim().starts_with("+ptx") &&
        !name.drop_front(3).getAsInteger(10, version))
      ptxVersion = std::max(ptxVersion, version);
  }
  unsigned minimum = getMinimumPTXVersion(number, suffix);
  if (minimum == 0) {
    emitError("chip '" + chip +
              "' has no known minimum PTX version here; supported: " +
              listKnownChips());
    return failure();
  }
  if (ptxVersion != 0 && ptxVersion < minimum) {
    emitError(llvm::formatv("features '{0}' select PTX {1}.{2}, but chip '{3}' "
                            "needs PTX {4}.{5} or newer (+ptx{6})",
                            features, ptxVersion / 10, ptxVersion % 10, chip,
                            minimum / 10, minimum % 10, minimum)
                  .str());
    return failure();
  }
  return success();
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
mlir::sqa::compileGPUKernels(ModuleOp module, const GPUPipelineOptions &options,
                             const PassManagerConfiguration &configure) {
  if (failed(verifyGPUTarget(options, [&](const Twine &message) {
        emitError(module.getLoc()) << message;
      })))
    return failure();
  PassManager pm(module.getContext());
  buildGPUPipeline(pm, options);
  if (configure && failed(configure(pm)))
    return failure();
  if (failed(pm.run(module)))
    return failure();
  return getKernelObjects(module);
}

void mlir::sqa::registerSQAPipelines() {
  PassPipelineRegistration<CPUPipelineOptions>(
      "sqa-cpu-pipeline",
      "Lower sqa.attention to the LLVM dialect for the host CPU",
      buildCPUPipeline);
  // Registered by hand rather than through PassPipelineRegistration so that
  // a target the kernels cannot use is an error here, not an abort in LLVM.
  registerPassPipeline(
      "sqa-gpu-pipeline",
      "Lower sqa.attention to NVVM GPU kernels in a gpu.binary, with host "
      "code in the LLVM dialect",
      [](OpPassManager &pm, StringRef text,
         function_ref<LogicalResult(const Twine &)> errorHandler) {
        GPUPipelineOptions options;
        if (failed(options.parseFromString(text)))
          return failure();
        LogicalResult verified = success();
        if (failed(verifyGPUTarget(options, [&](const Twine &message) {
              verified = errorHandler("sqa-gpu-pipeline: " + message);
            })))
          return failure();
        buildGPUPipeline(pm, options);
        return verified;
      },
      [](function_ref<void(const detail::PassOptions &)> optHandler) {
        optHandler(GPUPipelineOptions());
      });
}
