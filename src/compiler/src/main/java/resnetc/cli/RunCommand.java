package resnetc.cli;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.function.BiFunction;
import java.util.function.UnaryOperator;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;
import resnetc.Frontend;
import resnetc.Driver;
import resnetc.target.Targets;
import resnetc.interp.Interpreter;
import resnetc.runtime.CompiledModel;
import resnetc.ir.Graph;
import resnetc.ir.Node;
import resnetc.ir.Op;
import resnetc.ir.Summary;
import resnetc.runtime.Accuracy;
import resnetc.runtime.AtomicFile;
import resnetc.runtime.Progress;
import resnetc.runtime.Cifar;
import resnetc.runtime.F32;
import resnetc.runtime.InputFile;
import resnetc.runtime.Profile;
import resnetc.runtime.ThreadTeam;
import resnetc.weights.RandomWeights;
import resnetc.weights.WeightBinder;

@Command(name = "run", description = "Run a model on a file of inputs and write its outputs (little-endian float32 [N, classes]).")
final class RunCommand implements Callable<Integer> {
  @Spec CommandSpec cmd;

  @Parameters(paramLabel = "SPEC|ONNX", description = "a spec (.resnet) or an ONNX model (.onnx)") Path spec;

  @Mixin PreprocessOption preprocess = new PreprocessOption();

  @ArgGroup(exclusive = true)
  WeightSource weights = new WeightSource();

  static final class WeightSource {
    @Option(names = "--weights", paramLabel = "FILE", description = "safetensors file or PyTorch checkpoint (.pth/.pt/.th; FILE#KEY names the state dict inside; default: the spec's 'weights { file ... }', or an ONNX model's own)")
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
      description = "native, java (compiled backends) or reference (the interpreter, the oracle) (default ${DEFAULT-VALUE})")
  String backend;

  @Option(names = "--compare", paramLabel = "FILE", description = "reference outputs (float32) to report the max abs/rel error against")
  Path compare;

  @Mixin OptOptions opt = new OptOptions();

  /** Code generation for a compiled backend; the native one JIT-compiles for this machine unless --cpu says otherwise. */
  @Mixin CodegenMixin codegen = new CodegenMixin();

  @Option(names = "--allow-non-finite", description = "load weights that hold NaN or infinite values (refused otherwise)")
  boolean allowNonFinite;

