package resnetc.parse;

import resnetc.diag.Pos;

import java.util.List;

/**
 * The syntax tree of a spec, as written: every item keeps its position, nothing is validated or defaulted yet
 * (that is the checker's job, so it can report every problem with a position).
 */
public final class Ast {
  private Ast() {}

  public record Spec(String file, String source, String name, Pos pos, List<Item> items) {}

  /** A value with the position it was written at. */
  public record At<T>(T value, Pos pos) {}

  public sealed interface Item {
    Pos pos();

    /** The keyword that starts the item, for duplicate and missing-section messages. */
    String keyword();
  }

  public record Input(String dtype, At<String> layout, List<At<Integer>> dims, Pos pos) implements Item {
    public String keyword() { return "input"; }
  }

  public record Preprocess(List<PreOpt> opts, Pos pos) implements Item {
    public String keyword() { return "preprocess"; }
  }

  public sealed interface PreOpt {
    Pos pos();
  }

  public record Scale(double value, Pos pos) implements PreOpt {}

  public record Mean(List<Double> values, Pos pos) implements PreOpt {}

  public record Std(List<Double> values, Pos pos) implements PreOpt {}

  public record Resize(int size, Pos pos) implements PreOpt {}

  public record Crop(int size, Pos pos) implements PreOpt {}

  public record Classes(int count, Pos pos) implements Item {
    public String keyword() { return "classes"; }
  }

  public record Labels(String path, Pos pos) implements Item {
    public String keyword() { return "labels"; }
  }

  public record Eps(double value, Pos pos) implements Item {
    public String keyword() { return "bn_eps"; }
  }

  /** {@code bn folded}: the batch norms after convs are folded into the convs' biases. */
  public record BnMode(At<String> mode, Pos pos) implements Item {
    public String keyword() { return "bn"; }
  }

  public record Stem(List<Layer> layers, Pos pos) implements Item {
    public String keyword() { return "stem"; }
  }

  public record Head(List<Layer> layers, Pos pos) implements Item {
    public String keyword() { return "head"; }
  }

  public record BlockItem(Block block) implements Item {
    public Pos pos() { return block.pos(); }
    public String keyword() { return "block"; }
  }

  public record ShortcutItem(Shortcut shortcut) implements Item {
    public Pos pos() { return shortcut.pos(); }
    public String keyword() { return "shortcut"; }
  }

  /**
   * {@code stage NAME COUNT x WIDTH stride S { overrides }}; name and stride may be null. Overrides are lists so
   * the checker can point at a second {@code block} or {@code shortcut}.
   */
  public record Stage(At<String> name, At<Integer> count, At<Integer> width, At<Integer> stride,
                      List<Block> blocks, List<Shortcut> shortcuts, List<BlockOpt> tweaks, Pos pos) implements Item {
    public String keyword() { return "stage"; }
  }

  public record Weights(At<String> convention, List<WeightOpt> opts, Pos pos) implements Item {
    public String keyword() { return "weights"; }
  }

  public sealed interface WeightOpt {
    Pos pos();
  }

  public record Prefix(String prefix, Pos pos) implements WeightOpt {}

  public record Rename(String from, String to, Pos pos) implements WeightOpt {}

  public record File(String path, Pos pos) implements WeightOpt {}

  /** A block type with its options; {@code kind} is checked later. */
  public record Block(At<String> kind, List<BlockOpt> opts, Pos pos) {}

  public sealed interface BlockOpt {
    Pos pos();

    String keyword();
  }

  public record Expansion(int value, Pos pos) implements BlockOpt {
    public String keyword() { return "expansion"; }
  }

  /** {@code stride_on 1x1|3x3}, kept as written. */
  public record StrideOn(String kernel, Pos pos) implements BlockOpt {
    public String keyword() { return "stride_on"; }
  }

  public record Groups(int value, Pos pos) implements BlockOpt {
    public String keyword() { return "groups"; }
  }

  public record WidthPerGroup(int value, Pos pos) implements BlockOpt {
    public String keyword() { return "width_per_group"; }
  }

  public record Widen(int value, Pos pos) implements BlockOpt {
    public String keyword() { return "widen"; }
  }

  public record Preact(Pos pos) implements BlockOpt {
    public String keyword() { return "preact"; }
  }

  public record Shortcut(At<String> kind, At<String> placement, Pos pos) {}

  // ---- stem and head layers ----

  public sealed interface Layer {
    Pos pos();
  }

  /** {@code conv KxK OUT stride S pad P bias}; absent options are null. */
  public record Conv(At<String> kernel, int out, Integer stride, Integer pad, boolean bias, Pos pos) implements Layer {}

  public record Bn(Pos pos) implements Layer {}

  public record Relu(Pos pos) implements Layer {}

  public record MaxPool(At<String> kernel, Integer stride, Integer pad, Pos pos) implements Layer {}

  /** Global when {@code kernel} is null. */
  public record AvgPool(At<String> kernel, Integer stride, Integer pad, Pos pos) implements Layer {}

  /** {@code out} may be null: the model's class count. */
  public record Fc(Integer out, boolean bias, Pos pos) implements Layer {}

  public record Softmax(Pos pos) implements Layer {}
}
