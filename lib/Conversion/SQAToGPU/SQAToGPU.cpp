//===- SQAToGPU.cpp - The GPU-mapped level of sqa.attention ---------------===//
//
// L2 of the design (ARCHITECTURE.md, section 4): FlashAttention-2's schedule
// for one buffer-semantics sqa.attention, mapped to GPU blocks and warps but
// written with target-independent ops (vector.contract, multi_reduction,
// transfer ops on workgroup buffers), so that the same schedule can be run on
// the CPU by sqa-gpu-mapped-to-cpu. The block and tile sizes, the kv-blocks
// visited (buildKeyBlockSchedule) and the masking rule
// (buildKeyBlockIsFullyVisible, buildVisibleKeyRange) are the helpers that
// the tensor-core kernel of convert-sqa-to-nvgpu uses too.
//
//===----------------------------------------------------------------------===//

#include "sqa/Conversion/SQAToGPU/SQAToGPU.h"


#include "sqa/GPU/HostExecution.h"
#include "sqa/GPU/KernelSchedule.h"
#include "sqa/Dialect/SQA/IR/SQAOps.h"
#include "sqa/Dialect/SQA/Utils/AttentionUtils.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/WalkPatternRewriteDriver.h"

#include <cmath>
#include <limits>

namespace mlir {
namespace sqa {
#define GEN_PASS_DEF_SQAMAPTOGPUPASS
#define GEN_PASS_DEF_SQAGPUMAPPEDTOCPUPASS
#include "sqa/Conversion/Passes.h.inc"
} // namespace sqa
} // namespace mlir

using namespace mlir;
using namespace mlir::sqa;

namespace {
/// Builds the body of the block-level scf.forall for one op.
class MappedKernelBuilder {
public:
  MappedKernelBuilder(OpBuilder &b, Location loc, AttentionOp op,
                      const TensorCoreKernelOptions &options)
      : b(b), loc(loc), op(op), numWarps(options.numWarps),
        warpRows(getTensorCoreWarpRows(op, options)),
        blockRows(warpRows * options.numWarps),
        keyBlock(getTensorCoreKeyBlock(op, options)), headDim(op.getHeadDim()),
        valueHeadDim(op.getValueHeadDim()),
        elementType(op.getQueryType().getElementType()), f32(b.getF32Type()) {}

  /// Builds the work of block (`queryBlock`, `head`, `batch`) at the
  /// insertion point.
  void build(Value queryBlock, Value head, Value batch);

private:
  Value index(int64_t value) {
    return arith::ConstantIndexOp::create(b, loc, value);
  }
  Value splat(ArrayRef<int64_t> shape, float value) {
    return createScalarOrSplatConstant(b, loc, VectorType::get(shape, f32),
                                       APFloat(value));
  }
  /// `rows` (vector<warpRows x f32>) repeated along `columns` columns.
  Value broadcastRows(Value rows, int64_t columns) {
    Value column = vector::ShapeCastOp::create(
        b, loc, VectorType::get({warpRows, 1}, f32), rows);
    return vector::BroadcastOp::create(
        b, loc, VectorType::get({warpRows, columns}, f32), column);
  }
  Value reduceRows(Value matrix, vector::CombiningKind kind, float init) {
    return vector::MultiDimReductionOp::create(
        b, loc, matrix, splat({warpRows}, init), ArrayRef<bool>{false, true},
        kind);
  }

  /// Copies rows [rowStart, rowStart + rows) of `source[batch, head]` into
  /// `tile` (at `stage` when given); rows at or past the sequence end read
  /// as zeros, as cp.async's zero-fill does on the GPU.
  void copyTile(Value source, Value batch, Value head, Value rowStart,
                int64_t rows, int64_t width, Value tile,
                std::optional<Value> stage);
  /// Rows [row, row + rows) of `tile` (at `stage`), in f32.
  Value readTile(Value tile, std::optional<Value> stage, Value row,
                 int64_t rows, int64_t width);
  /// The visible-key mask of the warp's rows [row0, row0 + 16) against keys
  /// [blockStart, blockStart + keyBlock).
  Value buildMask(Value row0, Value blockStart, Value querySeqLen,
                  Value keySeqLen);

