//===- ChooseSchedule.h - The GPU kernels' schedule, chosen once -*- C++ -*-===//

#ifndef SQA_CONVERSION_CHOOSESCHEDULE_CHOOSESCHEDULE_H
#define SQA_CONVERSION_CHOOSESCHEDULE_CHOOSESCHEDULE_H

#include "sqa/GPU/KernelSchedule.h"

#include "mlir/Pass/Pass.h"

namespace mlir {
namespace sqa {

#define GEN_PASS_DECL_CHOOSESCHEDULEPASS
#include "sqa/Conversion/Passes.h.inc"

} // namespace sqa
} // namespace mlir

#endif // SQA_CONVERSION_CHOOSESCHEDULE_CHOOSESCHEDULE_H
