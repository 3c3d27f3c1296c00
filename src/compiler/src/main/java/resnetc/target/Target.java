package resnetc.target;

import java.util.List;
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

  /** The CPUs the artifact carries code for, from the options' {@code cpus}, best first: a schedule each. */
  List<CpuModel> cpus(CodegenOptions options);

  /** What {@code AUTO} means here: where Winograd pays on this target. */
  Winograd.Mode winograd(Winograd.Mode requested);

  /** The model class's source alone, for the schedules of {@link #cpus}: it does not depend on the weights. */
  String source(List<Schedule> schedules, ModelInfo info, CodegenOptions options);

  /** The model class and its resources for the schedules of {@link #cpus}; they must have weights. */
  Artifact emit(List<Schedule> schedules, ModelInfo info, CodegenOptions options);

  /** Whether this machine runs the code of {@code cpu}, so that {@link #load} may run it here (tuning measures it). */
  default boolean runsHere(CpuModel cpu) {
    return true;
  }

  /** The model of one schedule running in this JVM, with {@code threads} threads per call. */
  CompiledModel load(Schedule schedule, ModelInfo info, CodegenOptions options, int threads);
}
