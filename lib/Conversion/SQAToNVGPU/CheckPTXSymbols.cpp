//===- CheckPTXSymbols.cpp - Names that PTX can spell ---------------------===//
//
// The NVPTX backend aborts on a symbol that is not a PTX identifier, and
// neither MLIR's symbol rules nor upstream's GPU pipeline check for it, so
// this pass does, while the name still has a location to report.
//
//===----------------------------------------------------------------------===//

#include "sqa/Conversion/SQAToNVGPU/SQAToNVGPU.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/IR/SymbolTable.h"
#include "llvm/ADT/StringExtras.h"

namespace mlir {
namespace sqa {
#define GEN_PASS_DEF_CHECKPTXSYMBOLSPASS
#include "sqa/Conversion/Passes.h.inc"
} // namespace sqa
} // namespace mlir

using namespace mlir;

/// PTX ISA, "Identifiers": [a-zA-Z]{followsym}* or [_$%]{followsym}+, with
/// followsym = [a-zA-Z0-9_$].
static bool isPTXIdentifier(StringRef name) {
  auto isFollowSym = [](char c) {
    return llvm::isAlnum(c) || c == '_' || c == '$';
  };
  if (name.empty() || !llvm::all_of(name.drop_front(), isFollowSym))
    return false;
  if (llvm::isAlpha(name.front()))
    return true;
  return name.size() > 1 && StringRef("_$%").contains(name.front());
}

namespace {
struct CheckPTXSymbolsPass
    : sqa::impl::CheckPTXSymbolsPassBase<CheckPTXSymbolsPass> {
  void runOnOperation() override {
    bool valid = true;
    getOperation()->walk([&](Operation *op) {
      auto name =
          op->getAttrOfType<StringAttr>(SymbolTable::getSymbolAttrName());
      if (!name || op == getOperation() || isPTXIdentifier(name.getValue()))
        return;
      valid = false;
      op->emitError() << "symbol '" << name.getValue()
                      << "' is not a PTX identifier ([a-zA-Z][a-zA-Z0-9_$]* "
                         "or [_$%][a-zA-Z0-9_$]+); a kernel is named after the "
                         "function that launches it, so rename that function";
    });
    if (!valid)
      signalPassFailure();
  }
};
} // namespace
