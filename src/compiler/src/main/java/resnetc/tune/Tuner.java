package resnetc.tune;

import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import resnetc.Driver;
import resnetc.runtime.CompiledModel;
import resnetc.schedule.CpuModel;
import resnetc.schedule.Schedule;
import resnetc.schedule.Scheduler;
import resnetc.schedule.Tuning;
import resnetc.schedule.TuningSpace;
import resnetc.schedule.Winograd;

/**
 * Measured schedule choices, as TVM's tuning makes them: for one compiled CPU, the model is compiled and timed per
 * layer by the rules' schedule, then once per move of {@link TuningSpace} (each move applied to every conv it
 * fits), and each conv keeps the variant its own time says is fastest by at least {@link Settings#minGain}. A
 * second round starts the moves from the first round's winners. A winner is the least of several noisy times, so
 * it is confirmed: the rules' model and the tuned one are timed in alternating blocks, and a conv keeps its winner
 * only when it is faster there too; the record keeps the confirmed choices only when the whole model is faster.
 *
 * <p>Layer times come from the models' own counters ({@link CompiledModel#layerNanos}), so the JVM must load them
 * with {@code -Dresnetc.profile=true}; the caller sets it ({@code resnetc tune} does).
 */
public final class Tuner {
  /**
   * @param threads threads per call, as the model will run
   * @param batch images per call
   * @param runs timed calls per variant at least (medians are kept)
   * @param measureMillis and timed calls for at least this long (a small model's layers take microseconds: their
   *     medians need hundreds of calls)
   * @param warmupMillis untimed calls first, for at least this long (the JVM compiles a Java model meanwhile)
   * @param rounds rounds of moves
   * @param minGain fraction a variant must save on a layer to replace the current choice (noise is a few percent)
   * @param moves the moves to try (names of {@link TuningSpace#MOVES})
   */
  public record Settings(int threads, int batch, int runs, int measureMillis, int warmupMillis, int rounds, double minGain, List<String> moves) {
    public Settings {
      moves = List.copyOf(moves);
      for (String m : moves) {
        if (!TuningSpace.MOVES.contains(m)) throw new IllegalArgumentException("unknown move '" + m + "' (moves: " + String.join(", ", TuningSpace.MOVES) + ")");
      }
      if (moves.isEmpty()) throw new IllegalArgumentException("tuning needs at least one move (" + String.join(", ", TuningSpace.MOVES) + ")");
      if (threads < 1 || batch < 1 || runs < 1 || measureMillis < 0 || warmupMillis < 0 || rounds < 1 || minGain < 0 || minGain >= 1) {
        throw new IllegalArgumentException("tuning settings out of range: threads, batch, runs and rounds must be positive");
      }
    }
  }

  /** One conv: the rules' choice and time, the kept choice and its time (the same when nothing beat the rules). */
  public record LayerResult(String layer, Tuning.Choice rules, double rulesMs, Tuning.Choice chosen, double chosenMs) {}

  /**
   * @param section what the record keeps for this CPU: the convs whose choice differs from the rules', or none when
   *     the tuned model as a whole was not faster
   * @param rulesMs median time of a whole call with the rules' schedule
   * @param tunedMs the same with every kept choice
   * @param maxDifference largest difference of an output to the rules' model's, relative to the largest output
   */
  public record Result(Tuning.Section section, List<LayerResult> layers, double rulesMs, double tunedMs, int variantsMeasured,
                       double maxDifference) {}

  /** Outputs of a tuned model may differ from the rules' by Winograd's rounding only; more is a bug, refused. */
  static final double MAX_RELATIVE_DIFFERENCE = 1e-3;

  private final Driver.Compilation compilation;
  private final Settings settings;
  private final PrintWriter log;
  private final float[] input;

  public Tuner(Driver.Compilation compilation, Settings settings, PrintWriter log) {
    this.compilation = compilation;
    this.settings = settings;
    this.log = log;
    Schedule s = compilation.schedule();
    if (s.weights() == null) throw new IllegalArgumentException("tuning runs the model: it needs weights (--weights FILE or --random-weights SEED)");
    // Timing does not depend on the values; a fixed seed keeps the outputs comparable between variants.
    SplittableRandom random = new SplittableRandom(42);
    input = new float[settings.batch() * s.inputSize()];
    for (int i = 0; i < input.length; i++) input[i] = (float) (random.nextDouble() * 4 - 2);
  }

