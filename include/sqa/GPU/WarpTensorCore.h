//===- WarpTensorCore.h - Warp-level tensor-core toolkit --------*- C++ -*-===//
//
// The pieces every sm_80 tensor-core kernel of this project is built from,
// written at the level of one thread of a warp: the mma.sync m16n8k16 and
// ldmatrix fragment layouts (stated here once), products into f32
// accumulators held in registers, the reuse of accumulators as the A operand
// of the next product, row reductions over a fragment and over the quad of
// lanes that shares a row, and the layout of shared-memory tiles (padded
// rows) filled by cp.async copies. The forward and backward kernels
// (convert-sqa-to-nvgpu) are built on it.
//
// Fragment layouts of mma.sync m16n8k16 (PTX ISA, "Matrix Fragments for
// mma.m16n8k16"), for lane l of a warp, group g = l / 4 and thread in group
// t = l % 4; element c in {0, 1} of each row of the fragment vector:
//
// clang-format off
//   A (16 x 16, vector<4x2xT>):   row i holds (g + 8 (i % 2), 2t + 8 (i / 2) + c)
//   B (16 x 8,  vector<2x2xT>):   row i holds (k = 2t + 8 i + c, n = g)
//   C (16 x 8,  vector<2x2xf32>): row i holds (g + 8 i, 2t + c)
// clang-format on
//
// So the C fragments of two adjacent n-tiles (columns [0, 8) and [8, 16)),
// rounded to T, are exactly the A fragment of the 16 x 16 matrix they form:
// an accumulator becomes the next product's A operand without leaving the
// registers (FlashAttention's P V). Rows g and g + 8 of a C fragment are
// spread over the 4 lanes of a quad, which a row reduction combines with two
// xor shuffles.
//
// ldmatrix x4 loads four 8 x 8 matrices of 16-bit elements; lane 8 m + r
// gives the address of row r of matrix m, and each lane receives, for
// matrix m, the pair (row g, columns 2t, 2t + 1) (transposed: (rows 2t,
// 2t + 1, column g)) as row m of a vector<4x2xT>. `loadMatrixX4` takes the
// lane's row and column; the kernel chooses which 8 x 8 block each lane
// group addresses.
//
//===----------------------------------------------------------------------===//

#ifndef SQA_GPU_WARPTENSORCORE_H
#define SQA_GPU_WARPTENSORCORE_H

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"

#include <optional>

namespace mlir {
namespace sqa {

/// Threads of a warp.
constexpr int64_t kThreadsPerWarp = 32;
/// The mma.sync shape: M x N x K = 16 x 8 x 16.
constexpr int64_t kMmaM = 16;
constexpr int64_t kMmaN = 8;
constexpr int64_t kMmaK = 16;
/// Elements of a 16-bit type in one 16-byte chunk: one cp.async copy, one
/// ldmatrix row, and the padding of a shared tile's rows.
constexpr int64_t kChunkElements = 8;

/// The shared-memory layout of every 16-bit tile of the kernels: row r of a
/// tile of `width` logical columns (a multiple of 16) starts at element
/// r * getSharedRowElements(width), one 16-byte chunk past the row's end.
/// The 8 rows that one 8-lane phase of ldmatrix (or of the cp.async stores)
/// reads at the same logical chunk are then width / 8 + 1 chunks apart, an
/// odd number, so they fall in the 8 different 16-byte bank groups of a
/// 128-byte bank line: no bank conflicts. Unlike an XOR swizzle (upstream's
/// nvgpu-optimize-shared-memory, and this toolkit's earlier layout), the
/// address of every k-step and every n-tile is a constant offset from the
/// lane's row address, which ptxas folds into the instruction's immediate:
/// the swizzle needed one live register per k-step and tile (32 registers at
/// head dim 128, measured in the forward kernel's SASS), which is what
/// holding part of Q in registers needs. It costs one chunk per row.
int64_t getSharedRowElements(int64_t width);

/// What a row reduction combines.
enum class RowReduction { Max, Sum };

/// Builds warp-level tensor-core code for one element type (f16 or bf16) at
/// the builder's insertion point. Index arithmetic is plain arith on
/// `index`; canonicalization folds the constants.
class WarpTensorCoreBuilder {
public:
  WarpTensorCoreBuilder(OpBuilder &b, Location loc, Type elementType);

