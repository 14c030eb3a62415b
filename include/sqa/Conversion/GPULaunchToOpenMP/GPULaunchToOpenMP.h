//===- GPULaunchToOpenMP.h - Run gpu.launch kernels on host threads -*- C++
//-*-===//

#ifndef SQA_CONVERSION_GPULAUNCHTOOPENMP_GPULAUNCHTOOPENMP_H
#define SQA_CONVERSION_GPULAUNCHTOOPENMP_GPULAUNCHTOOPENMP_H

#include "mlir/Pass/Pass.h"

namespace mlir {
namespace sqa {

#define GEN_PASS_DECL_GPULAUNCHTOOPENMPPASS
#include "sqa/Conversion/Passes.h.inc"

/// Moves every memref type under `root` (results, block arguments, nested
/// types) from a `#gpu.address_space` to the default memory space, for code
/// that runs GPU-level IR on the host.
void dropGPUAddressSpaces(Operation *root);

} // namespace sqa
} // namespace mlir

#endif // SQA_CONVERSION_GPULAUNCHTOOPENMP_GPULAUNCHTOOPENMP_H
