package resnetc.target;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import resnetc.Driver;
import resnetc.Frontend;
import resnetc.ir.Graph;
import resnetc.passes.Pipeline;
import resnetc.runtime.CompiledModel;
import resnetc.runtime.ThreadTeam;
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

  /**
   * A busy server's lanes: two calls of {@code m} at once, each on its own thread alone ({@link
   * ThreadTeam#onCallerOnly}), give {@code expected} (what the whole team gave) bit for bit.
   */
  public static void assertCallersOnlyGive(float[] expected, CompiledModel m, float[] x, int n) throws Exception {
    try (ExecutorService pool = Executors.newFixedThreadPool(2)) {
      List<Future<float[]>> calls = new ArrayList<>();
      for (int c = 0; c < 2; c++) {
        calls.add(pool.submit(() -> {
          float[][] y = new float[1][];
          ThreadTeam.onCallerOnly(() -> y[0] = m.predict(x, n));
          return y[0];
        }));
      }
      for (Future<float[]> f : calls) assertArrayEquals(expected, f.get(), "a call on its caller's thread alone");
    }
  }

  /** What the default pipeline and a target's legalization make of a graph (the graph a target compiles). */
  public static Graph optimized(Graph weighted, String target) {
    return Driver.optimize(weighted, Pipeline.defaults(), Targets.get(target), Pipeline.Instruments.NONE);
  }
}
