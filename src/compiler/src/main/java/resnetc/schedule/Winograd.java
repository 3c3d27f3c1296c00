package resnetc.schedule;

import resnetc.ir.Op;

/**
 * Winograd's F(m x m, 3x3) for 3x3 stride-1 convs, as the scheduler plans it for both targets: which convs take it,
 * the output tile m, and the weight transform. Per m x m outputs and input channel F(2x2, 3x3) multiplies 16 times
 * instead of 36 (2.25x fewer), F(4x4, 3x3) 36 times instead of 144 (4x fewer); the transforms add instead. The
 * matrices are Lavin and Gray's (arXiv:1509.09308), interpolation points 0, +-1 (and +-2 for m = 4).
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
  public static boolean eligible(Op.FusedConv f, int inputChannels, Mode mode) {
    return mode != Mode.OFF && f.kernel() == 3 && f.stride() == 1 && f.pad() == 1 && f.groups() == 1
        && f.residual() != Op.FusedConv.Residual.SUBSAMPLE && (mode == Mode.ALWAYS || pays(inputChannels));
  }

  /**
   * Measured on Zen 4 (AMD EPYC, AVX-512; per-layer medians, one core, native backend, batch 1): with a channel's
   * transformed planes side by side ([C][a^2][tp]) Winograd wins on every 3x3 stride-1 layer of ResNet-20 and
   * ResNet-50 from 16 input channels up (CIFAR 16 x 32x32: 0.047 -> 0.028 ms; 32 x 16x16: 0.048 -> 0.022; 64 x 8x8
   * by F(2x2): 0.052 -> 0.026) and breaks even on a 3-channel stem; the plane size only picks the tile
   * ({@link #outputTile}). The AVX2 library on the same core gains likewise (ResNet-20 1.02 -> 0.74 ms per call,
   * ResNet-50's 3x3 layers 33.4 -> 23.5 ms). The earlier rule, measured on Zen 5 with planes [a^2][C][tp], kept it
   * off below 64 channels: a power-of-two plane stride put every plane of a tile in one L1 set.
   */
  public static boolean pays(int inputChannels) {
    return inputChannels >= 16;
  }

  /**
   * The output tile m of a Winograd conv with an oh x ow output on {@code cpu}: 4 where the CPU's target has the
   * F(4x4, 3x3) transforms and the plane has at least a vector of 4x4 tiles (the products run over the tiles of
   * one image, so 7x7 planes, 4 tiles, would fill a quarter of a 16-lane vector), else 2.
   */
  public static int outputTile(CpuModel cpu, int oh, int ow) {
    return cpu.winograd4x4() && Math.ceilDiv(oh, 4) * Math.ceilDiv(ow, 4) >= cpu.lanes() ? 4 : 2;
  }

  /** G of F(2x2, 3x3) and F(4x4, 3x3): (m + 2) x 3. */
  static double[][] g(int m) {
    return switch (m) {
      case 2 -> new double[][] {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
      case 4 -> new double[][] {{1 / 4.0, 0, 0}, {-1 / 6.0, -1 / 6.0, -1 / 6.0}, {-1 / 6.0, 1 / 6.0, -1 / 6.0}, {1 / 24.0, 1 / 12.0, 1 / 6.0},
          {1 / 24.0, -1 / 12.0, 1 / 6.0}, {0, 0, 1}};
      default -> throw new IllegalArgumentException("F(" + m + "x" + m + ", 3x3) is not implemented (2 or 4)");
    };
  }

  /**
   * U[xi][o][c] = (G g[o][c] G^T)[xi / a][xi % a] for weights g[O][C][3][3], a = m + 2 ({@link #g}), computed in
   * double and rounded once.
   */
  public static float[] weights(float[] g, int o, int c, int m) {
    double[][] gm = g(m);
    int a = m + 2;
    float[] u = new float[a * a * o * c];
    for (int oc = 0; oc < o; oc++) {
      for (int ic = 0; ic < c; ic++) {
        int base = (oc * c + ic) * 9;
        double[][] gg = new double[a][3];
        for (int i = 0; i < a; i++) {
          for (int j = 0; j < 3; j++) {
            for (int k = 0; k < 3; k++) gg[i][j] += gm[i][k] * g[base + k * 3 + j];
          }
        }
        for (int i = 0; i < a; i++) {
          for (int j = 0; j < a; j++) {
            double v = 0;
            for (int k = 0; k < 3; k++) v += gg[i][k] * gm[j][k];
            u[((i * a + j) * o + oc) * c + ic] = (float) v;
          }
        }
      }
    }
    return u;
  }
}