  OpBuilder &b;
  Location loc;
  AttentionOp op;
  int64_t numWarps, warpRows, blockRows, keyBlock, headDim, valueHeadDim;
  Type elementType, f32;
};
} // namespace

void MappedKernelBuilder::copyTile(Value source, Value batch, Value head,
                                   Value rowStart, int64_t rows, int64_t width,
                                   Value tile, std::optional<Value> stage) {
  Value zero = arith::ConstantOp::create(b, loc, b.getZeroAttr(elementType));
  auto type = VectorType::get({rows, width}, elementType);
  Value data = vector::TransferReadOp::create(
      b, loc, type, source, ValueRange{batch, head, rowStart, index(0)}, zero,
      ArrayRef<bool>{false, true});
  SmallVector<Value> indices;
  if (stage)
    indices.push_back(*stage);
  indices.append({index(0), index(0)});
  vector::TransferWriteOp::create(b, loc, data, tile, indices,
                                  ArrayRef<bool>{true, true});
}

Value MappedKernelBuilder::readTile(Value tile, std::optional<Value> stage,
                                    Value row, int64_t rows, int64_t width) {
  Value zero = arith::ConstantOp::create(b, loc, b.getZeroAttr(elementType));
  SmallVector<Value> indices;
  if (stage)
    indices.push_back(*stage);
  indices.append({row, index(0)});
  Value data = vector::TransferReadOp::create(
      b, loc, VectorType::get({rows, width}, elementType), tile, indices, zero,
      ArrayRef<bool>{true, true});
  return buildExtendToF32(b, loc, data);
}

Value MappedKernelBuilder::buildMask(Value row0, Value blockStart,
                                     Value querySeqLen, Value keySeqLen) {
  auto indexVector = [&](int64_t size) {
    return VectorType::get({size}, b.getIndexType());
  };
  auto matrixType = VectorType::get({warpRows, keyBlock}, b.getIndexType());
  Value rows = arith::AddIOp::create(
      b, loc, vector::BroadcastOp::create(b, loc, indexVector(warpRows), row0),
      vector::StepOp::create(b, loc, indexVector(warpRows)));
  KeyRange range =
      buildVisibleKeyRange(b, loc, op, rows, querySeqLen, keySeqLen);
  // Key j of the block in column j of every row; each row's bounds in every
  // column of that row.
  Value keys = vector::BroadcastOp::create(
      b, loc, matrixType,
      arith::AddIOp::create(
          b, loc,
          vector::BroadcastOp::create(b, loc, indexVector(keyBlock),
                                      blockStart),
          vector::StepOp::create(b, loc, indexVector(keyBlock))));
  auto alongRows = [&](Value bound) -> Value {
    Value column = vector::ShapeCastOp::create(
        b, loc, VectorType::get({warpRows, 1}, b.getIndexType()), bound);
    return vector::BroadcastOp::create(b, loc, matrixType, column);
  };
  return arith::AndIOp::create(
      b, loc,
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sge, keys,
                            alongRows(range.begin)),
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, keys,
                            alongRows(range.end)));
}

