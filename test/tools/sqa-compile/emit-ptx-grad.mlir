// RUN: rm -rf %t && mkdir -p %t
// RUN: sqa-compile %s --chip sm_80 --emit ptx -o %t/grad.ptx
// RUN: FileCheck %s --check-prefix=KV < %t/grad.grad_kernel.ptx
// RUN: FileCheck %s --check-prefix=Q < %t/grad.grad_kernel_0.ptx
// RUN: %if ptxas %{ %ptxas -arch=sm_80 -v %t/grad.grad_kernel.ptx -o %t/kv.cubin 2>&1 | FileCheck %s --check-prefix=PTXAS-KV %}
// RUN: %if ptxas %{ %ptxas -arch=sm_80 -v %t/grad.grad_kernel_0.ptx -o %t/q.cubin 2>&1 | FileCheck %s --check-prefix=PTXAS-Q %}

// The backward of GQA 8/4 at head dim 128 (f16, causal), the largest tiles:
// two kernels, dK/dV (4 warps: 64 keys, 32-row q-blocks, 68 KiB of padded
// tiles in dynamic shared memory, which ptxas does not report) and dQ (4
// warps: 64 rows, 16-key kv-blocks, 34 KiB), on tensor cores, no local
// memory.
// KV: .visible .entry grad_kernel(
// KV: .maxntid 128, 1, 1
// KV-DAG: cp.async.cg.shared.global
// KV-DAG: ldmatrix.sync.aligned.m8n8.x4.shared.b16
// KV-DAG: ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16
// KV-DAG: mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32
// KV-DAG: ex2.approx.ftz.f32
// KV-NOT: .local
// Q: .visible .entry grad_kernel(
// Q: .maxntid 128, 1, 1
// Q-DAG: mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32
// Q-DAG: ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16
// Q-DAG: shfl.sync.bfly.b32
// Q-NOT: .local

// ptxas accepts both, with no spills, in static shared memory.
// PTXAS-KV: 0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
// PTXAS-KV: used 1 barriers
// PTXAS-KV-NOT: bytes smem
// PTXAS-Q: 0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
// PTXAS-Q: used 1 barriers, 34816 bytes smem
func.func @grad(%q: tensor<?x8x?x128xf16>, %k: tensor<?x4x?x128xf16>, %v: tensor<?x4x?x128xf16>,
                %o: tensor<?x8x?x128xf16>, %do: tensor<?x8x?x128xf16>, %lse: tensor<?x8x?xf32>,
                %dq: tensor<?x8x?x128xf16>, %dk: tensor<?x4x?x128xf16>, %dv: tensor<?x4x?x128xf16>)
    -> (tensor<?x8x?x128xf16>, tensor<?x4x?x128xf16>, tensor<?x4x?x128xf16>) {
  %r:3 = sqa.attention_grad ins(%q, %k, %v, %o, %do, %lse : tensor<?x8x?x128xf16>,
      tensor<?x4x?x128xf16>, tensor<?x4x?x128xf16>, tensor<?x8x?x128xf16>,
      tensor<?x8x?x128xf16>, tensor<?x8x?xf32>)
      outs(%dq, %dk, %dv : tensor<?x8x?x128xf16>, tensor<?x4x?x128xf16>, tensor<?x4x?x128xf16>)
      mask = causal_bottom_right
      -> tensor<?x8x?x128xf16>, tensor<?x4x?x128xf16>, tensor<?x4x?x128xf16>
  return %r#0, %r#1, %r#2 : tensor<?x8x?x128xf16>, tensor<?x4x?x128xf16>, tensor<?x4x?x128xf16>
}
