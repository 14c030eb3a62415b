//===- AttentionUtils.h - Shared pieces of sqa.attention lowerings -*- C++ -*-//
//
// The index arithmetic every lowering of sqa.attention needs, kept in one
// place so that the reference lowering and the fused kernels agree on the
// semantics by construction.
//
//===----------------------------------------------------------------------===//

#ifndef SQA_DIALECT_SQA_UTILS_ATTENTIONUTILS_H
#define SQA_DIALECT_SQA_UTILS_ATTENTIONUTILS_H

#include "sqa/Dialect/SQA/IR/SQAOps.h"

namespace mlir {
class OpBuilder;
namespace sqa {

/// Half-open range [begin, end) of the keys that query row `row` sees, with
/// 0 <= end <= Skv; the row sees no key when begin >= end. It encodes the
/// mask and window of `op`:
///
///   offset = Skv - Sq                              (bottom-right alignment)
///   last   = row + offset       for causal_bottom_right
///          = row                for causal_top_left
///          = min(last, row + offset + right)       for a window right >= 0
///   first  = row + offset - left                   for a window left >= 0
///   begin  = max(first, 0), end = clamp(last + 1, 0, Skv)
///
/// All values are of index type, or vectors of index when `row` is a vector
/// of rows (`querySeqLen` and `keySeqLen` stay scalars).
struct KeyRange {
  Value begin;
  Value end;
};
KeyRange buildVisibleKeyRange(OpBuilder &b, Location loc,
                              AttentionOpInterface op, Value row,
                              Value querySeqLen, Value keySeqLen);

/// The query head and the key/value head that output head `outputHead`
/// reads: `op`'s head maps (getQueryHeadExpr, getKvHeadExpr) as affine.apply.
struct HeadsRead {
  Value queryHead;
  Value kvHead;
};
HeadsRead buildHeadsRead(OpBuilder &b, Location loc, AttentionOpInterface op,
                         Value outputHead);

/// The inverse maps, for the sums of the backward: the `index`-th output
/// head that reads key/value head `kvHead` (kvHead * (Ho / Hkv) + index, for
/// index < Ho / Hkv: the query heads of its group, or itself for reverse
/// SQA), and the `index`-th that reads query head `queryHead` (index * Hq +
/// queryHead, for index < Ho / Hq: itself, or for reverse SQA the heads that
/// tile it).
Value buildOutputHeadReadingKvHead(OpBuilder &b, Location loc,
                                   AttentionOpInterface op, Value kvHead,
                                   Value index);
Value buildOutputHeadReadingQueryHead(OpBuilder &b, Location loc,
                                      AttentionOpInterface op, Value queryHead,
                                      Value index);

/// The key blocks that the FlashAttention-2 schedule visits for one block of
/// query rows: blocks [begin, end) of `keyBlock` keys, from the first key the
/// block's first row sees to the last key its last row sees (the visible
/// range moves monotonically with the row, so the blocks in between hold a
/// visible key for some row and the others are skipped). The tensor-core
/// kernels (convert-sqa-to-nvgpu) visit these blocks.
struct KeyBlockSchedule {
  /// Keys visible to the first and to the last row of the block.
  KeyRange firstRowKeys, lastRowKeys;
  Value begin, end;
};
KeyBlockSchedule buildKeyBlockSchedule(OpBuilder &b, Location loc,
                                       AttentionOpInterface op, Value firstRow,
                                       int64_t blockRows, int64_t keyBlock,
                                       Value querySeqLen, Value keySeqLen);

/// The other direction of the schedule, for the backward's dK/dV tiles: the
/// q-blocks of `blockRows` rows whose schedule (buildKeyBlockSchedule with
/// `keyBlock`) visits key block `keyBlockIndex`, as [begin, end) in
/// [0, ceil(Sq / blockRows)). The schedule's bounds grow with the q-block,
/// so these q-blocks are a range; it is found by two binary searches
/// (scf.while) on buildKeyBlockSchedule itself, so that the backward visits
/// exactly the (q-block, kv-block) pairs the forward does.
struct QueryBlockRange {
  Value begin;
  Value end;
};
QueryBlockRange buildQueryBlockRange(OpBuilder &b, Location loc,
                                AttentionOpInterface op, Value keyBlockIndex,
                                int64_t blockRows, int64_t keyBlock,
                                Value querySeqLen, Value keySeqLen);

/// An i1 that is true when every key of the key block starting at
/// `blockStart` is visible to every row of the block, so that its scores need
/// no mask. `blockStart` is an index or an i32 (the schedule's bounds are
/// then cast to i32, loop invariants in a loop over blocks).
Value buildKeyBlockIsFullyVisible(OpBuilder &b, Location loc,
                                  const KeyBlockSchedule &schedule,
                                  Value blockStart, int64_t keyBlock);

/// Builds a linalg.generic over `numDims` loops whose last `numReductions`
/// are reductions. `operandExprs` holds the indexing-map results of each input
/// and then of `init`; `body` receives the block arguments.
Value buildGeneric(OpBuilder &b, Location loc, ValueRange inputs, Value init,
                   unsigned numDims,
                   ArrayRef<SmallVector<AffineExpr>> operandExprs,
                   unsigned numReductions,
                   function_ref<void(OpBuilder &, Location, ValueRange)> body);

/// A contraction into the f32 `acc`: a linalg.generic like buildGeneric whose
/// body is acc + ext(lhs) * ext(rhs), the inputs extended to f32.
Value buildF32Contraction(OpBuilder &b, Location loc, Value lhs, Value rhs,
                          Value acc, unsigned numDims,
                          ArrayRef<SmallVector<AffineExpr>> operandExprs,
                          unsigned numReductions);

/// An f32 tensor of `sizes` filled with `value` (tensor.empty + linalg.fill).
Value buildFilledF32Tensor(OpBuilder &b, Location loc,
                           ArrayRef<OpFoldResult> sizes, float value);

/// scores[b, h, i, j] += query[b, qh(h), i, d] * key[b, kvh(h), j, d] in f32,
/// with `op`'s head mapping in the indexing maps. `key` may be a block of
/// the op's keys (any sequence length).
Value buildQueryKeyProduct(OpBuilder &b, Location loc, AttentionOpInterface op,
                           Value query, Value key, Value scores);

/// acc[b, h, i, e] += probs[b, h, i, j] * value[b, kvh(h), j, e] in f32.
Value buildProbValueProduct(OpBuilder &b, Location loc, AttentionOpInterface op,
                            Value probs, Value value, Value acc);

/// scores[b, h, i, j] = scale * scores[b, h, i, j] where key j + `keyOffset`
/// is visible to row i + `rowOffset` (buildVisibleKeyRange; no `rowOffset`:
/// 0), -inf elsewhere.
Value buildScaleAndMask(OpBuilder &b, Location loc, AttentionOpInterface op,
                        Value scores, float scale, Value keyOffset,
                        Value querySeqLen, Value keySeqLen,
                        Value rowOffset = Value());

/// P = exp(S - shift[b, h, i]) for masked f32 scores S [B, H, Sq, Skv], and 0
/// where S or the row's shift is -inf: masked keys, and rows without keys,
/// where S - shift would be NaN. The forward shifts by the row max, the
/// backward by the forward's log-sum-exp.
Value buildProbabilities(OpBuilder &b, Location loc, Value scores,
                         Value rowShift);

/// out[b, h, i, e] = acc[b, h, i, e] / rowSum[b, h, i], converted to the
/// element type of `op`'s output and written into it; rows with rowSum = 0
/// (no visible key) get 0.
Value buildNormalizedOutput(OpBuilder &b, Location loc, AttentionOp op,
                            Value acc, Value rowSum);

/// The online softmax (Milakov & Gimelshein) of every fused lowering, one
/// step of one row, or of a vector of rows (scalar or vector f32 values; the
/// caller broadcasts). A row's state is a reference r (initially -inf), a
/// sum l and an accumulator O; a block of its scores s with row max m
/// moves the reference to
///
///   r' = max(r, m c - trail)      shift = max(r', -FLT_MAX)
///   P  = exp2(s c - shift)        correction = exp2(r - shift)
///   l' = l correction + rowsum(P) O' = O correction + P V
///
/// with c = scale * log2(e), r in exp2 units. The clamp of the shift is the
/// one NaN guard: a row that has seen no key keeps r' = -inf, its scores are
/// all -inf (masked), and exp2(-inf - -inf) would be NaN, where
/// exp2(-inf + FLT_MAX) = 0; its first key gives correction exp2(-inf) = 0.
/// `trail` > 0 lets the reference trail the row max (FlashAttention-4's
/// conditional rescaling): it moves only where the scores exceed it by more
/// than `trail`, so P <= 2^trail, and where it does not move the correction
/// is exactly 1.
///
/// With `subtractFirst`, references are raw scores instead (r' = max(r, m),
/// no trail) and each exponent is (x - shift) c, the exact subtraction
/// first: the row-wise lowering's choice, for nearly tied large scores.
/// Scores already in exp2 units take c = 1 (one subtraction, no fma).
class OnlineSoftmax {
public:
  OnlineSoftmax(float scaleLog2, bool subtractFirst = false,
                float trail = 0.0f);

