package resnetc.cli;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;
import resnetc.Frontend;
import resnetc.backend.java.JavaTarget;
import resnetc.interp.Interpreter;
import resnetc.passes.Pipeline;
import resnetc.runtime.CompiledModel;
import resnetc.ir.Graph;
import resnetc.ir.Node;
import resnetc.ir.Op;
import resnetc.ir.Summary;
import resnetc.runtime.Profile;
import resnetc.runtime.Progress;
import resnetc.runtime.Cifar;
import resnetc.runtime.F32;
import resnetc.weights.RandomWeights;

@Command(name = "run", description = "Run a model on a file of inputs and write its outputs (little-endian float32 [N, classes]).")
final class RunCommand implements Callable<Integer> {
  @Spec CommandSpec cmd;

  @Parameters(paramLabel = "SPEC") Path spec;

  @ArgGroup(exclusive = true)
  WeightSource weights = new WeightSource();

  static final class WeightSource {
    @Option(names = "--weights", paramLabel = "FILE", description = "safetensors checkpoint (default: the spec's 'weights { file ... }')")
    Path file;

    @Option(names = "--random-weights", paramLabel = "SEED", description = "deterministic random weights, batch norm calibrated")
    Long seed;
  }

  @ArgGroup(exclusive = true, multiplicity = "1")
  InputSource input;

  static final class InputSource {
    @Option(names = "--input-cifar", paramLabel = "FILE", description = "CIFAR binary records; the spec's preprocessing is applied")
    Path cifar;

    @Option(names = "--input-f32", paramLabel = "FILE", description = "preprocessed little-endian float32 NCHW")
    Path f32;
  }

  @Option(names = "--output", paramLabel = "FILE", description = "where to write the outputs")
  Path output;

  @Option(names = "--limit", paramLabel = "N", description = "use at most N inputs")
  int limit;

  @Option(names = "--batch", paramLabel = "B", defaultValue = "50", description = "images per batch (default ${DEFAULT-VALUE})")
  int batch;

  // native by default: a one-shot run in a fresh JVM pays the Java backend's JIT warm-up on every image (README, "The CLI")
  @Option(names = "--backend", defaultValue = "native",
      description = "execution backend: ${COMPLETION-CANDIDATES} (default ${DEFAULT-VALUE}; reference is the interpreter, the oracle)")
  Backend backend;

  @Option(names = "--compare", paramLabel = "FILE", description = "reference outputs (float32) to report the max abs/rel error against")
  Path compare;

  @Mixin OptOptions opt = new OptOptions();

  @Option(names = "--cpu", defaultValue = "native", description = "native backend: target CPU for the JIT (default ${DEFAULT-VALUE}: this machine)")
  String cpu;

  enum Backend {
    reference, java, NATIVE;

    @Override
    public String toString() {
      return name().toLowerCase(Locale.ROOT); // `native` is a Java keyword, not a valid constant name
    }
  }

  @Option(names = "--threads", paramLabel = "T", description = "threads for compiled backends (default: all cores)")
  Integer threads;

  @Option(names = "--profile", description = "after the run, time each layer over repeated runs of the first batch and print "
      + "its median time per run, GFLOP/s and share of the total (reference: each IR node)")
  boolean profile;

  @Option(names = "--profile-runs", paramLabel = "N", defaultValue = "20", description = "--profile: timed runs (default ${DEFAULT-VALUE})")
  int profileRuns;

  @Option(names = "--profile-warmup", paramLabel = "N", defaultValue = "5",
      description = "--profile: untimed runs first, after the run itself (default ${DEFAULT-VALUE})")
  int profileWarmup;

  @Override
  public Integer call() throws IOException {
    if (batch < 1) throw new Main.UserError("--batch must be at least 1");
    if (profileRuns < 1) throw new Main.UserError("--profile-runs must be at least 1");
    if (profileWarmup < 0) throw new Main.UserError("--profile-warmup must not be negative");
    if (!profile) return execute();
    // A compiled model's class reads the flag once, when it initializes (during execute): set it for this run only.
    String previous = System.setProperty(CompiledModel.PROFILE_PROPERTY, "true");
    try {
      return execute();
    } finally {
      if (previous == null) System.clearProperty(CompiledModel.PROFILE_PROPERTY);
      else System.setProperty(CompiledModel.PROFILE_PROPERTY, previous);
    }
  }

