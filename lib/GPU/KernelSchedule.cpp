//===- KernelSchedule.cpp - Tile schedules of the GPU kernels -------------===//

#include "sqa/GPU/KernelSchedule.h"

#include "sqa/GPU/WarpTensorCore.h"

#include "mlir/IR/TypeUtilities.h"

#include <algorithm>

using namespace mlir;
using namespace mlir::sqa;

/// Why the tensor-core kernels of `op` (the forward kernel of sqa.attention,
/// the backward kernels of sqa.attention_grad) cannot take its operands with
/// `options`, or an empty string: f16 or bf16 query, key and value, head
/// dims the kernels were swept and checked at, 1 to 16 warps.
static std::string
getTensorCoreOperandIncompatibility(AttentionOpInterface op,
                                    const TensorCoreKernelOptions &options) {
  Type elementType = op.getQueryType().getElementType();
  // The forward kernel takes FlashAttention-2's head dims (multiples of 32
  // up to 256) and the other multiples of 16 up to 96 (16, 48, 80, which
  // FlashAttention-2 pads to the next multiple of 32): those its spill
  // sweeps and emulated cases cover. From 112 on, odd multiples of 16 spill
  // somewhere (measured: 112 beside D 128, 240 with a causal mask) at every
  // budget for held Q tried. The backward's go up to 160, where its dK/dV
  // kernel's f32 dK and dV accumulators ((D + Dv) / 2 registers per thread)
  // leave room in 255: at 192 the kernels spill (measured: 8 to 36 bytes
  // with reverse SQA).
  bool isForward = isa<AttentionOp>(op.getOperation());
  StringRef kernel = isForward ? "kernel" : "backward";
  auto isHeadDim = [&](int64_t dim) {
    if (isForward)
      return dim % 16 == 0 && dim >= 16 &&
             (dim <= 96 || (dim % 32 == 0 && dim <= 256));
    return dim == 16 || (dim % 32 == 0 && dim >= 32 && dim <= 160);
  };
  if (!elementType.isF16() && !elementType.isBF16())
    return ("the tensor-core " + kernel + " needs f16 or bf16 operands").str();
  // The kernels copy rows in 16-byte chunks (cp.async, vector stores): a
  // row's elements must be contiguous.
  for (Value operand : op->getOperands())
    if (auto type = dyn_cast<MemRefType>(operand.getType());
        type && !(type.isStrided() && type.isLastDimUnitStride()))
      return ("the tensor-core " + kernel +
              " needs memrefs with a unit innermost stride")
          .str();
  if (!isHeadDim(op.getHeadDim()) || !isHeadDim(op.getValueHeadDim()))
    return ("the tensor-core " + kernel +
            (isForward ? " supports head dims 16 to 96 in steps of 16, and "
                         "128, 160, 192, 224 and 256"
                       : " supports head dims 16, 32, 64, 96, 128 and 160"))
        .str();
  if (options.numWarps < 1 || options.numWarps > 16)
    return ("the tensor-core " + kernel + " needs 1 to 16 warps").str();
  return "";
}

/// The kernel options of `op`: those of its `sqa.schedule` when it carries
/// one (chosen once, by sqa-choose-schedule or by the producer of the IR),
/// else `options`. The plans are derived from these, so that an op's
/// schedule is read, never re-derived.
static TensorCoreKernelOptions
getScheduledKernelOptions(Operation *op,
                          const TensorCoreKernelOptions &options) {
  auto schedule = op->getAttrOfType<ScheduleAttr>(
      SQADialect::getScheduleAttrName());
  if (!schedule)
    return options;
  TensorCoreKernelOptions scheduled;
  scheduled.numWarps = schedule.getWarps();
  scheduled.keyBlock = schedule.getKvBlock();
  scheduled.warpRows = schedule.getWarpRows();
  return scheduled;
}

/// Bytes of a 16-bit element.
static constexpr int64_t kElementBytes = 2;

