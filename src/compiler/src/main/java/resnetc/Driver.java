package resnetc;

import java.nio.file.Path;
import java.util.List;
import resnetc.ir.Graph;
import resnetc.packaging.ModelJar;
import resnetc.passes.Pipeline;
import resnetc.runtime.CompiledModel;
import resnetc.schedule.Schedule;
import resnetc.schedule.Scheduler;
import resnetc.schedule.Winograd;
import resnetc.target.Artifact;
import resnetc.target.CodegenOptions;
import resnetc.target.ModelInfo;
import resnetc.target.Target;
import resnetc.target.Targets;

/**
 * The compiler's one way from a graph to code: the user's pipeline, then the target's legalization (both verified
 * after every pass and shown by {@code --dump-ir-after}), the schedule for the target's CPU, then the target. The
 * CLI, the Maven plugin and the benchmarks all come through here.
 */
public final class Driver {
  private Driver() {}

  /**
   * A graph optimized, legalized and planned for a target's CPUs (a schedule each, best first): what it takes to
   * emit, load or package it.
   */
  public record Compilation(Target target, CodegenOptions options, ModelInfo info, Graph graph, List<Schedule> schedules) {
    public Compilation {
      schedules = List.copyOf(schedules);
    }

    /** The schedule of the first (best) CPU. */
    public Schedule schedule() {
      return schedules.getFirst();
    }

    /** The generated class's source (weights need not be bound). */
    public String source() {
      return target.source(schedules, info, options);
    }

    /** The generated class and its resources (weights must be bound). */
    public Artifact emit() {
      return target.emit(schedules, info, options);
    }

    /** The model of the first schedule running in this JVM. */
    public CompiledModel load(int threads) {
      return target.load(schedule(), info, options, threads);
    }

    /** The deployable jar; returns what went into it. */
    public Artifact writeJar(Path jar) {
      Artifact a = emit();
      ModelJar.write(jar, a);
      return a;
    }
  }

  /** {@code graph} (with or without weights) of a loaded spec through {@code pipeline} and the options' target. */
  public static Compilation compile(Frontend.Loaded loaded, Graph graph, CodegenOptions options, Pipeline pipeline, Pipeline.Instruments instruments) {
    return compile(ModelInfo.of(loaded), graph, options, pipeline, instruments);
  }

  /** {@code graph} described by {@code info} (for graphs without a spec). */
  public static Compilation compile(ModelInfo info, Graph graph, CodegenOptions options, Pipeline pipeline, Pipeline.Instruments instruments) {
    Target t = Targets.get(options.target());
    Graph optimized = optimize(graph, pipeline, t, instruments);
    Winograd.Mode winograd = t.winograd(options.winograd());
    List<Schedule> schedules = Scheduler.plan(optimized, t.cpus(options), winograd, t.name(), options.tuning());
    return new Compilation(t, options, info, optimized, schedules);
  }

  public static Compilation compile(Frontend.Loaded loaded, Graph graph, CodegenOptions options) {
    return compile(loaded, graph, options, Pipeline.defaults(), Pipeline.Instruments.NONE);
  }

  /**
   * What a target compiles: the graph without its input normalization (the runtime applies the preprocessing to
   * raw pixels), through the pipeline and the target's legalization.
   */
  public static Graph optimize(Graph graph, Pipeline pipeline, Target target, Pipeline.Instruments instruments) {
    return pipeline.then(target.legalization()).run(Frontend.withoutPreprocess(graph), instruments);
  }
}
