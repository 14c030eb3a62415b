//===- GPULaunchToOpenMP.cpp - Run gpu.launch kernels on host threads -----===//
//
// Executes gpu.launch kernels written at the level of one thread, warp-level
// nvgpu ops included, on the host, so that what the tensor-core kernel does
// lane by lane (ldmatrix addressing, mma.sync fragments, padded tiles, quad
// shuffles) is checked numerically on machines without a GPU.
//
// Upstream has no host execution of GPU kernels with warp collectives: its
// CPU paths start from loops (scf.parallel), where no thread sees another's
// registers. Here every block is one OpenMP parallel region with one host
// thread per GPU thread, so that barriers and warp collectives can wait for
// the others. Each collective publishes the thread's operands in a per-block
// exchange buffer, passes a barrier, and reads what it needs from the other
// lanes. The exchange buffers have two slots used alternately, so one barrier
// per collective suffices: a thread writes a slot again only after the next
// collective's barrier, which every thread reaches after its reads.
//
// The fragment layouts of mma.sync come from upstream's
// nvgpu::getLaneIdAndValueIdToOperandCoord (the maps that vector-to-nvgpu
// distributes with), not from the kernel's builder, so the emulation is an
// independent statement of the hardware's layout. ldmatrix follows the PTX ISA:
// lanes 8i..8i+7 give the row addresses of matrix i, and lane l receives
// elements (l / 4, 2 (l % 4) + c) of it, or (2 (l % 4) + c, l / 4) with
// .trans.
//
// cp.async copies land as late as the PTX ISA allows: each thread queues its
// copies, commit_group numbers them, and wait_group N performs those of all
// but the N most recent groups. A kernel that reads a tile before waiting for
// it reads stale data here, as it might on the GPU.
//
// What this does not model: collectives synchronise the whole block, not only
// the warp (the kernels here reach every collective with all threads), so a
// missing gpu.barrier between warps can go unnoticed.
//
// One file of about 900 lines, above the project's 600: each warp-level op's
// emulation is written against the exchange-buffer protocol above (slots,
// barriers, lane reads), and keeping the protocol and its users in one file
// keeps that contract in view; the ops' emulations are independent
// functions that a Hopper backend's (wgmma, TMA, mbarriers) will join.
//
//===----------------------------------------------------------------------===//

#include "sqa/Conversion/GPULaunchToOpenMP/GPULaunchToOpenMP.h"

#include "sqa/GPU/HostExecution.h"
#include "sqa/GPU/WarpTensorCore.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlowOps.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/NVGPU/Utils/MMAUtils.h"
#include "mlir/Dialect/OpenMP/OpenMPDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/AttrTypeSubElements.h"
#include "mlir/IR/PatternMatch.h"
#include "llvm/ADT/TypeSwitch.h"

namespace mlir {
namespace sqa {
#define GEN_PASS_DEF_GPULAUNCHTOOPENMPPASS
#include "sqa/Conversion/Passes.h.inc"
} // namespace sqa
} // namespace mlir

using namespace mlir;

/// Exchange slots per thread: the 8 values of an A fragment and the 4 of a B
/// fragment of mma.m16n8k16.
static constexpr int64_t kExchangeSlots = 12;
static constexpr StringLiteral kThreadNumFn = "omp_get_thread_num";
static constexpr StringLiteral kNumThreadsFn = "omp_get_num_threads";

/// Returns a diagnostic for `op` if the emulator cannot run it, or success.
/// Ops of other dialects run unchanged.
static LogicalResult checkEmulatable(Operation *op) {
  if (auto shuffle = dyn_cast<gpu::ShuffleOp>(op)) {
    if (shuffle.getMode() != gpu::ShuffleMode::XOR &&
        shuffle.getMode() != gpu::ShuffleMode::IDX)
      return op->emitOpError("cannot be emulated: only xor and idx shuffles "
                             "are supported");
    if (getConstantIntValue(shuffle.getWidth()) != sqa::kThreadsPerWarp)
      return op->emitOpError(
          "cannot be emulated: the width must be the constant 32");
    Type valueType = shuffle.getValue().getType();
    if (!valueType.isIntOrFloat() || valueType.getIntOrFloatBitWidth() != 32)
      return op->emitOpError("cannot be emulated: only 32-bit values");
    return success();
  }
  if (auto load = dyn_cast<nvgpu::LdMatrixOp>(op)) {
    auto type = cast<VectorType>(load.getRes().getType());
    if (type.getRank() != 2 || type.getDimSize(1) != 2 ||
        type.getElementTypeBitWidth() != 16)
      return op->emitOpError(
          "cannot be emulated: only b16 matrices (vector<Nx2x16-bit>)");
    return success();
  }
  if (auto mma = dyn_cast<nvgpu::MmaSyncOp>(op)) {
    VectorType a = mma.getMatrixA().getType(),
               bType = mma.getMatrixB().getType(),
               c = mma.getMatrixC().getType();
    if (ArrayRef<int64_t>(mma.getMmaShapeAsArray()) !=
            ArrayRef<int64_t>{16, 8, 16} ||
        !a.getElementType().isF16() || !c.getElementType().isF32() ||
        a.getShape() != ArrayRef<int64_t>{4, 2} ||
        bType.getShape() != ArrayRef<int64_t>{2, 2} ||
        c.getShape() != ArrayRef<int64_t>{2, 2})
      return op->emitOpError(
          "cannot be emulated: only m16n8k16 with f16 inputs and f32 "
          "accumulators");
    return success();
  }
  if (auto mma = dyn_cast<NVVM::MmaOp>(op)) {
    NVVM::MMAShapeAttr shape = mma.getShape();
    std::optional<NVVM::MMATypes> typeA = mma.getMultiplicandAPtxType();
    bool supportedType = typeA && (*typeA == NVVM::MMATypes::bf16 ||
                                   *typeA == NVVM::MMATypes::f16);
    if (shape.getM() != 16 || shape.getN() != 8 || shape.getK() != 16 ||
        !supportedType || mma.getLayoutA() != NVVM::MMALayout::row ||
        mma.getLayoutB() != NVVM::MMALayout::col ||
        mma.getOperandA().size() != 4 || mma.getOperandB().size() != 2 ||
        mma.getOperandC().size() != 4 ||
        !llvm::all_of(mma.getOperandC().getTypes(),
                      [](Type t) { return t.isF32(); }))
      return op->emitOpError(
          "cannot be emulated: only m16n8k16 row.col with f16 or bf16 inputs "
          "and f32 accumulators");
    return success();
  }
  if (isa<gpu::BarrierOp, gpu::ThreadIdOp, gpu::BlockIdOp, gpu::BlockDimOp,
          gpu::GridDimOp, gpu::LaneIdOp, gpu::TerminatorOp,
          gpu::DynamicSharedMemoryOp,
          nvgpu::DeviceAsyncCopyOp, nvgpu::DeviceAsyncCreateGroupOp,
          nvgpu::DeviceAsyncWaitOp>(op))
    return success();
  if (isa<gpu::GPUDialect, nvgpu::NVGPUDialect, NVVM::NVVMDialect>(
          op->getDialect()))
    return op->emitOpError("cannot be emulated on the host");
  return success();
}

