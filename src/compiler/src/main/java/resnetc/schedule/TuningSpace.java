package resnetc.schedule;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.BiFunction;

/**
 * What {@code resnetc tune} may choose for each conv of a graph on one CPU, and the moves it measures: from the
 * current choices, one family of variants at a time, each applied to every conv it fits (so one compiled model
 * measures a move for all layers at once, and each layer keeps what its own time says). The moves: the other
 * algorithm (Winograd or direct, where both apply), half the register tile's channels, one vector fewer or more
 * per tile, half or twice the position bands, one band. Every variant fits the conv and the CPU as
 * {@link Scheduler} checks them.
 */
public final class TuningSpace {
  /** A conv's shape as the micro-kernel sees it under one algorithm: output channels per group and flat positions. */
  private record Geometry(int og, int positions) {}

  /** One move applied to every conv it fits. */
  public record Variant(String move, Map<String, Tuning.Choice> choices) {}

  private final CpuModel cpu;
  private final Map<String, Tuning.Choice> rules = new LinkedHashMap<>();
  private final Map<String, Geometry> direct = new LinkedHashMap<>(), winograd = new LinkedHashMap<>();
  private final Map<String, Tuning.Choice> directRules = new LinkedHashMap<>(), winogradRules = new LinkedHashMap<>();

  /**
   * @param rules the graph's schedule by the rules (what tuning starts from)
   * @param allDirect the same graph planned with Winograd off
   * @param allWinograd the same graph planned with Winograd wherever it applies
   */
  public TuningSpace(Schedule rules, Schedule allDirect, Schedule allWinograd) {
    this.cpu = rules.cpu();
    convs(rules, this.rules, new LinkedHashMap<>());
    convs(allDirect, directRules, direct);
    convs(allWinograd, winogradRules, winograd);
    winograd.keySet().retainAll(winogradRules.entrySet().stream().filter(e -> e.getValue().winograd()).map(Map.Entry::getKey).toList());
  }

  /** Each conv's choice in a schedule: its direct conv step, or its Winograd products step. */
  private static void convs(Schedule s, Map<String, Tuning.Choice> choices, Map<String, Geometry> shapes) {
    for (Step step : s.steps()) {
      if (step instanceof Step.Conv c) {
        choices.put(c.layer(), new Tuning.Choice(c.yScratch() >= 0, c.tile().r(), c.tile().v(), c.bands()));
        shapes.put(c.layer(), new Geometry(c.og(), c.positions()));
      }
    }
  }

  /** The rules' choice for every conv, in execution order. */
  public Map<String, Tuning.Choice> rules() {
    return java.util.Collections.unmodifiableMap(rules);
  }

  /** Every move's name, in the order they are tried. */
  public static final List<String> MOVES = List.of("other-algorithm", "half-channels", "fewer-vectors", "more-vectors", "half-bands", "twice-bands",
      "one-band");

  /**
   * The moves from {@code current} (a choice per conv), each with the convs it changes; moves that change none are
   * left out.
   */
  public List<Variant> variants(Map<String, Tuning.Choice> current) {
    List<Variant> out = new ArrayList<>();
    add(out, current, "other-algorithm", (layer, c) -> {
      if (!winograd.containsKey(layer)) return null;
      return c.winograd() ? directRules.get(layer) : winogradRules.get(layer);
    });
    add(out, current, "half-channels", (layer, c) -> c.r() < 2 ? null : refit(layer, c, c.r() / 2, null));
    add(out, current, "fewer-vectors", (layer, c) -> refit(layer, c, c.r(), c.v() - 1));
    add(out, current, "more-vectors", (layer, c) -> refit(layer, c, c.r(), c.v() + 1));
    add(out, current, "half-bands", (layer, c) -> fit(layer, new Tuning.Choice(c.winograd(), c.r(), c.v(), Math.max(1, c.bands() / 2))));
    add(out, current, "twice-bands", (layer, c) -> fit(layer, new Tuning.Choice(c.winograd(), c.r(), c.v(), c.bands() * 2)));
    add(out, current, "one-band", (layer, c) -> fit(layer, new Tuning.Choice(c.winograd(), c.r(), c.v(), 1)));
    return out;
  }

  private static void add(List<Variant> out, Map<String, Tuning.Choice> current, String move, BiFunction<String, Tuning.Choice, Tuning.Choice> f) {
    Map<String, Tuning.Choice> changed = new LinkedHashMap<>();
    current.forEach((layer, c) -> {
      Tuning.Choice v = f.apply(layer, c);
      if (v != null && !v.equals(c)) changed.put(layer, v);
    });
    if (!changed.isEmpty()) out.add(new Variant(move, changed));
  }

  /** A tile of {@code r} channels and {@code v} vectors (null: as many as the registers hold), its bands by the rule. */
  private Tuning.Choice refit(String layer, Tuning.Choice c, int r, Integer v) {
    Geometry g = geometry(layer, c.winograd());
    int vectors = Math.ceilDiv(g.positions(), cpu.lanes());
    int nv = v != null ? v : Math.min(vectors, Math.max(1, (cpu.registers() - 1) / (r + 1)));
    if (nv < 1) return null;
    int positionTiles = Math.ceilDiv(g.positions(), nv * cpu.lanes());
    return fit(layer, new Tuning.Choice(c.winograd(), r, nv, Scheduler.bands(positionTiles, g.og() / r)));
  }

  /** {@code c} when it fits the conv and the CPU, else null (the scheduler's own check). */
  Tuning.Choice fit(String layer, Tuning.Choice c) {
    Geometry g = geometry(layer, c.winograd());
    return g != null && Scheduler.misfit(c, g.og(), g.positions(), cpu) == null ? c : null;
  }

  private Geometry geometry(String layer, boolean isWinograd) {
    return isWinograd ? winograd.get(layer) : direct.get(layer);
  }
}
