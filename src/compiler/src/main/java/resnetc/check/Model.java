package resnetc.check;

import java.util.List;
import java.util.Map;
import resnetc.diag.Pos;

/** A checked spec: every default applied, every value valid on its own. Shapes are checked when lowering. */
/** @param bnFolded {@code bn folded}: each conv followed by a bn has a bias instead (the bn folded into it), no bn op */
public record Model(String name, String file, String source, Input input, Preprocess preprocess, int classes,
                    double eps, String labels, List<Layer> stem, List<Stage> stages, List<Layer> head, Weights weights,
                    boolean bnFolded) {

  public record Input(int channels, int height, int width) {}

  /** {@code (x * scale - mean[c]) / std[c]}; resize/crop (0 = none) apply to images before that. */
  public record Preprocess(double scale, double[] mean, double[] std, int resize, int crop) {}

  public enum BlockKind { BASIC, BOTTLENECK }

  public enum ShortcutKind { IDENTITY, A, B, C, D }

  /**
   * @param strideOn3x3 torchvision v1.5 puts the stride of a bottleneck on its 3x3 conv; v1 on the first 1x1
   * @param widen Wide ResNet factor on the inner width
   */
  public record Block(BlockKind kind, int expansion, boolean strideOn3x3, int groups, int widthPerGroup, int widen, boolean preact) {
    /** Channels of the inner convs of a block with {@code planes}; saturates at {@code Integer.MAX_VALUE}. */
    public int innerWidth(int planes) {
      long w = kind == BlockKind.BASIC ? times(planes, widen) : times(times(times(planes, widthPerGroup) / 64, groups), widen);
      return (int) Math.min(w, Integer.MAX_VALUE);
    }

    /** Saturates at {@code Integer.MAX_VALUE}, which the lowering rejects. */
    public int outChannels(int planes) {
      long c = kind == BlockKind.BASIC ? times(planes, widen) : times(planes, expansion);
      return (int) Math.min(c, Integer.MAX_VALUE);
    }

    /** Product of non-negative factors, saturating at {@code Long.MAX_VALUE} instead of overflowing. */
    private static long times(long a, long b) {
      long p = a * b;
      return Math.multiplyHigh(a, b) != 0 || p < 0 ? Long.MAX_VALUE : p;
    }
  }

  /** @param splitPad option A: zero channels split before and after the input's (else all appended) */
  public record Shortcut(ShortcutKind kind, boolean splitPad) {}

  /** @param index 1-based position, used by the naming conventions ({@code layer<index>}) */
  public record Stage(String name, int index, int blocks, int planes, int stride, Block block, Shortcut shortcut, Pos pos) {}

  public sealed interface Layer {
    Pos pos();
  }

  public record Conv(int kernel, int out, int stride, int pad, boolean bias, Pos pos) implements Layer {}

  public record Bn(Pos pos) implements Layer {}

  public record Relu(Pos pos) implements Layer {}

  public record MaxPool(int kernel, int stride, int pad, Pos pos) implements Layer {}

  public record AvgPool(int kernel, int stride, int pad, Pos pos) implements Layer {}

  public record GlobalAvgPool(Pos pos) implements Layer {}

  public record Fc(int out, boolean bias, Pos pos) implements Layer {}

  public record Softmax(Pos pos) implements Layer {}

  public enum Convention { TORCHVISION, CIFAR }

  /**
   * @param prefix stripped from the names in the weights file ("" for none)
   * @param renames conventional name to the name in the file
   * @param file weights path as written in the spec (relative to the spec), or null
   */
  public record Weights(Convention convention, String prefix, Map<String, Rename> renames, String file) {}

  public record Rename(String to, Pos pos) {}
}
