package resnetc.analysis;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import resnetc.ir.Graph;

/**
 * Where every activation of a graph lives in one static arena, for one batch size: byte offset, size and lifetime
 * (node indices of its definition and last use). Made by {@link ArenaPlanner#plan}; {@link #verify} proves it sound.
 */
public record MemoryPlan(int batch, List<MemoryPlan.Slot> slots) {
  /**
   * @param def index of the node that writes the value
   * @param lastUse index of the last node that reads it ({@code nodes().size()} for the graph output)
   * @param sharesWith the operand whose buffer this value was written over in place, or null
   */
  public record Slot(String value, long offset, long bytes, int def, int lastUse, String sharesWith) {
    public long end() {
      return offset + bytes;
    }

    boolean liveWith(Slot o) {
      return def <= o.lastUse && o.def <= lastUse;
    }
  }

  public MemoryPlan {
    slots = List.copyOf(slots);
  }

  /** Bytes the arena needs: the end of the highest slot. */
  public long arenaBytes() {
    return slots.stream().mapToLong(Slot::end).max().orElse(0);
  }

  /** Bytes if every activation had a buffer of its own. */
  public long naiveBytes() {
    return slots.stream().mapToLong(Slot::bytes).sum();
  }

  /**
   * The most bytes live at any one node (an in-place output counted with its operand): a lower bound on the arena
   * of any placement of these lifetimes, to judge the planner by.
   */
  public long peakBytes() {
    int end = slots.stream().mapToInt(Slot::lastUse).max().orElse(0);
    long[] at = new long[end + 2];
    for (Slot s : slots) {
      int from = s.sharesWith == null ? s.def : s.def + 1;
      at[from] += s.bytes;
      at[s.lastUse + 1] -= s.bytes;
    }
    long live = 0, peak = 0;
    for (long d : at) peak = Math.max(peak, live += d);
    return peak;
  }

  public Slot slot(String value) {
    return slots.stream().filter(s -> s.value.equals(value)).findFirst()
        .orElseThrow(() -> new IllegalArgumentException("no slot for %" + value));
  }

  /** Arena over naive bytes, in percent. */
  public double percentOfNaive() {
    return naiveBytes() == 0 ? 0 : 100.0 * arenaBytes() / naiveBytes();
  }

  public String summary() {
    return String.format(Locale.ROOT, "arena: %d bytes (%.1f %% of the naive %d bytes; peak live %d bytes)", arenaBytes(), percentOfNaive(),
        naiveBytes(), peakBytes());
  }

  /** The summary line and one row per value, in execution order. */
  public String report() {
    StringBuilder sb = new StringBuilder(summary()).append(" at batch ").append(batch).append('\n');
    int w = Math.max(5, slots.stream().mapToInt(s -> s.value.length() + 1).max().orElse(0));
    sb.append(String.format(Locale.ROOT, "  %-" + w + "s %12s %12s %6s %6s  %s%n", "value", "offset", "bytes", "def", "last", "in place of"));
    for (Slot s : slots) {
      sb.append(String.format(Locale.ROOT, "  %-" + w + "s %12d %12d %6d %6d  %s%n", "%" + s.value, s.offset, s.bytes, s.def, s.lastUse,
          s.sharesWith == null ? "" : "%" + s.sharesWith));
    }
    return sb.toString();
  }

  /**
   * Proves the plan sound for {@code g}, recomputing lifetimes from the graph rather than trusting the slots: every
   * activation has an aligned slot big enough for it, and no two values live at the same time share a byte, except
   * a legal in-place pair (the output written over an operand that dies at that node). Throws
   * {@link IllegalStateException} naming the offending values.
   */
  public void verify(Graph g) {
    Map<String, int[]> live = ArenaPlanner.liveness(g);
    Map<String, Slot> byValue = new HashMap<>();
    for (Slot s : slots) {
      if (byValue.put(s.value, s) != null) throw new IllegalStateException("%" + s.value + " has two slots");
      int[] r = live.get(s.value);
      if (r == null) throw new IllegalStateException("slot for %" + s.value + ", which is not an activation of " + g.name());
      long need = ArenaPlanner.bytes(g.node(s.value).type(), batch);
      if (s.bytes < need) throw new IllegalStateException("%" + s.value + " needs " + need + " bytes, its slot has " + s.bytes);
      if (s.offset < 0 || s.offset % ArenaPlanner.ALIGN != 0) {
        throw new IllegalStateException("%" + s.value + " at offset " + s.offset + " is not " + ArenaPlanner.ALIGN + "-byte aligned");
      }
      if (s.def != r[0] || s.lastUse != r[1]) {
        throw new IllegalStateException("%" + s.value + " is recorded live over [" + s.def + ", " + s.lastUse + "], the graph says ["
            + r[0] + ", " + r[1] + "]");
      }
    }
    for (String v : live.keySet()) {
      if (!byValue.containsKey(v)) throw new IllegalStateException("%" + v + " has no slot");
    }
    // Sorted by offset, each slot need only be compared with those that start before it ends.
    List<Slot> sorted = new ArrayList<>(slots);
    sorted.sort(Comparator.comparingLong(Slot::offset));
    for (int i = 0; i < sorted.size(); i++) {
      Slot a = sorted.get(i);
      for (int j = i + 1; j < sorted.size() && sorted.get(j).offset < a.end(); j++) {
        Slot b = sorted.get(j);
        if (a.bytes == 0 || b.bytes == 0 || !a.liveWith(b) || inPlace(g, live, a, b) || inPlace(g, live, b, a)) continue;
        throw new IllegalStateException(String.format(Locale.ROOT,
            "%%%s (live %d..%d, bytes %d..%d) and %%%s (live %d..%d, bytes %d..%d) are live together and share bytes",
            a.value, a.def, a.lastUse, a.offset, a.end(), b.value, b.def, b.lastUse, b.offset, b.end()));
      }
    }
  }

  /** {@code out} was written over {@code operand} in place, exactly, and the op allows it. */
  private boolean inPlace(Graph g, Map<String, int[]> live, Slot operand, Slot out) {
    return operand.value.equals(out.sharesWith) && out.offset == operand.offset && out.bytes == operand.bytes
        && ArenaPlanner.mayOverwrite(g, g.node(out.value), out.def, operand.value, live, batch);
  }
}