/// 32-bit registers per thread of one row tile's f32 accumulators over
/// `columns` columns (4 per 8-column C fragment), and of its A fragments
/// over `columns` columns (4 per 16-column fragment of 16-bit pairs).
static int64_t getAccumulatorRegisters(int64_t columns) {
  return 4 * columns / kMmaN;
}
static int64_t getFragmentRegisters(int64_t columns) {
  return 4 * columns / kMmaK;
}

SmallVector<int64_t> SharedTile::getAllocatedShape() const {
  SmallVector<int64_t> allocated(shape);
  if (!isF32)
    allocated.back() = getSharedRowElements(allocated.back());
  return allocated;
}

int64_t SharedTile::getBytes() const {
  int64_t elements = 1;
  for (int64_t size : getAllocatedShape())
    elements *= size;
  return elements * (isF32 ? 4 : kElementBytes);
}

SharedLayout mlir::sqa::layoutSharedTiles(ArrayRef<SharedTile> tiles) {
  SharedLayout layout;
  for (const SharedTile &tile : tiles) {
    layout.bytes = llvm::alignTo(layout.bytes, 16);
    layout.offsets.push_back(layout.bytes);
    layout.bytes += tile.getBytes();
  }
  return layout;
}

/// The forward kernel's shared tiles with `rows` query rows per block and
/// `keys` per kv-block: the Q tile and one K and one V block (K of the next
/// block is copied while V of this one is read, and V while K is, as in
/// FlashAttention-2).
static SmallVector<SharedTile, 3> getForwardTiles(AttentionOp op, int64_t rows,
                                                  int64_t keys) {
  return {SharedTile{{rows, op.getHeadDim()}},
          SharedTile{{keys, op.getHeadDim()}},
          SharedTile{{keys, op.getValueHeadDim()}}};
}

static int64_t getForwardSharedBytes(AttentionOp op, int64_t rows,
                                     int64_t keys) {
  return layoutSharedTiles(getForwardTiles(op, rows, keys)).bytes;
}

/// Registers per thread that the f32 accumulators of two row tiles (O and
/// one block of S: Dv + kv-block registers) may take: 192, FlashAttention-2's
/// 128-key blocks at head dim 64 and 64-key blocks at 128, once P is rounded
/// before O is rescaled, a tile's copies share one pointer
/// (sqa-cp-async-l2-prefetch) and the loop's index arithmetic is 32-bit;
/// 176 where D is not a multiple of 64 and 160 where D or Dv is an odd
/// multiple of 16. Measured with the spill sweeps (spill_sweep.py forward
/// and forward-large): at 192, D 16 to 96 beside Dv 64 or 128 spill 4 to 28
/// bytes with a causal mask; at 176, Dv 48 spills 8 to 48 bytes with a
/// window.
static int64_t getTwoRowTileBudget(AttentionOp op) {
  auto isOddMultipleOf16 = [](int64_t dim) { return dim % 32 != 0; };
  if (isOddMultipleOf16(op.getHeadDim()) ||
      isOddMultipleOf16(op.getValueHeadDim()))
    return 160;
  return op.getHeadDim() % 64 == 0 ? 192 : 176;
}

/// 16-byte copies per thread of one K or V block that the default kv-block
/// allows.
static constexpr int64_t kMaxCopiesPerThread = 8;

namespace {
/// The forward kernel's tiles: query rows per warp and keys per kv-block.
struct ForwardTiles {
  int64_t warpRows, keyBlock;
};
} // namespace