  /// r' from the reference `reference` and the block's raw row max.
  Value buildReference(OpBuilder &b, Location loc, Value reference,
                       Value rowMax) const;
  /// The shift of the exponents under reference `reference`.
  Value buildShift(OpBuilder &b, Location loc, Value reference) const;
  /// exp2 of raw score `score` relative to `shift` (0 for -inf scores).
  Value buildExponent(OpBuilder &b, Location loc, Value score,
                      Value shift) const;
  /// The factor exp2(r - shift) that moves what was accumulated under the
  /// old reference `oldReference` to the new one, whose shift is `shift`.
  Value buildCorrection(OpBuilder &b, Location loc, Value oldReference,
                        Value shift) const;
  /// `reference` in exp2 units (for the log-sum-exp).
  Value buildReferenceInExp2Units(OpBuilder &b, Location loc,
                                  Value reference) const;

private:
  float scaleLog2;
  bool subtractFirst;
  float trail;
};

/// The natural log-sum-exp of a row from its online-softmax state with scores
/// in log2 units: (rowMax + log2(rowSum)) * ln 2, or -inf when rowSum is 0
/// (the row saw no key). Scalar or vector f32 values.
Value buildLogSumExpFromLog2(OpBuilder &b, Location loc, Value rowMax,
                             Value rowSum);

/// The factor that normalizes a row's accumulator at the end of the online
/// softmax: 1 / l, or 0 where l = 0 (the row saw no key; its accumulator is
/// 0, and so is its output, never NaN). Scalar or vector f32 values. The
/// row-wise and tensor-core kernels multiply by it; the reference and tiled
/// forms, whose accumulators are tensors, divide elementwise
/// (buildNormalizedOutput).
Value buildInverseRowSum(OpBuilder &b, Location loc, Value rowSum);

/// Returns `value` converted to f32 (or `value` when it already is).
Value buildExtendToF32(OpBuilder &b, Location loc, Value value);

/// Returns the f32 `value` converted to a float type with `elementType`
/// elements.
Value buildTruncateFromF32(OpBuilder &b, Location loc, Value value,
                           Type elementType);

} // namespace sqa
} // namespace mlir

#endif // SQA_DIALECT_SQA_UTILS_ATTENTIONUTILS_H
