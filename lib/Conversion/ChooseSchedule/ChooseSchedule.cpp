//===- ChooseSchedule.cpp - The GPU kernels' schedule, chosen once ---------===//
//
// sqa-choose-schedule: attaches to each attention op without one the
// `#sqa.schedule` its GPU kernels get from the pass's options (chooseSchedule
// in sqa/GPU/KernelSchedule.h). The kernels' plans are derived from that
// attribute; this pass is the one place where the knobs (warps, kv-block,
// warp-rows) are validated.
//
//===----------------------------------------------------------------------===//

#include "sqa/Conversion/ChooseSchedule/ChooseSchedule.h"

#include "sqa/Dialect/SQA/IR/SQAOps.h"

namespace mlir {
namespace sqa {
#define GEN_PASS_DEF_CHOOSESCHEDULEPASS
#include "sqa/Conversion/Passes.h.inc"
} // namespace sqa
} // namespace mlir

using namespace mlir;
using namespace mlir::sqa;

namespace {
struct ChooseSchedulePass
    : sqa::impl::ChooseSchedulePassBase<ChooseSchedulePass> {
  using Base::Base;

  void runOnOperation() override {
    // Options a schedule cannot hold are errors here, before any op gets
    // one (the attribute's own rule, S1).
    FailureOr<TensorCoreKernelOptions> options =
        getPassKernelOptions(getOperation(), getArgument(), numWarps,
                             keyBlock, warpRows);
    if (failed(options))
      return signalPassFailure();
    StringRef name = SQADialect::getScheduleAttrName();
    getOperation()->walk([&](Operation *op) {
      if (isa<AttentionOp, AttentionGradOp>(op) && !op->hasAttr(name))
        op->setAttr(name, chooseSchedule(op, *options));
    });
  }
};
} // namespace