  private int execute() throws IOException {
    PrintWriter out = cmd.commandLine().getOut();
    Frontend.Loaded loaded = Frontend.load(spec);
    Graph g = weights(loaded);

    float[] x;
    int[] labels = null;
    if (input.cifar != null) {
      Cifar data = Cifar.read(input.cifar, limit);
      x = data.pixels();
      labels = data.labels();
      if (loaded.model().preprocess() == null) {
        cmd.commandLine().getErr().println("resnetc: warning: the spec has no preprocess section; feeding raw pixel values 0..255");
      }
    } else {
      g = Frontend.withoutPreprocess(g);
      x = F32.read(input.f32);
    }
    long perItem = g.input().type().elementsPerItem();
    if (x.length % perItem != 0) {
      throw new Main.UserError("input has " + x.length + " values, not a whole number of " + g.input().type().itemShape() + " inputs");
    }
    int n = (int) (x.length / perItem);
    if (limit > 0 && n > limit) {
      n = limit;
      x = java.util.Arrays.copyOf(x, (int) (n * perItem));
    }
    if (x.length != g.input().type().elementsPerItem() * n || n == 0) throw new Main.UserError("no inputs");

    int classes = (int) g.outputType().elementsPerItem();
    float[] y = new float[n * classes];
    long t0;
    Profile prof = null;
    int threadCount = threads == null ? Runtime.getRuntime().availableProcessors() : threads;
    if (backend == Backend.java) {
      // Same path as a jar: the runtime normalizes, the compiled model takes preprocessed input.
      Graph optimized = JavaTarget.optimize(g, opt.enabled() ? opt.pipeline() : Pipeline.defaults());
      JavaTarget.Compiled c = JavaTarget.compile(JavaTarget.generate(loaded, optimized, JavaTarget.defaultOptions(loaded.model(), null, null)));
      try (CompiledModel m = JavaTarget.instantiate(c, threadCount)) {
        if (input.cifar != null) m.preprocessing().apply(x, m.channels(), m.height() * m.width());
        t0 = System.nanoTime();
        inBatches(x, y, n, perItem, classes, m::predict);
        t0 = System.nanoTime() - t0;
        if (profile) prof = profile(m, threadCount, x, n, perItem);
      }
    } else if (backend == Backend.NATIVE) {
      // In-process ORC JIT: the same IR as `compile --backend native`, no linking step.
      Graph optimized = JavaTarget.optimize(g, opt.enabled() ? opt.pipeline() : Pipeline.defaults());
      try (resnetc.backend.nat.NativeJit jit = resnetc.backend.nat.NativeJit.load(optimized, cpu)) {
        var names = JavaTarget.defaultOptions(loaded.model(), null, null);
        var c = resnetc.backend.nat.NativeTarget.compileWrapper(jit.program(), JavaTarget.info(loaded), names, "jit",
            loaded.model().input().channels(), loaded.model().input().height(), loaded.model().input().width());
        try (CompiledModel m = resnetc.backend.nat.NativeTarget.instantiate(c, threadCount, jit::address)) {
          if (input.cifar != null) m.preprocessing().apply(x, m.channels(), m.height() * m.width());
          t0 = System.nanoTime();
          inBatches(x, y, n, perItem, classes, m::predict);
          t0 = System.nanoTime() - t0;
          if (profile) prof = profile(m, threadCount, x, n, perItem);
        }
      }
    } else {
      Interpreter interp = new Interpreter(opt.apply(g, cmd.commandLine().getErr()));
      t0 = System.nanoTime();
      inBatches(x, y, n, perItem, classes, interp::run);
      t0 = System.nanoTime() - t0;
      if (profile) prof = profile(interp, x, n, perItem);
    }
    double seconds = t0 / 1e9;
    if (output != null) F32.write(output, y);

    out.printf(Locale.ROOT, "images: %d%n", n);
    out.printf(Locale.ROOT, "time_s: %.3f (%.2f ms/image, backend %s)%n", seconds, seconds * 1000 / n, backend);
    if (labels != null) {
      int correct = 0;
      for (int i = 0; i < n; i++) if (F32.argmax(y, i * classes, classes) == labels[i]) correct++;
      out.printf(Locale.ROOT, "accuracy: %.4f%n", (double) correct / n);
    }
    if (compare != null) compare(out, y, F32.read(compare));
    if (prof != null) {
      out.println();
      out.print(prof.table());
    }
    return 0;
  }

  /** What --profile measured on the first batch: the layer counters before the runs and after each, each run's time. */
  private record Timing(List<long[]> snapshots, long[] calls, int batch) {}

