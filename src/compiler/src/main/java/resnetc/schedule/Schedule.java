package resnetc.schedule;

import java.util.List;
import resnetc.runtime.Workspace;

/**
 * How an optimized graph runs on a CPU: its steps in order (every loop bound, offset, tile and task split fixed),
 * the activation arena and scratch they share, and the weights blob packed as the steps read it. Made by
 * {@link Scheduler#plan}; printed by {@link ScheduleText}; the targets emit exactly this.
 *
 * <p>Memory: one activation arena planned at batch 1 (every value per-image contiguous and batch-major, so at
 * batch n every offset is multiplied by n) followed by {@link #ARENA_SLACK} floats that vector loads may read past
 * the last value (never stored), and a scratch buffer of {@code scratchPerImage * n} floats for staged conv inputs
 * and Winograd transforms.
 *
 * @param tuning the measured choices the convs it names follow, or null when the rules planned every conv
 * @param layers the graph's layers in execution order (a layer may take several steps)
 * @param weights the weights blob, or null when the graph has no weights bound (the steps are the same)
 * @param weightFloats the blob's size in floats, with or without data
 * @param inputOffset where the input goes in the arena (floats per image)
 * @param outputOffset where the output is read from the arena
 * @param inputShape C, H, W of one input image
 * @param classes output floats per image
 */
public record Schedule(String model, CpuModel cpu, Winograd.Mode winograd, Tuning.Section tuning, List<Layer> layers, List<Step> steps, float[] weights,
                       long weightFloats, long arenaPerImage, long scratchPerImage, long inputOffset, long outputOffset, int[] inputShape,
                       int classes) {
  /** Floats past the arena that vector loads may read (stride-2 loads run up to four 16-float vectors past a row). */
  public static final int ARENA_SLACK = 64;

  public Schedule {
    layers = List.copyOf(layers);
    steps = List.copyOf(steps);
  }

  /**
   * A layer: a graph value computed by one or more steps.
   *
   * @param kind what it computes, for profiles ({@code conv 3x3 s2}, {@code fc}, ...)
   * @param shape its output shape per image ({@code 16x32x32})
   * @param ir its IR line
   * @param origin the spec line it came from ({@code file:line}), or empty
   */
  public record Layer(String name, String kind, String shape, long flopsPerImage, String ir, String origin) {}

  /** This schedule reading a blob that holds its tensors at the same offsets, and maybe more (see {@link Scheduler#plan(resnetc.ir.Graph, List, Winograd.Mode, String, Tuning)}). */
  Schedule withWeights(float[] blob, long floats) {
    return new Schedule(model, cpu, winograd, tuning, layers, steps, blob, floats, arenaPerImage, scratchPerImage, inputOffset, outputOffset,
        inputShape, classes);
  }

  public int inputSize() {
    return inputShape[0] * inputShape[1] * inputShape[2];
  }

  /** The steps of one layer, in order. */
  public List<Step> steps(String layer) {
    return steps.stream().filter(s -> s.layer().equals(layer)).toList();
  }

  /** The largest batch whose arena and scratch fit Java arrays (the runtime's rule) and whose task counts fit an int. */
  public int maxBatch() {
    int maxTasks = steps.stream().mapToInt(Step::tasksPerImage).max().orElse(1);
    return Math.min(Workspace.maxBatch(arenaPerImage, ARENA_SLACK, scratchPerImage), Integer.MAX_VALUE / maxTasks);
  }
}