  /** Tunes the schedule of {@code cpu} (one of the compilation's CPUs, which must run on this machine). */
  public Result tune(CpuModel cpu, String machine) {
    var target = compilation.target();
    if (!target.runsHere(cpu)) throw new IllegalArgumentException("this machine does not run " + cpu.name() + " code, so it cannot time it");
    Winograd.Mode mode = target.winograd(compilation.options().winograd());
    var graph = compilation.graph();
    Schedule rules = Scheduler.plan(graph, cpu, mode);
    TuningSpace space = new TuningSpace(rules, Scheduler.plan(graph, cpu, Winograd.Mode.OFF), Scheduler.plan(graph, cpu, Winograd.Mode.ALWAYS));
    Map<String, Tuning.Choice> current = new LinkedHashMap<>(space.rules());
    log.printf(Locale.ROOT, "tuning %s for %s (%s): %d convs, %d thread(s), batch %d%n", rules.model(), cpu.name(), machine, current.size(),
        settings.threads(), settings.batch());

    // The rules' model stays loaded: the first measurement and every comparison time it.
    try (CompiledModel rulesModel = load(rules)) {
      Measured base = measure(rulesModel, "rules");
      Map<String, Double> best = new LinkedHashMap<>();
      for (String layer : current.keySet()) best.put(layer, base.layerMs(layer));
      int measured = 1;
      for (int round = 1; round <= settings.rounds(); round++) {
        Map<String, Tuning.Choice> start = new LinkedHashMap<>(current);
        for (TuningSpace.Variant v : space.variants(start)) {
          if (!settings.moves().contains(v.move())) continue;
          Map<String, Tuning.Choice> trial = new LinkedHashMap<>(start);
          trial.putAll(v.choices());
          Measured m = measure(plan(rules, cpu, mode, trial, space), "round " + round + " " + v.move() + " (" + v.choices().size() + " convs)");
          measured++;
          for (String layer : v.choices().keySet()) {
            double ms = m.layerMs(layer);
            if (ms < best.get(layer) * (1 - settings.minGain())) {
              best.put(layer, ms);
              current.put(layer, v.choices().get(layer));
            }
          }
        }
      }

      // Confirm: the winners were picked as the least of several noisy times, so each is timed again beside the
      // rules' choice, the two models alternating; a conv keeps its winner only if it is faster there too.
      Comparison check = compare(rulesModel, plan(rules, cpu, mode, current, space));
      Map<String, Tuning.Choice> confirmed = new LinkedHashMap<>();
      space.rules().forEach((layer, r) -> {
        Tuning.Choice c = current.get(layer);
        boolean faster = check.tuned().layerMs(layer) < check.rules().layerMs(layer) * (1 - settings.minGain());
        confirmed.put(layer, c.equals(r) || !faster ? r : c);
      });
      Comparison whole = confirmed.equals(current) ? check : compare(rulesModel, plan(rules, cpu, mode, confirmed, space));
      double difference = maxDifference(base.output(), whole.tuned().output());
      if (difference > MAX_RELATIVE_DIFFERENCE) {
        throw new IllegalStateException("the tuned schedule's outputs differ from the rules' by " + difference + " of the largest output: a bug, please report it");
      }
      boolean keep = whole.tunedMs() < whole.rulesMs();
      List<LayerResult> layers = new ArrayList<>();
      Map<String, Tuning.Choice> kept = new LinkedHashMap<>();
      space.rules().forEach((layer, r) -> {
        Tuning.Choice c = keep ? confirmed.get(layer) : r;
        layers.add(new LayerResult(layer, r, whole.rules().layerMs(layer), c, (keep ? whole.tuned() : whole.rules()).layerMs(layer)));
        if (!c.equals(r)) kept.put(layer, c);
      });
      var section = new Tuning.Section(rules.model(), target.name(), cpu.name(), cpu.lanes(), settings.threads(), settings.batch(), machine, kept);
      return new Result(section, layers, whole.rulesMs(), whole.tunedMs(), measured, difference);
    }
  }

  /** The schedule with {@code choices} where they differ from the rules'. */
  private Schedule plan(Schedule rules, CpuModel cpu, Winograd.Mode mode, Map<String, Tuning.Choice> choices, TuningSpace space) {
    Map<String, Tuning.Choice> diff = new LinkedHashMap<>();
    choices.forEach((layer, c) -> {
      if (!c.equals(space.rules().get(layer))) diff.put(layer, c);
    });
    var section = new Tuning.Section(rules.model(), compilation.target().name(), cpu.name(), cpu.lanes(), settings.threads(), settings.batch(),
        "", diff);
    return Scheduler.plan(compilation.graph(), cpu, mode, section);
  }

  /** Per-layer medians of one compiled variant, and its first output. */
  private record Measured(Map<String, Double> ms, float[] output) {
    double layerMs(String layer) {
      Double v = ms.get(layer);
      if (v == null) throw new IllegalStateException("the model reports no time for %" + layer);
      return v;
    }
  }

