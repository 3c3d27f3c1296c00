package resnetc.analysis;

import resnetc.passes.Pipeline;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import resnetc.Frontend;
import resnetc.TestPaths;
import resnetc.interp.ArenaInterpreter;
import resnetc.interp.Interpreter;
import resnetc.ir.Graph;
import resnetc.ir.Op;
import resnetc.ir.TensorType;
import resnetc.weights.RandomWeights;

class ArenaPlannerTest {
  static Path examples() {
    return TestPaths.repoRoot().resolve("examples");
  }

  static Graph load(String spec) {
    return Frontend.load(examples().resolve(spec)).graph();
  }

  static List<Path> specs() throws IOException {
    try (Stream<Path> s = Files.walk(examples())) {
      return s.filter(p -> p.toString().endsWith(".resnet")).sorted().toList();
    }
  }

  static float[] pixels(Graph g, int batch, long seed) {
    Random r = new Random(seed);
    float[] x = new float[(int) g.input().type().elements(batch)];
    for (int i = 0; i < x.length; i++) x[i] = r.nextInt(256);
    return x;
  }

  /** Every example plans and verifies before and after the default pipeline; ResNet-50 optimized fits in 35 %. */
  @Test
  void everyExamplePlansSoundlyAtBatch1() throws IOException {
    List<Path> specs = specs();
    assertTrue(specs.size() >= 10, "found " + specs);
    MemoryPlan resnet50 = null;
    StringBuilder table = new StringBuilder(String.format(Locale.ROOT, "%-18s %36s %36s%n", "model", "lowered arena/naive", "optimized arena/naive"));
    for (Path spec : specs) {
      Graph lowered = Frontend.load(spec).graph();
      Graph optimized = Pipeline.defaults().run(lowered);
      List<String> cells = new ArrayList<>();
      for (Graph g : List.of(lowered, optimized)) {
        MemoryPlan p = ArenaPlanner.plan(g, 1);
        p.verify(g);
        assertTrue(p.peakBytes() <= p.arenaBytes() && p.arenaBytes() < p.naiveBytes(), g.name() + ": " + p.summary());
        assertEquals(g.nodes().stream().filter(n -> !(n.op() instanceof Op.Const)).count(), p.slots().size());
        cells.add(String.format(Locale.ROOT, "%.2f/%.2f MB (%4.1f %%) peak %.2f", p.arenaBytes() / 1e6, p.naiveBytes() / 1e6, p.percentOfNaive(),
            p.peakBytes() / 1e6));
        if (g == optimized && spec.endsWith(Path.of("imagenet", "resnet50.resnet"))) resnet50 = p;
      }
      table.append(String.format(Locale.ROOT, "%-18s %36s %36s%n", lowered.name(), cells.get(0), cells.get(1)));
    }
    System.out.print(table);
    assertTrue(resnet50 != null, "no imagenet/resnet50.resnet");
    System.out.println("resnet50 optimized, batch 1: " + resnet50.summary());
    assertTrue(resnet50.percentOfNaive() <= 35, resnet50.summary());
  }

  @Test
  void arenaInterpreterMatchesInterpreterBitwise() {
    for (String spec : List.of("cifar/resnet20.resnet", "cifar/preact_resnet18.resnet")) {
      Graph lowered = RandomWeights.generate(load(spec), 11);
      for (Graph g : List.of(lowered, Pipeline.defaults().run(lowered))) {
        MemoryPlan p = ArenaPlanner.plan(g, 2);
        p.verify(g);
        assertTrue(p.slots().stream().anyMatch(s -> s.sharesWith() != null), spec + " plans nothing in place");
        if (g != lowered) { // a fused conv writes over its dying residual
          assertTrue(p.slots().stream().anyMatch(s -> s.sharesWith() != null && g.node(s.value()).op() instanceof Op.FusedConv f
              && f.residual() == Op.FusedConv.Residual.ADD && g.node(s.value()).input(3).equals(s.sharesWith())), spec);
        }
        float[] x = pixels(g, 2, 5);
        assertArrayEquals(new Interpreter(g).run(x, 2), new ArenaInterpreter(g, p).run(x), spec);
      }
    }
  }

  /** The numerical check has teeth: a plan that puts everything at offset 0 gives a different answer. */
  @Test
  void arenaInterpreterExposesAClobberingPlan() {
    Graph g = RandomWeights.generate(load("cifar/resnet20.resnet"), 11);
    MemoryPlan good = ArenaPlanner.plan(g, 2);
    MemoryPlan bad = new MemoryPlan(2, good.slots().stream()
        .map(s -> new MemoryPlan.Slot(s.value(), 0, s.bytes(), s.def(), s.lastUse(), null)).toList());
    assertThrows(IllegalStateException.class, () -> bad.verify(g));
    float[] x = pixels(g, 2, 5);
    assertFalse(Arrays.equals(new Interpreter(g).run(x, 2), new ArenaInterpreter(g, bad).run(x)));
  }