namespace {
/// Emulates one gpu.launch. Host code (grid loops, workgroup and exchange
/// buffers) goes before the launch; the body moves into an omp.parallel.
class LaunchEmulator {
public:
  LaunchEmulator(RewriterBase &rewriter, gpu::LaunchOp launch)
      : b(rewriter), launch(launch), loc(launch.getLoc()) {}

  LogicalResult emulate();

private:
  Value index(int64_t value) {
    return arith::ConstantIndexOp::create(b, loc, value);
  }
  /// The exchange buffer of `type`, memref<2 x threads x slots x type>.
  Value exchangeBuffer(Type type) {
    auto it = exchange.find(type);
    assert(it != exchange.end() && "exchange buffer not allocated");
    return it->second;
  }
  /// The slot of the next collective (0 or 1), flipping this thread's slot.
  Value nextSlot();
  /// Builds the thread-local values at the start of the parallel region.
  void buildThreadPrologue(Value numThreads, bool hasCollectives,
                           bool needsMatrices);

  void emulateShuffle(gpu::ShuffleOp op);
  void emulateLoadMatrix(nvgpu::LdMatrixOp op);
  /// D = A B + C on one m16n8k16 tile: `a` and `bRegs` are this lane's
  /// registers (vector<2xT> each), `c` its four accumulators.
  SmallVector<Value> emulateMma(Type elementType, ArrayRef<Value> aRegs,
                                ArrayRef<Value> bRegs, ArrayRef<Value> c);
  /// cp.async: queues the copy (site, group, source size, indices).
  void emulateAsyncCopy(nvgpu::DeviceAsyncCopyOp op);
  /// commit_group: numbers this thread's uncommitted copies.
  void emulateCreateGroup(nvgpu::DeviceAsyncCreateGroupOp op);
  /// wait_group N: performs the queued copies of all but the N most recent
  /// groups and drops them from the queue.
  void emulateWait(nvgpu::DeviceAsyncWaitOp op);
  /// Copies `sourceCount` elements of `copy`'s source at `sourceIndices`
  /// to its destination at `destIndices`, then zeros up to its size.
  void buildCopy(OpBuilder &builder, nvgpu::DeviceAsyncCopyOp copy,
                 Value sourceCount, ValueRange destIndices,
                 ValueRange sourceIndices);

  RewriterBase &b;
  gpu::LaunchOp launch;
  Location loc;
  llvm::MapVector<Type, Value> exchange;
  Value addressExchange;
  int64_t addressRank = 0;
  // The cp.async ops of the kernel; a queued copy records its index here.
  SmallVector<nvgpu::DeviceAsyncCopyOp> copySites;
  int64_t destRank = 0, sourceRank = 0;
  // Thread-local values, defined in the parallel region.
  Value thread, lane, warpBase, slot, matrixA, matrixB;
  // The mma.sync fragment maps, (lane, value) -> (row, column).
  AffineMap mapA, mapB, mapC;
  // This thread's copy queue: records of [site, group (-1: uncommitted),
  // source size, destination indices, source indices].
  Value copyQueue, queueLength, groupCount;
  int64_t queueCapacity = 0;

  enum QueueField : int64_t { kSite = 0, kGroup = 1, kSourceCount = 2 };
  int64_t recordWidth() const { return 3 + destRank + sourceRank; }
};
} // namespace

Value LaunchEmulator::nextSlot() {
  Value current = memref::LoadOp::create(b, loc, slot);
  memref::StoreOp::create(
      b, loc, arith::SubIOp::create(b, loc, index(1), current), slot);
  return current;
}

