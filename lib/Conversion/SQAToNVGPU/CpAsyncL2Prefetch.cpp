//===- CpAsyncL2Prefetch.cpp - L2 prefetch size on cp.async ---------------===//
//
// FlashAttention-2's copies are `cp.async.cg.shared.global.L2::128B`. MLIR
// 22's nvvm.cp.async.shared.global and LLVM's cp.async intrinsics have no
// prefetch-size modifier, so the copy is written as inline PTX here.
//
// Inline PTX hides its addresses from LLVM: a register operand cannot be
// folded into the instruction's [reg + imm] address, so every copy would
// need its own pointer, and loop strength reduction keeps one advancing
// pointer per copy of a loop (16 of 64 bits per K and V block of the
// forward kernel, which then spilled). So each address is written as an
// earlier copy's address in the same block plus a constant byte offset
// where one is, and that offset goes into the PTX as an immediate: a
// thread's copies of one tile then share one pointer, as
// FlashAttention-2's do.
//
//===----------------------------------------------------------------------===//

#include "sqa/Conversion/SQAToNVGPU/SQAToNVGPU.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/PatternMatch.h"
#include "llvm/ADT/MapVector.h"
#include "llvm/ADT/TypeSwitch.h"

#include <limits>

namespace mlir {
namespace sqa {
#define GEN_PASS_DEF_CPASYNCL2PREFETCHPASS
#include "sqa/Conversion/Passes.h.inc"
} // namespace sqa
} // namespace mlir

using namespace mlir;

/// An order of values (by address) that makes monomials canonical keys.
static bool valueLess(Value a, Value b) {
  return a.getAsOpaquePointer() < b.getAsOpaquePointer();
}

namespace {
/// A product of leaf values, sorted by valueLess.
using Monomial = SmallVector<Value, 2>;
struct MonomialLess {
  bool operator()(const Monomial &lhs, const Monomial &rhs) const {
    return std::lexicographical_compare(lhs.begin(), lhs.end(), rhs.begin(),
                                        rhs.end(), valueLess);
  }
};

/// An i64 value as a polynomial in leaf values, in the modular arithmetic
/// of i64 (what LLVM's add, sub, mul and shl compute): the sum of
/// coefficient x monomial, with the constant under the empty monomial.
/// Upstream's affine analyses (ValueBoundsConstraintSet) read arith and
/// affine on `index`, not the LLVM dialect that the copies' addresses are
/// written in once the index arithmetic is folded, and they are linear,
/// while a row offset times a runtime row stride is not; hence this small
/// one.
struct Polynomial {
  std::map<Monomial, uint64_t, MonomialLess> terms;

  static Polynomial getConstant(uint64_t value) {
    Polynomial result;
    result.add({}, value);
    return result;
  }
  static Polynomial getLeaf(Value value) {
    Polynomial result;
    result.add({value}, 1);
    return result;
  }
  void add(const Monomial &monomial, uint64_t coefficient) {
    uint64_t &sum = terms[monomial];
    sum += coefficient;
    if (sum == 0)
      terms.erase(monomial);
  }
  Polynomial scaled(uint64_t factor) const {
    Polynomial result;
    for (const auto &[monomial, coefficient] : terms)
      result.add(monomial, coefficient * factor);
    return result;
  }
  Polynomial plus(const Polynomial &other, uint64_t factor = 1) const {
    Polynomial result = *this;
    for (const auto &[monomial, coefficient] : other.terms)
      result.add(monomial, coefficient * factor);
    return result;
  }
  Polynomial times(const Polynomial &other) const {
    Polynomial result;
    for (const auto &[lhs, lhsCoefficient] : terms)
      for (const auto &[rhs, rhsCoefficient] : other.terms) {
        Monomial monomial(lhs);
        monomial.append(rhs.begin(), rhs.end());
        llvm::sort(monomial, valueLess);
        result.add(monomial, lhsCoefficient * rhsCoefficient);
      }
    return result;
  }
};

/// A pointer as `root` plus `bytes`.
struct Address {
  Value root;
  Polynomial bytes;
};

/// Reads values as polynomials. Anything it does not read, and products
/// past kMaxTerms terms, are leaves, which keeps every polynomial exact: it
/// may only miss a relation between two addresses.
class PolynomialReader {
public:
  Address readAddress(Value pointer) {
    Operation *op = pointer.getDefiningOp();
    // Generic to global or shared: offsets carry over (the conversions
    // move a whole window).
    if (auto cast = dyn_cast_or_null<LLVM::AddrSpaceCastOp>(op))
      return readAddress(cast.getArg());
    if (auto gep = dyn_cast_or_null<LLVM::GEPOp>(op)) {
      Type element = gep.getElemType();
      LLVM::GEPIndicesAdaptor<ValueRange> indices = gep.getIndices();
      if (element.isIntOrFloat() && element.getIntOrFloatBitWidth() % 8 == 0 &&
          indices.size() == 1) {
        uint64_t elementBytes = element.getIntOrFloatBitWidth() / 8;
        Address address = readAddress(gep.getBase());
        auto index = indices[0];
        Polynomial offset =
            isa<IntegerAttr>(index)
                ? Polynomial::getConstant(
                      cast<IntegerAttr>(index).getValue().getSExtValue())
                : read(cast<Value>(index));
        address.bytes = address.bytes.plus(offset, elementBytes);
        return address;
      }
    }
    return {pointer, {}};
  }

