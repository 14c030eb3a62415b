//===- Passes.td - SQA conversion passes -------------------*- tablegen -*-===//

#ifndef SQA_CONVERSION_PASSES_TD
#define SQA_CONVERSION_PASSES_TD

include "mlir/Pass/PassBase.td"

def ConvertSQAToLinalgPass : Pass<"convert-sqa-to-linalg"> {
  let summary = "Lower sqa.attention to naive linalg ops (materialised scores)";
  let description = [{
    The reference lowering: the oracle of the numerical tests and the
    fallback for compilers that do not want fused kernels.

    #### Input invariant
    `sqa.attention` ops on tensors (any batch and sequence sizes).

    #### Output IR
    `linalg.generic`/`linalg.fill` and `tensor.empty` ops that compute, in
    f32, the scores S = scale * Q Kᵀ (a B x Ho x Sq x Skv tensor), the mask,
    the row max, P = exp(S - max), the row sum l, P V / l and, when requested,
    lse = max + log(l). Fully masked rows give zeros and lse = -inf. The head
    mapping is in the indexing maps: no key/value head is copied.
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect", "::mlir::linalg::LinalgDialect",
    "::mlir::math::MathDialect", "::mlir::tensor::TensorDialect"
  ];
}

def ConvertSQAToSCFPass : Pass<"convert-sqa-to-scf"> {
  let summary = "Lower sqa.attention to row-wise online-softmax loops";
  let description = [{
    The first fused lowering, and the kernel of the first GPU path: one
    parallel iteration per (batch, output head, query row), each streaming
    over the row's visible keys with an online softmax, so that no value of
    size Sq x Skv exists.

    #### Input invariant
    `sqa.attention` ops on tensors.

    #### Output IR
    An `scf.forall` over (query row, output head, batch) whose shared outputs
    are the op's destinations. Its body reads the query row with
    `vector.transfer_read`, folds `scale * log2(e)` into it, and runs an
    `scf.for` over the keys [begin, end) that the mask and window leave
    visible (masked keys are never visited), carrying the running max `m`,
    sum `l` and accumulator `acc` (a vector of Dv f32):

        s = dot(q, k_j);  m' = max(m, s);  a = exp2(m - m');  p = exp2(s - m')
        l = l * a + p;    acc = acc * a + p * v_j;  m = m'

    then writes acc / l (zeros when l = 0) and lse = (m + log2 l) * ln 2
    (-inf when l = 0) with `tensor.parallel_insert_slice`.
  }];
  let dependentDialects = [
    "::mlir::affine::AffineDialect", "::mlir::arith::ArithDialect",
    "::mlir::math::MathDialect", "::mlir::scf::SCFDialect",
    "::mlir::tensor::TensorDialect", "::mlir::vector::VectorDialect"
  ];
}

def ConvertMathToNVVMIntrinsicsPass
    : Pass<"sqa-convert-math-to-nvvm-intrinsics"> {
  let summary = "Lower f32 math.exp2/log2/fma to NVVM intrinsics, not libdevice";
  let description = [{
    `convert-gpu-to-nvvm` lowers `math.exp2`, `math.log2` and `math.fma` to
    libdevice calls (`__nv_exp2f`, `__nv_log2f`, `__nv_fmaf`), which need
    libdevice at link time and are several instructions each. The attention kernels only need the
    hardware approximations that FlashAttention uses, so this pass rewrites
    the f32 forms into `llvm.call_intrinsic` of `llvm.nvvm.ex2.approx.ftz.f`
    and `llvm.nvvm.lg2.approx.ftz.f`, one PTX instruction each (ex2.approx
    maps -inf to +0, which the online softmax relies on), and `math.fma`
    into `llvm.fma.f32` (one fma.rn.f32).

    #### Input invariant
    Any IR; the rewrite applies to f32 scalars (other types are left alone).
    Run it on GPU kernel code, before `convert-gpu-to-nvvm`.
  }];
  let dependentDialects = ["::mlir::LLVM::LLVMDialect"];
}

#endif // SQA_CONVERSION_PASSES_TD
