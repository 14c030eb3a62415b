// RUN: not sqa-opt %s --split-input-file --sqa-gpu-pipeline 2>&1 | FileCheck %s
// RUN: not sqa-opt %s --split-input-file --sqa-gpu-pipeline="kernel=rowwise" 2>&1 | FileCheck %s --check-prefix=ROWWISE
// RUN: not sqa-opt %s --split-input-file --sqa-gpu-pipeline="kernel=tensor-core" 2>&1 | FileCheck %s --check-prefix=STRICT

// sqa.attention_grad through the GPU pipeline: the dK/dV and dQ kernels in
// one gpu.binary each, launched one after the other from the host.
// CHECK-DAG: gpu.binary @grad_kernel [#gpu.object<#nvvm.target<O = 3, chip = "sm_80"
// CHECK-DAG: gpu.binary @grad_kernel_0 [#gpu.object<#nvvm.target<O = 3, chip = "sm_80"
// CHECK-DAG: gpu.launch_func @grad_kernel::@grad_kernel
// CHECK-DAG: gpu.launch_func @grad_kernel_0::@grad_kernel
// ROWWISE: error: 'sqa.attention_grad' op has no GPU kernel: the row-wise kernels have no backward (the backward runs on the tensor-core kernels)
func.func @grad(%q: tensor<?x4x?x32xbf16>, %k: tensor<?x2x?x32xbf16>, %v: tensor<?x2x?x32xbf16>,
                %o: tensor<?x4x?x32xbf16>, %do: tensor<?x4x?x32xbf16>, %lse: tensor<?x4x?xf32>,
                %dq: tensor<?x4x?x32xf32>, %dk: tensor<?x2x?x32xf32>, %dv: tensor<?x2x?x32xf32>)
    -> (tensor<?x4x?x32xf32>, tensor<?x2x?x32xf32>, tensor<?x2x?x32xf32>) {
  %r:3 = sqa.attention_grad ins(%q, %k, %v, %o, %do, %lse : tensor<?x4x?x32xbf16>,
      tensor<?x2x?x32xbf16>, tensor<?x2x?x32xbf16>, tensor<?x4x?x32xbf16>,
      tensor<?x4x?x32xbf16>, tensor<?x4x?xf32>)
      outs(%dq, %dk, %dv : tensor<?x4x?x32xf32>, tensor<?x2x?x32xf32>, tensor<?x2x?x32xf32>)
      mask = causal_top_left
      -> tensor<?x4x?x32xf32>, tensor<?x2x?x32xf32>, tensor<?x2x?x32xf32>
  return %r#0, %r#1, %r#2 : tensor<?x4x?x32xf32>, tensor<?x2x?x32xf32>, tensor<?x2x?x32xf32>
}

// -----

// An f32 backward has no GPU kernel: a diagnostic at the op.
// CHECK: error: 'sqa.attention_grad' op has no GPU kernel: the tensor-core backward needs f16 or bf16 operands (the backward runs on the tensor-core kernels)
// STRICT: error: 'sqa.attention_grad' op has no tensor-core kernel: the tensor-core backward needs f16 or bf16 operands
func.func @grad_f32(%q: tensor<?x4x?x16xf32>, %k: tensor<?x4x?x16xf32>, %v: tensor<?x4x?x16xf32>,
                    %o: tensor<?x4x?x16xf32>, %do: tensor<?x4x?x16xf32>, %lse: tensor<?x4x?xf32>,
                    %dq: tensor<?x4x?x16xf32>, %dk: tensor<?x4x?x16xf32>, %dv: tensor<?x4x?x16xf32>)
    -> (tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32>) {
  %r:3 = sqa.attention_grad ins(%q, %k, %v, %o, %do, %lse : tensor<?x4x?x16xf32>,
      tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32>,
      tensor<?x4x?x16xf32>, tensor<?x4x?xf32>)
      outs(%dq, %dk, %dv : tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32>)
      -> tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32>
  return %r#0, %r#1, %r#2 : tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32>
}
