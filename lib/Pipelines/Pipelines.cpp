//===- Pipelines.cpp - SQA pass pipelines ---------------------------------===//
//
// The CPU and GPU pipelines, built from typed pass constructors and options
// structs (no pass-pipeline text), in one place.
//
//===----------------------------------------------------------------------===//

#include "sqa/Pipelines/Pipelines.h"

#include "sqa/Conversion/Passes.h"
#include "sqa/Dialect/SQA/Transforms/Passes.h"

#include "mlir/Conversion/Passes.h"
#include "mlir/Dialect/Arith/Transforms/Passes.h"
#include "mlir/Dialect/Bufferization/Pipelines/Passes.h"
#include "mlir/Dialect/Bufferization/Transforms/Passes.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/GPU/Transforms/Passes.h"
#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/Dialect/SCF/Transforms/Passes.h"
#include "mlir/Dialect/Vector/Transforms/Passes.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Transforms/Passes.h"
#include "mlir/Pass/PassRegistry.h"
#include "llvm/MC/MCSubtargetInfo.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/Threading.h"

using namespace mlir;
using namespace mlir::sqa;

/// Bufferizes whole functions: tensor arguments and results become memrefs
/// with the identity layout, so that callers (the JIT runner, the GPU host
/// code) pass plain contiguous buffers.
static void addBufferize(OpPassManager &pm) {
  bufferization::OneShotBufferizePassOptions options;
  options.bufferizeFunctionBoundaries = true;
  options.functionBoundaryTypeConversion =
      bufferization::LayoutMapOption::IdentityLayoutMap;
  pm.addPass(bufferization::createOneShotBufferizePass(options));
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
  pm.addPass(createCanonicalizerPass());
}

static void addCanonicalizeAndCSE(OpPassManager &pm) {
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
}

/// Chooses each op's kernel schedule once (sqa-choose-schedule), for the
/// passes after it to read.
static void addChooseSchedule(OpPassManager &pm, int64_t warps,
                              int64_t keyBlock, int64_t warpRows) {
  ChooseSchedulePassOptions options;
  options.numWarps = warps;
  options.keyBlock = keyBlock;
  options.warpRows = warpRows;
  pm.addNestedPass<func::FuncOp>(createChooseSchedulePass(options));
}

/// The options of convert-sqa-to-nvgpu, whose tiles come from the ops'
/// schedules (sqa-choose-schedule runs first).
static ConvertSQAToNVGPUPassOptions getTensorCorePassOptions(bool strict) {
  ConvertSQAToNVGPUPassOptions options;
  options.strict = strict;
  return options;
}

void mlir::sqa::buildCPUPipeline(OpPassManager &pm,
                                 const CPUPipelineOptions &options) {
  // Lower sqa on tensors (the tensor-core kernel is built on buffers, after
  // bufferization).
  OpPassManager &funcs = pm.nest<func::FuncOp>();
  switch (options.lowering) {
  case AttentionLowering::Reference:
    funcs.addPass(createConvertSQAToLinalgPass());
    break;
  case AttentionLowering::Rowwise:
    funcs.addPass(createConvertSQAToSCFPass());
    break;
  case AttentionLowering::Tiled: {
    SQATileAndFusePassOptions tiling;
    tiling.queryBlock = options.queryBlock;
    tiling.keyBlock = options.keyBlock;
    funcs.addPass(createSQATileAndFusePass(tiling));
    break;
  }
  case AttentionLowering::TensorCore:
    break;
  }
  addCanonicalizeAndCSE(pm);

  addBufferize(pm);
  bufferization::buildBufferDeallocationPipeline(pm);
  pm.addPass(createConvertBufferizationToMemRefPass());

  // The tensor-core kernel, run on the CPU. A q-block that is not whole
  // warps becomes warps = 0, which both passes reject (as they reject rows per
  // warp that are not whole row tiles).
  int64_t warpRows = options.warpRows;
  int64_t warps = warpRows > 0 && options.queryBlock % warpRows == 0
                      ? options.queryBlock / warpRows
                      : 0;
  if (options.lowering == AttentionLowering::TensorCore) {
    addChooseSchedule(pm, warps, options.keyBlock, warpRows);
    pm.addNestedPass<func::FuncOp>(
        createConvertSQAToNVGPUPass(getTensorCorePassOptions(/*strict=*/true)));
    pm.addPass(createGPULaunchToOpenMPPass());
    addCanonicalizeAndCSE(pm);
  }

  // Loops.
  OpPassManager &loops = pm.nest<func::FuncOp>();
  loops.addPass(createConvertLinalgToLoopsPass());
  loops.addPass(createForallToForLoopPass());
  loops.addPass(createConvertVectorToSCFPass(
      VectorTransferToSCFOptions().enableFullUnroll()));
  loops.addPass(vector::createLowerVectorMultiReductionPass());
  loops.addPass(createLowerAffinePass());
  pm.addPass(createSCFToControlFlowPass());

  // To LLVM.
  arith::ArithExpandOpsPassOptions expand;
  expand.includeBf16 = true;
  pm.addNestedPass<func::FuncOp>(arith::createArithExpandOpsPass(expand));
  pm.addPass(memref::createExpandStridedMetadataPass());
  pm.addPass(createLowerAffinePass());
  pm.addPass(createConvertVectorToLLVMPass());
  pm.addPass(createFinalizeMemRefToLLVMConversionPass());
  pm.addPass(createConvertMathToLLVMPass());
  pm.addPass(createConvertMathToLibmPass());
  pm.addPass(createArithToLLVMConversionPass());
  pm.addPass(createConvertIndexToLLVMPass());
  pm.addPass(createConvertControlFlowToLLVMPass());
  pm.addPass(createConvertFuncToLLVMPass());
  pm.addPass(createUBToLLVMConversionPass());
  pm.addPass(createConvertOpenMPToLLVMPass());
  pm.addPass(createReconcileUnrealizedCastsPass());
}

