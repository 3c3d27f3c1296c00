package resnetc.cli;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;
import resnetc.Driver;
import resnetc.Frontend;
import resnetc.ir.Graph;
import resnetc.runtime.AtomicFile;
import resnetc.runtime.CompiledModel;
import resnetc.runtime.ThreadTeam;
import resnetc.schedule.CpuModel;
import resnetc.schedule.Tuning;
import resnetc.target.Targets;
import resnetc.tune.Tuner;

@Command(name = "tune", description = {"Time candidate schedules of every conv on this machine and write a tuning record for compile --tuning "
    + "(and the Maven plugin's <tuning>): one section per compiled CPU this machine runs, added to the record when it exists."})
final class TuneCommand implements Callable<Integer> {
  @Spec CommandSpec cmd;

  @Parameters(paramLabel = "SPEC|ONNX", description = "a spec (.resnet) or an ONNX model (.onnx)") Path spec;

  @Mixin PreprocessOption preprocess = new PreprocessOption();

  @ArgGroup(exclusive = true)
  RunCommand.WeightSource weights = new RunCommand.WeightSource();

  @Option(names = "--backend", defaultValue = "native", description = "the backend to tune for: java or native (default ${DEFAULT-VALUE})")
  String backend;

  @Option(names = {"-o", "--output"}, paramLabel = "FILE", required = true, description = "the tuning record to write (its other sections are kept)")
  Path output;

  @Option(names = "--threads", paramLabel = "N", description = "threads per call, as the model will run (default: this machine's processors)")
  Integer threads;

  @Option(names = "--batch", paramLabel = "N", defaultValue = "1", description = "images per call (default ${DEFAULT-VALUE})")
  int batch;

  @Option(names = "--runs", paramLabel = "N", defaultValue = "15", description = "timed calls per candidate at least; medians count (default ${DEFAULT-VALUE})")
  int runs;

  @Option(names = "--measure-ms", paramLabel = "MS", defaultValue = "500",
      description = "and timed calls per candidate for at least this long (default ${DEFAULT-VALUE})")
  int measureMillis;

  @Option(names = "--warmup-ms", paramLabel = "MS", description = "untimed calls first, per candidate (default 300 native, 2000 java)")
  Integer warmupMillis;

  @Option(names = "--rounds", paramLabel = "N", defaultValue = "2", description = "rounds of moves, each from the last round's winners (default ${DEFAULT-VALUE})")
  int rounds;

  @Option(names = "--min-gain", paramLabel = "F", defaultValue = "0.03",
      description = "what a candidate must save on a layer to replace the current choice, as a fraction (default ${DEFAULT-VALUE})")
  double minGain;

  @Option(names = "--moves", paramLabel = "MOVE", split = ",",
      description = "the moves to try, all by default: other-algorithm, half-channels, fewer-vectors, more-vectors, half-bands, twice-bands, one-band")
  java.util.List<String> moves = new java.util.ArrayList<>(resnetc.schedule.TuningSpace.MOVES);

  @Option(names = "--allow-non-finite", description = "load weights that hold NaN or infinite values (refused otherwise)")
  boolean allowNonFinite;

  @Mixin OptOptions opt = new OptOptions();

  @Mixin CodegenMixin codegen = new CodegenMixin();

  @Override
  public Integer call() throws IOException {
    if (codegen.tuning != null) throw new Main.UserError("tune writes a tuning record (-o FILE); --tuning is for compile, run and plan");
    int n = threads == null ? Runtime.getRuntime().availableProcessors() : ThreadTeam.checkThreads(threads);
    if (batch < 1 || runs < 1 || rounds < 1) throw new Main.UserError("--batch, --runs and --rounds must be at least 1");
    if (measureMillis < 0) throw new Main.UserError("--measure-ms must not be negative");
    if (!(minGain >= 0 && minGain < 1)) throw new Main.UserError("--min-gain must be at least 0 and below 1, got " + minGain);
    if (Files.isDirectory(output)) throw new Main.UserError("--output " + output + " is a directory");
    Tuning record = Files.exists(output) ? CodegenMixin.read(output) : Tuning.none();
    var settings = new Tuner.Settings(n, batch, runs, measureMillis, warmupMillis != null ? warmupMillis : backend.equals("java") ? 2000 : 300, rounds, minGain, moves);
    PrintWriter out = cmd.commandLine().getOut();
    long t0 = System.nanoTime();
    Frontend.Loaded l = preprocess.load(spec);
    Graph g = weights.seed == null && weights.file == null && l.specWeights() == null && !l.graph().hasWeights()
        ? resnetc.weights.RandomWeights.generate(l.graph(), 1) // timing does not depend on the values
        : RunCommand.weights(l, weights, allowNonFinite, cmd.commandLine().getErr());
    var target = Targets.get(backend);
    Driver.Compilation c = Driver.compile(l, g, codegen.options(backend, null, null), opt.compiledPipeline(),
        opt.instruments(target.legalization(), cmd.commandLine().getErr()));
    String machine = machine();
    String previous = System.setProperty(CompiledModel.PROFILE_PROPERTY, "true");
    int tuned = 0;
    try {
      Tuner tuner = new Tuner(c, settings, out);
      for (var schedule : c.schedules()) {
        CpuModel cpu = schedule.cpu();
        if (!target.runsHere(cpu)) {
          out.println("skipped " + cpu.name() + ": this machine does not run its code (tune it on one that does)");
          continue;
        }
        Tuner.Result r = tuner.tune(cpu, machine);
        report(out, r);
        record = record.with(r.section());
        tuned++;
      }
    } finally {
      if (previous == null) System.clearProperty(CompiledModel.PROFILE_PROPERTY);
      else System.setProperty(CompiledModel.PROFILE_PROPERTY, previous);
    }
    if (tuned == 0) throw new Main.UserError("this machine runs none of the CPUs to tune (" + c.schedules().stream().map(s -> s.cpu().name()).toList() + ")");
    AtomicFile.writeString(output, record.text());
    out.println("record: " + output);
    out.printf(Locale.ROOT, "tune_s: %.1f%n", (System.nanoTime() - t0) / 1e9);
    return 0;
  }

  private static void report(PrintWriter out, Tuner.Result r) {
    for (Tuner.LayerResult l : r.layers()) {
      if (l.chosen().equals(l.rules())) continue;
      out.printf(Locale.ROOT, "  %%%-28s %-32s %8.3f ms -> %-32s %8.3f ms%n", l.layer(), l.rules().text(), l.rulesMs(), l.chosen().text(), l.chosenMs());
    }
    var s = r.section();
    out.printf(Locale.ROOT, "%s %s: %d of %d convs changed; whole call %.3f -> %.3f ms (%.3fx), %d variants timed; outputs within %.1e of the rules'%s%n",
        s.target(), s.cpu(), s.choices().size(), r.layers().size(), r.rulesMs(), r.tunedMs(), r.tunedMs() / r.rulesMs(), r.variantsMeasured(),
        r.maxDifference(), s.choices().isEmpty() && r.tunedMs() >= r.rulesMs() ? " (not faster as a whole: the rules' schedule is kept)" : "");
  }

  /** The CPU's model name as the OS reports it, for the record (what was measured where). */
  static String machine() {
    try {
      for (String line : Files.readAllLines(Path.of("/proc/cpuinfo"))) {
        if (line.startsWith("model name")) return line.substring(line.indexOf(':') + 1).strip().replace("\"", "");
      }
    } catch (IOException | RuntimeException e) {
      // not Linux: the JVM's architecture below
    }
    return System.getProperty("os.arch");
  }
}
