// RUN: sqa-opt %s --sqa-cpu-pipeline | FileCheck %s --check-prefixes=CHECK,REF
// RUN: sqa-opt %s --sqa-cpu-pipeline=lowering=rowwise | FileCheck %s --check-prefixes=CHECK,ROW
// RUN: sqa-opt %s --sqa-cpu-pipeline="lowering=tiled q-block=16 kv-block=32" | FileCheck %s --check-prefixes=CHECK,ROW
// RUN: sqa-opt %s --sqa-cpu-pipeline="lowering=tensor-core q-block=32 kv-block=16" | FileCheck %s --check-prefixes=CHECK,ROW,OMP
// RUN: not sqa-opt %s --sqa-cpu-pipeline=lowering=magic 2>&1 | FileCheck %s --check-prefix=BAD
// RUN: not sqa-opt %s --sqa-cpu-pipeline="lowering=tensor-core q-block=24" 2>&1 | FileCheck %s --check-prefix=TCROWS

// Every lowering reaches the LLVM dialect with nothing else left over. The
// tensor-core kernel runs a block of GPU threads on OpenMP threads.
// OMP: llvm.func @omp_get_thread_num() -> i32
// CHECK-LABEL: llvm.func @attention
// CHECK-NOT: sqa.attention
// CHECK-NOT: unrealized_conversion_cast
// CHECK-NOT: memref.
// OMP: omp.parallel num_threads
// OMP: omp.barrier
// The reference computes exp(s - max); the row-wise, tiled and tensor-core
// paths exp2 of log2 units.
// REF: llvm.intr.exp(
// ROW: llvm.intr.exp2(
// ROW: llvm.intr.log2(
// CHECK-LABEL: llvm.func @_mlir_ciface_attention
// BAD: for the --lowering option: Cannot find option named 'magic'
// A tensor-core block must be whole warps of 16 rows.
// TCROWS: error: sqa-choose-schedule: warps must be in [1, 16], got 0
func.func @attention(%q: tensor<?x8x?x16xf16>, %k: tensor<?x4x?x16xf16>, %v: tensor<?x4x?x16xf16>,
                     %o: tensor<?x8x?x16xf16>, %l: tensor<?x8x?xf32>) -> (tensor<?x8x?x16xf16>, tensor<?x8x?xf32>)
    attributes {llvm.emit_c_interface} {
  %r:2 = sqa.attention ins(%q, %k, %v : tensor<?x8x?x16xf16>, tensor<?x4x?x16xf16>, tensor<?x4x?x16xf16>)
                       outs(%o, %l : tensor<?x8x?x16xf16>, tensor<?x8x?xf32>) mask = causal_bottom_right
                       -> tensor<?x8x?x16xf16>, tensor<?x8x?xf32>
  return %r#0, %r#1 : tensor<?x8x?x16xf16>, tensor<?x8x?xf32>
}
