//===- Passes.h - SQA conversion passes -------------------------*- C++ -*-===//

#ifndef SQA_CONVERSION_PASSES_H
#define SQA_CONVERSION_PASSES_H

#include "sqa/Conversion/ChooseSchedule/ChooseSchedule.h"
#include "sqa/Conversion/GPULaunchToOpenMP/GPULaunchToOpenMP.h"
#include "sqa/Conversion/MathToNVVMIntrinsics/MathToNVVMIntrinsics.h"
#include "sqa/Conversion/SQAToLinalg/SQAToLinalg.h"
#include "sqa/Conversion/SQAToNVGPU/SQAToNVGPU.h"
#include "sqa/Conversion/SQAToSCF/SQAToSCF.h"

namespace mlir {
namespace sqa {

#define GEN_PASS_REGISTRATION
#include "sqa/Conversion/Passes.h.inc"

} // namespace sqa
} // namespace mlir

#endif // SQA_CONVERSION_PASSES_H