void mlir::sqa::buildGPUOutliningPipeline(OpPassManager &pm,
                                          const GPUPipelineOptions &options) {
  // The tensor-core kernel is built on buffers; the row-wise one on
  // tensors, before bufferization, for the ops that the former leaves.
  unsigned tensorCoreWarps =
      options.kernel == GPUKernel::Rowwise ? 0 : options.warps.getValue();
  bool strict = options.kernel == GPUKernel::TensorCore;
  // The schedule of every op, chosen once: the row-wise lowering's choice
  // and the tensor-core kernels read it.
  if (tensorCoreWarps != 0)
    addChooseSchedule(pm, tensorCoreWarps, options.keyBlock,
                      options.warpRows);
  if (!strict) {
    ConvertSQAToSCFPassOptions rowwise;
    rowwise.tensorCore = tensorCoreWarps != 0;
    rowwise.maxHeadDim = kMaxRowwiseGPUHeadDim;
    pm.addNestedPass<func::FuncOp>(createConvertSQAToSCFPass(rowwise));
    addCanonicalizeAndCSE(pm);
  }
  addBufferize(pm);

  // Map to GPU: one thread per query row. Tile the (row, head, batch) loop
  // by rows-per-block rows, map tiles to blocks and rows to threads.
  // Constant inner bounds (noMinMaxBounds) guard the ragged tail with an
  // scf.if, which is what convert-parallel-loops-to-gpu needs for a launch
  // size.
  OpPassManager &mapping = pm.nest<func::FuncOp>();
  mapping.addPass(createForallToParallelLoopPass());
  mapping.addPass(createParallelLoopTilingPass(
      {static_cast<int64_t>(options.rowsPerBlock.getValue()), 1, 1},
      /*noMinMaxBounds=*/true));
  mapping.addPass(createGpuMapParallelLoopsPass());
  mapping.addPass(createConvertParallelLoopToGpuPass());
  mapping.addPass(createLowerAffinePass());
  addCanonicalizeAndCSE(pm);

  // After the last cse: the launch bodies recompute sizes from the buffers,
  // and cse must not replace them by host values, which would become kernel
  // operands.
  if (tensorCoreWarps != 0)
    pm.addNestedPass<func::FuncOp>(
        createConvertSQAToNVGPUPass(getTensorCorePassOptions(strict)));
  pm.addNestedPass<func::FuncOp>(createConvertMathToNVVMIntrinsicsPass());

  // Outline the kernels. Sinking constants and memref.dim into the launch
  // body leaves the memrefs as the only kernel operands: the ABI of the
  // kernel libraries.
  pm.addPass(createGpuLaunchSinkIndexComputationsPass());
  pm.addPass(createGpuKernelOutliningPass());
  pm.addNestedPass<gpu::GPUModuleOp>(createCheckPTXSymbolsPass());
  SetNVVMLaunchBoundsPassOptions occupancy;
  occupancy.minBlocksPerSM = options.minBlocksPerSM;
  pm.addNestedPass<gpu::GPUModuleOp>(createSetNVVMLaunchBoundsPass(occupancy));

  GpuNVVMAttachTargetOptions targetOptions;
  targetOptions.chip = options.chip;
  targetOptions.features = options.features;
  targetOptions.optLevel = options.optLevel;
  pm.addPass(createGpuNVVMAttachTarget(targetOptions));
}