void LaunchEmulator::buildThreadPrologue(Value numThreads, bool hasCollectives,
                                         bool needsMatrices) {
  auto i32 = b.getI32Type();
  auto call = [&](StringRef name) {
    Value result =
        func::CallOp::create(b, loc, name, TypeRange{i32}, ValueRange{})
            .getResult(0);
    return arith::IndexCastOp::create(b, loc, b.getIndexType(), result)
        .getResult();
  };
  thread = call(kThreadNumFn);
  // A runtime that gave fewer threads than asked would silently compute a
  // different kernel; stop instead.
  cf::AssertOp::create(
      b, loc,
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq,
                            call(kNumThreadsFn), numThreads),
      "sqa-gpu-launch-to-openmp: the OpenMP runtime gave fewer threads than "
      "the block has");
  lane = arith::RemUIOp::create(b, loc, thread, index(sqa::kThreadsPerWarp));
  if (!copySites.empty()) {
    // Room for every copy site to be in flight many times over; overflowing
    // is a checked error, not a silent drop.
    queueCapacity = 64 * static_cast<int64_t>(copySites.size());
    copyQueue = memref::AllocaOp::create(
        b, loc,
        MemRefType::get({queueCapacity, recordWidth()}, b.getIndexType()));
    queueLength =
        memref::AllocaOp::create(b, loc, MemRefType::get({}, b.getIndexType()));
    groupCount =
        memref::AllocaOp::create(b, loc, MemRefType::get({}, b.getIndexType()));
    memref::StoreOp::create(b, loc, index(0), queueLength);
    memref::StoreOp::create(b, loc, index(0), groupCount);
  }
  if (!hasCollectives)
    return;
  warpBase = arith::SubIOp::create(b, loc, thread, lane);
  slot =
      memref::AllocaOp::create(b, loc, MemRefType::get({}, b.getIndexType()));
  memref::StoreOp::create(b, loc, index(0), slot);
  if (needsMatrices) {
    // Upstream's (lane, value) -> (row, column) maps of the warp-level
    // operands: A is m x k, B is n x k ("col"), C is m x n. PTX defines the
    // same fragments for .bf16 as for .f16, and upstream's helper knows f16
    // only, so f16 stands for both.
    Type f16 = b.getF16Type(), f32 = b.getF32Type();
    auto coordinateMap = [&](ArrayRef<int64_t> shape, Type type,
                             nvgpu::MatMulOperandRole role) {
      nvgpu::WarpMatrixInfo info{VectorType::get(shape, type), role};
      FailureOr<AffineMap> map =
          nvgpu::getLaneIdAndValueIdToOperandCoord(b, loc, info);
      assert(succeeded(map) && "m16n8k16 has fragment maps");
      return *map;
    };
    mapA = coordinateMap({16, 16}, f16, nvgpu::MatMulOperandRole::A);
    mapB = coordinateMap({8, 16}, f16, nvgpu::MatMulOperandRole::B);
    mapC = coordinateMap({16, 8}, f32, nvgpu::MatMulOperandRole::C);
    matrixA = memref::AllocaOp::create(b, loc, MemRefType::get({16, 16}, f32));
    matrixB = memref::AllocaOp::create(b, loc, MemRefType::get({8, 16}, f32));
  }
}

void LaunchEmulator::emulateShuffle(gpu::ShuffleOp op) {
  b.setInsertionPoint(op);
  Value buffer = exchangeBuffer(op.getValue().getType());
  Value current = nextSlot();
  memref::StoreOp::create(b, loc, op.getValue(), buffer,
                          ValueRange{current, thread, index(0)});
  omp::BarrierOp::create(b, loc);
  Value offset =
      arith::IndexCastUIOp::create(b, loc, b.getIndexType(), op.getOffset());
  Value source = op.getMode() == gpu::ShuffleMode::XOR
                     ? arith::XOrIOp::create(b, loc, lane, offset).getResult()
                     : offset;
  // Out of the warp: the value is unspecified and valid is false; read the
  // thread's own.
  Value valid = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, source,
                                      index(sqa::kThreadsPerWarp));
  source = arith::SelectOp::create(b, loc, valid, source, lane);
  Value result = memref::LoadOp::create(
      b, loc, buffer,
      ValueRange{current, arith::AddIOp::create(b, loc, warpBase, source),
                 index(0)});
  b.replaceOp(op, ValueRange{result, valid});
}

void LaunchEmulator::emulateLoadMatrix(nvgpu::LdMatrixOp op) {
  b.setInsertionPoint(op);
  Value current = nextSlot();
  for (auto [dim, value] : llvm::enumerate(op.getIndices()))
    memref::StoreOp::create(
        b, loc, value, addressExchange,
        ValueRange{current, thread, index(static_cast<int64_t>(dim))});
  omp::BarrierOp::create(b, loc);
  Value laneDiv4 = arith::DivUIOp::create(b, loc, lane, index(4));
  Value laneMod4 = arith::RemUIOp::create(b, loc, lane, index(4));
  SmallVector<Value> elements;
  for (int64_t matrix = 0; matrix < op.getNumTiles(); ++matrix) {
    for (int64_t c = 0; c < 2; ++c) {
      // The lane whose row address holds this element, and the element's
      // offset in that row.
      Value rowLane, offset;
      Value pairColumn = arith::AddIOp::create(
          b, loc, arith::MulIOp::create(b, loc, laneMod4, index(2)), index(c));
      if (op.getTranspose()) {
        rowLane = pairColumn;
        offset = laneDiv4;
      } else {
        rowLane = laneDiv4;
        offset = pairColumn;
      }
      Value sourceThread = arith::AddIOp::create(
          b, loc, warpBase,
          arith::AddIOp::create(b, loc, rowLane, index(8 * matrix)));
      SmallVector<Value> indices;
      int64_t rank = op.getIndices().size();
      for (int64_t dim = 0; dim < rank; ++dim)
        indices.push_back(memref::LoadOp::create(
            b, loc, addressExchange,
            ValueRange{current, sourceThread, index(dim)}));
      indices.back() = arith::AddIOp::create(b, loc, indices.back(), offset);
      elements.push_back(
          memref::LoadOp::create(b, loc, op.getSrcMemref(), indices));
    }
  }
  b.replaceOpWithNewOp<vector::FromElementsOp>(op, op.getRes().getType(),
                                               elements);
}

