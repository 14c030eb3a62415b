// RUN: sqa-compile %s --chip sm_80 --emit ptx -o %t.ptx
// RUN: FileCheck %s < %t.ptx
// RUN: %if ptxas %{ %ptxas -arch=sm_80 -v %t.ptx -o %t.cubin 2>&1 | FileCheck %s --check-prefix=PTXAS %}

// The paper's xSQA layer (Hq = Hkv = 4, head dim 16, bf16, causal), on the
// tensor-core kernel.
// CHECK: .version 8.0
// CHECK: .target sm_80
// CHECK: .visible .entry xsqa_kernel(
// CHECK: .maxntid 128, 1, 1
// CHECK-DAG: cp.async.cg.shared.global
// CHECK-DAG: ldmatrix.sync.aligned.m8n8.x4.shared.b16
// CHECK-DAG: mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32
// CHECK-DAG: shfl.sync.bfly.b32
// CHECK-DAG: ex2.approx.ftz.f32
// CHECK-DAG: cvt.rn.bf16x2.f32
// CHECK-DAG: ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16
// CHECK-NOT: __nv_
// CHECK-NOT: .local

// ptxas accepts the kernel, with no spills.
// PTXAS: Compiling entry function 'xsqa_kernel' for 'sm_80'
// PTXAS: 0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
// PTXAS: Used {{[0-9]+}} registers, used 1 barriers, 18432 bytes smem
func.func @xsqa(%q: tensor<?x4x?x16xbf16>, %k: tensor<?x4x?x16xbf16>, %v: tensor<?x4x?x16xbf16>,
                %o: tensor<?x4x?x16xbf16>) -> tensor<?x4x?x16xbf16> {
  %r = sqa.attention ins(%q, %k, %v : tensor<?x4x?x16xbf16>, tensor<?x4x?x16xbf16>, tensor<?x4x?x16xbf16>)
                     outs(%o : tensor<?x4x?x16xbf16>) mask = causal_bottom_right -> tensor<?x4x?x16xbf16>
  return %r : tensor<?x4x?x16xbf16>
}
