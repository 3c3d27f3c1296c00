package resnetc.target;

import resnetc.passes.Pipeline;
import resnetc.runtime.CompiledModel;
import resnetc.schedule.CpuModel;
import resnetc.schedule.Schedule;
import resnetc.schedule.Winograd;

/**
 * A code generator: turns a {@link Schedule} into a model class implementing the runtime's {@code CompiledModel}.
 * Targets are registered by name in {@link Targets}; the driver runs the user's pipeline, then the target's
 * legalization, plans the schedule for the target's CPU and hands it over.
 */
public interface Target {
  /** The name users pass as {@code --backend}. */
  String name();

  /** The passes the target needs after the user's pipeline (they run like any pass and show in IR dumps). */
  Pipeline legalization();

  /** The CPU the schedule is planned for, from the options' {@code cpus} (the first one, when several). */
  CpuModel cpu(CodegenOptions options);

  /** What {@code AUTO} means here: where Winograd pays on this target. */
  Winograd.Mode winograd(Winograd.Mode requested);

  /** The model class's source alone: it does not depend on the weights, which need not be bound. */
  String source(Schedule schedule, ModelInfo info, CodegenOptions options);

  /** The model class and its resources; the schedule must have weights. */
  Artifact emit(Schedule schedule, ModelInfo info, CodegenOptions options);

  /** The model running in this JVM, with {@code threads} threads per call. */
  CompiledModel load(Schedule schedule, ModelInfo info, CodegenOptions options, int threads);
}
