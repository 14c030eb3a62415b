//===- ScoreForm.cpp - What a softmax's input does to the scores ----------===//
//
// For --sqa-raise-attention: what the elementwise linalg ops between Q Kᵀ
// and the softmax compute, found by evaluating them symbolically at an
// element (row i, column j) of the scores. Front ends spell a causal mask
// in many ways: torch-mlir's decomposition of scaled_dot_product_attention
// (is_causal) builds tril(ones) with linalg.index comparisons, negates it,
// masked_fills zeros with -inf and adds that to the scaled scores; IREE-style
// decompositions select -inf inline from index comparisons. Rather than
// match each spelling, the ops are interpreted over a small symbolic domain:
//
//   integers  a i + b j + c (linalg.index of the last two dims, constants,
//             addi / subi / muli by a constant, casts)
//   booleans  a constant, or a linear predicate  a i + b j + c <= 0
//             (cmpi, xori with true, selects of constants)
//   floats    k S + m, S the scores, k > 0 a constant, and m a constant or
//             select(predicate, m1, m2) of constants (-inf included)
//
// Anything else (a non-linear index, a float function of S other than a
// positive scaling, a mask read from an argument) is not a form this pass
// raises. The result holds for every element, not a sample.
//
//===----------------------------------------------------------------------===//

#include "ScoreForm.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/IR/Matchers.h"

#include <cmath>
#include <limits>

using namespace mlir;
using namespace mlir::sqa;

namespace {
/// a i + b j + c.
struct Linear {
  int64_t row = 0, col = 0, constant = 0;
  bool operator==(const Linear &other) const {
    return row == other.row && col == other.col && constant == other.constant;
  }
  Linear operator+(const Linear &o) const {
    return {row + o.row, col + o.col, constant + o.constant};
  }
  Linear scaled(int64_t k) const { return {row * k, col * k, constant * k}; }
  bool isConstant() const { return row == 0 && col == 0; }
};

/// One symbolic value (see the file comment).
struct Sym {
  enum class Kind { Int, Bool, Float } kind = Kind::Int;
  /// Int: the value. Bool (unless constant): the predicate `linear <= 0`.
  Linear linear;
  std::optional<bool> boolConstant;
  /// Float: scoreCoef * S + (pred ? onTrue : onFalse), or + onTrue alone
  /// without a predicate.
  double scoreCoef = 0, onTrue = 0, onFalse = 0;
  std::optional<Linear> predicate;

  static Sym integer(Linear l) { return {Kind::Int, l, {}, 0, 0, 0, {}}; }
  static Sym boolean(bool b) { return {Kind::Bool, {}, b, 0, 0, 0, {}}; }
  /// `l` <= 0.
  static Sym lessOrEqualZero(Linear l) {
    return {Kind::Bool, l, std::nullopt, 0, 0, 0, {}};
  }
  static Sym real(double value) {
    return {Kind::Float, {}, {}, 0, value, 0, {}};
  }
  bool isFloatConstant() const {
    return kind == Kind::Float && scoreCoef == 0 && !predicate;
  }
};

/// The negation of a predicate over integers: !(l <= 0) is -l + 1 <= 0.
static Sym negate(const Sym &b) {
  if (b.boolConstant)
    return Sym::boolean(!*b.boolConstant);
  return Sym::lessOrEqualZero(b.linear.scaled(-1) + Linear{0, 0, 1});
}

/// Evaluates tensors at one element of the scores.
class Evaluator {
public:
  Evaluator(Value scores, function_ref<bool(Value)> isScores)
      : scores(scores), isScores(isScores) {}

  /// `tensor` at the element whose indices are `indices` (std::nullopt:
  /// an index this analysis does not follow, e.g. the batch).
  FailureOr<Sym> evaluate(Value tensor,
                          ArrayRef<std::optional<Linear>> indices);

private:
  FailureOr<Sym> evaluateGeneric(linalg::GenericOp op, unsigned result,
                                 ArrayRef<std::optional<Linear>> indices);
  FailureOr<Sym> evaluateOp(Operation *op, ArrayRef<Sym> operands,
                            ArrayRef<std::optional<Linear>> loopIndices);

  Value scores;
  function_ref<bool(Value)> isScores;
  /// Bounds on the work of one analysis: producers nested this deep, and
  /// this many ops interpreted in all (shared producers are evaluated once
  /// per use; a front end's mask takes a few dozen). Past them the form is
  /// not raised, so that no input makes the pass run long or overflow the
  /// stack.
  static constexpr int kMaxDepth = 32, kMaxSteps = 4096;
  int depth = 0, steps = 0;
};
} // namespace