  /** Runs the first --batch inputs --profile-warmup times, then --profile-runs times, snapshotting the counters. */
  private Timing time(float[] x, int n, long perItem, java.util.function.BiFunction<float[], Integer, float[]> model,
                      java.util.function.Supplier<long[]> nanos) {
    int b = Math.min(batch, n);
    float[] first = java.util.Arrays.copyOf(x, (int) (b * perItem));
    for (int i = 0; i < profileWarmup; i++) model.apply(first, b);
    List<long[]> snapshots = new ArrayList<>(List.of(nanos.get()));
    long[] calls = new long[profileRuns];
    for (int i = 0; i < profileRuns; i++) {
      long t0 = System.nanoTime();
      model.apply(first, b);
      calls[i] = System.nanoTime() - t0;
      snapshots.add(nanos.get());
    }
    return new Timing(snapshots, calls, b);
  }

  private Profile profile(CompiledModel m, int threadCount, float[] x, int n, long perItem) {
    Timing t = time(x, n, perItem, m::predict, m::layerNanos);
    return Profile.ofSnapshots(m, t.snapshots(), t.calls(), t.batch(), threadCount, profileWarmup);
  }

  /** The reference interpreter, node by node (the graph as run: unoptimized unless --opt or --passes). */
  private Profile profile(Interpreter interp, float[] x, int n, long perItem) {
    Graph g = interp.graph();
    long[] acc = new long[g.nodes().size()];
    List<Integer> timed = java.util.stream.IntStream.range(0, g.nodes().size())
        .filter(i -> !(g.nodes().get(i).op() instanceof Op.Input) && !(g.nodes().get(i).op() instanceof Op.Const)).boxed().toList();
    Timing t = time(x, n, perItem, (in, b) -> interp.run(in, b, acc), () -> timed.stream().mapToLong(i -> acc[i]).toArray());
    List<Node> nodes = timed.stream().map(g.nodes()::get).toList();
    return Profile.ofSnapshots(g.name(), nodes.stream().map(Node::name).toList(), nodes.stream().map(Summary::kind).toList(),
        nodes.stream().map(node -> node.type().itemShape()).toList(), nodes.stream().mapToLong(node -> 2 * Summary.macs(g, node)).toArray(),
        t.snapshots(), t.calls(), t.batch(), 1, profileWarmup);
  }

  /** Runs {@code n} inputs through {@code model} --batch at a time, writing the outputs into {@code y}; progress on a terminal. */
  private void inBatches(float[] x, float[] y, int n, long perItem, int classes, java.util.function.BiFunction<float[], Integer, float[]> model) {
    try (Progress progress = Progress.of(cmd.commandLine().getErr(), "images", n)) {
      for (int start = 0; start < n; start += batch) {
        int b = Math.min(batch, n - start);
        float[] chunk = java.util.Arrays.copyOfRange(x, (int) (start * perItem), (int) ((start + b) * perItem));
        System.arraycopy(model.apply(chunk, b), 0, y, start * classes, b * classes);
        progress.advance(b);
      }
    }
  }

  private Graph weights(Frontend.Loaded loaded) {
    return weights(loaded, weights);
  }

  /** The graph with --weights, --random-weights or the spec's own weights file; an error when there are none. */
  static Graph weights(Frontend.Loaded loaded, WeightSource weights) {
    if (weights.seed != null) return RandomWeights.generate(loaded.graph(), weights.seed);
    Path file = weights.file != null ? weights.file : loaded.specWeights();
    if (file == null) {
      throw new Main.UserError(loaded.spec() + " names no weights file: pass --weights FILE or --random-weights SEED");
    }
    return Frontend.bind(loaded, file);
  }

  private static void compare(PrintWriter out, float[] y, float[] ref) {
    if (ref.length < y.length) throw new Main.UserError("--compare file has " + ref.length + " values, fewer than the " + y.length + " outputs");
    double maxAbs = 0, maxRef = 0;
    for (int i = 0; i < y.length; i++) {
      maxAbs = Math.max(maxAbs, Math.abs(y[i] - ref[i]));
      maxRef = Math.max(maxRef, Math.abs(ref[i]));
    }
    out.printf(Locale.ROOT, "max_abs_error: %.3g%n", maxAbs);
    out.printf(Locale.ROOT, "max_rel_error: %.3g (max abs error / max |reference|)%n", maxRef == 0 ? 0 : maxAbs / maxRef);
  }
}