void MappedKernelBuilder::build(Value queryBlock, Value head, Value batch) {
  MLIRContext *ctx = b.getContext();
  const float negInf = -std::numeric_limits<float>::infinity();
  Value query = op.getQuery(), key = op.getKey(), value = op.getValue();
  Value querySeqLen = memref::DimOp::create(b, loc, query, 2);
  Value keySeqLen = memref::DimOp::create(b, loc, key, 2);

  // Workgroup memory: the Q tile and two stages of K and V.
  auto workgroup =
      gpu::AddressSpaceAttr::get(ctx, gpu::AddressSpace::Workgroup);
  auto sharedType = [&](ArrayRef<int64_t> shape) {
    return MemRefType::get(shape, elementType, MemRefLayoutAttrInterface(),
                           workgroup);
  };
  Value sharedQ =
      memref::AllocOp::create(b, loc, sharedType({blockRows, headDim}));
  Value sharedK =
      memref::AllocOp::create(b, loc, sharedType({2, keyBlock, headDim}));
  Value sharedV =
      memref::AllocOp::create(b, loc, sharedType({2, keyBlock, valueHeadDim}));

  auto [queryHead, kvHead] = buildHeadsRead(b, loc, op, head);
  Value firstRow = arith::MulIOp::create(b, loc, queryBlock, index(blockRows));
  KeyBlockSchedule schedule = buildKeyBlockSchedule(
      b, loc, op, firstRow, blockRows, keyBlock, querySeqLen, keySeqLen);

  auto warps = scf::ForallOp::create(
      b, loc, ArrayRef<OpFoldResult>{b.getIndexAttr(numWarps)}, ValueRange{},
      b.getArrayAttr(
          {gpu::GPUWarpMappingAttr::get(ctx, gpu::MappingId::DimX)}));
  OpBuilder::InsertionGuard warpGuard(b);
  b.setInsertionPoint(warps.getBody()->getTerminator());
  Value warp = warps.getInductionVar(0);

  // Block-cooperative prologue: the Q tile and the first K/V stage.
  auto copyKeyValueBlock = [&](Value block, Value stage) {
    Value start = arith::MulIOp::create(b, loc, block, index(keyBlock));
    copyTile(key, batch, kvHead, start, keyBlock, headDim, sharedK, stage);
    copyTile(value, batch, kvHead, start, keyBlock, valueHeadDim, sharedV,
             stage);
  };
  copyTile(query, batch, queryHead, firstRow, blockRows, headDim, sharedQ,
           std::nullopt);
  Value hasBlocks = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt,
                                          schedule.begin, schedule.end);
  {
    auto ifOp = scf::IfOp::create(b, loc, hasBlocks, /*withElseRegion=*/false);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPoint(ifOp.thenBlock()->getTerminator());
    copyKeyValueBlock(schedule.begin, index(0));
  }
  gpu::BarrierOp::create(b, loc);

  Value warpRow = arith::MulIOp::create(b, loc, warp, index(warpRows));
  Value row0 = arith::AddIOp::create(b, loc, firstRow, warpRow);
  Value queryTile =
      readTile(sharedQ, std::nullopt, warpRow, warpRows, headDim);

  OnlineSoftmax softmax(op.getScaleLog2());
  AffineExpr m, n, k;
  bindDims(ctx, m, n, k);
  auto parallel = vector::IteratorType::parallel;
  auto reduction = vector::IteratorType::reduction;

  SmallVector<Value> inits = {splat({warpRows}, negInf),
                              splat({warpRows}, 0.0f),
                              splat({warpRows, valueHeadDim}, 0.0f)};
  auto loop =
      scf::ForOp::create(b, loc, schedule.begin, schedule.end, index(1), inits);
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(loop.getBody());
    Value block = loop.getInductionVar();
    Value reference = loop.getRegionIterArgs()[0];
    Value rowSum = loop.getRegionIterArgs()[1];
    Value acc = loop.getRegionIterArgs()[2];
    Value stage = arith::RemUIOp::create(
        b, loc, arith::SubIOp::create(b, loc, block, schedule.begin), index(2));

    // Stage block j + 1 in the other buffers, then wait for block j.
    Value next = arith::AddIOp::create(b, loc, block, index(1));
    Value hasNext = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt,
                                          next, schedule.end);
    {
      auto ifOp = scf::IfOp::create(b, loc, hasNext, /*withElseRegion=*/false);
      OpBuilder::InsertionGuard ifGuard(b);
      b.setInsertionPoint(ifOp.thenBlock()->getTerminator());
      copyKeyValueBlock(next, arith::SubIOp::create(b, loc, index(1), stage));
    }
    gpu::BarrierOp::create(b, loc);

    // S = Q Kᵀ, in raw units.
    Value keyTile = readTile(sharedK, stage, index(0), keyBlock, headDim);
    Value scores = vector::ContractionOp::create(
        b, loc, queryTile, keyTile, splat({warpRows, keyBlock}, 0.0f),
        ArrayRef<ArrayRef<AffineExpr>>{{m, k}, {n, k}, {m, n}},
        ArrayRef<vector::IteratorType>{parallel, parallel, reduction});

    // Mask the scores of a partly visible block.
    Value blockStart = arith::MulIOp::create(b, loc, block, index(keyBlock));
    Value fullyVisible =
        buildKeyBlockIsFullyVisible(b, loc, schedule, blockStart, keyBlock);
    auto maskIf = scf::IfOp::create(b, loc, TypeRange{scores.getType()},
                                    fullyVisible, /*withElseRegion=*/true);
    {
      OpBuilder::InsertionGuard ifGuard(b);
      b.setInsertionPointToStart(maskIf.thenBlock());
      scf::YieldOp::create(b, loc, scores);
      b.setInsertionPointToStart(maskIf.elseBlock());
      Value mask = buildMask(row0, blockStart, querySeqLen, keySeqLen);
      scf::YieldOp::create(
          b, loc,
          ValueRange{arith::SelectOp::create(
              b, loc, mask, scores, splat({warpRows, keyBlock}, negInf))});
    }
    scores = maskIf.getResult(0);

    // The online softmax (OnlineSoftmax), scale * log2(e) folded into one
    // fma, as on the GPU.
    Value newReference = softmax.buildReference(
        b, loc, reference,
        reduceRows(scores, vector::CombiningKind::MAXNUMF, negInf));
    Value shift = softmax.buildShift(b, loc, newReference);
    Value correction = softmax.buildCorrection(b, loc, reference, shift);
    Value probs = softmax.buildExponent(b, loc, scores,
                                        broadcastRows(shift, keyBlock));
    Value newSum = math::FmaOp::create(
        b, loc, rowSum, correction,
        reduceRows(probs, vector::CombiningKind::ADD, 0.0f));

    // O = O * correction + P V, with P rounded to the element type: the A
    // operand of the tensor-core product.
    if (elementType != f32)
      probs = buildExtendToF32(
          b, loc, buildTruncateFromF32(b, loc, probs, elementType));
    Value valueTile =
        readTile(sharedV, stage, index(0), keyBlock, valueHeadDim);
    Value scaledAcc = arith::MulFOp::create(
        b, loc, acc, broadcastRows(correction, valueHeadDim));
    Value newAcc = vector::ContractionOp::create(
        b, loc, probs, valueTile, scaledAcc,
        ArrayRef<ArrayRef<AffineExpr>>{{m, k}, {k, n}, {m, n}},
        ArrayRef<vector::IteratorType>{parallel, parallel, reduction});
    // The next iteration's staging overwrites the buffers read here.
    gpu::BarrierOp::create(b, loc);
    scf::YieldOp::create(b, loc, ValueRange{newReference, newSum, newAcc});
  }

  // Epilogue: out = O / l (0 where l = 0) and lse; rows past the sequence end
  // are out of bounds of the writes and dropped.
  Value finalReference = loop.getResult(0), finalSum = loop.getResult(1);
  Value seen = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGT,
                                     finalSum, splat({warpRows}, 0.0f));
  Value inverse = arith::SelectOp::create(
      b, loc, seen,
      arith::DivFOp::create(b, loc, splat({warpRows}, 1.0f), finalSum),
      splat({warpRows}, 0.0f));
  Value out = arith::MulFOp::create(b, loc, loop.getResult(2),
                                    broadcastRows(inverse, valueHeadDim));
  out = buildTruncateFromF32(b, loc, out, op.getOutputType().getElementType());
  vector::TransferWriteOp::create(b, loc, out, op.getOutput(),
                                  ValueRange{batch, head, row0, index(0)},
                                  ArrayRef<bool>{false, true});
  if (Value lse = op.getLse()) {
    Value value = buildLogSumExpFromLog2(
        b, loc, softmax.buildReferenceInExp2Units(b, loc, finalReference),
        finalSum);
    vector::TransferWriteOp::create(b, loc, value, lse,
                                    ValueRange{batch, head, row0},
                                    ArrayRef<bool>{false});
  }
}

