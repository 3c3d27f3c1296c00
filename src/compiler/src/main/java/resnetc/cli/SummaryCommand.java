package resnetc.cli;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;
import resnetc.Frontend;
import resnetc.ir.Graph;
import resnetc.ir.Node;
import resnetc.ir.Op;
import resnetc.ir.Summary;
import resnetc.analysis.MemoryPlan;
import resnetc.analysis.ArenaPlanner;

@Command(name = "summary", description = "Per-layer table (name, op, output shape, params, MACs per image) and totals;"
    + " with --opt also op counts before/after the optimizer and the planned activation arena.")
final class SummaryCommand implements Callable<Integer> {
  @Spec CommandSpec cmd;

  @Parameters(paramLabel = "SPEC|ONNX", description = "a spec (.resnet) or an ONNX model (.onnx)") Path spec;

  @Mixin OptOptions opt = new OptOptions();

  @Option(names = "--batch", paramLabel = "B", defaultValue = "1", description = "batch for the arena figures (default ${DEFAULT-VALUE})")
  int batch;

  @Override
  public Integer call() {
    PrintWriter out = cmd.commandLine().getOut();
    Graph lowered = Frontend.load(spec).graph();
    Graph g = opt.apply(lowered, cmd.commandLine().getErr());
    out.print(Summary.of(g).table());
    if (opt.enabled()) {
      if (batch < 1) throw new Main.UserError("--batch must be at least 1");
      Map<String, Long> before = opCounts(lowered), after = opCounts(g);
      TreeMap<String, Long> all = new TreeMap<>(before);
      after.forEach(all::putIfAbsent);
      out.println("ops (before -> after " + opt.pipeline().text() + "):");
      all.keySet().forEach(op -> out.printf(Locale.ROOT, "  %-16s %5d -> %d%n", op, before.getOrDefault(op, 0L), after.getOrDefault(op, 0L)));
      MemoryPlan before0 = ArenaPlanner.plan(lowered, batch), plan = ArenaPlanner.plan(g, batch);
      out.printf(Locale.ROOT, "arena_bytes: %d%n", plan.arenaBytes());
      out.printf(Locale.ROOT, "naive_activation_bytes: %d%n", plan.naiveBytes());
      out.printf(Locale.ROOT, "arena_percent_of_naive: %.1f (batch %d; unoptimized graph: %d of %d bytes)%n",
          100.0 * plan.arenaBytes() / plan.naiveBytes(), batch, before0.arenaBytes(), before0.naiveBytes());
    }
    return 0;
  }

  private static Map<String, Long> opCounts(Graph g) {
    Map<String, Long> m = new TreeMap<>();
    for (Node n : g.nodes()) {
      if (!(n.op() instanceof Op.Input)) m.merge(n.op().mnemonic(), 1L, Long::sum);
    }
    return m;
  }
}
