//===- Passes.td - SQA conversion passes -------------------*- tablegen -*-===//

#ifndef SQA_CONVERSION_PASSES_TD
#define SQA_CONVERSION_PASSES_TD

include "mlir/Pass/PassBase.td"

def ConvertSQAToLinalgPass : Pass<"convert-sqa-to-linalg"> {
  let summary = "Lower sqa.attention and sqa.attention_grad to naive linalg ops (materialised scores)";
  let description = [{
    The reference lowering: the oracle of the numerical tests and the
    fallback for compilers that do not want fused kernels.

    #### Input invariant
    `sqa.attention` and `sqa.attention_grad` ops on tensors (any batch and
    sequence sizes).

    #### Output IR
    `linalg.generic`/`linalg.fill` and `tensor.empty` ops that compute, in
    f32, the scores S = scale * Q Kᵀ (a B x Ho x Sq x Skv tensor), the mask,
    the row max, P = exp(S - max), the row sum l, P V / l and, when requested,
    lse = max + log(l). Fully masked rows give zeros and lse = -inf. The head
    mapping is in the indexing maps: no key/value head is copied.

    For `sqa.attention_grad`: the same scores, P = exp(S - lse), Dsum =
    rowsum(dO ∘ O), dP = dO Vᵀ, dS = P ∘ (dP - Dsum), then dV = Pᵀ dO, dK =
    scale dSᵀ Q and dQ = scale dS K as contractions whose output-head loop is
    a reduction indexed by the head it reads (the sums over GQA groups and
    over the heads that tile a reverse-SQA query head), each written in its
    gradient's element type.
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
  let options = [
    Option<"tensorCore", "tensor-core", "bool", /*default=*/"false",
           "Leave the ops that convert-sqa-to-nvgpu supports with their "
           "schedule (sqa-choose-schedule; without one, the default "
           "schedule) to it">,
    Option<"maxHeadDim", "max-head-dim", "int64_t", /*default=*/"0",
           "When positive, refuse (with a diagnostic at the op) the ops "
           "this lowering would take whose head dim D or Dv is larger: "
           "sqa-gpu-pipeline sets 256, since the row-wise GPU kernel holds "
           "a query row and a Dv accumulator per thread in registers">,
  ];
  let dependentDialects = [
    "::mlir::affine::AffineDialect", "::mlir::arith::ArithDialect",
    "::mlir::math::MathDialect", "::mlir::scf::SCFDialect",
    "::mlir::tensor::TensorDialect", "::mlir::vector::VectorDialect"
  ];
}

def ConvertSQAToNVGPUPass : Pass<"convert-sqa-to-nvgpu"> {
  let summary = "Lower sqa.attention and sqa.attention_grad on buffers to FlashAttention-2 tensor-core kernels";
  let description = [{
    Rewrites every buffer-semantics `sqa.attention` that has f16 or bf16
    operands and head dims D, Dv in {16, 32, 48, 64, 80, 96, 128, 160, 192,
    224, 256} (where the tiles fit in 99 KiB of shared memory) into one `gpu.launch`
    of FlashAttention-2's forward kernel for sm_80 (A100). Its tiles
    (`warps`, `warp-rows`, `kv-block` below) are the op's plan
    (`getForwardPlan`), derived from its `sqa.schedule` (`sqa-choose-schedule`;
    an op without one gets the default schedule's); the pass has no tiling
    options of its own:

    - grid (ceil(Sq / (R * warps)), max(Hq, Hkv), batch), `warps` warps per
      block of R = `warp-rows` rows (16 or 32: one or two m16 row tiles;
      by default 32, FlashAttention-2's 128-row blocks); warp w owns query
      rows [R w, R w + R) of the block, and every K and V fragment it loads
      feeds one mma.sync per row tile.
    - Q, K and V tiles live in shared memory: the Q tile, one K block and
      one V block, as `gpu.launch` workgroup attributions up to 48 KiB, else
      as views of the launch's dynamic shared memory (up to 99 KiB, what
      every chip from sm_80 on allows; the kernel libraries' launcher opts
      into it). Every thread
      copies 16-byte chunks with `nvgpu.device_async_copy` (cp.async, L1
      bypassed), K and V in separate groups as in FlashAttention-2: V of
      block j is in flight while S = Q Kᵀ of block j runs, K of block j - 1
      while the softmax and O += P V of block j run. The kv-blocks are
      visited last to first, so only the last one, copied before the loop,
      can end past the keys: its rows past the end are zero-filled by the
      copy itself, and the loop's copies carry no bounds code.
    - Each tile row is padded by one 16-byte chunk (`getSharedRowElements`),
      so the eight rows that one `ldmatrix` phase reads fall into eight
      different bank groups, and every k-step's and n-tile's address is a
      constant offset from the lane's (an XOR swizzle would take a register
      per k-step).
    - Q fragments are loaded once with `nvgpu.ldmatrix` and stay in
      registers for as many k-steps as fit beside the output accumulators
      and one block of scores (`ForwardPlan::heldQuerySteps`: all of Q at
      head dim 16, none at FlashAttention-2's tiles for 64 and 128); the rest are read from the Q tile at each k-step
      (FlashAttention-2 reads all). K fragments with `ldmatrix`, V fragments
      with the transposed `ldmatrix`. S = Q Kᵀ and O += P V run on m16n8k16 `mma.sync` with f32
      accumulators (`nvgpu.mma.sync` for f16; for bf16, whose PTX types
      `nvgpu.mma.sync`'s lowering does not deduce in MLIR 22, `nvvm.mma.sync`
      directly).
    - Online softmax in registers (OnlineSoftmax): row maxima over each
      thread's accumulator elements and then across the four threads of a
      row with `gpu.shuffle xor`; scores stay in raw units and
      `scale * log2(e)` is folded into one fma before `math.exp2`. Each
      row's reference trails its max by 8 (exp2 units), so O and the sum are
      rescaled, under an `scf.if`, only where a row's reference moves. The
      running sum stays per-thread until the end. P is converted to the A operand of the PV
      product in registers, without a trip through shared memory.
    - The kv loop covers only the blocks that hold a key visible to some row
      of the block (causal and window masks skip whole blocks); blocks that
      are only partly visible are masked elementwise under an `scf.if`.
    - Key/value heads are selected by index arithmetic (GQA/SQA/reverse SQA),
      never copied.

    Buffer-semantics `sqa.attention_grad` (f16/bf16 query, key, value, out
    and dout; head dims 16, 32, 64, 96, 128 and 160) becomes FlashAttention-2's
    backward in two
    `gpu.launch` ops built from the same warp-level toolkit:

    - dK/dV: grid (kv-blocks, key/value heads, batch), 16 keys per warp; the
      block's K and V are loaded once, Q and dO stream through two cp.async
      stages over every output head of the group and every q-block whose
      schedule visits the kv-block; dK and dV stay in f32 registers.
      Sᵀ = K Qᵀ, Pᵀ = exp2(Sᵀ c - lse log2 e), dV += Pᵀ dO, dPᵀ = V dOᵀ,
      dSᵀ = Pᵀ (dPᵀ - Dsum), dK += dSᵀ Q, with Pᵀ and dSᵀ reused as A
      operands in registers.
    - dQ: grid (q-blocks, query heads, batch), the forward's shape, over the
      output heads that read the query head and the forward's kv-blocks:
      S, P, dP = dO Vᵀ, dS, dQ += dS K.

    Dsum = rowsum(dO ∘ O) is computed where it is used; no atomics, no
    workspace.

    Ops the kernels do not support (f32 operands, other head dims) are left
    unchanged; `sqa-gpu-pipeline` lowers such forward ops with the row-wise
    kernel and reports such backward ops as errors.

    #### Input invariant
    `sqa.attention` with memref operands (after One-Shot Bufferize). The
    query, key and value rows must be 16-byte aligned on the device (the
    kernel libraries check this before launching).

    #### Output IR
    `gpu.launch` with workgroup attributions, whose body uses `gpu`,
    `nvgpu`, `nvvm` (bf16 mma), `vector`, `scf`, `arith` and `math` ops.
  }];
  let options = [
    Option<"strict", "strict", "bool", /*default=*/"false",
           "Report an error for an op the kernel does not support instead "
           "of leaving it">,
  ];
  let dependentDialects = [
    "::mlir::affine::AffineDialect", "::mlir::arith::ArithDialect",
    "::mlir::gpu::GPUDialect", "::mlir::math::MathDialect",
    "::mlir::memref::MemRefDialect", "::mlir::nvgpu::NVGPUDialect",
    "::mlir::NVVM::NVVMDialect", "::mlir::LLVM::LLVMDialect",
    "::mlir::scf::SCFDialect", "::mlir::vector::VectorDialect"
  ];
}

def ChooseSchedulePass : Pass<"sqa-choose-schedule"> {
  let summary = "Choose the GPU kernels' tile schedule of each attention op, once";
  let description = [{
    Attaches `sqa.schedule = #sqa.schedule<...>` to every `sqa.attention` and
    `sqa.attention_grad` that has none: the warps, kv-block and rows per
    warp of the forward kernel (defaults resolved: 32 rows per warp and
    FlashAttention-2's kv-block, 128 keys up to head dim 64 and 64 above,
    or the first of their smaller choices whose tiles fit in 72 KiB of
    shared memory and the registers), and for the backward the dQ kernel's
    warps and kv-block (64 keys, 16 from head dim 128) and its dK/dV
    kernel's warps and q-block (halved until the tiles fit in 72 KiB). The
    kernels' plans (ForwardPlan, GradPlan in sqa/GPU/KernelSchedule.h) are
    derived from this attribute, and the row-wise lowering's choice of
    which ops to leave to tensor cores reads it, so the schedule is chosen
    in one place and visible in the IR. A schedule already on an op (from
    the producer of the IR) is kept.
  }];
  let options = [
    // The descriptions are kWarpsKnobDescription and its neighbours in
    // sqa/GPU/KernelSchedule.h, which ODS cannot name; schedule-defaults.mlir
    // checks that they agree.
    Option<"numWarps", "warps", "int64_t", /*default=*/"4",
           "Warps per block of the tensor-core kernels (1 to 16)">,
    Option<"keyBlock", "kv-block", "int64_t", /*default=*/"0",
           "Keys per step of the tensor-core kernels (0: 128 up to head dim "
           "64, else 64, halved where the tiles need it)">,
    Option<"warpRows", "warp-rows", "int64_t", /*default=*/"0",
           "Query rows per warp of the forward tensor-core kernel (0: 32, or "
           "16 where the tiles would exceed 72 KiB of shared memory or two "
           "row tiles the registers)">,
  ];
}

def CheckPTXSymbolsPass
    : Pass<"sqa-check-ptx-symbols", "::mlir::gpu::GPUModuleOp"> {
  let summary = "Refuse GPU symbols that PTX cannot spell";
  let description = [{
    `gpu-kernel-outlining` names a kernel after the function that launches
    it (`<function>_kernel`), and MLIR accepts any string as a symbol
    (`@"my-kernel"`), but a PTX identifier is `[a-zA-Z][a-zA-Z0-9_$]*` or
    `[_$%][a-zA-Z0-9_$]+`: on any other name the NVPTX backend aborts
    ("Symbol name with unsupported characters"). This pass reports such a
    name at the op that defines it (for a kernel, the launch it was outlined
    from) instead.

    #### Input invariant
    A `gpu.module`, before translation to LLVM IR.

    #### Output IR
    Unchanged; the pass fails on a name that PTX cannot spell.
  }];
}

def SetNVVMLaunchBoundsPass
    : Pass<"sqa-set-nvvm-launch-bounds", "::mlir::gpu::GPUModuleOp"> {
  let summary = "Give ptxas the register budget of N resident blocks per SM";
  let description = [{
    `gpu-kernel-outlining` records a constant block size as
    `known_block_size`, which `convert-gpu-to-nvvm` turns into `.maxntid`.
    Given `.maxntid` alone, ptxas picks its own occupancy target and register
    budget: 168 registers for the 128 threads of the tensor-core kernel, at
    which the D = 128 kernel with a causal mask spills. This pass sets
    `nvvm.minctasm` (`.minnctapersm`) on every kernel that has none, so that
    the budget follows from the occupancy asked for: 65536 / (N * threads)
    registers, at most 255. With N = 1 ptxas may use up to 255 registers, as
    for FlashAttention-2's kernels, which carry no `__launch_bounds__`.

    #### Input invariant
    A `gpu.module` holding outlined `gpu.func` kernels.

    #### Output IR
    The same kernels with `nvvm.minctasm = N`; N = 0 leaves them unchanged.
  }];
  let options = [
    Option<"minBlocksPerSM", "min-blocks-per-sm", "int64_t", /*default=*/"1",
           "Blocks per SM that the register budget must allow (0: none)">,
  ];
  let dependentDialects = ["::mlir::NVVM::NVVMDialect"];
}

def ExternDynamicSharedMemoryPass
    : Pass<"sqa-extern-dynamic-shared-memory", "::mlir::gpu::GPUModuleOp"> {
  let summary = "Give the NVVM symbol of dynamic shared memory external linkage";
  let description = [{
    `convert-gpu-to-nvvm` lowers `gpu.dynamic_shared_memory` to an
    `llvm.mlir.global internal` zero-sized i8 array in address space 3. The
    NVPTX backend demotes such an internal global, used by one kernel, to a
    function-local `.shared .b8 name;`: a 1-byte static variable whose
    address the kernel then indexes past, into the dynamic shared memory
    that the launch appends after the static. This pass gives those globals
    external linkage, so that the PTX declares them as CUDA does,
    `.extern .shared .align 16 .b8 name[];`, the base of the launch's
    dynamic shared memory.

    #### Input invariant
    A `gpu.module` lowered to the LLVM dialect (after `convert-gpu-to-nvvm`).

    #### Output IR
    The same module, with every zero-sized array global in address space 3
    made external (no initializer).
  }];
  let dependentDialects = ["::mlir::LLVM::LLVMDialect"];
}

def CpAsyncL2PrefetchPass
    : Pass<"sqa-cp-async-l2-prefetch", "::mlir::gpu::GPUModuleOp"> {
  let summary = "Give the 16-byte cp.async copies an L2 prefetch of 128 bytes";
  let description = [{
    Rewrites each `nvvm.cp.async.shared.global` of 16 bytes that bypasses
    L1 (`cache = cg`, what `nvgpu.device_async_copy {bypassL1}` becomes) to
    `cp.async.cg.shared.global.L2::128B` (PTX ISA 7.4, sm_80), as
    FlashAttention-2's copies are: the L2 fetches the whole 128-byte line
    from memory with the first sector a warp asks for. An optional source
    size (zero-fill) is kept. Written here because MLIR 22's nvgpu and NVVM
    cp.async ops, and LLVM's cp.async intrinsics, have no prefetch-size
    modifier: the copy becomes an `llvm.inline_asm` with side effects.

    Inline PTX hides its addresses from LLVM, which can then neither fold
    an offset into the instruction's address nor share one pointer among a
    tile's copies (loop strength reduction kept one advancing 64-bit
    pointer per copy, which spilled). So each address is read as a
    polynomial in the values it is computed from (through `llvm.add`,
    `sub`, `mul`, `shl`, `getelementptr` and `addrspacecast`), and where it
    is an earlier copy's address of the same block plus a constant and at
    most one runtime value times a constant (a row stride), it is written
    as that address plus an immediate offset, the runtime part computed by
    one `mad.lo.s64` in a scoped PTX register.

    #### Input invariant
    A `gpu.module` whose copies are NVVM ops, after the index arithmetic is
    folded (the end of the kernels' lowering to NVVM).

    #### Output IR
    The same module, with those copies as inline PTX (operands: the shared
    and the global address, the source size, the runtime multipliers);
    other cp.async ops (`cache = ca`, or 4 or 8 bytes) are left alone.
  }];
  let dependentDialects = ["::mlir::LLVM::LLVMDialect"];
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

def GPULaunchToOpenMPPass
    : Pass<"sqa-gpu-launch-to-openmp", "::mlir::ModuleOp"> {
  let summary = "Run gpu.launch kernels, warp-level nvgpu ops included, on "
                "host threads";
  let description = [{
    Makes kernels written at the level of one GPU thread executable on the
    host, so that the lane-level parts of the tensor-core kernel (ldmatrix
    addressing, mma.sync fragments, padded tiles, warp shuffles) are checked
    numerically on machines without a GPU. Each `gpu.launch` becomes loops
    over its grid around one `omp.parallel` region per block, with one OpenMP
    thread per GPU thread; workgroup attributions become heap buffers of the
    block; `gpu.barrier` becomes `omp.barrier`.

    Warp-level ops are emulated through per-block exchange buffers: each
    thread publishes its operands, passes a barrier, and reads the other
    lanes'. `nvgpu.mma.sync` and `nvvm.mma.sync` (m16n8k16, f16/bf16 inputs,
    f32 accumulators) use upstream's fragment maps
    (`nvgpu::getLaneIdAndValueIdToOperandCoord`), not the kernel's;
    `nvgpu.ldmatrix` (b16, x1/x2/x4, optionally transposed) follows the PTX
    ISA; `gpu.shuffle` supports xor and idx over a warp of 32.
    `nvgpu.device_async_copy` lands as late as the PTX ISA allows: each
    thread queues its copies, `device_async_create_group` numbers them and
    `device_async_wait {numGroups = N}` performs all but the N most recent
    groups (zero-filling past the source size). Workgroup buffers start as
    NaN, so a tile read before its copy has landed shows in the results.

    Limits, by design of a test harness: collectives synchronise the whole
    block, so every thread of a block must reach them together (true of the
    sqa kernels), and a missing `gpu.barrier` between warps can go unnoticed.
    Ops of the gpu, nvgpu and NVVM dialects that it does not know are errors,
    as are copies whose buffers are made inside the kernel.

    #### Input invariant
    Host functions containing `gpu.launch` ops with single-block bodies, no
    async dependencies, no dynamic shared memory and no clusters.

    #### Output IR
    The same functions with `scf.for` grid loops, `omp.parallel` blocks
    calling `omp_get_thread_num`, memrefs in the default memory space. Run
    with the OpenMP runtime (libomp).
  }];
  let dependentDialects = [
    "::mlir::affine::AffineDialect", "::mlir::arith::ArithDialect",
    "::mlir::cf::ControlFlowDialect", "::mlir::func::FuncDialect",
    "::mlir::LLVM::LLVMDialect", "::mlir::memref::MemRefDialect",
    "::mlir::omp::OpenMPDialect", "::mlir::scf::SCFDialect",
    "::mlir::vector::VectorDialect"
  ];
}

#endif // SQA_CONVERSION_PASSES_TD
