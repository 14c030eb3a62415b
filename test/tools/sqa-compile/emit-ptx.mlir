// RUN: sqa-compile %s --chip sm_80 --emit ptx -o %t.ptx
// RUN: FileCheck %s < %t.ptx
// RUN: %if ptxas %{ %ptxas -arch=sm_80 -v %t.ptx -o %t.cubin 2>&1 | FileCheck %s --check-prefix=PTXAS %}

// The paper's xSQA layer (Hq = Hkv = 4, head dim 16, bf16, causal).
// CHECK: .version 8.0
// CHECK: .target sm_80
// CHECK: .visible .entry xsqa_kernel(
// CHECK: .maxntid 128, 1, 1
// CHECK: cvt.f32.bf16
// CHECK: ex2.approx.ftz.f32
// CHECK: cvt.rn.bf16x2.f32
// CHECK-NOT: __nv_
// CHECK-NOT: .local

// ptxas accepts the kernel, with no spills.
// PTXAS: Compiling entry function 'xsqa_kernel' for 'sm_80'
// PTXAS: 0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
// PTXAS: Used {{[0-9]+}} registers
func.func @xsqa(%q: tensor<?x4x?x16xbf16>, %k: tensor<?x4x?x16xbf16>, %v: tensor<?x4x?x16xbf16>,
                %o: tensor<?x4x?x16xbf16>) -> tensor<?x4x?x16xbf16> {
  %r = sqa.attention ins(%q, %k, %v : tensor<?x4x?x16xbf16>, tensor<?x4x?x16xbf16>, tensor<?x4x?x16xbf16>)
                     outs(%o : tensor<?x4x?x16xbf16>) mask = causal_bottom_right -> tensor<?x4x?x16xbf16>
  return %r : tensor<?x4x?x16xbf16>
}