namespace {
struct AttentionMapToGPUPattern : OpRewritePattern<AttentionOp> {
  AttentionMapToGPUPattern(MLIRContext *context,
                           const TensorCoreKernelOptions &options)
      : OpRewritePattern(context), options(options) {}

  LogicalResult matchAndRewrite(AttentionOp op,
                                PatternRewriter &rewriter) const override {
    if (!op.hasPureBufferSemantics())
      return rewriter.notifyMatchFailure(op, "expected memref operands");
    // The op's schedule when it carries one.
    TensorCoreKernelOptions options =
        getScheduledKernelOptions(op, this->options);
    Location loc = op.getLoc();
    MLIRContext *ctx = rewriter.getContext();
    int64_t blockRows = getTensorCoreWarpRows(op, options) * options.numWarps;
    Value querySeqLen = memref::DimOp::create(rewriter, loc, op.getQuery(), 2);
    Value queryBlocks = arith::CeilDivUIOp::create(
        rewriter, loc, querySeqLen,
        arith::ConstantIndexOp::create(rewriter, loc, blockRows));
    Value batch = memref::DimOp::create(rewriter, loc, op.getQuery(), 0);
    // Grid (q-blocks, output heads, batch), as FlashAttention-2.
    auto blockMapping = [&](gpu::MappingId id) -> Attribute {
      return gpu::GPUBlockMappingAttr::get(ctx, id);
    };
    auto blocks = scf::ForallOp::create(
        rewriter, loc,
        ArrayRef<OpFoldResult>{
            queryBlocks, rewriter.getIndexAttr(op.getNumOutputHeads()), batch},
        ValueRange{},
        rewriter.getArrayAttr({blockMapping(gpu::MappingId::DimX),
                               blockMapping(gpu::MappingId::DimY),
                               blockMapping(gpu::MappingId::DimZ)}));
    OpBuilder::InsertionGuard guard(rewriter);
    rewriter.setInsertionPoint(blocks.getBody()->getTerminator());
    MappedKernelBuilder(rewriter, loc, op, options)
        .build(blocks.getInductionVar(0), blocks.getInductionVar(1),
               blocks.getInductionVar(2));
    rewriter.eraseOp(op);
    return success();
  }

