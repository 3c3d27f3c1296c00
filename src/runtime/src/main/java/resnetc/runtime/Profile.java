package resnetc.runtime;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Per-layer times of a model over {@code runs} calls of {@code batch} images each, and the table that shows them:
 * per layer its time per run, GFLOP/s and share of the summed layer times, in execution order; then the total and
 * the same figures per layer kind. An immutable value.
 *
 * <p>A layer's time per run is the mean over the runs ({@link #of}, from two snapshots of a model's counters) or
 * the median ({@link #ofSnapshots}, from a snapshot after every run), which a busy machine's preemptions do not
 * skew. Shares are of the sum of the layers' figures, so they add up to 100 % either way.
 *
 * @param model the model's name
 * @param batch images per call
 * @param threads threads of the model, 0 when unknown
 * @param warmupRuns calls made before the measured ones (not counted), -1 when unknown
 * @param runs measured calls
 * @param average how the per-run figures summarize the runs
 * @param layers every layer in execution order, with its nanoseconds per run
 * @param callNanos nanoseconds per call as the caller saw it, by the same average (the layers plus what runs around
 *     them: input and output copies, arena allocation), 0 when unknown
 */
public record Profile(String model, int batch, int threads, int warmupRuns, int runs, Average average, List<Layer> layers,
                      double callNanos) {

  public enum Average {
    MEAN, MEDIAN;

    @Override
    public String toString() {
      return name().toLowerCase(Locale.ROOT);
    }
  }

  /**
   * One layer: its name, kind (e.g. {@code conv 3x3 s2}, empty when unknown), output shape per image (e.g.
   * {@code 32x16x16}, empty when unknown), floating-point operations per image, and nanoseconds per run.
   */
  public record Layer(String name, String kind, String shape, long flopsPerImage, double nanos) {
    public Layer {
      kind = kind == null ? "" : kind;
      shape = shape == null ? "" : shape;
      if (flopsPerImage < 0 || !(nanos >= 0)) throw new IllegalArgumentException(name + ": negative flops or time");
    }
  }

  /** Layers of one kind together, in order of first appearance; {@code nanos} per run, summed over the layers. */
  public record Group(String kind, int count, long flopsPerImage, double nanos) {}

  public Profile {
    if (batch < 1 || runs < 1) throw new IllegalArgumentException("a profile needs a batch and runs of at least 1");
    if (!(callNanos >= 0)) throw new IllegalArgumentException("negative call time");
    if (average == null) throw new IllegalArgumentException("no average");
    layers = List.copyOf(layers);
  }

  /**
   * Means per run of {@code runs} calls between two snapshots of {@link CompiledModel#layerNanos()}, with the
   * model's layer names, kinds, shapes and flops; {@code wallNanos} is the calls' total wall time (0 when unknown).
   *
   * @throws IllegalStateException when the model records no per-layer times: it names no layers (compiled by an
   *     older resnetc), or no time was counted (its class was loaded without {@code -Dresnetc.profile=true})
   */
  public static Profile of(CompiledModel m, long[] before, long[] after, int batch, int threads, int warmupRuns, int runs, long wallNanos) {
    checkCounted(m, before, after);
    if (runs < 1) throw new IllegalArgumentException("a profile needs runs of at least 1");
    List<String> names = m.layers();
    checkLength(m.name(), names, before);
    checkLength(m.name(), names, after);
    double[] nanos = new double[names.size()];
    for (int i = 0; i < nanos.length; i++) nanos[i] = (double) (after[i] - before[i]) / runs;
    return new Profile(m.name(), batch, threads, warmupRuns, runs, Average.MEAN,
        layers(m.name(), names, m.layerKinds(), m.layerShapes(), m.layerFlops(), nanos), (double) wallNanos / runs);
  }

  /**
   * Medians per run from {@code snapshots} of {@link CompiledModel#layerNanos()}, taken before the first measured
   * call and after each one (so there are runs + 1), and {@code callNanos}, each call's wall time (empty when
   * unknown).
   *
   * @throws IllegalStateException as {@link #of}
   */
  public static Profile ofSnapshots(CompiledModel m, List<long[]> snapshots, long[] callNanos, int batch, int threads, int warmupRuns) {
    if (snapshots.size() < 2) throw new IllegalArgumentException("a profile needs snapshots before and after at least one run");
    checkCounted(m, snapshots.getFirst(), snapshots.getLast());
    return ofSnapshots(m.name(), m.layers(), m.layerKinds(), m.layerShapes(), m.layerFlops(), snapshots, callNanos, batch, threads, warmupRuns);
  }

  /**
   * Medians per run of any sequence of layers (e.g. an interpreter's nodes) from {@code snapshots} of their
   * cumulative nanoseconds, before the first run and after each; {@code kinds} and {@code shapes} may be empty.
   */
  public static Profile ofSnapshots(String model, List<String> names, List<String> kinds, List<String> shapes, long[] flops,
                                    List<long[]> snapshots, long[] callNanos, int batch, int threads, int warmupRuns) {
    int runs = snapshots.size() - 1;
    if (runs < 1) throw new IllegalArgumentException("a profile needs snapshots before and after at least one run");
    for (long[] s : snapshots) checkLength(model, names, s);
    double[] nanos = new double[names.size()];
    long[] perRun = new long[runs];
    for (int i = 0; i < nanos.length; i++) {
      for (int r = 0; r < runs; r++) perRun[r] = snapshots.get(r + 1)[i] - snapshots.get(r)[i];
      nanos[i] = median(perRun);
    }
    return new Profile(model, batch, threads, warmupRuns, runs, Average.MEDIAN, layers(model, names, kinds, shapes, flops, nanos),
        callNanos.length == 0 ? 0 : median(callNanos));
  }

  private static void checkCounted(CompiledModel m, long[] first, long[] last) {
    if (m.layers().isEmpty()) throw new IllegalStateException(m.name() + " records no per-layer times (compiled by an older resnetc?)");
    if (Arrays.equals(first, last)) {
      throw new IllegalStateException(m.name() + " counted no per-layer time: its class was loaded without -D"
          + CompiledModel.PROFILE_PROPERTY + "=true");
    }
  }

  private static void checkLength(String model, List<String> names, long[] values) {
    if (values.length != names.size()) {
      throw new IllegalArgumentException(model + ": " + names.size() + " layers but " + values.length + " counters");
    }
  }

  private static List<Layer> layers(String model, List<String> names, List<String> kinds, List<String> shapes, long[] flops, double[] nanos) {
    if (flops.length != names.size()) throw new IllegalArgumentException(model + ": " + names.size() + " layers but " + flops.length + " flop counts");
    List<Layer> layers = new ArrayList<>();
    for (int i = 0; i < names.size(); i++) {
      layers.add(new Layer(names.get(i), i < kinds.size() ? kinds.get(i) : "", i < shapes.size() ? shapes.get(i) : "", flops[i], nanos[i]));
    }
    return layers;
  }

  /** The median; the mean of the middle two for an even count. */
  public static double median(long[] values) {
    long[] s = values.clone();
    Arrays.sort(s);
    int n = s.length;
    return n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + (double) s[n / 2]) / 2;
  }

  /** Nanoseconds per run of all layers. */
  public double totalNanos() {
    double t = 0;
    for (Layer l : layers) t += l.nanos();
    return t;
  }

  /** Floating-point operations of all layers per image. */
  public long totalFlops() {
    long f = 0;
    for (Layer l : layers) f += l.flopsPerImage();
    return f;
  }

  /** Achieved GFLOP/s of {@code flopsPerImage} for each image of a batch in {@code nanos} per run; NaN for no time. */
  public double gflops(long flopsPerImage, double nanos) {
    return nanos == 0 ? Double.NaN : (double) flopsPerImage * batch / nanos;
  }

  /** Percentage of all layers' time; NaN when nothing was timed. */
  public double share(double nanos) {
    double total = totalNanos();
    return total == 0 ? Double.NaN : 100.0 * nanos / total;
  }

  /** Layers grouped by kind, in order of first appearance (empty when the kinds are unknown). */
  public List<Group> byKind() {
    if (layers.stream().anyMatch(l -> l.kind().isEmpty())) return List.of();
    Map<String, Group> groups = new LinkedHashMap<>();
    for (Layer l : layers) {
      groups.merge(l.kind(), new Group(l.kind(), 1, l.flopsPerImage(), l.nanos()),
          (a, b) -> new Group(a.kind(), a.count() + 1, a.flopsPerImage() + b.flopsPerImage(), a.nanos() + b.nanos()));
    }
    return List.copyOf(groups.values());
  }

  /**
   * The table: a header line, one row per layer in execution order ({@code #}, layer, kind and output when known,
   * ms/run, GFLOP/s, share), the total, the time per call when known, and the per-kind summary.
   */
  public String table() {
    boolean kinds = layers.stream().anyMatch(l -> !l.kind().isEmpty()), shapes = layers.stream().anyMatch(l -> !l.shape().isEmpty());
    int nameW = Math.max("layer".length(), layers.stream().mapToInt(l -> l.name().length()).max().orElse(0));
    int kindW = Math.max("kind".length(), layers.stream().mapToInt(l -> l.kind().length()).max().orElse(0));
    int shapeW = Math.max("output".length(), layers.stream().mapToInt(l -> l.shape().length()).max().orElse(0));
    int numW = Math.max(2, String.valueOf(layers.size()).length());
    String totalLabel = "total (" + layers.size() + " layers)", callLabel = "whole call";
    // The label column (number, name, kind, output) is at least as wide as the labels of the last lines.
    int labelW = Math.max(numW + 2 + nameW + (kinds ? 2 + kindW : 0) + (shapes ? 2 + shapeW : 0),
        Math.max(totalLabel.length(), callNanos > 0 ? callLabel.length() : 0));
    int extra = labelW - (numW + 2 + nameW + (kinds ? 2 + kindW : 0) + (shapes ? 2 + shapeW : 0));
    if (shapes) shapeW += extra;
    else if (kinds) kindW += extra;
    else nameW += extra;

    StringBuilder sb = new StringBuilder();
    sb.append(String.format(Locale.ROOT, "profile: %s, batch %d%s, %s of %d run%s%s%n", model, batch,
        threads > 0 ? ", " + threads + (threads == 1 ? " thread" : " threads") : "", average, runs, runs == 1 ? "" : "s",
        warmupRuns >= 0 ? " after " + warmupRuns + " warm-up run" + (warmupRuns == 1 ? "" : "s") : ""));
    StringBuilder head = new StringBuilder(pad("#", numW, true)).append("  ").append(pad("layer", nameW, false));
    if (kinds) head.append("  ").append(pad("kind", kindW, false));
    if (shapes) head.append("  ").append(pad("output", shapeW, false));
    sb.append(head).append(COLUMNS).append('\n');
    for (int i = 0; i < layers.size(); i++) {
      Layer l = layers.get(i);
      StringBuilder row = new StringBuilder(pad(String.valueOf(i + 1), numW, true)).append("  ").append(pad(l.name(), nameW, false));
      if (kinds) row.append("  ").append(pad(l.kind(), kindW, false));
      if (shapes) row.append("  ").append(pad(l.shape(), shapeW, false));
      sb.append(row).append(figures(l.flopsPerImage(), l.nanos())).append('\n');
    }
    double total = totalNanos();
    sb.append(pad(totalLabel, labelW, false)).append(figures(totalFlops(), total)).append('\n');
    if (callNanos > 0) {
      sb.append(String.format(Locale.ROOT, "%s %10.4f   (layers %.1f%% of it)%n", pad(callLabel, labelW, false), callNanos / 1e6,
          100.0 * total / callNanos));
    }
    List<Group> groups = byKind();
    if (!groups.isEmpty()) {
      int groupW = Math.max("by kind".length(), groups.stream().mapToInt(g -> g.kind().length()).max().orElse(0));
      sb.append('\n').append(pad("by kind", groupW, false)).append("  layers").append(COLUMNS).append('\n');
      for (Group g : groups) {
        sb.append(pad(g.kind(), groupW, false)).append(String.format(Locale.ROOT, "  %6d", g.count()))
            .append(figures(g.flopsPerImage(), g.nanos())).append('\n');
      }
    }
    return sb.toString();
  }

  private static final String COLUMNS = "     ms/run   GFLOP/s    share";

  /** ms/run, GFLOP/s (a dash for layers without flops; 3 decimals below 1) and share, each right-aligned. */
  private String figures(long flopsPerImage, double nanos) {
    double gf = gflops(flopsPerImage, nanos);
    String gflops = flopsPerImage == 0 || Double.isNaN(gf) ? "-" : String.format(Locale.ROOT, gf < 1 ? "%.3f" : "%.1f", gf);
    return String.format(Locale.ROOT, " %10.4f %9s %7.1f%%", nanos / 1e6, gflops, share(nanos));
  }

  private static String pad(String s, int width, boolean right) {
    if (s.length() >= width) return s;
    String spaces = " ".repeat(width - s.length());
    return right ? spaces + s : s + spaces;
  }
}