  @Option(names = "--threads", paramLabel = "T", description = "threads for compiled backends (default: all cores; at most 8 per core)")
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
    PrintWriter out = cmd.commandLine().getOut(), err = cmd.commandLine().getErr();
    int threadCount = threads == null ? Runtime.getRuntime().availableProcessors() : ThreadTeam.checkThreads(threads);
    Frontend.Loaded loaded = preprocess.load(spec);
    Graph g = weights(loaded, weights, allowNonFinite, err);
    boolean cifar = input.cifar != null;
    if (cifar) PreprocessOption.requireForPixels(loaded, "--input-cifar");
    if (!cifar) g = Frontend.withoutPreprocess(g);
    int perItem = Math.toIntExact(g.input().type().elementsPerItem()), classes = (int) g.outputType().elementsPerItem();
    String what = g.name() + " inputs of " + g.input().type().itemShape();
    try (InputFile in = cifar ? InputFile.cifar(input.cifar, limit) : InputFile.f32(input.f32, perItem, what, limit);
        InputFile reference = compare != null ? InputFile.f32(compare, classes, "outputs of " + classes + " classes", 0) : null) {
      if (cifar && perItem != Cifar.RECORD - 1) {
        throw new Main.UserError(g.name() + " takes inputs of " + g.input().type().itemShape() + "; CIFAR records are 3x32x32");
      }
      if (cifar && loaded.model().preprocess() == null) {
        err.println("resnetc: warning: the spec has no preprocess section; feeding raw pixel values 0..255");
      }
      if (reference != null && reference.count() < in.count()) {
        throw new Main.UserError("--compare file " + compare + " has " + reference.count() + " outputs, fewer than the " + in.count() + " inputs");
      }
      Result r;
      Profile prof = null;
      if (!backend.equals("reference")) {
        // The path of a jar: the runtime normalizes, the compiled model takes preprocessed input.
        var target = Targets.get(backend);
        if (backend.equals("native") && codegen.cpus.isEmpty()) codegen.cpus = List.of("native");
        var c = Driver.compile(loaded, g, codegen.options(backend, null, null), opt.compiledPipeline(),
            opt.instruments(target.legalization(), err));
        try (CompiledModel m = c.load(threadCount)) {
          r = runAll(in, reference, classes, cifar ? normalizer(m) : null, m::predict);
          if (profile) prof = profile(m, threadCount, r.first(), r.firstCount());
        }
      } else {
        Interpreter interp = new Interpreter(opt.apply(g, err));
        // The interpreter holds each activation of a batch in one array.
        long largest = interp.graph().nodes().stream().mapToLong(node -> node.type().elementsPerItem()).max().orElse(1);
        InputFile.checkBatch((int) Math.min(batch, in.count()), largest);
        r = runAll(in, reference, classes, null, interp::run);
        if (profile) prof = profile(interp, r.first(), r.firstCount());
      }

      double seconds = r.nanos() / 1e9;
      long n = r.score().images();
      out.printf(Locale.ROOT, "images: %d%n", n);
      out.printf(Locale.ROOT, "time_s: %.3f (%.2f ms/image, backend %s)%n", seconds, seconds * 1000 / n, backend);
      if (cifar) out.println(r.score().line());
      if (reference != null) {
        out.printf(Locale.ROOT, "max_abs_error: %.3g%n", r.maxAbs());
        out.printf(Locale.ROOT, "max_rel_error: %.3g (max abs error / max |reference|)%n", r.maxRef() == 0 ? 0 : r.maxAbs() / r.maxRef());
      }
      if (r.score().warning() != null) err.println("resnetc: " + r.score().warning());
      if (prof != null) {
        out.println();
        out.print(prof.table());
      }
    }
    return 0;
  }

  /**
   * What a run over every input found: the score, the time in the model, the largest differences from --compare,
   * and the first batch as the model took it (for --profile).
   */
  private record Result(Accuracy score, long nanos, double maxAbs, double maxRef, float[] first, int firstCount) {}

  /**
   * Streams the inputs through {@code model} --batch at a time: each batch is read, normalized when {@code prep} is
   * given, run, scored, compared and appended to --output (written atomically: a failure leaves an existing file).
   */
  private Result runAll(InputFile in, InputFile reference, int classes, UnaryOperator<float[]> prep, BiFunction<float[], Integer, float[]> model)
      throws IOException {
    Accuracy score = new Accuracy();
    long nanos = 0;
    double maxAbs = 0, maxRef = 0;
    float[] first = null;
    int firstCount = 0;
    try (AtomicFile file = output != null ? AtomicFile.create(output) : null;
        Progress progress = Progress.of(cmd.commandLine().getErr(), "images", in.count())) {
      for (InputFile.Batch b; (b = in.next(batch)) != null; ) {
        float[] x = b.values();
        if (prep != null) prep.apply(x);
        if (profile && first == null) {
          first = x;
          firstCount = b.count();
        }
        long t0 = System.nanoTime();
        float[] y = model.apply(x, b.count());
        nanos += System.nanoTime() - t0;
        score.add(y, b.labels(), b.count(), classes);
        progress.advance(b.count());
        if (file != null) F32.write(file.stream(), y, 0, y.length);
        if (reference != null) {
          float[] ref = reference.next(b.count()).values();
          for (int i = 0; i < y.length; i++) {
            maxAbs = Math.max(maxAbs, Math.abs(y[i] - ref[i]));
            maxRef = Math.max(maxRef, Math.abs(ref[i]));
          }
        }
      }
      if (file != null) file.commit();
    }
    return new Result(score, nanos, maxAbs, maxRef, first, firstCount);
  }

  /** A compiled model's own preprocessing, in place: raw CIFAR pixels to its input. */
  private static UnaryOperator<float[]> normalizer(CompiledModel m) {
    return x -> m.preprocessing().apply(x, m.channels(), m.height() * m.width());
  }

  /** What --profile measured on the first batch: the layer counters before the runs and after each, each run's time. */
  private record Timing(List<long[]> snapshots, long[] calls, int batch) {}

  /** Runs the first batch --profile-warmup times, then --profile-runs times, snapshotting the counters. */
  private Timing time(float[] first, int b, BiFunction<float[], Integer, float[]> model, java.util.function.Supplier<long[]> nanos) {
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

  private Profile profile(CompiledModel m, int threadCount, float[] first, int b) {
    Timing t = time(first, b, m::predict, m::layerNanos);
    return Profile.ofSnapshots(m, t.snapshots(), t.calls(), t.batch(), threadCount, profileWarmup);
  }

  /** The reference interpreter, node by node (the graph as run: unoptimized unless --opt or --passes). */
  private Profile profile(Interpreter interp, float[] first, int b) {
    Graph g = interp.graph();
    long[] acc = new long[g.nodes().size()];
    List<Integer> timed = java.util.stream.IntStream.range(0, g.nodes().size())
        .filter(i -> !(g.nodes().get(i).op() instanceof Op.Input) && !(g.nodes().get(i).op() instanceof Op.Const)).boxed().toList();
    Timing t = time(first, b, (in, n) -> interp.run(in, n, acc), () -> timed.stream().mapToLong(i -> acc[i]).toArray());
    List<Node> nodes = timed.stream().map(g.nodes()::get).toList();
    return Profile.ofSnapshots(g.name(), nodes.stream().map(Node::name).toList(), nodes.stream().map(Summary::kind).toList(),
        nodes.stream().map(node -> node.type().itemShape()).toList(), nodes.stream().mapToLong(node -> 2 * Summary.macs(g, node)).toArray(),
        t.snapshots(), t.calls(), t.batch(), 1, profileWarmup);
  }

  /**
   * The graph with --weights, --random-weights or the spec's own weights file; an error when there are none, or
   * when they hold NaN or infinite values unless {@code allowNonFinite} (then a warning on {@code err}).
   */
  static Graph weights(Frontend.Loaded loaded, WeightSource weights, boolean allowNonFinite, PrintWriter err) {
    if (weights.seed != null) return RandomWeights.generate(loaded.graph(), weights.seed);
    if (weights.file == null && loaded.graph().hasWeights()) return loaded.graph(); // an ONNX file carries its weights
    Path file = weights.file != null ? weights.file : loaded.specWeights();
    if (file == null) {
      throw new Main.UserError(loaded.spec() + " names no weights file: pass --weights FILE or --random-weights SEED");
    }
    Graph g = Frontend.bind(loaded, file, allowNonFinite);
    String nonFinite = allowNonFinite ? WeightBinder.nonFinite(g.constants()) : null;
    if (nonFinite != null) err.println("resnetc: warning: " + file + ": " + nonFinite + " (loaded: --allow-non-finite)");
    return g;
  }

}
