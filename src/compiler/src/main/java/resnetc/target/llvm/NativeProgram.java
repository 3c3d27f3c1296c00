package resnetc.target.llvm;

import java.util.List;

/**
 * One model compiled to native code: the exported step functions in execution order and everything a driver needs
 * to run them. Sizes and offsets are in floats per image: at batch n, multiply by n.
 *
 * @param model the graph's name
 * @param steps the exported functions, run in list order
 * @param weights the weights blob {@code w}, packed as the kernels read it (null when the graph has no weights)
 * @param arenaPerImage activation floats per image; the arena {@code a} holds {@code arenaPerImage * n} floats plus 16
 *     floats of slack at the end (vector loads may run past the last value; nothing is stored there)
 * @param scratchPerImage floats of scratch {@code s} per image (staged conv inputs)
 * @param inputOffset where the input goes in the arena
 * @param outputOffset where the output is read from the arena
 * @param inputSize input floats per image (C x H x W)
 * @param classes output floats per image
 * @param cpu the CPU the code is compiled for (an LLVM CPU name; {@code native} resolved to the host's)
 * @param features the LLVM feature string passed with the CPU (empty for a named CPU's defaults)
 */
public record NativeProgram(String model, List<Step> steps, float[] weights, long arenaPerImage, long scratchPerImage,
    long inputOffset, long outputOffset, int inputSize, int classes, String cpu, String features) {
  /** Floats of slack past the arena. */
  public static final int ARENA_SLACK = 16;

  public NativeProgram {
    steps = List.copyOf(steps);
  }

  /**
   * One exported function: void symbol(float* a, const float* w, float* s, int32 n, int32 begin, int32 end),
   * doing tasks [begin, end) of a task space of n * tasksPerImage tasks; steps run in list order, each step's tasks
   * may run on different threads concurrently (so tasks of one step write disjoint memory).
   *
   * @param layer the graph value the step computes (a conv's staging step names its conv)
   * @param flopsPerImage floating-point operations per image (2 x multiply-adds for convs and dense layers)
   * @param kind what the layer computes, for profiles (see {@code resnetc.ir.Summary.kind}; empty when unknown)
   * @param shape the layer's output shape per image, e.g. {@code 16x32x32} (empty when unknown)
   */
  public record Step(String symbol, String layer, int tasksPerImage, long flopsPerImage, String kind, String shape) {
    public Step {
      kind = kind == null ? "" : kind;
      shape = shape == null ? "" : shape;
    }

    /** A step whose layer's kind and shape are not known. */
    public Step(String symbol, String layer, int tasksPerImage, long flopsPerImage) {
      this(symbol, layer, tasksPerImage, flopsPerImage, "", "");
    }
  }

  /** Total floating-point operations per image. */
  public long flopsPerImage() {
    return steps.stream().mapToLong(Step::flopsPerImage).sum();
  }
}
