//===- ScoreForm.h - What a softmax's input does to the scores --*- C++ -*-===//
//
// Internal to --sqa-raise-attention (ScoreForm.cpp has the method).
//
//===----------------------------------------------------------------------===//

#ifndef LIB_DIALECT_SQA_TRANSFORMS_SCOREFORM_H
#define LIB_DIALECT_SQA_TRANSFORMS_SCOREFORM_H

#include "mlir/IR/Value.h"
#include "mlir/Support/LLVM.h"

#include <optional>

namespace mlir {
namespace sqa {

/// The softmax input of an attention as a function of its scores S (the
/// last two dims: query row i, key j): `scale` * S, with keys j > i +
/// `causalOffset` masked (set to -inf) where there is a causal offset.
struct ScoreForm {
  Value scores;
  double scale = 1.0;
  std::optional<int64_t> causalOffset;
};

/// The ScoreForm of `softmaxInput`, computed from the scores (the tensor
/// `isScores` accepts) by elementwise linalg.generic ops, or failure where
/// it is not that form at every element.
FailureOr<ScoreForm> analyzeScoreForm(Value softmaxInput,
                                      function_ref<bool(Value)> isScores);

} // namespace sqa
} // namespace mlir

#endif // LIB_DIALECT_SQA_TRANSFORMS_SCOREFORM_H
