package resnetc.runtime;

import static org.junit.jupiter.api.Assertions.*;

import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

class ProfileTest {
  /** Four layers, mean of 10 runs of batch 2: 3 ms, 1 ms, 0.5 ms and 0.5 ms per run. */
  static Profile sample(double call) {
    return new Profile("toy", 2, 4, 3, 10, Profile.Average.MEAN, List.of(
        new Profile.Layer("stem", "conv 3x3", "16x32x32", 3_000_000, 3_000_000),
        new Profile.Layer("block.conv", "conv 3x3 s2", "32x16x16", 1_500_000, 1_000_000),
        new Profile.Layer("pool", "global avgpool", "32", 0, 500_000),
        new Profile.Layer("block2.conv", "conv 3x3", "32x16x16", 500_000, 500_000)), call);
  }

  private static final Pattern ROW = Pattern.compile("(?m)^ *(\\d+)  (\\S+) .*? ([0-9.]+) +([0-9.]+|-) +([0-9.]+)%$");

  @Test
  void figuresFollowFromFlopsTimesRunsAndBatch() {
    Profile p = sample(0);
    assertEquals(5_000_000, p.totalNanos(), 1e-9);
    assertEquals(5_000_000, p.totalFlops());
    // 3 MFLOP per image x 2 images in 3 ms per run = 2 GFLOP/s
    assertEquals(2.0, p.gflops(3_000_000, 3_000_000), 1e-12);
    assertEquals(60.0, p.share(3_000_000), 1e-12);
    assertTrue(Double.isNaN(p.gflops(1, 0)));
    assertEquals(List.of(new Profile.Group("conv 3x3", 2, 3_500_000, 3_500_000), new Profile.Group("conv 3x3 s2", 1, 1_500_000, 1_000_000),
        new Profile.Group("global avgpool", 1, 0, 500_000)), p.byKind());
  }

  @Test
  void tableListsLayersInOrderWithSharesSummingToAHundred() {
    String t = sample(0).table();
    assertTrue(t.startsWith("profile: toy, batch 2, 4 threads, mean of 10 runs after 3 warm-up runs\n"), t);
    Matcher m = ROW.matcher(t);
    List<String> names = new java.util.ArrayList<>();
    double shares = 0;
    while (m.find()) {
      assertEquals(names.size() + 1, Integer.parseInt(m.group(1)), t);
      names.add(m.group(2));
      shares += Double.parseDouble(m.group(5));
    }
    assertEquals(List.of("stem", "block.conv", "pool", "block2.conv"), names);
    assertEquals(100, shares, 0.2);
    assertTrue(t.matches("(?s).*\\n 1  stem +conv 3x3 +16x32x32 +3\\.0000 +2\\.0 +60\\.0%\\n.*"), t);
    assertTrue(t.matches("(?s).*\\n 2  block\\.conv +conv 3x3 s2 +32x16x16 +1\\.0000 +3\\.0 +20\\.0%\\n.*"), t);
    assertTrue(t.matches("(?s).*\\n 3  pool +global avgpool +32 +0\\.5000 +- +10\\.0%\\n.*"), t);
    assertTrue(t.matches("(?s).*\\ntotal \\(4 layers\\) +5\\.0000 +2\\.0 +100\\.0%\\n.*"), t);
    assertTrue(t.contains("\nby kind         layers     ms/run   GFLOP/s    share\n"), t);
    assertTrue(t.matches("(?s).*\\nconv 3x3 +2 +3\\.5000 +2\\.0 +70\\.0%\\n.*"), t);
    assertFalse(t.contains("whole call"), t);
  }

  @Test
  void wallTimeLineShowsTheLayersShareOfIt() {
    String t = sample(6_250_000).table();
    assertTrue(t.matches("(?s).*\\nwhole call +6\\.2500 +\\(layers 80\\.0% of it\\)\\n.*"), t);
  }

  @Test
  void withoutKindsOrShapesTheirColumnsAndTheSummaryAreLeftOut() {
    Profile p = new Profile("toy", 1, 0, -1, 1, Profile.Average.MEDIAN,
        List.of(new Profile.Layer("a", "", "", 100, 1000), new Profile.Layer("b", null, null, 0, 3000)), 0);
    String t = p.table();
    assertTrue(t.startsWith("profile: toy, batch 1, median of 1 run\n #  layer            ms/run   GFLOP/s    share\n"), t);
    assertTrue(t.contains("\n 1  a                0.0010     0.100    25.0%\n"), t);
    assertTrue(t.contains("\ntotal (2 layers)     0.0040     0.025   100.0%\n"), t);
    assertFalse(t.contains("by kind"), t);
    assertEquals(List.of(), p.byKind());
  }

