//===- HostExecution.h - GPU-level IR run on the host -----------*- C++ -*-===//
//
// What running GPU-level IR on the host needs beside the kernels' emulator
// (sqa-gpu-launch-to-openmp), kept in the GPU toolkit so that other host
// executions of GPU IR can share it.
//
//===----------------------------------------------------------------------===//

#ifndef SQA_GPU_HOSTEXECUTION_H
#define SQA_GPU_HOSTEXECUTION_H

namespace mlir {
class Operation;
namespace sqa {

/// Moves every memref type under `root` (results, block arguments, nested
/// types) from a `#gpu.address_space` to the default memory space, for code
/// that runs GPU-level IR on the host.
void dropGPUAddressSpaces(Operation *root);

} // namespace sqa
} // namespace mlir

#endif // SQA_GPU_HOSTEXECUTION_H