/// The constant `attr` as a symbolic value.
static FailureOr<Sym> fromConstant(Attribute attr) {
  if (auto dense = dyn_cast<DenseElementsAttr>(attr)) {
    if (!dense.isSplat())
      return failure();
    attr = dense.getSplatValue<Attribute>();
  }
  if (auto f = dyn_cast<FloatAttr>(attr))
    return Sym::real(f.getValueAsDouble());
  // BoolAttr is an i1 IntegerAttr.
  if (auto i = dyn_cast<IntegerAttr>(attr)) {
    if (i.getType().isInteger(1))
      return Sym::boolean(i.getValue().getBoolValue());
    return Sym::integer({0, 0, i.getValue().getSExtValue()});
  }
  return failure();
}

FailureOr<Sym> Evaluator::evaluate(Value tensor,
                                   ArrayRef<std::optional<Linear>> indices) {
  if (tensor == scores)
    return Sym{Sym::Kind::Float, {}, {}, 1.0, 0, 0, {}};
  Operation *def = tensor.getDefiningOp();
  if (!def)
    return failure();
  if (auto fill = dyn_cast<linalg::FillOp>(def)) {
    Attribute value;
    if (!matchPattern(fill.value(), m_Constant(&value)))
      return failure();
    return fromConstant(value);
  }
  Attribute constant;
  if (matchPattern(tensor, m_Constant(&constant)))
    return fromConstant(constant);
  if (auto generic = dyn_cast<linalg::GenericOp>(def)) {
    if (depth >= kMaxDepth)
      return failure();
    ++depth;
    FailureOr<Sym> value = evaluateGeneric(
        generic, cast<OpResult>(tensor).getResultNumber(), indices);
    --depth;
    return value;
  }
  return failure();
}

FailureOr<Sym>
Evaluator::evaluateGeneric(linalg::GenericOp op, unsigned result,
                           ArrayRef<std::optional<Linear>> indices) {
  if (op.getNumReductionLoops() != 0)
    return failure();
  // The loop indices from the element's: the result's map must name every
  // loop once (a permutation).
  AffineMap resultMap = op.getIndexingMapMatchingResult(op->getResult(result));
  if (!resultMap.isPermutation() || resultMap.getNumResults() != indices.size())
    return failure();
  SmallVector<std::optional<Linear>> loops(op.getNumLoops());
  for (auto [position, index] : llvm::enumerate(indices))
    loops[resultMap.getDimPosition(position)] = index;

  Block *body = op.getBlock();
  DenseMap<Value, Sym> values;
  auto lookup = [&](Value v) -> FailureOr<Sym> {
    auto it = values.find(v);
    if (it != values.end())
      return it->second;
    // A block argument: the operand's element at this point.
    auto arg = dyn_cast<BlockArgument>(v);
    if (!arg || arg.getOwner() != body) {
      Attribute constant;
      if (matchPattern(v, m_Constant(&constant)))
        return fromConstant(constant);
      return failure();
    }
    OpOperand &operand = op->getOpOperand(arg.getArgNumber());
    AffineMap map = op.getMatchingIndexingMap(&operand);
    SmallVector<std::optional<Linear>> operandIndices;
    for (AffineExpr expr : map.getResults()) {
      if (auto dim = dyn_cast<AffineDimExpr>(expr))
        operandIndices.push_back(loops[dim.getPosition()]);
      else if (auto c = dyn_cast<AffineConstantExpr>(expr))
        operandIndices.push_back(Linear{0, 0, c.getValue()});
      else
        return failure();
    }
    FailureOr<Sym> value = evaluate(operand.get(), operandIndices);
    if (succeeded(value))
      values[v] = *value;
    return value;
  };
  for (Operation &nested : body->without_terminator()) {
    if (++steps > kMaxSteps)
      return failure();
    SmallVector<Sym> operands;
    for (Value operand : nested.getOperands()) {
      FailureOr<Sym> value = lookup(operand);
      if (failed(value))
        return failure();
      operands.push_back(*value);
    }
    FailureOr<Sym> value = evaluateOp(&nested, operands, loops);
    if (failed(value) || nested.getNumResults() != 1)
      return failure();
    values[nested.getResult(0)] = *value;
  }
  return lookup(body->getTerminator()->getOperand(result));
}