void mlir::sqa::buildGPUSerializationPipeline(
    OpPassManager &pm, const GPUPipelineOptions &options) {
  // Kernels to NVVM. Arith and vector ops are lowered before
  // convert-gpu-to-nvvm so that they become LLVM intrinsics rather than
  // libdevice calls.
  OpPassManager &kernels = pm.nest<gpu::GPUModuleOp>();
  kernels.addPass(createConvertNVGPUToNVVMPass());
  kernels.addPass(memref::createExpandStridedMetadataPass());
  kernels.addPass(createLowerAffinePass());
  kernels.addPass(createSCFToControlFlowPass());
  kernels.addPass(createConvertVectorToLLVMPass());
  kernels.addPass(createArithToLLVMConversionPass());
  kernels.addPass(createConvertIndexToLLVMPass());
  kernels.addPass(createConvertGpuOpsToNVVMOps());
  kernels.addPass(createExternDynamicSharedMemoryPass());
  kernels.addPass(createCanonicalizerPass());
  kernels.addPass(createCSEPass());
  kernels.addPass(createReconcileUnrealizedCastsPass());
  // After the index arithmetic is folded: the copies' addresses are then
  // recognisable as one base plus constant offsets.
  kernels.addPass(createCpAsyncL2PrefetchPass());

  // Host to LLVM.
  pm.addPass(memref::createExpandStridedMetadataPass());
  pm.addPass(createLowerAffinePass());
  pm.addPass(createSCFToControlFlowPass());
  pm.addPass(createConvertVectorToLLVMPass());
  pm.addPass(createFinalizeMemRefToLLVMConversionPass());
  pm.addPass(createArithToLLVMConversionPass());
  pm.addPass(createConvertIndexToLLVMPass());
  pm.addPass(createConvertControlFlowToLLVMPass());
  pm.addPass(createConvertFuncToLLVMPass());
  pm.addPass(createGpuToLLVMConversionPass());
  addCanonicalizeAndCSE(pm);
  pm.addPass(createReconcileUnrealizedCastsPass());

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
  // The schedule's knobs (kernel=rowwise uses no tensor-core kernel, so its
  // warps are not read).
  if (std::string error = checkScheduleKnobs(
          options.kernel == GPUKernel::Rowwise ? 4 : options.warps.getValue(),
          options.keyBlock.getValue(), options.warpRows.getValue());
      !error.empty()) {
    emitError(error);
    return failure();
  }
  // The row-wise kernel takes one thread per row, at most CUDA's 1024 per
  // block; NVVM's opt levels are 0-3.
  auto checkRange = [&](StringRef name, int64_t value, int64_t lowest,
                        int64_t highest, StringRef note) {
    if (value >= lowest && value <= highest)
      return success();
    emitError(llvm::formatv("{0} {1} must be in [{2}, {3}]{4}", name, value,
                            lowest, highest, note)
                  .str());
    return failure();
  };
  if (failed(checkRange("rows-per-block", options.rowsPerBlock, 1, 1024,
                        " (one thread per row)")) ||
      failed(checkRange("opt-level", options.optLevel, 0, 3, "")))
    return failure();
  if (number < 80) {
    emitError("chip '" + chip +
              "' is too old: the kernels need sm_80 or newer (cp.async, "
              "ldmatrix, bf16 mma.sync)");
    return failure();
  }

  // What LLVM's NVPTX backend knows: an unknown chip or feature would only
  // print a warning there and be ignored. The registration writes LLVM's
  // global target registry: once per process, so that hosts calling the C
  // API from several threads do not race on it.
  static llvm::once_flag registerNVPTX;
  llvm::call_once(registerNVPTX, [] {
    LLVMInitializeNVPTXTargetInfo();
    LLVMInitializeNVPTXTargetMC();
  });
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
      [](function_ref<void(const mlir::detail::PassOptions &)> optHandler) {
        optHandler(GPUPipelineOptions());
      });
}
