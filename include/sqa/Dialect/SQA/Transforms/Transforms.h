//===- Transforms.h - Transformations of sqa.attention ----------*- C++ -*-===//
//
// The transformations behind the sqa passes, as functions that other
// compilers can call on their own ops and schedules.
//
//===----------------------------------------------------------------------===//

#ifndef SQA_DIALECT_SQA_TRANSFORMS_TRANSFORMS_H
#define SQA_DIALECT_SQA_TRANSFORMS_TRANSFORMS_H

#include "sqa/Dialect/SQA/IR/SQAOps.h"

#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/PatternMatch.h"

namespace mlir {
namespace sqa {

/// Block sizes of the FlashAttention loop nest, each in [1,
/// kMaxAttentionBlock].
struct AttentionTilingOptions {
  /// Query rows per parallel tile.
  int64_t queryBlock = 64;
  /// Keys per step of the online softmax.
  int64_t keyBlock = 64;
};

/// The loops that tileAndFuseAttention creates.
struct FlashAttentionLoops {
  /// Parallel over (batch, output head, query block).
  scf::ForallOp forallOp;
  /// Sequential over key blocks, inside `forallOp`.
  scf::ForOp keyLoop;
};

/// Tiles `op` over (batch, output head, query row) by (1, 1, queryBlock) with
/// scf::tileUsingSCF into an scf.forall, and replaces `op` with its results.
/// Returns the loop and the tiled sqa.attention inside it.
FailureOr<std::pair<scf::ForallOp, AttentionOp>>
tileAttention(RewriterBase &rewriter, AttentionOp op, int64_t queryBlock);

/// Replaces `op` by an online softmax over blocks of `keyBlock` keys (see
/// SQATileAndFusePass): an scf.for with the running max, sum and f32
/// accumulator as iter_args, whose bounds skip the key blocks that the mask
/// hides from every row of `op`. Works for any batch, head counts and row
/// count; meant for the tiles that tileAttention produces. Returns the loop.
FailureOr<scf::ForOp> decomposeAttention(RewriterBase &rewriter, AttentionOp op,
                                         int64_t keyBlock);

/// tileAttention followed by decomposeAttention on the tile. An op whose key
/// sequence is statically empty becomes fills (zeros, lse = -inf) and no
/// loops.
FailureOr<FlashAttentionLoops>
tileAndFuseAttention(RewriterBase &rewriter, AttentionOp op,
                     const AttentionTilingOptions &options);

/// The loops that tileAndFuseAttentionGrad creates.
struct FlashAttentionGradLoops {
  /// Parallel over (batch, key/value head, kv-block): dK and dV.
  scf::ForallOp keyValueForall;
  /// Parallel over (batch, query head, q-block): dQ.
  scf::ForallOp queryForall;
};

/// Replaces `op` by FlashAttention-2's backward on tensors (no Sq x Skv
/// value; see SQATileAndFusePass): the row sums Dsum = rowsum(dO ∘ O), then
/// an scf.forall over (batch, key/value head, kv-block) whose tile holds dK
/// and dV in f32 across every output head reading the key/value head and
/// every q-block the forward's schedule (buildKeyBlockSchedule) pairs with
/// the kv-block, then an scf.forall over (batch, query head, q-block) that
/// accumulates dQ over the output heads reading the query head and the
/// kv-blocks the forward visits. Each tile recomputes S, P = exp(S - lse)
/// and dS = P ∘ (dO Vᵀ - Dsum); the sums run in a fixed order, without
/// atomics, so gradients do not depend on scheduling. Returns the loops.
FailureOr<FlashAttentionGradLoops>
tileAndFuseAttentionGrad(RewriterBase &rewriter, AttentionGradOp op,
                         const AttentionTilingOptions &options);

/// Adds the pattern that rewrites attention written as linalg ops
/// (contraction, optional scale, linalg.softmax, contraction) into
/// sqa.attention; see SQARaiseAttentionPass for the matched form.
void populateRaiseAttentionPatterns(RewritePatternSet &patterns);

} // namespace sqa
} // namespace mlir

#endif // SQA_DIALECT_SQA_TRANSFORMS_TRANSFORMS_H