FailureOr<Sym>
Evaluator::evaluateOp(Operation *op, ArrayRef<Sym> operands,
                      ArrayRef<std::optional<Linear>> loopIndices) {
  using Kind = Sym::Kind;
  auto all = [&](Kind kind) {
    return llvm::all_of(operands, [&](const Sym &s) { return s.kind == kind; });
  };
  if (auto index = dyn_cast<linalg::IndexOp>(op)) {
    const std::optional<Linear> &loop = loopIndices[index.getDim()];
    if (!loop)
      return failure();
    return Sym::integer(*loop);
  }
  Attribute constant;
  if (matchPattern(op->getResult(0), m_Constant(&constant)))
    return fromConstant(constant);
  // Integers.
  if (isa<arith::IndexCastOp, arith::IndexCastUIOp, arith::ExtSIOp,
          arith::TruncIOp>(op) &&
      all(Kind::Int))
    return operands[0];
  if (isa<arith::AddIOp>(op) && all(Kind::Int))
    return Sym::integer(operands[0].linear + operands[1].linear);
  if (isa<arith::SubIOp>(op) && all(Kind::Int))
    return Sym::integer(operands[0].linear + operands[1].linear.scaled(-1));
  if (isa<arith::MulIOp>(op) && all(Kind::Int)) {
    if (operands[0].linear.isConstant())
      return Sym::integer(operands[1].linear.scaled(operands[0].linear.constant));
    if (operands[1].linear.isConstant())
      return Sym::integer(operands[0].linear.scaled(operands[1].linear.constant));
    return failure();
  }
  if (auto cmp = dyn_cast<arith::CmpIOp>(op)) {
    if (all(Kind::Bool)) {
      // x == false, x != true: not x; x == true, x != false: x.
      const Sym *x = &operands[0], *c = &operands[1];
      if (!c->boolConstant)
        std::swap(x, c);
      if (!c->boolConstant || (cmp.getPredicate() != arith::CmpIPredicate::eq &&
                               cmp.getPredicate() != arith::CmpIPredicate::ne))
        return failure();
      bool same = (cmp.getPredicate() == arith::CmpIPredicate::eq) ==
                  *c->boolConstant;
      return same ? *x : negate(*x);
    }
    if (!all(Kind::Int))
      return failure();
    Linear lhs = operands[0].linear, rhs = operands[1].linear;
    Linear difference = lhs + rhs.scaled(-1);
    auto nonNegative = [](const Linear &l) {
      return l.row >= 0 && l.col >= 0 && l.constant >= 0;
    };
    switch (cmp.getPredicate()) {
    case arith::CmpIPredicate::ule:
    case arith::CmpIPredicate::ult:
    case arith::CmpIPredicate::uge:
    case arith::CmpIPredicate::ugt:
      // Unsigned order is the signed one only where both sides are
      // non-negative (indices are).
      if (!nonNegative(lhs) || !nonNegative(rhs))
        return failure();
      break;
    default:
      break;
    }
    switch (cmp.getPredicate()) {
    case arith::CmpIPredicate::sle:
    case arith::CmpIPredicate::ule:
      return Sym::lessOrEqualZero(difference);
    case arith::CmpIPredicate::slt:
    case arith::CmpIPredicate::ult:
      return Sym::lessOrEqualZero(difference + Linear{0, 0, 1});
    case arith::CmpIPredicate::sge:
    case arith::CmpIPredicate::uge:
      return Sym::lessOrEqualZero(difference.scaled(-1));
    case arith::CmpIPredicate::sgt:
    case arith::CmpIPredicate::ugt:
      return Sym::lessOrEqualZero(difference.scaled(-1) + Linear{0, 0, 1});
    default:
      return failure();
    }
  }
  if (isa<arith::XOrIOp>(op) && all(Kind::Bool)) {
    const Sym *x = &operands[0], *c = &operands[1];
    if (!c->boolConstant)
      std::swap(x, c);
    if (!c->boolConstant)
      return failure();
    return *c->boolConstant ? negate(*x) : *x;
  }
  if (isa<arith::AndIOp, arith::OrIOp>(op) && all(Kind::Bool)) {
    bool isAnd = isa<arith::AndIOp>(op);
    const Sym *x = &operands[0], *c = &operands[1];
    if (!c->boolConstant)
      std::swap(x, c);
    if (!c->boolConstant)
      return failure();
    // x and true = x, x and false = false; x or false = x, x or true = true.
    if (*c->boolConstant == isAnd)
      return *x;
    return Sym::boolean(!isAnd);
  }
  // Floats.
  if (auto select = dyn_cast<arith::SelectOp>(op)) {
    const Sym &cond = operands[0], &x = operands[1], &y = operands[2];
    if (cond.kind != Kind::Bool)
      return failure();
    if (cond.boolConstant)
      return *cond.boolConstant ? x : y;
    if (x.kind == Kind::Bool && y.kind == Kind::Bool && x.boolConstant &&
        y.boolConstant)
      return *x.boolConstant == *y.boolConstant ? x
             : *x.boolConstant                  ? cond
                                                : negate(cond);
    // k S + select(cond, a, b): both sides the same multiple of S, where an
    // infinite constant is any multiple (k S + -inf = -inf: S is finite).
    if (x.kind != Kind::Float || y.kind != Kind::Float || x.predicate ||
        y.predicate)
      return failure();
    Sym a = x, b = y;
    if (a.isFloatConstant() && std::isinf(a.onTrue))
      a.scoreCoef = b.scoreCoef;
    if (b.isFloatConstant() && std::isinf(b.onTrue))
      b.scoreCoef = a.scoreCoef;
    if (a.scoreCoef != b.scoreCoef)
      return failure();
    Sym result = a;
    result.predicate = cond.linear;
    result.onFalse = b.onTrue;
    return result;
  }
  if (isa<arith::AddFOp, arith::SubFOp>(op) && all(Kind::Float)) {
    Sym x = operands[0], y = operands[1];
    if (isa<arith::SubFOp>(op)) {
      if (!y.isFloatConstant())
        return failure();
      y.onTrue = -y.onTrue;
    }
    if (x.predicate && y.predicate && !(*x.predicate == *y.predicate))
      return failure();
    Sym result = x.predicate ? x : y;
    result.scoreCoef = x.scoreCoef + y.scoreCoef;
    result.onTrue = x.onTrue + y.onTrue;
    result.onFalse = (x.predicate ? x.onFalse : x.onTrue) +
                     (y.predicate ? y.onFalse : y.onTrue);
    return result;
  }
  if (isa<arith::MulFOp>(op) && all(Kind::Float)) {
    Sym x = operands[0], y = operands[1];
    if (!y.isFloatConstant())
      std::swap(x, y);
    // Scaling by a positive finite constant keeps the form (and -inf).
    double k = y.onTrue;
    if (!y.isFloatConstant() || !(k > 0) || !std::isfinite(k))
      return failure();
    x.scoreCoef *= k;
    x.onTrue *= k;
    x.onFalse *= k;
    return x;
  }
  if (isa<arith::ExtFOp>(op) && all(Kind::Float))
    return operands[0];
  // A constant rounded to a narrower type keeps 0 and infinities exactly;
  // anything else (the scores, other constants) would change.
  if (isa<arith::TruncFOp>(op) && all(Kind::Float) &&
      operands[0].scoreCoef == 0) {
    auto exact = [](double v) { return v == 0 || std::isinf(v); };
    if (exact(operands[0].onTrue) &&
        (!operands[0].predicate || exact(operands[0].onFalse)))
      return operands[0];
  }
  return failure();
}