  private CompiledModel load(Schedule s) {
    return compilation.target().load(s, compilation.info(), compilation.options(), settings.threads());
  }

  private Measured measure(Schedule s, String what) {
    try (CompiledModel m = load(s)) {
      return measure(m, what);
    }
  }

  private Measured measure(CompiledModel m, String what) {
    float[] output = m.predict(input, settings.batch());
    warmUp(m);
    Timings t = new Timings(m);
    t.run(settings.runs(), settings.measureMillis());
    log.printf(Locale.ROOT, "  %-48s %9.3f ms%n", what, t.totalMs());
    log.flush();
    return t.measured(output);
  }

  private void warmUp(CompiledModel m) {
    long until = System.nanoTime() + settings.warmupMillis() * 1_000_000L;
    for (int i = 0; i < 3 || System.nanoTime() < until; i++) m.predict(input, settings.batch());
  }

  /** The rules' and the tuned schedule timed side by side: whole-call medians and each one's layer medians. */
  private record Comparison(double rulesMs, double tunedMs, Measured rules, Measured tuned) {}

  /**
   * Times the two schedules in alternating blocks (5 each, each a fifth of the variant's measuring time), so drift
   * of the machine's speed falls on both.
   */
  private Comparison compare(CompiledModel a, Schedule tuned) {
    try (CompiledModel b = load(tuned)) {
      float[] outA = a.predict(input, settings.batch()), outB = b.predict(input, settings.batch());
      warmUp(a);
      warmUp(b);
      int blocks = 5;
      Timings ta = new Timings(a), tb = new Timings(b);
      for (int k = 0; k < blocks; k++) {
        ta.run(settings.runs(), settings.measureMillis() / blocks);
        tb.run(settings.runs(), settings.measureMillis() / blocks);
      }
      Comparison c = new Comparison(ta.totalMs(), tb.totalMs(), ta.measured(outA), tb.measured(outB));
      log.printf(Locale.ROOT, "  %-48s %9.3f ms -> %.3f ms (%.3fx)%n", "rules, tuned alternating", c.rulesMs(), c.tunedMs(), c.tunedMs() / c.rulesMs());
      log.flush();
      return c;
    }
  }

  /** The whole-call and per-layer times of a model's timed calls. */
  private final class Timings {
    private final CompiledModel m;
    private final List<Long> total = new ArrayList<>();
    private final List<long[]> layers = new ArrayList<>();
    private long[] before;

    Timings(CompiledModel m) {
      this.m = m;
      before = m.layerNanos();
    }

    /** Timed calls until there are {@code runs} more and {@code millis} have passed. */
    void run(int runs, long millis) {
      long until = System.nanoTime() + millis * 1_000_000L;
      for (int r = 0; r < runs || System.nanoTime() < until; r++) {
        long t0 = System.nanoTime();
        m.predict(input, settings.batch());
        total.add(System.nanoTime() - t0);
        long[] after = m.layerNanos(), diff = new long[after.length];
        for (int i = 0; i < after.length; i++) diff[i] = after[i] - before[i];
        layers.add(diff);
        before = after;
      }
    }

    double totalMs() {
      return median(total.stream().mapToLong(Long::longValue).toArray()) / 1e6;
    }

    Measured measured(float[] output) {
      List<String> names = m.layers();
      if (names.isEmpty() || Arrays.stream(layers.getFirst()).allMatch(t -> t == 0)) {
        throw new IllegalStateException("the model counts no layer times: load it with -D" + CompiledModel.PROFILE_PROPERTY + "=true");
      }
      Map<String, Double> ms = new LinkedHashMap<>();
      for (int i = 0; i < names.size(); i++) {
        int k = i;
        long[] times = layers.stream().mapToLong(run -> run[k]).toArray();
        ms.put(names.get(i), median(times) / 1e6);
      }
      return new Measured(ms, output);
    }
  }

  private long time(CompiledModel m) {
    long t0 = System.nanoTime();
    m.predict(input, settings.batch());
    return System.nanoTime() - t0;
  }

  static double maxDifference(float[] reference, float[] other) {
    double largest = 0, diff = 0;
    for (int i = 0; i < reference.length; i++) {
      largest = Math.max(largest, Math.abs(reference[i]));
      diff = Math.max(diff, Math.abs((double) reference[i] - other[i]));
    }
    return largest == 0 ? diff : diff / largest;
  }

  static double median(long[] values) {
    long[] v = values.clone();
    Arrays.sort(v);
    int n = v.length;
    return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0;
  }
}
