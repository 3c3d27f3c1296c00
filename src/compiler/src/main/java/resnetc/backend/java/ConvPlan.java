package resnetc.backend.java;

import resnetc.ir.Op;
import resnetc.ir.TensorType;

/**
 * Every constant of one fused convolution's loop nest, fixed at compile time: shapes, the register tile
 * (R output channels x V vectors of 8 positions), and the staging layout of its input.
 *
 * <p>Pointwise convs (1x1, stride 1, no padding) read their input in place as a matrix [C][H*W]. Every other conv
 * first stages its input per image into a zero-padded, phase-split copy: padded row {@code row} and column
 * {@code col} go to {@code [c][row][col % S][col / S]}, so the columns a stride-S window reads for consecutive
 * outputs are consecutive and one vector load fetches them; rows are long enough that a full vector tile never
 * reads past its row ({@link #stagedRow}).
 */
record ConvPlan(int c, int h, int w, int o, int oh, int ow, int k, int s, int p, int groups, int r, int v,
                boolean relu, Op.FusedConv.Residual residual, int resStride, int resOffset, int rc, int rh, int rw) {
  static final int LANES = 8;

  static ConvPlan of(Op.FusedConv f, TensorType x, TensorType y, TensorType res) {
    // At most 4 accumulators: the JIT's C1 tier gives up on Vector API methods with more live vectors, and a
    // method C1 cannot compile may never reach C2 either. Wide rows take 2 channels x 16 positions, narrow
    // ones 4 channels x 8 positions.
    int og = y.dim(1) / f.groups();
    boolean pw = f.kernel() == 1 && f.stride() == 1 && f.pad() == 0;
    int positions = pw ? y.dim(2) * y.dim(3) : y.dim(3);
    int v = positions <= LANES ? 1 : 2;
    int r = v == 2 ? (og % 2 == 0 ? 2 : 1) : (og % 4 == 0 ? 4 : og % 2 == 0 ? 2 : 1);
    return new ConvPlan(x.dim(1), x.dim(2), x.dim(3), y.dim(1), y.dim(2), y.dim(3), f.kernel(), f.stride(), f.pad(), f.groups(), r, v,
        f.relu(), f.residual(), f.resStride(), f.resOffset(),
        res == null ? 0 : res.dim(1), res == null ? 0 : res.dim(2), res == null ? 0 : res.dim(3));
  }

  boolean pointwise() {
    return k == 1 && s == 1 && p == 0;
  }

  int cg() {
    return c / groups;
  }

  int og() {
    return o / groups;
  }

  /** Positions per tile. */
  int tile() {
    return v * LANES;
  }

  int tiles() {
    return o / r;
  }

  int stagedRows() {
    return h + 2 * p;
  }

  /** Floats per staged phase row: the phase's columns, or what the last tile reads, whichever is longer. */
  int stagedRow() {
    int cols = Math.ceilDiv(w + 2 * p, s);
    int reach = Math.ceilDiv(ow, tile()) * tile() + (k - 1) / s;
    return Math.max(cols, reach);
  }

  /** Staged floats per image (0 for pointwise convs, which read their input in place). */
  long staged() {
    return pointwise() ? 0 : (long) c * stagedRows() * s * stagedRow();
  }

  /** Weights are packed [O/R][C/groups][k][k][R]: the R output channels of one tap are adjacent. */
  int packedWeights() {
    return o * cg() * k * k;
  }

  String describe() {
    return String.format("%dx%d/%d conv %d->%d%s, %dx%d -> %dx%d, tile %d oc x %d px%s%s", k, k, s, c, o,
        groups > 1 ? " groups " + groups : "", h, w, oh, ow, r, tile(),
        residual == Op.FusedConv.Residual.NONE ? "" : ", + residual (" + residual.name().toLowerCase() + ")", relu ? ", relu" : "");
  }
}
