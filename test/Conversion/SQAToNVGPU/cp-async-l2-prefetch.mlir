// RUN: sqa-opt %s --split-input-file --sqa-cp-async-l2-prefetch | FileCheck %s

// 16-byte copies that bypass L1 become cp.async with a 128-byte L2
// prefetch, the zero-filling form keeping its source size; a copy through
// L1 (cache = ca) is left alone.
// CHECK-LABEL: gpu.module @kernels
// CHECK-LABEL: llvm.func @copies
// CHECK-SAME: (%[[DST:.+]]: !llvm.ptr<3>, %[[SRC:.+]]: !llvm.ptr<1>, %[[SIZE:.+]]: i32)
// CHECK: llvm.inline_asm has_side_effects "cp.async.cg.shared.global.L2::128B [$0], [$1], 16;", "l,l" %[[DST]], %[[SRC]] : (!llvm.ptr<3>, !llvm.ptr<1>) -> ()
// CHECK: llvm.inline_asm has_side_effects "cp.async.cg.shared.global.L2::128B [$0], [$1], 16, $2;", "l,l,r" %[[DST]], %[[SRC]], %[[SIZE]] : (!llvm.ptr<3>, !llvm.ptr<1>, i32) -> ()
// CHECK: nvvm.cp.async.shared.global %[[DST]], %[[SRC]], 4, cache = {{ *}}ca
// CHECK-NOT: nvvm.cp.async.shared.global {{.*}} cache = cg
gpu.module @kernels {
  llvm.func @copies(%dst: !llvm.ptr<3>, %src: !llvm.ptr<1>, %size: i32) {
    nvvm.cp.async.shared.global %dst, %src, 16, cache = cg : !llvm.ptr<3>, !llvm.ptr<1>
    nvvm.cp.async.shared.global %dst, %src, 16, cache = cg, %size : !llvm.ptr<3>, !llvm.ptr<1>, i32
    nvvm.cp.async.shared.global %dst, %src, 4, cache = ca : !llvm.ptr<3>, !llvm.ptr<1>
    llvm.return
  }
}