SmallVector<Value> LaunchEmulator::emulateMma(Type elementType,
                                              ArrayRef<Value> aRegs,
                                              ArrayRef<Value> bRegs,
                                              ArrayRef<Value> c) {
  Value buffer = exchangeBuffer(elementType);
  Value current = nextSlot();
  for (auto [i, reg] : llvm::enumerate(llvm::concat<const Value>(aRegs, bRegs)))
    vector::StoreOp::create(
        b, loc, reg, buffer,
        ValueRange{current, thread, index(2 * static_cast<int64_t>(i))});
  omp::BarrierOp::create(b, loc);

  Type f32 = b.getF32Type();
  // Every lane rebuilds the warp's A and B in f32 from the lanes' registers.
  auto gather = [&](AffineMap map, Value matrix, int64_t values,
                    int64_t firstSlot) {
    scf::ForOp::create(
        b, loc, index(0), index(sqa::kThreadsPerWarp), index(1), ValueRange{},
        [&](OpBuilder &nb, Location nloc, Value sourceLane, ValueRange) {
          scf::ForOp::create(
              nb, nloc, index(0), index(values), index(1), ValueRange{},
              [&](OpBuilder &ib, Location iloc, Value value, ValueRange) {
                SmallVector<Value> coord;
                for (unsigned r = 0; r < 2; ++r)
                  coord.push_back(affine::AffineApplyOp::create(
                      ib, iloc, map.getSubMap({r}),
                      ValueRange{sourceLane, value}));
                Value sourceThread =
                    arith::AddIOp::create(ib, iloc, warpBase, sourceLane);
                Value element = memref::LoadOp::create(
                    ib, iloc, buffer,
                    ValueRange{
                        current, sourceThread,
                        arith::AddIOp::create(ib, iloc, value,
                                              arith::ConstantIndexOp::create(
                                                  ib, iloc, firstSlot))});
                element = arith::ExtFOp::create(ib, iloc, f32, element);
                memref::StoreOp::create(ib, iloc, element, matrix, coord);
                scf::YieldOp::create(ib, iloc);
              });
          scf::YieldOp::create(nb, nloc);
        });
  };
  gather(mapA, matrixA, 8, 0);
  gather(mapB, matrixB, 4, 8);

  SmallVector<Value> results;
  for (int64_t v = 0; v < 4; ++v) {
    SmallVector<Value> coord;
    for (unsigned r = 0; r < 2; ++r)
      coord.push_back(affine::AffineApplyOp::create(
          b, loc, mapC.getSubMap({r}), ValueRange{lane, index(v)}));
    auto loop = scf::ForOp::create(
        b, loc, index(0), index(16), index(1), ValueRange{c[v]},
        [&](OpBuilder &nb, Location nloc, Value k, ValueRange acc) {
          Value x = memref::LoadOp::create(nb, nloc, matrixA,
                                           ValueRange{coord[0], k});
          Value y = memref::LoadOp::create(nb, nloc, matrixB,
                                           ValueRange{coord[1], k});
          Value product = arith::MulFOp::create(nb, nloc, x, y);
          scf::YieldOp::create(
              nb, nloc,
              ValueRange{arith::AddFOp::create(nb, nloc, acc[0], product)});
        });
    results.push_back(loop.getResult(0));
  }
  return results;
}

void LaunchEmulator::buildCopy(OpBuilder &builder,
                               nvgpu::DeviceAsyncCopyOp copy, Value sourceCount,
                               ValueRange destIndices,
                               ValueRange sourceIndices) {
  Value total = arith::ConstantIndexOp::create(
      builder, loc, copy.getDstElements().getZExtValue());
  Type elementType = copy.getDst().getType().getElementType();
  Value zero =
      arith::ConstantOp::create(builder, loc, builder.getZeroAttr(elementType));
  Value zeroIndex = arith::ConstantIndexOp::create(builder, loc, 0);
  Value oneIndex = arith::ConstantIndexOp::create(builder, loc, 1);
  scf::ForOp::create(
      builder, loc, zeroIndex, total, oneIndex, ValueRange{},
      [&](OpBuilder &nb, Location nloc, Value i, ValueRange) {
        Value fromSource = arith::CmpIOp::create(
            nb, nloc, arith::CmpIPredicate::ult, i, sourceCount);
        auto ifOp = scf::IfOp::create(
            nb, nloc, fromSource,
            [&](OpBuilder &tb, Location tloc) {
              SmallVector<Value> indices(sourceIndices);
              indices.back() =
                  arith::AddIOp::create(tb, tloc, indices.back(), i);
              Value element =
                  memref::LoadOp::create(tb, tloc, copy.getSrc(), indices);
              scf::YieldOp::create(tb, tloc, element);
            },
            [&](OpBuilder &eb, Location eloc) {
              scf::YieldOp::create(eb, eloc, zero);
            });
        SmallVector<Value> indices(destIndices);
        indices.back() = arith::AddIOp::create(nb, nloc, indices.back(), i);
        memref::StoreOp::create(nb, nloc, ifOp.getResult(0), copy.getDst(),
                                indices);
        scf::YieldOp::create(nb, nloc);
      });
}