  @Test
  void badValuesAreRejected() {
    assertThrows(IllegalArgumentException.class, () -> new Profile("x", 0, 1, 0, 1, Profile.Average.MEAN, List.of(), 0));
    assertThrows(IllegalArgumentException.class, () -> new Profile("x", 1, 1, 0, 0, Profile.Average.MEAN, List.of(), 0));
    assertThrows(IllegalArgumentException.class, () -> new Profile.Layer("x", "", "", 1, -1));
  }

  /** A model with two layers whose counters the test sets. */
  static final class Counted implements CompiledModel {
    final List<String> layers;
    long[] nanos;

    Counted(List<String> layers, long... nanos) {
      this.layers = layers;
      this.nanos = nanos;
    }

    @Override public String name() { return "counted"; }
    @Override public int channels() { return 1; }
    @Override public int height() { return 1; }
    @Override public int width() { return 1; }
    @Override public int classes() { return 1; }
    @Override public Preprocessing preprocessing() { return new Preprocessing(1, new float[1], new float[] {1}, 0, 0); }
    @Override public List<String> labels() { return List.of(); }
    @Override public float[] predict(float[] nchw, int batch) { return new float[batch]; }
    @Override public void predict(MemorySegment input, MemorySegment output, int batch) {}
    @Override public List<String> layers() { return layers; }
    @Override public List<String> layerKinds() { return List.of("conv 1x1", "fc"); }
    @Override public long[] layerFlops() { return new long[] {4000, 20}; }
    @Override public long[] layerNanos() { return nanos.clone(); }
    @Override public void close() {}
  }

  @Test
  void ofTakesTheDifferenceOfTwoSnapshots() {
    Counted m = new Counted(List.of("conv", "fc"), 100, 7);
    long[] before = m.layerNanos();
    m.nanos = new long[] {4100, 1007};
    Profile p = Profile.of(m, before, m.layerNanos(), 1, 1, 2, 2, 6000);
    assertEquals(List.of(new Profile.Layer("conv", "conv 1x1", "", 4000, 2000), new Profile.Layer("fc", "fc", "", 20, 500)), p.layers());
    assertEquals(Profile.Average.MEAN, p.average());
    assertEquals(3000, p.callNanos(), 1e-9);
    assertEquals(2.0, p.gflops(4000, 2000), 1e-12);
    assertEquals(80.0, p.share(2000), 1e-12);
  }

  /** A snapshot after every run gives per-layer medians, which one preempted run does not move. */
  @Test
  void ofSnapshotsTakesPerLayerMedians() {
    Counted m = new Counted(List.of("conv", "fc"));
    List<long[]> snapshots = List.of(new long[] {0, 0}, new long[] {100, 10}, new long[] {200, 5000}, new long[] {300, 5010},
        new long[] {9000, 5020}, new long[] {9100, 5031});
    Profile p = Profile.ofSnapshots(m, snapshots, new long[] {120, 130, 5100, 8800, 125}, 4, 2, 7);
    assertEquals(5, p.runs());
    assertEquals(Profile.Average.MEDIAN, p.average());
    assertEquals(List.of(100.0, 10.0), p.layers().stream().map(Profile.Layer::nanos).toList());
    assertEquals(130, p.callNanos(), 1e-9);
    assertTrue(p.table().startsWith("profile: counted, batch 4, 2 threads, median of 5 runs after 7 warm-up runs\n"), p.table());
    assertEquals(2.5, Profile.median(new long[] {4, 1, 3, 2}), 1e-12);
  }

  @Test
  void ofExplainsWhyThereAreNoTimes() {
    Counted unprofiled = new Counted(List.of("conv", "fc"), 0, 0);
    var e = assertThrows(IllegalStateException.class, () -> Profile.of(unprofiled, new long[2], new long[2], 1, 1, 0, 3, 0));
    assertTrue(e.getMessage().contains("-Dresnetc.profile=true"), e.getMessage());
    Counted old = new Counted(List.of());
    e = assertThrows(IllegalStateException.class, () -> Profile.of(old, new long[0], new long[0], 1, 1, 0, 3, 0));
    assertTrue(e.getMessage().contains("records no per-layer times"), e.getMessage());
    e = assertThrows(IllegalStateException.class, () -> Profile.ofSnapshots(unprofiled, List.of(new long[2], new long[2]), new long[1], 1, 1, 0));
    assertTrue(e.getMessage().contains("-Dresnetc.profile=true"), e.getMessage());
    e = assertThrows(IllegalStateException.class, () -> Profile.ofSnapshots(old, List.of(new long[0], new long[0]), new long[1], 1, 1, 0));
    assertTrue(e.getMessage().contains("records no per-layer times"), e.getMessage());
    assertThrows(IllegalArgumentException.class, () -> Profile.of(unprofiled, new long[1], new long[2], 1, 1, 0, 3, 0));
  }
}