  static final TensorType T = TensorType.batched(4, 2, 2); // 64 bytes per item

  /** a and b both die at the add, which overwrites a; the relu overwrites the sum: one chain a, s, r. */
  @Test
  void inPlaceWhereOperandsDie() {
    Graph.Builder b = Graph.builder("inplace");
    b.input("x", T);
    b.add("a", new Op.Relu(), List.of("x"), "");
    b.add("b", new Op.Relu(), List.of("x"), ""); // x dies here, but the input is never overwritten
    b.add("s", new Op.Add(), List.of("a", "b"), "");
    b.add("r", new Op.Relu(), List.of("s"), "");
    Graph g = b.build("r");
    MemoryPlan p = ArenaPlanner.plan(g, 1);
    p.verify(g);
    System.out.print(p.report());
    assertNull(p.slot("a").sharesWith());
    assertNull(p.slot("b").sharesWith());
    assertEquals("a", p.slot("s").sharesWith());
    assertEquals("s", p.slot("r").sharesWith());
    assertEquals(p.slot("a").offset(), p.slot("r").offset());
    assertEquals(5 * 64, p.naiveBytes());
    assertEquals(3 * 64, p.arenaBytes()); // x, b and the chain: x and b overlap at b's node
    assertEquals(3 * 64, p.peakBytes());
    assertEquals(g.nodes().size(), p.slot("r").lastUse());
    float[] x = new float[16];
    for (int i = 0; i < x.length; i++) x[i] = i - 7.5f;
    assertArrayEquals(new Interpreter(g).run(x, 1), new ArenaInterpreter(g, p).run(x));
  }

  /** a is read again after r, so r may not overwrite it; the final add may overwrite r. */
  @Test
  void noInPlaceOverAnOperandStillLive() {
    Graph g = stillLive();
    MemoryPlan p = ArenaPlanner.plan(g, 1);
    p.verify(g);
    assertNull(p.slot("a").sharesWith()); // over the graph input: never
    assertNull(p.slot("r").sharesWith());
    assertNotEquals(p.slot("a").offset(), p.slot("r").offset());
    assertEquals("r", p.slot("t").sharesWith());
    float[] x = new float[32];
    for (int i = 0; i < x.length; i++) x[i] = (i % 5) - 2f;
    assertArrayEquals(new Interpreter(g).run(x, 2), new ArenaInterpreter(g, ArenaPlanner.plan(g, 2)).run(x));
  }

  static Graph stillLive() {
    Graph.Builder b = Graph.builder("still-live");
    b.input("x", T);
    b.add("a", new Op.Relu(), List.of("x"), "");
    b.add("r", new Op.Relu(), List.of("a"), "");
    b.add("t", new Op.Add(), List.of("r", "a"), "");
    return b.build("t");
  }

  @Test
  void verifyCatchesOverlappingLiveValues() {
    Graph g = stillLive();
    MemoryPlan p = ArenaPlanner.plan(g, 1);
    long aOffset = p.slot("a").offset();
    // r moved onto a, first as a plain overlap, then falsely claimed to be in place
    for (String claim : new String[] {null, "a"}) {
      MemoryPlan bad = new MemoryPlan(1, p.slots().stream()
          .map(s -> s.value().equals("r") ? new MemoryPlan.Slot("r", aOffset, s.bytes(), s.def(), s.lastUse(), claim) : s).toList());
      IllegalStateException e = assertThrows(IllegalStateException.class, () -> bad.verify(g));
      assertTrue(e.getMessage().contains("%a") && e.getMessage().contains("%r"), e.getMessage());
    }
    // a lifetime that hides the overlap is caught against the graph
    MemoryPlan lying = new MemoryPlan(1, p.slots().stream()
        .map(s -> switch (s.value()) {
          case "a" -> new MemoryPlan.Slot("a", 0, s.bytes(), s.def(), s.def(), null);
          case "r" -> new MemoryPlan.Slot("r", 0, s.bytes(), s.def(), s.lastUse(), null);
          default -> new MemoryPlan.Slot(s.value(), 1024, s.bytes(), s.def(), s.lastUse(), null);
        }).toList());
    assertThrows(IllegalStateException.class, () -> lying.verify(g));
    // a missing slot, and a slot too small
    assertThrows(IllegalStateException.class, () -> new MemoryPlan(1, p.slots().subList(0, 2)).verify(g));
    assertThrows(IllegalStateException.class, () -> new MemoryPlan(2, p.slots()).verify(g));
  }
}
