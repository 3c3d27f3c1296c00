package resnetc.cli;

import java.io.PrintWriter;
import java.nio.file.Path;
import picocli.CommandLine.Option;
import resnetc.ir.Graph;
import resnetc.passes.Pipeline;

/** The optimizer options shared by the commands that take a graph: which passes, and what to show about them. */
final class OptOptions {
  @Option(names = "--opt", description = "run the default pass pipeline (" + Pipeline.DEFAULT + ")")
  boolean opt;

  @Option(names = "--passes", paramLabel = "P1,P2,...", description = "run these passes in this order (implies --opt)")
  String passes;

  @Option(names = "--dump-ir-after", paramLabel = "PASS|all", description = "write the IR after this pass (or every pass) to --dump-dir")
  String dumpAfter;

  @Option(names = "--dump-dir", paramLabel = "DIR", defaultValue = "resnetc-ir-dump", description = "directory for --dump-ir-after (default ${DEFAULT-VALUE})")
  Path dumpDir;

  @Option(names = "--time-passes", description = "print the time each pass took")
  boolean timePasses;

  boolean enabled() {
    return opt || passes != null;
  }

  Pipeline pipeline() {
    return passes != null ? Pipeline.parse(passes) : Pipeline.defaults();
  }

  /** What a compiled backend runs before its legalization: the chosen passes, else the default pipeline. */
  Pipeline compiledPipeline() {
    return enabled() ? pipeline() : Pipeline.defaults();
  }

  /** The dump and timing instruments for a pipeline that ends with {@code legalization}; a dump of a pass it lacks is an error. */
  Pipeline.Instruments instruments(Pipeline legalization, PrintWriter err) {
    Pipeline full = compiledPipeline().then(legalization);
    if (dumpAfter != null && !dumpAfter.equals("all") && full.passes().stream().noneMatch(x -> x.name().equals(dumpAfter))) {
      throw new Main.UserError("--dump-ir-after=" + dumpAfter + " names no pass of the pipeline " + full.text());
    }
    return new Pipeline.Instruments(dumpAfter, dumpDir, timePasses ? err : null);
  }

  /** The graph after the chosen pipeline, or unchanged when no optimization was asked for. */
  Graph apply(Graph g, PrintWriter err) {
    if (!enabled()) {
      if (dumpAfter != null || timePasses) throw new Main.UserError("--dump-ir-after and --time-passes need --opt or --passes");
      return g;
    }
    Pipeline p = pipeline();
    if (dumpAfter != null && !dumpAfter.equals("all") && p.passes().stream().noneMatch(x -> x.name().equals(dumpAfter))) {
      throw new Main.UserError("--dump-ir-after=" + dumpAfter + " names no pass of the pipeline " + p.text());
    }
    return p.run(g, new Pipeline.Instruments(dumpAfter, dumpDir, timePasses ? err : null));
  }
}