void LaunchEmulator::emulateAsyncCopy(nvgpu::DeviceAsyncCopyOp op) {
  b.setInsertionPoint(op);
  Value length = memref::LoadOp::create(b, loc, queueLength);
  cf::AssertOp::create(
      b, loc,
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, length,
                            index(queueCapacity)),
      "sqa-gpu-launch-to-openmp: too many cp.async copies in flight");
  int64_t site = llvm::find(copySites, op) - copySites.begin();
  Value total = index(op.getDstElements().getZExtValue());
  SmallVector<Value> fields = {index(site), index(-1),
                               op.getSrcElements() ? op.getSrcElements()
                                                   : total};
  auto padded = [&](ValueRange indices, int64_t rank) {
    llvm::append_range(fields, indices);
    for (int64_t i = indices.size(); i < rank; ++i)
      fields.push_back(index(0));
  };
  padded(op.getDstIndices(), destRank);
  padded(op.getSrcIndices(), sourceRank);
  for (auto [field, value] : llvm::enumerate(fields))
    memref::StoreOp::create(
        b, loc, value, copyQueue,
        ValueRange{length, index(static_cast<int64_t>(field))});
  memref::StoreOp::create(
      b, loc, arith::AddIOp::create(b, loc, length, index(1)), queueLength);
}

void LaunchEmulator::emulateCreateGroup(nvgpu::DeviceAsyncCreateGroupOp op) {
  b.setInsertionPoint(op);
  Value group = memref::LoadOp::create(b, loc, groupCount);
  Value length = memref::LoadOp::create(b, loc, queueLength);
  scf::ForOp::create(
      b, loc, index(0), length, index(1), ValueRange{},
      [&](OpBuilder &nb, Location nloc, Value i, ValueRange) {
        Value groupField = arith::ConstantIndexOp::create(nb, nloc, kGroup);
        Value current = memref::LoadOp::create(nb, nloc, copyQueue,
                                               ValueRange{i, groupField});
        Value uncommitted =
            arith::CmpIOp::create(nb, nloc, arith::CmpIPredicate::slt, current,
                                  arith::ConstantIndexOp::create(nb, nloc, 0));
        Value updated =
            arith::SelectOp::create(nb, nloc, uncommitted, group, current);
        memref::StoreOp::create(nb, nloc, updated, copyQueue,
                                ValueRange{i, groupField});
        scf::YieldOp::create(nb, nloc);
      });
  memref::StoreOp::create(
      b, loc, arith::AddIOp::create(b, loc, group, index(1)), groupCount);
}

void LaunchEmulator::emulateWait(nvgpu::DeviceAsyncWaitOp op) {
  b.setInsertionPoint(op);
  // Groups numbered below `limit` must have landed.
  Value limit =
      arith::SubIOp::create(b, loc, memref::LoadOp::create(b, loc, groupCount),
                            index(op.getNumGroups().value_or(0)));
  Value length = memref::LoadOp::create(b, loc, queueLength);
  auto loop = scf::ForOp::create(
      b, loc, index(0), length, index(1), ValueRange{index(0)},
      [&](OpBuilder &nb, Location nloc, Value i, ValueRange kept) {
        auto field = [&](OpBuilder &fb, int64_t f) {
          return memref::LoadOp::create(
                     fb, nloc, copyQueue,
                     ValueRange{i, arith::ConstantIndexOp::create(fb, nloc, f)})
              .getResult();
        };
        Value group = field(nb, kGroup);
        Value due = arith::AndIOp::create(
            nb, nloc,
            arith::CmpIOp::create(nb, nloc, arith::CmpIPredicate::sge, group,
                                  arith::ConstantIndexOp::create(nb, nloc, 0)),
            arith::CmpIOp::create(nb, nloc, arith::CmpIPredicate::slt, group,
                                  limit));
        auto ifOp = scf::IfOp::create(
            nb, nloc, due,
            [&](OpBuilder &tb, Location tloc) {
              // Perform the copy of its site.
              SmallVector<int64_t> cases =
                  llvm::to_vector(llvm::seq<int64_t>(0, copySites.size()));
              auto dispatch = scf::IndexSwitchOp::create(
                  tb, tloc, TypeRange{}, field(tb, kSite), cases, cases.size());
              for (auto [site, region] :
                   llvm::zip(copySites, dispatch.getCaseRegions())) {
                OpBuilder cb = OpBuilder::atBlockBegin(&region.emplaceBlock());
                SmallVector<Value> destIndices, sourceIndices;
                int64_t first = 3;
                for (size_t d = 0; d < site.getDstIndices().size(); ++d)
                  destIndices.push_back(field(cb, first + d));
                first += destRank;
                for (size_t d = 0; d < site.getSrcIndices().size(); ++d)
                  sourceIndices.push_back(field(cb, first + d));
                buildCopy(cb, site, field(cb, kSourceCount), destIndices,
                          sourceIndices);
                scf::YieldOp::create(cb, tloc);
              }
              OpBuilder db = OpBuilder::atBlockBegin(
                  &dispatch.getDefaultRegion().emplaceBlock());
              scf::YieldOp::create(db, tloc);
              scf::YieldOp::create(tb, tloc, kept);
            },
            [&](OpBuilder &eb, Location eloc) {
              // Keep the record, moved down over the performed ones.
              for (int64_t f = 0; f < recordWidth(); ++f) {
                Value fieldIndex = arith::ConstantIndexOp::create(eb, eloc, f);
                Value value = memref::LoadOp::create(eb, eloc, copyQueue,
                                                     ValueRange{i, fieldIndex});
                memref::StoreOp::create(eb, eloc, value, copyQueue,
                                        ValueRange{kept[0], fieldIndex});
              }
              Value next = arith::AddIOp::create(
                  eb, eloc, kept[0],
                  arith::ConstantIndexOp::create(eb, eloc, 1));
              scf::YieldOp::create(eb, eloc, next);
            });
        scf::YieldOp::create(nb, nloc, ifOp.getResults());
      });
  memref::StoreOp::create(b, loc, loop.getResult(0), queueLength);
}