  TensorCoreKernelOptions options;
};

struct SQAMapToGPUPass : sqa::impl::SQAMapToGPUPassBase<SQAMapToGPUPass> {
  using Base::Base;

  void runOnOperation() override {
    FailureOr<TensorCoreKernelOptions> parsed =
        getPassKernelOptions(getOperation(), getArgument(), numWarps,
                             keyBlock, warpRows);
    if (failed(parsed))
      return signalPassFailure();
    TensorCoreKernelOptions options = *parsed;
    WalkResult walk = getOperation()->walk([&](AttentionOp op) {
      if (op.hasPureBufferSemantics())
        return WalkResult::advance();
      op.emitOpError("must be bufferized before sqa-map-to-gpu");
      return WalkResult::interrupt();
    });
    if (walk.wasInterrupted())
      return signalPassFailure();
    RewritePatternSet patterns(&getContext());
    populateSQAMapToGPUPatterns(patterns, options);
    walkAndApplyPatterns(getOperation(), std::move(patterns));
  }
};

struct SQAGPUMappedToCPUPass
    : sqa::impl::SQAGPUMappedToCPUPassBase<SQAGPUMappedToCPUPass> {
  void runOnOperation() override {
    Operation *root = getOperation();
    WalkResult kernels = root->walk([&](Operation *op) {
      if (!isa<gpu::LaunchOp, gpu::GPUFuncOp>(op))
        return WalkResult::advance();
      op->emitOpError("is GPU code; sqa-gpu-mapped-to-cpu runs mapped loops "
                      "on the host");
      return WalkResult::interrupt();
    });
    if (kernels.wasInterrupted())
      return signalPassFailure();

    // Barriers order the warps of a block, which run one after another here.
    root->walk([](gpu::BarrierOp barrier) { barrier.erase(); });

    // Workgroup buffers live as long as their block: free them at its end.
    root->walk([](memref::AllocOp alloc) {
      if (!isa_and_nonnull<gpu::AddressSpaceAttr>(
              alloc.getType().getMemorySpace()))
        return;
      OpBuilder b(alloc->getBlock()->getTerminator());
      memref::DeallocOp::create(b, alloc.getLoc(), alloc);
    });

    // Every memref type in a GPU address space moves to the default one.
    dropGPUAddressSpaces(root);
  }
};
} // namespace

void mlir::sqa::populateSQAMapToGPUPatterns(
    RewritePatternSet &patterns, const TensorCoreKernelOptions &options) {
  patterns.add<AttentionMapToGPUPattern>(patterns.getContext(), options);
}
