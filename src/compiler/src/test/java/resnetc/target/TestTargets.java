package resnetc.target;

import java.nio.file.Path;
import java.util.List;
import resnetc.Driver;
import resnetc.Frontend;
import resnetc.ir.Graph;
import resnetc.passes.Pipeline;
import resnetc.runtime.CompiledModel;
import resnetc.schedule.Scheduler;
import resnetc.schedule.Winograd;

/** Tests' ways through the driver: a spec with weights, or a raw graph with only the target's legalization. */
public final class TestTargets {
  private TestTargets() {}

  /** The spec's graph with {@code weighted}'s weights through the default pipeline, for {@code target} (cpus as the CLI takes them). */
  public static Driver.Compilation spec(Frontend.Loaded l, Graph weighted, String target, String... cpus) {
    return Driver.compile(l, weighted, CodegenOptions.defaults().withTarget(target).withCpus(List.of(cpus)));
  }

  public static Driver.Compilation spec(Path spec, Graph weighted, String target, String... cpus) {
    return spec(Frontend.load(spec), weighted, target, cpus);
  }

  /**
   * {@code g} exactly as given, its normalization included, through nothing but the target's legalization, loaded
   * with {@code threads} threads.
   */
  public static CompiledModel raw(Graph g, String target, Winograd.Mode winograd, int threads, String... cpus) {
    CodegenOptions o = CodegenOptions.defaults().withTarget(target).withCpus(List.of(cpus)).withNames("resnetc.test", null);
    Target t = Targets.get(target);
    Graph legal = t.legalization().run(g);
    var schedule = Scheduler.plan(legal, t.cpus(o).getFirst(), t.winograd(winograd));
    return t.load(schedule, ModelInfo.of(g.name(), g.input().type().dim(1)), o, threads);
  }

  /** What the default pipeline and a target's legalization make of a graph (the graph a target compiles). */
  public static Graph optimized(Graph weighted, String target) {
    return Driver.optimize(weighted, Pipeline.defaults(), Targets.get(target), Pipeline.Instruments.NONE);
  }
}