/// The forward kernel's tiles with `options`, their zeros resolved: the
/// first that fits of two row tiles per warp (FlashAttention-2's 128-row
/// blocks of 4 warps), then one, each with FlashAttention-2's kv-block (128
/// up to head dim 64, else 64), then its halves down to 32 for two row tiles
/// and 16 for one. Two row tiles fit where their f32 accumulators take at most
/// getTwoRowTileBudget registers; the tiles of either fit in
/// kPreferredSharedMemory (two blocks per SM), or, where no choice does, one
/// row tile's in kMaxSharedMemory.
static ForwardTiles chooseForwardTiles(AttentionOp op,
                                       const TensorCoreKernelOptions &options) {
  int64_t valueHeadDim = op.getValueHeadDim();
  int64_t preferredKeys =
      std::max(op.getHeadDim(), valueHeadDim) > 64 ? 64 : 128;
  SmallVector<int64_t, 2> rowChoices =
      options.warpRows > 0 ? SmallVector<int64_t, 2>{options.warpRows}
                           : SmallVector<int64_t, 2>{2 * kMmaM, kMmaM};
  SmallVector<int64_t, 4> keyChoices;
  if (options.keyBlock > 0)
    keyChoices.push_back(options.keyBlock);
  else
    for (int64_t keys = preferredKeys; keys >= kMmaK; keys /= 2)
      keyChoices.push_back(keys);
  for (int64_t sharedLimit : {kPreferredSharedMemory, kMaxSharedMemory}) {
    for (int64_t warpRows : rowChoices) {
      if (warpRows != kMmaM && sharedLimit != kPreferredSharedMemory)
        continue;
      for (int64_t keys : keyChoices) {
        // A default kv-block gives each thread at most 8 copies of a K or V
        // block, as the default 4-warp tiles do: each copy's address takes
        // registers for the loop (measured: with 1 or 2 warps, D 64 with a
        // causal mask spills 8 to 12 bytes at 128 keys, D 128 with a window
        // 136 at 64, and neither at half the keys).
        if (options.keyBlock == 0 &&
            keys * std::max(op.getHeadDim(), valueHeadDim) / kChunkElements >
                kMaxCopiesPerThread * options.numWarps * kThreadsPerWarp)
          continue;
        // Two row tiles with a default kv-block take 32 keys or more: below
        // that, one row tile with a larger block does less work per key.
        if (warpRows != kMmaM &&
            (valueHeadDim + keys > getTwoRowTileBudget(op) ||
             (options.keyBlock == 0 && keys < 2 * kMmaK)))
          continue;
        if (getForwardSharedBytes(op, warpRows * options.numWarps, keys) <=
            sharedLimit)
          return {warpRows, keys};
      }
    }
  }
  // Nothing fits: the last choice, which getTensorCoreIncompatibility
  // reports where its tiles exceed kMaxSharedMemory.
  return {rowChoices.back(), keyChoices.back()};
}

/// How many k-steps of each warp's Q fragments the forward kernel with
/// `tiles` keeps in registers (ForwardPlan::heldQuerySteps).
static int64_t getHeldQuerySteps(AttentionOp op, ForwardTiles tiles) {
  int64_t rowTiles = tiles.warpRows / kMmaM;
  int64_t accumulators =
      rowTiles * getAccumulatorRegisters(op.getValueHeadDim() + tiles.keyBlock);
  // The budget and its reductions are measured (spill_sweep.py, forward and
  // forward-large): at 192, a causal mask spills with 1 k-step held beside
  // 176 registers of accumulators (D 64, Dv 48, kv-block 128), and a window
  // with 2 beside 160 (D 64, Dv 32) and 6 beside 128 (D 128, Dv 64).
  int64_t budget = 192;
  if (op.getMaskKind() != MaskKind::none || op.getWindow())
    budget -= 16;
  if (op.getWindow())
    budget -= 16;
  if (op.getHeadDim() % 64 != 0)
    budget -= 8;
  // Measured: with D or Dv an odd multiple of 16 (80 beside 128, 112 beside
  // 128), ptxas needs more registers beside the same accumulators.
  if (op.getHeadDim() % 32 != 0 || op.getValueHeadDim() % 32 != 0)
    budget -= 8;
  int64_t held =
      (budget - accumulators) / (rowTiles * getFragmentRegisters(kMmaK));
  return std::clamp<int64_t>(held, 0, op.getHeadDim() / kMmaK);
}

/// The softmax reference of the forward kernel trails the row max by 2^8 in
/// exp2 units (FlashAttention-4's threshold): P <= 2^8 stays exact in f16 and
/// bf16 and far from overflow in the f32 sums, and after a row's first
/// blocks its reference nearly never moves.
static constexpr float kReferenceTrail = 8.0f;