/// The first tensor that `isScores` accepts among the operands of the
/// elementwise linalg.generic ops that produce `value` (or `value` itself).
static Value findScores(Value value, function_ref<bool(Value)> isScores,
                        int depth = 0) {
  if (isScores(value))
    return value;
  auto generic = value.getDefiningOp<linalg::GenericOp>();
  if (!generic || depth > 8)
    return Value();
  for (Value operand : generic->getOperands())
    if (Value found = findScores(operand, isScores, depth + 1))
      return found;
  return Value();
}

FailureOr<ScoreForm>
mlir::sqa::analyzeScoreForm(Value softmaxInput,
                            function_ref<bool(Value)> isScores) {
  Value scores = findScores(softmaxInput, isScores);
  if (!scores)
    return failure();
  ScoreForm form;
  form.scores = scores;
  auto type = cast<RankedTensorType>(softmaxInput.getType());
  int64_t rank = type.getRank();
  if (rank < 2)
    return failure();
  SmallVector<std::optional<Linear>> indices(rank);
  indices[rank - 2] = Linear{1, 0, 0};
  indices[rank - 1] = Linear{0, 1, 0};
  Evaluator evaluator(scores, isScores);
  FailureOr<Sym> value = evaluator.evaluate(softmaxInput, indices);
  if (failed(value) || value->kind != Sym::Kind::Float ||
      !(value->scoreCoef > 0) || !std::isfinite(value->scoreCoef))
    return failure();
  form.scale = value->scoreCoef;
  if (!value->predicate) {
    // softmax(S c + 0); a constant shift would change nothing either, but
    // no front end emits one.
    if (value->onTrue != 0)
      return failure();
    return form;
  }
  // A key is visible where m = 0 and masked where m = -inf (or the lowest
  // f32, which underflows the same way): the predicate or its negation.
  auto isMasked = [](double m) {
    return m == -std::numeric_limits<double>::infinity() ||
           m <= -static_cast<double>(std::numeric_limits<float>::max());
  };
  Linear visible = *value->predicate;
  if (value->onTrue == 0 && isMasked(value->onFalse)) {
  } else if (isMasked(value->onTrue) && value->onFalse == 0) {
    visible = negate(Sym::lessOrEqualZero(visible)).linear;
  } else {
    return failure();
  }
  // visible: a i + b j + c <= 0, a causal band iff b > 0 and a = -b:
  // j - i <= -c / b, i.e. j <= i + floor(-c / b).
  if (!(visible.col > 0 && visible.row == -visible.col))
    return failure();
  int64_t b = visible.col, numerator = -visible.constant;
  int64_t offset = numerator >= 0 ? numerator / b : -((-numerator + b - 1) / b);
  form.causalOffset = offset;
  return form;
}
