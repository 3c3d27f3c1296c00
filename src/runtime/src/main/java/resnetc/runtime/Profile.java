package resnetc.runtime;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Per-layer times of a model measured over {@code runs} calls of {@code batch} images each, and the table that
 * shows them: per layer its time per run (the mean over the runs), GFLOP/s and share of the summed layer times, in
 * execution order; then the total and the same figures per layer kind. An immutable value; see
 * {@link #of(CompiledModel, long[], long[], int, int, int, int, long)} for a compiled model's counters.
 *
 * @param model the model's name
 * @param batch images per call
 * @param threads threads of the model, 0 when unknown
 * @param warmupRuns calls made before the measured ones (not counted), -1 when unknown
 * @param runs measured calls
 * @param layers every layer in execution order, with its nanoseconds summed over the measured calls
 * @param wallNanos wall time of the measured calls as the caller saw it (layers plus what runs between and around
 *     them: input and output copies, arena allocation), 0 when unknown
 */
public record Profile(String model, int batch, int threads, int warmupRuns, int runs, List<Layer> layers, long wallNanos) {

  /**
   * One layer: its name, kind (e.g. {@code conv 3x3 s2}, empty when unknown), output shape per image (e.g.
   * {@code 32x16x16}, empty when unknown), floating-point operations per image, and nanoseconds over all runs.
   */
  public record Layer(String name, String kind, String shape, long flopsPerImage, long nanos) {
    public Layer {
      kind = kind == null ? "" : kind;
      shape = shape == null ? "" : shape;
      if (flopsPerImage < 0 || nanos < 0) throw new IllegalArgumentException(name + ": negative flops or time");
    }
  }

  /** Layers of one kind together, in order of first appearance. */
  public record Group(String kind, int count, long flopsPerImage, long nanos) {}

  public Profile {
    if (batch < 1 || runs < 1) throw new IllegalArgumentException("a profile needs a batch and runs of at least 1");
    if (wallNanos < 0) throw new IllegalArgumentException("negative wall time");
    layers = List.copyOf(layers);
  }

  /**
   * The profile of {@code runs} calls between two snapshots of {@link CompiledModel#layerNanos()}, with the
   * model's layer names, kinds, shapes and flops.
   *
   * @throws IllegalStateException when the model records no per-layer times: it names no layers (compiled by an
   *     older resnetc), or no time was counted (its class was loaded without {@code -Dresnetc.profile=true})
   */
  public static Profile of(CompiledModel m, long[] before, long[] after, int batch, int threads, int warmupRuns, int runs, long wallNanos) {
    List<String> names = m.layers();
    if (names.isEmpty()) throw new IllegalStateException(m.name() + " records no per-layer times (compiled by an older resnetc?)");
    long[] flops = m.layerFlops();
    List<String> kinds = m.layerKinds(), shapes = m.layerShapes();
    if (before.length != names.size() || after.length != names.size() || flops.length != names.size()) {
      throw new IllegalArgumentException(m.name() + ": " + names.size() + " layers but " + before.length + "/" + after.length
          + " times and " + flops.length + " flop counts");
    }
    List<Layer> layers = new ArrayList<>();
    long total = 0;
    for (int i = 0; i < names.size(); i++) {
      long ns = after[i] - before[i];
      total += ns;
      layers.add(new Layer(names.get(i), i < kinds.size() ? kinds.get(i) : "", i < shapes.size() ? shapes.get(i) : "", flops[i], ns));
    }
    if (total == 0) {
      throw new IllegalStateException(m.name() + " counted no per-layer time: its class was loaded without -D" + CompiledModel.PROFILE_PROPERTY
          + "=true");
    }
    return new Profile(m.name(), batch, threads, warmupRuns, runs, layers, wallNanos);
  }

  /** Nanoseconds of all layers over all runs. */
  public long totalNanos() {
    long t = 0;
    for (Layer l : layers) t += l.nanos();
    return t;
  }

  /** Floating-point operations of all layers per image. */
  public long totalFlops() {
    long f = 0;
    for (Layer l : layers) f += l.flopsPerImage();
    return f;
  }

  /** Mean milliseconds per run spent in {@code nanos} (summed over the runs). */
  public double msPerRun(long nanos) {
    return nanos / 1e6 / runs;
  }

  /** Achieved GFLOP/s of {@code flopsPerImage} done in {@code nanos} over the runs; NaN when nothing was timed. */
  public double gflops(long flopsPerImage, long nanos) {
    return nanos == 0 ? Double.NaN : (double) flopsPerImage * batch * runs / nanos;
  }

  /** Percentage of all layers' time; NaN when nothing was timed. */
  public double share(long nanos) {
    long total = totalNanos();
    return total == 0 ? Double.NaN : 100.0 * nanos / total;
  }

  /** Layers grouped by kind, in order of first appearance (empty when the kinds are unknown). */
  public List<Group> byKind() {
    if (layers.stream().anyMatch(l -> l.kind().isEmpty())) return List.of();
    Map<String, long[]> groups = new LinkedHashMap<>();
    for (Layer l : layers) {
      long[] g = groups.computeIfAbsent(l.kind(), k -> new long[3]);
      g[0]++;
      g[1] += l.flopsPerImage();
      g[2] += l.nanos();
    }
    List<Group> out = new ArrayList<>();
    groups.forEach((k, g) -> out.add(new Group(k, (int) g[0], g[1], g[2])));
    return out;
  }

  /**
   * The table: a header line, one row per layer in execution order ({@code #}, layer, kind and output when known,
   * ms/run, GFLOP/s, share), the total, the wall time of the calls when known, and the per-kind summary.
   */
  public String table() {
    boolean kinds = layers.stream().anyMatch(l -> !l.kind().isEmpty()), shapes = layers.stream().anyMatch(l -> !l.shape().isEmpty());
    int nameW = Math.max("layer".length(), layers.stream().mapToInt(l -> l.name().length()).max().orElse(0));
    int kindW = Math.max("kind".length(), layers.stream().mapToInt(l -> l.kind().length()).max().orElse(0));
    int shapeW = Math.max("output".length(), layers.stream().mapToInt(l -> l.shape().length()).max().orElse(0));
    int numW = Math.max(2, String.valueOf(layers.size()).length());
    String totalLabel = "total (" + layers.size() + " layers)", wallLabel = "wall time per call";
    // The label column (number, name, kind, output) is at least as wide as the labels of the last lines.
    int labelW = Math.max(numW + 2 + nameW + (kinds ? 2 + kindW : 0) + (shapes ? 2 + shapeW : 0),
        Math.max(totalLabel.length(), wallNanos > 0 ? wallLabel.length() : 0));
    int extra = labelW - (numW + 2 + nameW + (kinds ? 2 + kindW : 0) + (shapes ? 2 + shapeW : 0));
    if (shapes) shapeW += extra;
    else if (kinds) kindW += extra;
    else nameW += extra;
    StringBuilder sb = new StringBuilder();
    sb.append(String.format(Locale.ROOT, "profile: %s, batch %d%s, mean of %d runs%s%n", model, batch,
        threads > 0 ? ", " + threads + (threads == 1 ? " thread" : " threads") : "", runs,
        warmupRuns >= 0 ? " after " + warmupRuns + " warm-up run" + (warmupRuns == 1 ? "" : "s") : ""));
    StringBuilder head = new StringBuilder(pad("#", numW, true)).append("  ").append(pad("layer", nameW, false));
    if (kinds) head.append("  ").append(pad("kind", kindW, false));
    if (shapes) head.append("  ").append(pad("output", shapeW, false));
    head.append("     ms/run   GFLOP/s    share");
    sb.append(head.toString().stripTrailing()).append('\n');
    for (int i = 0; i < layers.size(); i++) {
      Layer l = layers.get(i);
      StringBuilder row = new StringBuilder(pad(String.valueOf(i + 1), numW, true)).append("  ").append(pad(l.name(), nameW, false));
      if (kinds) row.append("  ").append(pad(l.kind(), kindW, false));
      if (shapes) row.append("  ").append(pad(l.shape(), shapeW, false));
      sb.append(row).append(figures(l.flopsPerImage(), l.nanos())).append('\n');
    }
    long total = totalNanos();
    sb.append(pad(totalLabel, labelW, false)).append(figures(totalFlops(), total)).append('\n');
    if (wallNanos > 0) {
      sb.append(String.format(Locale.ROOT, "%s %10.4f   (layers %.1f%% of it)%n",
          pad(wallLabel, labelW, false), msPerRun(wallNanos), 100.0 * total / wallNanos));
    }
    List<Group> groups = byKind();
    if (!groups.isEmpty()) {
      int groupW = Math.max("by kind".length(), groups.stream().mapToInt(g -> g.kind().length()).max().orElse(0));
      sb.append('\n').append(pad("by kind", groupW, false)).append("  layers     ms/run   GFLOP/s    share\n");
      for (Group g : groups) {
        sb.append(pad(g.kind(), groupW, false)).append(String.format(Locale.ROOT, "  %6d", g.count()))
            .append(figures(g.flopsPerImage(), g.nanos())).append('\n');
      }
    }
    return sb.toString();
  }

  /** ms/run, GFLOP/s (a dash for layers without flops; 3 decimals below 1) and share, each right-aligned. */
  private String figures(long flopsPerImage, long nanos) {
    double gf = gflops(flopsPerImage, nanos);
    String gflops = flopsPerImage == 0 || Double.isNaN(gf) ? "-" : String.format(Locale.ROOT, gf < 1 ? "%.3f" : "%.1f", gf);
    return String.format(Locale.ROOT, " %10.4f %9s %7.1f%%", msPerRun(nanos), gflops, share(nanos));
  }

  private static String pad(String s, int width, boolean right) {
    if (s.length() >= width) return s;
    String spaces = " ".repeat(width - s.length());
    return right ? spaces + s : s + spaces;
  }
}