  Polynomial read(Value value) {
    auto cached = polynomials.find(value);
    if (cached != polynomials.end())
      return cached->second;
    Polynomial result = readUncached(value);
    polynomials[value] = result;
    return result;
  }

private:
  static constexpr size_t kMaxTerms = 32;

  Polynomial readUncached(Value value) {
    // Only i64 values are read (what the index arithmetic lowers to), so
    // that every term is modulo 2^64; anything else is a leaf.
    if (!value.getType().isInteger(64))
      return Polynomial::getLeaf(value);
    APInt constant;
    if (matchPattern(value, m_ConstantInt(&constant)))
      return Polynomial::getConstant(constant.getSExtValue());
    Operation *op = value.getDefiningOp();
    if (!op)
      return Polynomial::getLeaf(value);
    std::optional<Polynomial> result =
        llvm::TypeSwitch<Operation *, std::optional<Polynomial>>(op)
            .Case([&](LLVM::AddOp add) {
              return read(add.getLhs()).plus(read(add.getRhs()));
            })
            .Case([&](LLVM::SubOp sub) {
              return read(sub.getLhs()).plus(read(sub.getRhs()), -1);
            })
            .Case([&](LLVM::MulOp mul) {
              return read(mul.getLhs()).times(read(mul.getRhs()));
            })
            .Case([&](LLVM::ShlOp shl) -> std::optional<Polynomial> {
              APInt shift;
              if (!matchPattern(shl.getRhs(), m_ConstantInt(&shift)) ||
                  shift.getZExtValue() >= 64)
                return std::nullopt;
              return read(shl.getLhs())
                  .scaled(uint64_t(1) << shift.getZExtValue());
            })
            .Default([](Operation *) { return std::nullopt; });
    if (!result || result->terms.size() > kMaxTerms)
      return Polynomial::getLeaf(value);
    return *result;
  }

  DenseMap<Value, Polynomial> polynomials;
};

/// An address operand of an earlier copy in the block, and what it is.
struct Anchor {
  Value pointer;
  Address address;
};

/// How one copy addresses memory: `anchor` + `factor` x `multiplier`
/// (when set) + `offset` bytes.
struct AnchoredAddress {
  Value anchor;
  int64_t offset = 0;
  Value multiplier;
  int64_t factor = 0;
};
} // namespace

/// `pointer` as an earlier copy's pointer plus an immediate byte offset that
/// PTX accepts (a signed 32-bit value) and at most one runtime value times a
/// constant (a row stride), or as itself; records it as an anchor for later
/// copies in the latter case.
static AnchoredAddress getAnchoredAddress(Value pointer,
                                          SmallVectorImpl<Anchor> &anchors,
                                          PolynomialReader &reader) {
  Address address = reader.readAddress(pointer);
  auto fitsImmediate = [](int64_t value) {
    return value >= std::numeric_limits<int32_t>::min() &&
           value <= std::numeric_limits<int32_t>::max();
  };
  for (const Anchor &anchor : anchors) {
    if (anchor.pointer.getType() != pointer.getType() ||
        anchor.address.root != address.root)
      continue;
    Polynomial delta = address.bytes.plus(anchor.address.bytes, -1);
    AnchoredAddress result{anchor.pointer};
    bool usable = true;
    for (const auto &[monomial, coefficient] : delta.terms) {
      auto value = static_cast<int64_t>(coefficient);
      if (monomial.empty() && fitsImmediate(value)) {
        result.offset = value;
      } else if (monomial.size() == 1 && !result.multiplier &&
                 monomial.front().getType().isInteger(64) &&
                 fitsImmediate(value)) {
        result.multiplier = monomial.front();
        result.factor = value;
      } else {
        usable = false;
      }
    }
    if (usable)
      return result;
  }
  anchors.push_back({pointer, std::move(address)});
  return {pointer};
}

