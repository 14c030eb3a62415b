// RUN: sqa-opt %s --split-input-file --pass-pipeline="builtin.module(gpu.module(sqa-set-nvvm-launch-bounds))" | FileCheck %s
// RUN: sqa-opt %s --split-input-file --pass-pipeline="builtin.module(gpu.module(sqa-set-nvvm-launch-bounds{min-blocks-per-sm=2}))" | FileCheck %s --check-prefix=TWO
// RUN: sqa-opt %s --split-input-file --pass-pipeline="builtin.module(gpu.module(sqa-set-nvvm-launch-bounds{min-blocks-per-sm=0}))" | FileCheck %s --check-prefix=NONE
// RUN: not sqa-opt %s --split-input-file --pass-pipeline="builtin.module(gpu.module(sqa-set-nvvm-launch-bounds{min-blocks-per-sm=33}))" 2>&1 | FileCheck %s --check-prefix=BAD

// Kernels get nvvm.minctasm (which convert-gpu-to-nvvm keeps and the NVPTX
// backend prints as .minnctapersm); device functions and kernels that
// already have one are left alone.
// CHECK-LABEL: gpu.module @kernels
// CHECK: gpu.func @kernel() kernel attributes {known_block_size = array<i32: 128, 1, 1>, nvvm.minctasm = 1 : i32}
// CHECK: gpu.func @helper() {
// CHECK: gpu.func @tuned() kernel attributes {nvvm.minctasm = 4 : i32}
// TWO: gpu.func @kernel() kernel attributes {known_block_size = array<i32: 128, 1, 1>, nvvm.minctasm = 2 : i32}
// TWO: gpu.func @tuned() kernel attributes {nvvm.minctasm = 4 : i32}
// NONE-NOT: nvvm.minctasm = 1
// BAD: sqa-set-nvvm-launch-bounds: min-blocks-per-sm must be in [0, 32]
gpu.module @kernels {
  gpu.func @kernel() kernel attributes {known_block_size = array<i32: 128, 1, 1>} {
    gpu.return
  }
  gpu.func @helper() {
    gpu.return
  }
  gpu.func @tuned() kernel attributes {nvvm.minctasm = 4 : i32} {
    gpu.return
  }
}
