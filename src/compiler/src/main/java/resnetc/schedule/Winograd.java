package resnetc.schedule;

import resnetc.ir.Op;

/**
 * Winograd's F(2x2, 3x3) for 3x3 stride-1 convs, as the scheduler plans it for both targets: which convs take it,
 * and the weight transform. Per 2x2 outputs and input channel it multiplies 16 times instead of 36; the transforms add instead.
 */
public final class Winograd {
  private Winograd() {}

  /** Where convs take Winograd: never, where it pays ({@link #pays}), or wherever it applies. */
  public enum Mode {
    OFF, AUTO, ALWAYS;

    public static Mode parse(String s) {
      for (Mode m : values()) if (m.name().equalsIgnoreCase(s)) return m;
      throw new IllegalArgumentException("unknown Winograd mode '" + s + "' (expected off, auto or always)");
    }

    @Override
    public String toString() {
      return name().toLowerCase(java.util.Locale.ROOT);
    }
  }

  /** 3x3, stride 1, pad 1, not grouped, no option-A residual; in {@code AUTO} mode only where it pays (below). */
  public static boolean eligible(Op.FusedConv f, int inputChannels, int oh, int ow, Mode mode) {
    return mode != Mode.OFF && f.kernel() == 3 && f.stride() == 1 && f.pad() == 1 && f.groups() == 1
        && f.residual() != Op.FusedConv.Residual.SUBSAMPLE && (mode == Mode.ALWAYS || pays(inputChannels, oh, ow));
  }

  /**
   * Measured on Zen 5 (per-layer minima, one core, native backend): ResNet-50's 3x3 layers gain 20-40 % (64 to 512
   * channels, 56x56 to 7x7 planes), CIFAR ResNet-20's lose 5-15 % (16 to 64 channels: the 16 products are 1x1
   * convs too short to run at the micro-kernel's speed, and the transforms cost about what they save). So: at
   * least 64 input channels, and 64 or more tiles per plane or 256 or more channels.
   */
  public static boolean pays(int inputChannels, int oh, int ow) {
    int tiles = Math.ceilDiv(oh, 2) * Math.ceilDiv(ow, 2);
    return inputChannels >= 64 && (tiles >= 64 || inputChannels >= 256);
  }

  /**
   * U[xi][o][c] = (G g[o][c] G^T)[xi / 4][xi % 4] for weights g[O][C][3][3], G = [[1, 0, 0], [1/2, 1/2, 1/2],
   * [1/2, -1/2, 1/2], [0, 0, 1]], computed in double and rounded once.
   */
  public static float[] weights(float[] g, int o, int c) {
    double[][] gm = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
    float[] u = new float[16 * o * c];
    for (int oc = 0; oc < o; oc++) {
      for (int ic = 0; ic < c; ic++) {
        int base = (oc * c + ic) * 9;
        double[][] gg = new double[4][3];
        for (int i = 0; i < 4; i++) {
          for (int j = 0; j < 3; j++) {
            for (int k = 0; k < 3; k++) gg[i][j] += gm[i][k] * g[base + k * 3 + j];
          }
        }
        for (int i = 0; i < 4; i++) {
          for (int j = 0; j < 4; j++) {
            double v = 0;
            for (int k = 0; k < 3; k++) v += gg[i][k] * gm[j][k];
            u[((i * 4 + j) * o + oc) * c + ic] = (float) v;
          }
        }
      }
    }
    return u;
  }
}
