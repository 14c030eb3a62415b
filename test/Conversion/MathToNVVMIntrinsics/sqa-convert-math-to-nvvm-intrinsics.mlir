// RUN: sqa-opt %s --sqa-convert-math-to-nvvm-intrinsics | FileCheck %s

// CHECK-LABEL: func.func @f32_ops
// CHECK-SAME: (%[[X:.+]]: f32, %[[Y:.+]]: f32)
// CHECK: %[[E:.+]] = llvm.call_intrinsic "llvm.nvvm.ex2.approx.ftz.f"(%[[X]]) : (f32) -> f32
// CHECK: %[[L:.+]] = llvm.call_intrinsic "llvm.nvvm.lg2.approx.ftz.f"(%[[E]]) : (f32) -> f32
// CHECK: %[[F:.+]] = llvm.call_intrinsic "llvm.fma.f32"(%[[L]], %[[X]], %[[Y]]) : (f32, f32, f32) -> f32
// CHECK: return %[[F]]
func.func @f32_ops(%x: f32, %y: f32) -> f32 {
  %e = math.exp2 %x : f32
  %l = math.log2 %e : f32
  %f = math.fma %l, %x, %y : f32
  return %f : f32
}

// Other types have no approx form and are left to the usual lowering.
// CHECK-LABEL: func.func @other_types
// CHECK: math.exp2 %{{.+}} : f16
// CHECK: math.exp2 %{{.+}} : vector<4xf32>
func.func @other_types(%x: f16, %v: vector<4xf32>) -> (f16, vector<4xf32>) {
  %e = math.exp2 %x : f16
  %w = math.exp2 %v : vector<4xf32>
  return %e, %w : f16, vector<4xf32>
}