/// "" or "+offset", an address's immediate (PTX reads "+-8" as minus 8).
static std::string getImmediateText(int64_t offset) {
  return offset == 0 ? "" : "+" + std::to_string(offset);
}

namespace {
struct CpAsyncL2PrefetchPass
    : sqa::impl::CpAsyncL2PrefetchPassBase<CpAsyncL2PrefetchPass> {
  using Base::Base;

  void runOnOperation() override {
    IRRewriter rewriter(&getContext());
    PolynomialReader reader;
    // Anchors are per block: an earlier copy of the same block dominates.
    // Shared and global addresses differ in type, which keeps them apart.
    DenseMap<Block *, SmallVector<Anchor>> anchors;
    getOperation().walk([&](NVVM::CpAsyncOp copy) {
      if (copy.getModifier() != NVVM::LoadCacheModifierKind::CG ||
          copy.getSize() != 16)
        return;
      SmallVector<Anchor> &blockAnchors = anchors[copy->getBlock()];
      AnchoredAddress destination =
          getAnchoredAddress(copy.getDst(), blockAnchors, reader);
      AnchoredAddress source =
          getAnchoredAddress(copy.getSrc(), blockAnchors, reader);
      // Operands: the two addresses ("l", 64-bit), the source size ("r")
      // and the runtime multipliers ("l").
      SmallVector<Value> operands;
      std::string constraints;
      auto addOperand = [&](Value value, StringRef constraint) {
        operands.push_back(value);
        constraints += (constraints.empty() ? "" : ",") + constraint.str();
        return "$" + std::to_string(operands.size() - 1);
      };
      std::string destinationText = addOperand(destination.anchor, "l") +
                                    getImmediateText(destination.offset);
      std::string sourceText =
          addOperand(source.anchor, "l") + getImmediateText(source.offset);
      std::string sizeText;
      if (Value sourceSize = copy.getCpSize())
        sizeText = ", " + addOperand(sourceSize, "r");
      // An address plus a runtime multiple is computed in a scoped register
      // (one mad per copy, as FlashAttention-2 computes its copies' rows
      // from one pointer and the row stride).
      std::string ptx;
      for (auto [address, text, name] :
           {std::make_tuple(&destination, &destinationText, "%sqa_dst"),
            std::make_tuple(&source, &sourceText, "%sqa_src")}) {
        if (!address->multiplier)
          continue;
        ptx += ".reg .b64 " + std::string(name) + ";\n";
        ptx += "mad.lo.s64 " + std::string(name) + ", " +
               addOperand(address->multiplier, "l") + ", " +
               std::to_string(address->factor) + ", $" +
               std::to_string(address == &destination ? 0 : 1) + ";\n";
        *text = std::string(name) + getImmediateText(address->offset);
      }
      ptx += "cp.async.cg.shared.global.L2::128B [" + destinationText + "], [" +
             sourceText + "], 16" + sizeText + ";";
      if (destination.multiplier || source.multiplier)
        ptx = "{\n" + ptx + "\n}";
      rewriter.setInsertionPoint(copy);
      LLVM::InlineAsmOp::create(
          rewriter, copy.getLoc(), /*res=*/Type(), operands, ptx, constraints,
          /*has_side_effects=*/true, /*is_align_stack=*/false,
          LLVM::tailcallkind::TailCallKind::None,
          /*asm_dialect=*/LLVM::AsmDialectAttr(),
          /*operand_attrs=*/ArrayAttr());
      rewriter.eraseOp(copy);
    });
  }
};
} // namespace
