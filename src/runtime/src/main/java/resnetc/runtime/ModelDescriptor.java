package resnetc.runtime;

import java.util.ArrayList;
import java.util.List;

/**
 * What a generated model class says about itself: its interface (name, input shape, classes, preprocessing,
 * labels), its memory (activation arena and scratch per image, where the input and output live in the arena, the
 * largest batch) and its layers for profiles. Built once per class with {@link #builder}.
 *
 * @param arena activation floats per image; {@code arenaSlack} more floats follow the arena at any batch
 * @param scratch scratch floats per image
 * @param input where the input goes in the arena (floats per image: at batch n, {@code input * n})
 * @param output where the output is read from the arena
 * @param maxBatch most images per call (the arena, scratch and task counts must fit a Java array and an int)
 */
public record ModelDescriptor(String name, int channels, int height, int width, int classes, long arena, int arenaSlack, long scratch,
                              long input, long output, int maxBatch, Preprocessing preprocessing, List<String> labels, List<Layer> layers) {
  /** One layer: its name, what it computes ({@code conv 3x3 s2}), its output shape per image and its flops per image. */
  public record Layer(String name, String kind, String shape, long flops) {}

  public ModelDescriptor {
    labels = List.copyOf(labels);
    layers = List.copyOf(layers);
  }

  public static Builder builder(String name) {
    return new Builder(name);
  }

  /** Fills a descriptor field by field, one line per layer, as a generated class's static initializer reads best. */
  public static final class Builder {
    private final String name;
    private int channels, height, width, classes, arenaSlack, maxBatch = Integer.MAX_VALUE;
    private long arena, scratch, input, output;
    private Preprocessing preprocessing;
    private List<String> labels = List.of();
    private final List<Layer> layers = new ArrayList<>();

    private Builder(String name) {
      this.name = name;
    }

    /** One image: channels, height, width. */
    public Builder input(int channels, int height, int width) {
      this.channels = channels;
      this.height = height;
      this.width = width;
      return this;
    }

    public Builder classes(int classes) {
      this.classes = classes;
      return this;
    }

    /** Floats per image of the activation arena (plus {@code slack} floats past it) and of the scratch buffer. */
    public Builder memory(long arena, int slack, long scratch) {
      this.arena = arena;
      this.arenaSlack = slack;
      this.scratch = scratch;
      return this;
    }

    /** Where the input and the output live in the arena, in floats per image. */
    public Builder offsets(long input, long output) {
      this.input = input;
      this.output = output;
      return this;
    }

    public Builder maxBatch(int maxBatch) {
      this.maxBatch = maxBatch;
      return this;
    }

    public Builder preprocessing(Preprocessing p) {
      this.preprocessing = p;
      return this;
    }

    public Builder labels(String... labels) {
      this.labels = List.of(labels);
      return this;
    }

    public Builder layer(String name, String kind, String shape, long flops) {
      layers.add(new Layer(name, kind, shape, flops));
      return this;
    }

    public ModelDescriptor build() {
      return new ModelDescriptor(name, channels, height, width, classes, arena, arenaSlack, scratch, input, output, maxBatch,
          preprocessing == null ? Preprocessing.identity(channels) : preprocessing, labels, layers);
    }
  }
}