ForwardPlan mlir::sqa::getForwardPlan(AttentionOp op,
                                      const TensorCoreKernelOptions &passOptions) {
  TensorCoreKernelOptions options = getScheduledKernelOptions(op, passOptions);
  ForwardTiles tiles = chooseForwardTiles(op, options);
  ForwardPlan plan;
  plan.numWarps = options.numWarps;
  plan.warpRows = tiles.warpRows;
  plan.rowTiles = tiles.warpRows / kMmaM;
  plan.blockRows = tiles.warpRows * options.numWarps;
  plan.keyBlock = tiles.keyBlock;
  plan.heldQuerySteps = getHeldQuerySteps(op, tiles);
  plan.referenceTrail = kReferenceTrail;
  plan.tiles = getForwardTiles(op, plan.blockRows, plan.keyBlock);
  plan.shared = layoutSharedTiles(plan.tiles);
  return plan;
}

ScheduleAttr mlir::sqa::chooseSchedule(Operation *op,
                                       const TensorCoreKernelOptions &options) {
  MLIRContext *context = op->getContext();
  if (auto grad = dyn_cast<AttentionGradOp>(op)) {
    GradPlan plan = getGradPlan(grad, options);
    return ScheduleAttr::get(context, plan.queryWarps, plan.keyBlock, kMmaM,
                             plan.keyWarps, plan.queryBlock);
  }
  ForwardPlan plan = getForwardPlan(cast<AttentionOp>(op), options);
  return ScheduleAttr::get(context, plan.numWarps, plan.keyBlock,
                           plan.warpRows, /*kv_warps=*/0, /*q_block=*/0);
}

std::string mlir::sqa::checkScheduleKnobs(int64_t numWarps, int64_t keyBlock,
                                          int64_t warpRows) {
  std::string message;
  llvm::raw_string_ostream os(message);
  if (numWarps < 1 || numWarps > 16)
    os << "warps must be in [1, 16], got " << numWarps;
  else if (keyBlock != 0 && !isTensorCoreBlock(keyBlock))
    os << "kv-block must be 0 (the default) or a multiple of 16 in [16, 256], "
          "got "
       << keyBlock;
  else if (warpRows != 0 && warpRows != kMmaM && warpRows != 2 * kMmaM)
    os << "warp-rows must be 0 (the default), 16 or 32, got " << warpRows;
  return message;
}

FailureOr<TensorCoreKernelOptions>
mlir::sqa::getPassKernelOptions(Operation *root, StringRef passName,
                                int64_t numWarps, int64_t keyBlock,
                                int64_t warpRows) {
  std::string error = checkScheduleKnobs(numWarps, keyBlock, warpRows);
  if (!error.empty())
    return emitError(root->getLoc()) << passName << ": " << error;
  TensorCoreKernelOptions options;
  options.numWarps = numWarps;
  options.keyBlock = keyBlock;
  options.warpRows = warpRows;
  return options;
}

std::string mlir::sqa::getTensorCoreIncompatibility(
    AttentionOp op, const TensorCoreKernelOptions &passOptions) {
  TensorCoreKernelOptions options = getScheduledKernelOptions(op, passOptions);
  std::string reason =
      getTensorCoreOperandIncompatibility(op, options);
  if (!reason.empty())
    return reason;
  ForwardPlan plan = getForwardPlan(op, options);
  if (!isTensorCoreBlock(plan.keyBlock))
    return "the kv-block of the tensor-core kernel must be a multiple of 16 "
           "in [16, 256]";
  if (plan.warpRows != kMmaM && plan.warpRows != 2 * kMmaM)
    return "the tensor-core kernel takes 16 or 32 query rows per warp";
  if (plan.shared.bytes > kMaxSharedMemory)
    return "the tiles of the tensor-core kernel exceed 99 KiB of shared "
           "memory; use fewer warps or rows per warp, or a smaller kv-block";
  return "";
}