  /// vector<4x2xT>, vector<2x2xT> and vector<2x2xf32>.
  VectorType getAType() const;
  VectorType getBType() const;
  VectorType getAccumulatorType() const;
  /// A zero accumulator (one C fragment).
  Value buildZeroAccumulator();

  /// One rows x width tile copy from `source[batch, head, rowStart + r, :]`
  /// into the shared `tile` (at `stage` when the tile has a stage
  /// dimension), spread over `numThreads` threads of which this one is
  /// `thread`. Rows at or past `seqLen` are zero-filled (source size 0)
  /// unless `wholeRows` promises that every row of the tile is below
  /// `seqLen`: then the copies carry no bounds code at all, and each source
  /// address is an affine function of `rowStart`, which LLVM's loop strength
  /// reduction turns into a pointer advanced by a constant per block.
  struct TileCopy {
    Value source, batch, head, rowStart, seqLen;
    int64_t rows, width;
    Value tile;
    std::optional<Value> stage;
    Value thread;
    int64_t numThreads;
    bool wholeRows = false;
  };
  /// Issues the 16-byte cp.async copies of `copy`; returns their tokens.
  SmallVector<Value> buildTileCopy(const TileCopy &copy);

  /// ldmatrix x4 (optionally transposed) from the shared `tile` (at
  /// `stage`), this lane addressing (row, col); a vector<4x2xT>.
  Value buildLoadMatrixX4(Value tile, std::optional<Value> stage, Value row,
                          Value col, bool transpose);
  /// Rows [2 half, 2 half + 2) of an ldmatrix x4 result: the B operand of
  /// one n-tile.
  Value buildBOperand(Value x4, int64_t half);

  /// D = A B + C on one m16n8k16 tile with an f32 accumulator.
  Value buildMma(Value a, Value bOperand, Value c);

  /// The A operand of the 16 x 16 matrix whose columns [0, 8) and [8, 16)
  /// are the f32 accumulators `low` and `high`, rounded to T (see the
  /// layouts above).
  Value buildAccumulatorsAsA(Value low, Value high);

  /// Row `row` (0: g, 1: g + 8) of the accumulators `tiles`, reduced over
  /// this thread's elements.
  Value buildRowReduction(ArrayRef<Value> tiles, int64_t row,
                          RowReduction kind);
  /// `value` combined over the 4 lanes of this lane's quad (xor shuffles).
  Value buildQuadReduction(Value value, RowReduction kind);
  /// A vector<2x2xf32> with `row0` in row 0 and `row1` in row 1 (one value
  /// per fragment row, e.g. to rescale an accumulator row by row).
  Value buildRowPair(Value row0, Value row1);

  //===--------------------------------------------------------------------===//
  // Tile products
  //===--------------------------------------------------------------------===//
  //
  // Every product of the attention kernels, forward and backward, is one of
  // two shapes on a warp's rows (`rowTiles` m16 row tiles; accumulators and
  // register fragments are lists in row-tile-major order), with f32
  // accumulators in registers. Each B fragment loaded from shared memory
  // feeds one mma.sync per row tile, so a warp of two row tiles reads half
  // the shared memory per product (FlashAttention-2's 128-row blocks):
  //
  //   C += A Bᵀ  A in registers (16 x K, K / 16 fragments), B the rows of a
  //              shared tile (N x K): S = Q Kᵀ, dP = dO Vᵀ, Sᵀ = K Qᵀ,
  //              dPᵀ = V dOᵀ. ldmatrix x4 of B gives two n-tiles of one
  //              k-step.
  //   C += P B   P an f32 accumulator over K columns (two C fragments per
  //              k-step, rounded to T: buildAccumulatorsAsA), B the rows of a
  //              shared tile (K x N), read transposed: O += P V, dQ += dS K,
  //              dV += Pᵀ dO, dK += dSᵀ Q.

  /// What the lanes of a warp address in the ldmatrix of each operand,
  /// computed once per kernel from the lane id.
  struct LaneAddressing {
    /// A fragments (and P-form B, transposed): lanes 0-15 address rows 0-15
    /// at column 0 of a 16 x 16 block, lanes 16-31 the same rows at column 8.
    Value rowOfA, colOfA;
    /// Bᵀ-form B: lanes 8 i .. 8 i + 7 address matrix i = (n-tile i / 2,
    /// k half i % 2) of a 16 (n) x 16 (k) block.
    Value rowOfB, colOfB;
  };
  LaneAddressing buildLaneAddressing(Value lane);