LogicalResult LaunchEmulator::emulate() {
  if (launch.getAsyncToken() || !launch.getAsyncDependencies().empty())
    return launch.emitOpError("cannot be emulated: async launches are not "
                              "supported");
  if (launch.hasClusterSize())
    return launch.emitOpError("cannot be emulated: clusters are not "
                              "supported");
  SmallVector<gpu::DynamicSharedMemoryOp> dynamicShared;
  for (auto op : launch.getBody().getOps<gpu::DynamicSharedMemoryOp>())
    dynamicShared.push_back(op);
  if (!launch.getDynamicSharedMemorySize() && !dynamicShared.empty())
    return dynamicShared.front().emitOpError(
        "cannot be emulated: the launch has no dynamic shared memory");
  if (!launch.getBody().hasOneBlock())
    return launch.emitOpError("cannot be emulated: the body must be a single "
                              "block");
  bool needsMatrices = false;
  WalkResult walk = launch.getBody().walk([&](Operation *op) {
    if (failed(checkEmulatable(op)))
      return WalkResult::interrupt();
    if (auto copy = dyn_cast<nvgpu::DeviceAsyncCopyOp>(op)) {
      // Queued copies run at a later wait: their buffers must be visible
      // there, i.e. defined outside the kernel or workgroup attributions.
      // Views of the dynamic shared memory at the top of the kernel dominate
      // every wait too.
      auto isSharedView = [&](Value buffer) {
        auto view = buffer.getDefiningOp<memref::ViewOp>();
        return view && view->getBlock() == &launch.getBody().front() &&
               view.getSource().getDefiningOp<gpu::DynamicSharedMemoryOp>() &&
               view.getByteShift().getDefiningOp<arith::ConstantOp>();
      };
      for (Value buffer : {copy.getSrc(), copy.getDst()}) {
        auto arg = dyn_cast<BlockArgument>(buffer);
        bool attribution =
            (arg &&
             llvm::is_contained(launch.getWorkgroupAttributions(), arg)) ||
            isSharedView(buffer);
        if (!attribution &&
            launch.getBody().isAncestor(buffer.getParentRegion())) {
          copy.emitOpError("cannot be emulated: its buffers must be defined "
                           "outside the kernel or be workgroup attributions "
                           "or constant views of the dynamic shared memory "
                           "at the top of the kernel");
          return WalkResult::interrupt();
        }
      }
      copySites.push_back(copy);
      destRank = std::max<int64_t>(destRank, copy.getDstIndices().size());
      sourceRank = std::max<int64_t>(sourceRank, copy.getSrcIndices().size());
    }
    if (auto shuffle = dyn_cast<gpu::ShuffleOp>(op))
      exchange.insert({shuffle.getValue().getType(), Value()});
    if (auto load = dyn_cast<nvgpu::LdMatrixOp>(op))
      addressRank = std::max<int64_t>(addressRank, load.getIndices().size());
    if (auto mma = dyn_cast<nvgpu::MmaSyncOp>(op)) {
      exchange.insert({mma.getMatrixA().getType().getElementType(), Value()});
      needsMatrices = true;
    }
    if (auto mma = dyn_cast<NVVM::MmaOp>(op)) {
      Type element = *mma.getMultiplicandAPtxType() == NVVM::MMATypes::bf16
                         ? Type(b.getBF16Type())
                         : Type(b.getF16Type());
      exchange.insert({element, Value()});
      needsMatrices = true;
    }
    return WalkResult::advance();
  });
  if (walk.wasInterrupted())
    return failure();

  // Host side: the grid as loops, one parallel region per block.
  b.setInsertionPoint(launch);
  gpu::KernelDim3 gridSize = launch.getGridSizeOperandValues();
  gpu::KernelDim3 blockSize = launch.getBlockSizeOperandValues();
  Value numThreads = arith::MulIOp::create(
      b, loc, arith::MulIOp::create(b, loc, blockSize.x, blockSize.y),
      blockSize.z);
  bool hasCollectives = needsMatrices || addressRank || !exchange.empty();
  if (hasCollectives)
    cf::AssertOp::create(
        b, loc,
        arith::CmpIOp::create(
            b, loc, arith::CmpIPredicate::eq,
            arith::RemUIOp::create(b, loc, numThreads,
                                   index(sqa::kThreadsPerWarp)),
            index(0)),
        "sqa-gpu-launch-to-openmp: warp-level ops need whole warps");
  SmallVector<Value> blockIds;
  for (Value size : {gridSize.z, gridSize.y, gridSize.x}) {
    auto loop = scf::ForOp::create(b, loc, index(0), size, index(1));
    blockIds.push_back(loop.getInductionVar());
    b.setInsertionPoint(loop.getBody()->getTerminator());
  }
  std::reverse(blockIds.begin(), blockIds.end());

  // Workgroup memory starts out as garbage on the GPU; NaN here, so that a
  // tile read before its copy has landed shows in the results instead of
  // what the block before left in a reused heap buffer.
  SmallVector<Value> blockBuffers;
  for (BlockArgument attribution : launch.getWorkgroupAttributions()) {
    auto type = cast<MemRefType>(attribution.getType());
    Value buffer = memref::AllocOp::create(b, loc, type);
    blockBuffers.push_back(buffer);
    auto floatType = dyn_cast<FloatType>(type.getElementType());
    if (!floatType || !type.hasStaticShape())
      continue;
    Value nan = arith::ConstantOp::create(
        b, loc,
        b.getFloatAttr(floatType,
                       APFloat::getNaN(floatType.getFloatSemantics())));
    SmallVector<Value> lbs, ubs, steps;
    for (int64_t size : type.getShape()) {
      lbs.push_back(index(0));
      ubs.push_back(index(size));
      steps.push_back(index(1));
    }
    scf::buildLoopNest(b, loc, lbs, ubs, steps,
                       [&](OpBuilder &nb, Location nloc, ValueRange ivs) {
                         memref::StoreOp::create(nb, nloc, nan, buffer, ivs);
                       });
  }
  // Dynamic shared memory: bytes of 0xFF, NaN in every float type the
  // kernels view it as.
  Value dynamicBuffer;
  if (Value bytes = launch.getDynamicSharedMemorySize()) {
    auto type = MemRefType::get(
        {ShapedType::kDynamic}, b.getI8Type(), MemRefLayoutAttrInterface(),
        gpu::AddressSpaceAttr::get(b.getContext(),
                                   gpu::AddressSpace::Workgroup));
    Value size = arith::IndexCastUIOp::create(b, loc, b.getIndexType(), bytes);
    dynamicBuffer = memref::AllocOp::create(b, loc, type, ValueRange{size});
    Value ones = arith::ConstantOp::create(b, loc, b.getI8IntegerAttr(-1));
    scf::ForOp::create(b, loc, index(0), size, index(1), ValueRange{},
                       [&](OpBuilder &nb, Location nloc, Value i, ValueRange) {
                         memref::StoreOp::create(nb, nloc, ones, dynamicBuffer,
                                                 i);
                         scf::YieldOp::create(nb, nloc);
                       });
  }
  for (auto &[type, buffer] : exchange) {
    buffer = memref::AllocOp::create(
        b, loc,
        MemRefType::get({2, ShapedType::kDynamic, kExchangeSlots}, type),
        ValueRange{numThreads});
    blockBuffers.push_back(buffer);
  }
  if (addressRank) {
    addressExchange = memref::AllocOp::create(
        b, loc,
        MemRefType::get({2, ShapedType::kDynamic, addressRank},
                        b.getIndexType()),
        ValueRange{numThreads});
    blockBuffers.push_back(addressExchange);
  }

  omp::ParallelOperands clauses;
  clauses.numThreads =
      arith::IndexCastOp::create(b, loc, b.getI32Type(), numThreads);
  auto parallel = omp::ParallelOp::create(b, loc, clauses);
  for (Value buffer : blockBuffers)
    memref::DeallocOp::create(b, loc, buffer);
  if (dynamicBuffer)
    memref::DeallocOp::create(b, loc, dynamicBuffer);

  Block *entry = b.createBlock(&parallel.getRegion());
  b.setInsertionPointToStart(entry);
  buildThreadPrologue(numThreads, hasCollectives, needsMatrices);
  // CUDA's linear thread index is x + y * dimx + z * dimx * dimy.
  Value threadX = arith::RemUIOp::create(b, loc, thread, blockSize.x);
  Value rest = arith::DivUIOp::create(b, loc, thread, blockSize.x);
  Value threadY = arith::RemUIOp::create(b, loc, rest, blockSize.y);
  Value threadZ = arith::DivUIOp::create(b, loc, rest, blockSize.y);

  SmallVector<Value> replacements = {blockIds[0], blockIds[1], blockIds[2],
                                     threadX,     threadY,     threadZ,
                                     gridSize.x,  gridSize.y,  gridSize.z,
                                     blockSize.x, blockSize.y, blockSize.z};
  llvm::append_range(replacements,
                     ArrayRef<Value>(blockBuffers)
                         .take_front(launch.getNumWorkgroupAttributions()));
  for (BlockArgument attribution : launch.getPrivateAttributions())
    replacements.push_back(memref::AllocaOp::create(
        b, loc, cast<MemRefType>(attribution.getType())));
  Block *body = &launch.getBody().front();
  b.inlineBlockBefore(body, entry, entry->end(), replacements);
  // gpu.dynamic_shared_memory's verifier fixes its type to the buffer's,
  // memref<?xi8, #gpu.address_space<workgroup>>.
  for (gpu::DynamicSharedMemoryOp op : dynamicShared)
    b.replaceOp(op, dynamicBuffer);

  // Rewrite the GPU ops of the body, now on the host thread. The copies,
  // groups and waits become queue operations first; their tokens then go,
  // uses before definitions.
  SmallVector<Operation *> ops, tokenOps;
  parallel.walk([&](Operation *op) {
    if (isa<nvgpu::DeviceAsyncCopyOp, nvgpu::DeviceAsyncWaitOp,
            nvgpu::DeviceAsyncCreateGroupOp>(op))
      tokenOps.push_back(op);
    else if (isa<gpu::GPUDialect, nvgpu::NVGPUDialect, NVVM::NVVMDialect>(
                 op->getDialect()))
      ops.push_back(op);
  });
  for (Operation *op : tokenOps) {
    TypeSwitch<Operation *>(op)
        .Case([&](nvgpu::DeviceAsyncCopyOp copy) { emulateAsyncCopy(copy); })
        .Case([&](nvgpu::DeviceAsyncCreateGroupOp group) {
          emulateCreateGroup(group);
        })
        .Case([&](nvgpu::DeviceAsyncWaitOp wait) { emulateWait(wait); });
  }
  for (Operation *op : llvm::reverse(tokenOps))
    b.eraseOp(op);
  for (Operation *op : ops) {
    Location opLoc = op->getLoc();
    TypeSwitch<Operation *>(op)
        .Case([&](gpu::TerminatorOp term) {
          b.setInsertionPoint(term);
          b.replaceOpWithNewOp<omp::TerminatorOp>(term);
        })
        .Case([&](gpu::BarrierOp barrier) {
          b.setInsertionPoint(barrier);
          b.replaceOpWithNewOp<omp::BarrierOp>(barrier);
        })
        .Case([&](gpu::ThreadIdOp id) {
          b.replaceOp(id, id.getDimension() == gpu::Dimension::x   ? threadX
                          : id.getDimension() == gpu::Dimension::y ? threadY
                                                                   : threadZ);
        })
        .Case([&](gpu::BlockIdOp id) {
          b.replaceOp(id, blockIds[static_cast<int>(id.getDimension())]);
        })
        .Case([&](gpu::BlockDimOp dim) {
          b.replaceOp(dim, dim.getDimension() == gpu::Dimension::x ? blockSize.x
                           : dim.getDimension() == gpu::Dimension::y
                               ? blockSize.y
                               : blockSize.z);
        })
        .Case([&](gpu::GridDimOp dim) {
          b.replaceOp(dim, dim.getDimension() == gpu::Dimension::x ? gridSize.x
                           : dim.getDimension() == gpu::Dimension::y
                               ? gridSize.y
                               : gridSize.z);
        })
        .Case([&](gpu::LaneIdOp id) { b.replaceOp(id, lane); })
        .Case([&](gpu::ShuffleOp shuffle) { emulateShuffle(shuffle); })
        .Case([&](nvgpu::LdMatrixOp load) { emulateLoadMatrix(load); })
        .Case([&](nvgpu::MmaSyncOp mma) {
          b.setInsertionPoint(mma);
          auto rows = [&](Value fragment, int64_t count) {
            SmallVector<Value> regs;
            for (int64_t i = 0; i < count; ++i)
              regs.push_back(vector::ExtractOp::create(b, opLoc, fragment, i));
            return regs;
          };
          SmallVector<Value> accumulators;
          for (int64_t i = 0; i < 4; ++i)
            accumulators.push_back(vector::ExtractOp::create(
                b, opLoc, mma.getMatrixC(), ArrayRef<int64_t>{i / 2, i % 2}));
          SmallVector<Value> result =
              emulateMma(mma.getMatrixA().getType().getElementType(),
                         rows(mma.getMatrixA(), 4), rows(mma.getMatrixB(), 2),
                         accumulators);
          b.replaceOpWithNewOp<vector::FromElementsOp>(
              mma, mma.getRes().getType(), result);
        })
        .Case([&](NVVM::MmaOp mma) {
          b.setInsertionPoint(mma);
          Type element = *mma.getMultiplicandAPtxType() == NVVM::MMATypes::bf16
                             ? Type(b.getBF16Type())
                             : Type(b.getF16Type());
          auto pairType = VectorType::get({2}, element);
          auto asPairs = [&](ValueRange regs) {
            SmallVector<Value> pairs;
            for (Value reg : regs)
              pairs.push_back(
                  reg.getType() == pairType
                      ? reg
                      : LLVM::BitcastOp::create(b, opLoc, pairType, reg)
                            .getResult());
            return pairs;
          };
          SmallVector<Value> result = emulateMma(
              element, asPairs(mma.getOperandA()), asPairs(mma.getOperandB()),
              SmallVector<Value>(mma.getOperandC()));
          Value packed = LLVM::PoisonOp::create(b, opLoc, mma.getType());
          for (auto [i, value] : llvm::enumerate(result))
            packed = LLVM::InsertValueOp::create(b, opLoc, packed, value,
                                                 static_cast<int64_t>(i));
          b.replaceOp(mma, packed);
        });
  }
  b.eraseOp(launch);
  return success();
}

