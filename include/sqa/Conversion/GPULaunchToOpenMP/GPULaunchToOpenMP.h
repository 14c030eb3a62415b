//===- GPULaunchToOpenMP.h - Run gpu.launch kernels on host threads -*- C++
//-*-===//

#ifndef SQA_CONVERSION_GPULAUNCHTOOPENMP_GPULAUNCHTOOPENMP_H
#define SQA_CONVERSION_GPULAUNCHTOOPENMP_GPULAUNCHTOOPENMP_H

#include "mlir/Pass/Pass.h"

namespace mlir {
namespace sqa {

#define GEN_PASS_DECL_GPULAUNCHTOOPENMPPASS
#include "sqa/Conversion/Passes.h.inc"

} // namespace sqa
} // namespace mlir

#endif // SQA_CONVERSION_GPULAUNCHTOOPENMP_GPULAUNCHTOOPENMP_H