/// The tiles and layouts of `plan`'s two kernels from its warps and blocks.
static void layoutGradTiles(GradPlan &plan, int64_t headDim,
                            int64_t valueHeadDim) {
  int64_t keys = kMmaM * plan.keyWarps, queryBlock = plan.queryBlock;
  plan.keyValueTiles = {SharedTile{{keys, headDim}},
                        SharedTile{{keys, valueHeadDim}},
                        SharedTile{{2, queryBlock, headDim}},
                        SharedTile{{2, queryBlock, valueHeadDim}},
                        SharedTile{{queryBlock}, /*isF32=*/true},
                        SharedTile{{queryBlock}, /*isF32=*/true}};
  plan.keyValueShared = layoutSharedTiles(plan.keyValueTiles);
  int64_t rows = kMmaM * plan.queryWarps;
  plan.queryTiles = {SharedTile{{rows, std::max(headDim, valueHeadDim)}},
                     SharedTile{{2, plan.keyBlock, headDim}},
                     SharedTile{{2, plan.keyBlock, valueHeadDim}}};
  plan.queryShared = layoutSharedTiles(plan.queryTiles);
}

GradPlan mlir::sqa::getGradPlan(AttentionGradOp op,
                                const TensorCoreKernelOptions &options) {
  int64_t headDim = op.getHeadDim(), valueHeadDim = op.getValueHeadDim();
  GradPlan schedule;
  // Two f32 accumulators of 16 x D per warp leave room for the K and V
  // fragments only at small head dims (255 registers).
  schedule.holdKeyValueFragments = headDim + valueHeadDim <= 128;
  if (auto attr = op->getAttrOfType<ScheduleAttr>(
          SQADialect::getScheduleAttrName())) {
    schedule.queryWarps = attr.getWarps();
    schedule.keyBlock = attr.getKvBlock();
    schedule.keyWarps = attr.getKvWarps();
    schedule.queryBlock = attr.getQBlock();
    layoutGradTiles(schedule, headDim, valueHeadDim);
    return schedule;
  }
  schedule.keyWarps = schedule.queryWarps = options.numWarps;
  if (options.keyBlock > 0) {
    schedule.keyBlock = schedule.queryBlock = options.keyBlock;
  } else {
    schedule.keyBlock = headDim >= 128 || valueHeadDim >= 128 ? 16 : 64;
    schedule.queryBlock = 64;
  }
  auto tooLarge = [&] {
    layoutGradTiles(schedule, headDim, valueHeadDim);
    return schedule.keyValueShared.bytes > kPreferredSharedMemory;
  };
  while (tooLarge() && schedule.queryBlock / 2 % kMmaK == 0 &&
         schedule.queryBlock > kMmaK)
    schedule.queryBlock /= 2;
  while (tooLarge() && schedule.keyWarps > 1)
    schedule.keyWarps /= 2;
  layoutGradTiles(schedule, headDim, valueHeadDim);
  return schedule;
}

std::string
mlir::sqa::getTensorCoreIncompatibility(AttentionGradOp op,
                                        const TensorCoreKernelOptions &options) {
  std::string reason =
      getTensorCoreOperandIncompatibility(op, options);
  if (!reason.empty())
    return reason;
  // The options' warp rows are the forward kernel's; a schedule on the op
  // is the backward's own.
  if (auto attr = op->getAttrOfType<ScheduleAttr>(
          SQADialect::getScheduleAttrName());
      attr && attr.getWarpRows() != kMmaM)
    return "the tensor-core backward takes 16 query rows per warp";
  if (getElementTypeOrSelf(op.getDout().getType()) !=
      op.getQueryType().getElementType())
    return "the tensor-core backward needs out and dout in the query's "
           "element type";
  GradPlan plan = getGradPlan(op, options);
  for (int64_t block : {plan.keyBlock, plan.queryBlock})
    if (!isTensorCoreBlock(block))
      return "the blocks of the tensor-core backward must be multiples of 16 "
             "in [16, 256]";
  if (plan.keyValueShared.bytes > kMaxSharedMemory ||
      plan.queryShared.bytes > kMaxSharedMemory)
    return "the tiles of the tensor-core backward exceed 99 KiB of shared "
           "memory; use fewer warps or a smaller kv-block";
  return "";
}