namespace {
struct GPULaunchToOpenMPPass
    : sqa::impl::GPULaunchToOpenMPPassBase<GPULaunchToOpenMPPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<gpu::LaunchOp> launches;
    module.walk([&](gpu::LaunchOp launch) { launches.push_back(launch); });
    if (launches.empty())
      return;

    // The OpenMP runtime's thread queries, called by every host thread.
    OpBuilder builder = OpBuilder::atBlockBegin(module.getBody());
    auto queryType = builder.getFunctionType({}, builder.getI32Type());
    for (StringRef name : {kThreadNumFn, kNumThreadsFn}) {
      if (module.lookupSymbol(name))
        continue;
      auto decl =
          func::FuncOp::create(builder, module.getLoc(), name, queryType);
      decl.setPrivate();
    }

    IRRewriter rewriter(&getContext());
    llvm::SetVector<Operation *> hosts;
    for (gpu::LaunchOp launch : launches) {
      hosts.insert(launch->getParentWithTrait<OpTrait::IsIsolatedFromAbove>());
      if (failed(LaunchEmulator(rewriter, launch).emulate()))
        return signalPassFailure();
    }
    // Workgroup buffers are ordinary host buffers now.
    for (Operation *host : hosts)
      sqa::dropGPUAddressSpaces(host);
  }
};
} // namespace