  /// A shared tile read by a product: `width` columns, rows from `firstRow`
  /// (at `stage` when the tile has a stage dimension).
  struct SharedOperand {
    Value tile;
    std::optional<Value> stage;
    Value firstRow;
    int64_t width;
  };
  /// The A fragments of rows [firstRow, firstRow + 16) of `tile`, one per 16
  /// columns, for the first `kSteps` k-steps (-1: all of them).
  SmallVector<Value> buildLoadRowFragments(const SharedOperand &tile,
                                           const LaneAddressing &lanes,
                                           int64_t kSteps = -1);
  /// acc[m][n] += A_m Bᵀ for the `rowTiles` row tiles m and the n-tiles n
  /// of `acc` (rowTiles x an even count): rows [8 n, 8 n + 8) of `tile` from
  /// its first row, columns 16 k + [0, 16) for fragment k of A. A is held in
  /// registers: `a` has rowTiles x (width / 16) fragments.
  void buildProductWithTransposed(ArrayRef<Value> a, const SharedOperand &tile,
                                  const LaneAddressing &lanes,
                                  MutableArrayRef<Value> acc,
                                  int64_t rowTiles = 1);
  /// The same product with A read from shared memory, one k-step at a time
  /// (rows [firstRow + 16 m, firstRow + 16 m + 16) of `a.tile` for row tile
  /// m): for warps whose registers cannot hold A over a loop
  /// (FlashAttention-2's Q at 128-row blocks). The first k-steps may still
  /// come from registers: `heldA` has rowTiles x h fragments (row-tile
  /// major; buildLoadRowFragments with h k-steps) for k-steps [0, h), and
  /// only the rest are read, which trades registers for shared-memory reads
  /// one k-step at a time.
  void buildProductWithTransposed(const SharedOperand &a,
                                  const SharedOperand &tile,
                                  const LaneAddressing &lanes,
                                  MutableArrayRef<Value> acc, int64_t rowTiles,
                                  ArrayRef<Value> heldA = {});
  /// The A fragments of the accumulators `p` (two per k-step, row-tile
  /// major), rounded to T: one per k-step and row tile, the A operand of
  /// buildProductFromFragments. Rounding right after the softmax halves the
  /// registers P holds while O is rescaled (FlashAttention-2 converts P
  /// before its product too).
  SmallVector<Value> buildAccumulatorsAsAFragments(ArrayRef<Value> p);
  /// acc[m][n] += A_m B with A_m in registers (`a`: rowTiles x k-steps
  /// fragments, row-tile major) and B rows [16 k, 16 k + 16) of `tile` from
  /// its first row, read transposed, n-tiles over its width.
  void buildProductFromFragments(ArrayRef<Value> a, const SharedOperand &tile,
                                 const LaneAddressing &lanes,
                                 MutableArrayRef<Value> acc,
                                 int64_t rowTiles = 1);
  /// acc[m][n] += P_m B for the `rowTiles` row tiles m, with P_m the
  /// accumulators of `p` (rowTiles x two per 16 rows of B) and B rows
  /// [16 k, 16 k + 16) of `tile` from its first row, n-tiles over its width.
  void buildProductFromAccumulators(ArrayRef<Value> p,
                                    const SharedOperand &tile,
                                    const LaneAddressing &lanes,
                                    MutableArrayRef<Value> acc,
                                    int64_t rowTiles = 1);

private:
  Value index(int64_t value);
  /// The product loop of both buildProductWithTransposed: `loadA(m, k)`
  /// gives the A fragment of row tile m at k-step k, called for every row
  /// tile at the start of k-step k.
  void buildProductWithTransposed(function_ref<Value(int64_t, int64_t)> loadA,
                                  int64_t kSteps, const SharedOperand &tile,
                                  const LaneAddressing &lanes,
                                  MutableArrayRef<Value> acc, int64_t rowTiles);

  OpBuilder &b;
  Location loc;
  Type elementType;
};

} // namespace sqa
} // namespace mlir

#endif // SQA_GPU_WARPTENSORCORE_H
