package resnetc.schedule;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import resnetc.TestPaths;
import resnetc.ir.Graph;
import resnetc.target.CodegenOptions;
import resnetc.target.ExampleFixtures;
import resnetc.target.TestTargets;

/** Tuning records: their text form, how the scheduler applies and checks them, and the moves tuning measures. */
class TuningTest {
  static final CpuModel V4 = CpuModel.x86("x86-64-v4", ""), V3 = CpuModel.x86("x86-64-v3", "");

  static Graph resnet20() {
    return ExampleFixtures.of(TestPaths.repoRoot().resolve("examples/cifar/resnet20.resnet")).optimized();
  }

  static Tuning.Section section(String model, Map<String, Tuning.Choice> choices) {
    return new Tuning.Section(model, "native", "x86-64-v4", 16, 2, 1, "AMD EPYC 9R14", choices);
  }

  @Test
  void textRoundTripsAndSectionsAreKeyedByTargetCpuAndLanes() {
    var a = section("resnet20", Map.of("conv1", new Tuning.Choice(false, 4, 2, 5)));
    var b = new Tuning.Section("resnet20", "native", "x86-64-v3", 8, 2, 1, "AMD EPYC 9R14", Map.of("layer3.1.conv1", new Tuning.Choice(true, 4, 1, 1)));
    Tuning t = Tuning.none().with(a).with(b);
    String text = t.text();
    assertTrue(text.contains("tuning model=resnet20 target=native cpu=x86-64-v4 lanes=16 threads=2 batch=1 machine=\"AMD EPYC 9R14\"\n  %conv1 = direct tile=4x2 bands=5\n"), text);
    assertEquals(t, Tuning.parse(text, "r.tuning"));
    assertEquals(a, t.section("native", V4).orElseThrow());
    assertEquals(b, t.section("native", V3).orElseThrow());
    assertTrue(t.section("java", CpuModel.jvm()).isEmpty());
    assertTrue(t.section("native", CpuModel.x86("znver4", "")).isEmpty(), "a named CPU is not its x86-64 level");
    // A new measurement of the same CPU replaces its section and keeps the others.
    var a2 = section("resnet20", Map.of());
    Tuning replaced = t.with(a2);
    assertEquals(List.of(a2, b), replaced.sections());
  }

  @Test
  void malformedRecordsAreRefusedWithFileAndLine() {
    String header = "tuning model=m target=native cpu=x86-64-v4 lanes=16 threads=1 batch=1 machine=\"x\"\n";
    assertEquals("r.tuning: not a tuning record (no 'tuning model=...' line)", message(""));
    assertEquals("r.tuning:1: a choice before any 'tuning' header", message("%conv1 = direct tile=8x3 bands=1\n"));
    assertTrue(message("hello\n").startsWith("r.tuning:1: expected 'tuning model="), message("hello\n"));
    assertEquals("r.tuning:2: expected '%layer = direct|winograd tile=RxV bands=N', got '%conv1 = direct tile=8 bands=1'",
        message(header + "%conv1 = direct tile=8 bands=1\n"));
    assertEquals("r.tuning:3: %conv1 is chosen twice", message(header + "%conv1 = direct tile=8x3 bands=1\n%conv1 = direct tile=8x2 bands=1\n"));
    assertEquals("r.tuning:2: tile and bands must be positive, got tile=8x0 bands=1", message(header + "%conv1 = direct tile=8x0 bands=1\n"));
    assertEquals("r.tuning:2: a second section for native x86-64-v4 lanes=16", message(header + header));
    assertTrue(message(header.replace("lanes=16", "lanes=12")).startsWith("r.tuning:1: expected 'tuning model="));
    assertTrue(message("x".repeat(Tuning.MAX_CHARS + 1)).contains("at most"));
  }

  private static String message(String text) {
    return assertThrows(IllegalArgumentException.class, () -> Tuning.parse(text, "r.tuning")).getMessage();
  }

  @Test
  void theSchedulerTakesTheChoicesItIsGivenAndTheRulesForTheRest() {
    Graph g = resnet20();
    // --winograd off: the rules leave every conv direct, and a record's Winograd choice overrides that
    Schedule rules = Scheduler.plan(g, V4, Winograd.Mode.OFF);
    var choices = new LinkedHashMap<String, Tuning.Choice>();
    choices.put("layer1.0.conv1", new Tuning.Choice(false, 4, 2, 5));
    choices.put("layer3.1.conv1", new Tuning.Choice(true, 8, 1, 1));
    Schedule tuned = Scheduler.plan(g, V4, Winograd.Mode.OFF, section("resnet20", choices));
    Step.Conv c = conv(tuned, "layer1.0.conv1");
    assertEquals(new Step.Tile(4, 2, 16), c.tile());
    assertEquals(5, c.bands());
    assertTrue(c.tuned());
    assertEquals(List.of("stage", "winograd_in", "winograd_products", "winograd_out"), tuned.steps("layer3.1.conv1").stream().map(Step::kind).toList());
    assertEquals(List.of("stage", "conv"), rules.steps("layer3.1.conv1").stream().map(Step::kind).toList());
    // Every other step is the rules' own, and the weights blob only gains the Winograd weights of the tuned conv.
    for (Step s : rules.steps()) {
      if (!s.layer().equals("layer1.0.conv1") && !s.layer().equals("layer3.1.conv1") && s instanceof Step.Conv rc) {
        assertEquals(rc.tile(), conv(tuned, s.layer()).tile(), s.layer());
        assertFalse(conv(tuned, s.layer()).tuned());
      }
    }
    assertTrue(ScheduleText.print(tuned).startsWith("schedule resnet20 cpu=x86-64-v4 lanes=16 registers=32 winograd=off tuned=2 (threads=2 batch=1 on \"AMD EPYC 9R14\")\n"));
  }

  /**
   * A jar's CPUs share one weights blob even where only one of them takes Winograd for a conv: its transformed
   * weights are added once, and the other CPU's steps read the same offsets as when planned alone.
   */
  @Test
  void severalCpusShareOneBlobWhenTheirTunedChoicesDiffer() {
    Graph g = resnet20();
    var v3 = new Tuning.Section("resnet20", "native", "x86-64-v3", 8, 1, 1, "x", Map.of("layer3.1.conv1", new Tuning.Choice(true, 4, 2, 1)));
    List<Schedule> both = Scheduler.plan(g, List.of(V4, V3), Winograd.Mode.OFF, "native", Tuning.none().with(v3));
    Schedule alone = Scheduler.plan(g, V4, Winograd.Mode.OFF);
    assertEquals(ScheduleText.print(alone).replace("weights=" + alone.weightFloats(), ""),
        ScheduleText.print(both.get(0)).replace("weights=" + both.get(0).weightFloats(), ""), "the AVX-512 steps as when planned alone");
    assertTrue(both.get(0).weights() == both.get(1).weights(), "one blob");
    assertTrue(both.get(0).weightFloats() > alone.weightFloats());
    assertEquals(List.of("stage", "winograd_in", "winograd_products", "winograd_out"), both.get(1).steps("layer3.1.conv1").stream().map(Step::kind).toList());
    assertEquals(0, java.util.Arrays.compare(alone.weights(), 0, alone.weights().length, both.get(1).weights(), 0, alone.weights().length));
  }

  @Test
  void choicesThatDoNotFitAreRefusedSayingWhy() {
    Graph g = resnet20();
    assertEquals("the tuning record is for model resnet56, not resnet20", refused(g, V4, section("resnet56", Map.of())));
    assertEquals("the tuning record chooses for %head.avgpool, which is not a conv of resnet20 (tune again after changing the model or its passes)",
        refused(g, V4, section("resnet20", Map.of("head.avgpool", new Tuning.Choice(false, 8, 3, 1)))));
    assertEquals("the tuning record's 'direct tile=16x1 bands=1' for %conv1 does not fit: R must be a power of two up to 8 on x86-64-v4",
        refused(g, V4, one("conv1", new Tuning.Choice(false, 16, 1, 1))));
    assertEquals("the tuning record's 'direct tile=8x2 bands=1' for %conv1 does not fit: R must be a power of two up to 4 on x86-64-v3",
        refused(g, V3, one("conv1", new Tuning.Choice(false, 8, 2, 1))));
    assertEquals("the tuning record's 'direct tile=8x4 bands=1' for %conv1 does not fit: R x V accumulators, V inputs and a weight must fit 32 registers",
        refused(g, V4, one("conv1", new Tuning.Choice(false, 8, 4, 1))));
    assertEquals("the tuning record's 'direct tile=8x3 bands=40' for %conv1 does not fit: more bands than its 23 position tiles", refused(g, V4, one("conv1", new Tuning.Choice(false, 8, 3, 40))));
    assertEquals("the tuning record's 'direct tile=2x6 bands=1' for %layer3.1.conv1 does not fit: the conv has only 5 vector(s) of positions",
        refused(g, V4, one("layer3.1.conv1", new Tuning.Choice(false, 2, 6, 1))));
    assertEquals("the tuning record chooses Winograd for %layer2.0.conv1, which is not a 3x3 stride-1 conv Winograd applies to",
        refused(g, V4, one("layer2.0.conv1", new Tuning.Choice(true, 8, 1, 1))));
    var jvm = new Tuning.Section("resnet20", "java", "jvm", 16, 1, 1, "x", Map.of("conv1", new Tuning.Choice(false, 4, 3, 1)));
    assertEquals("the tuning record's 'direct tile=4x3 bands=1' for %conv1 does not fit: the jvm target tiles whole packs of 8 channels", refused(g, CpuModel.jvm(), jvm));
  }

  private static Tuning.Section one(String layer, Tuning.Choice c) {
    return section("resnet20", Map.of(layer, c));
  }

  private static String refused(Graph g, CpuModel cpu, Tuning.Section s) {
    return assertThrows(IllegalArgumentException.class, () -> Scheduler.plan(g, cpu, Winograd.Mode.AUTO, s)).getMessage();
  }

  /**
   * Every move of the tuning space, from the rules' choices and from a round's winners, gives a schedule the
   * scheduler accepts (the space's fit is the scheduler's check), on every example and CPU kind; and the moves
   * include narrower tiles, other splits and the other algorithm where both apply.
   */
  @ParameterizedTest
  @MethodSource("resnetc.target.ExampleFixtures#examples")
  void everyMoveOfTheSpaceIsAScheduleTheSchedulerTakes(Path spec) {
    // Without weights: planning is the same, and nothing is packed.
    Graph g = TestTargets.optimized(TestPaths.loadSmall(spec).graph(), "java");
    for (CpuModel cpu : List.of(V4, V3, CpuModel.jvm())) {
      boolean jvm = cpu.equals(CpuModel.jvm());
      Winograd.Mode mode = jvm ? Winograd.Mode.OFF : Winograd.Mode.AUTO;
      var space = new TuningSpace(Scheduler.plan(g, cpu, mode), Scheduler.plan(g, cpu, Winograd.Mode.OFF), Scheduler.plan(g, cpu, Winograd.Mode.ALWAYS));
      var variants = space.variants(space.rules());
      assertFalse(variants.isEmpty(), cpu.name());
      Map<String, Tuning.Choice> next = new LinkedHashMap<>(space.rules());
      for (var v : variants) {
        var s = new Tuning.Section(g.name(), "native", cpu.name(), cpu.lanes(), 1, 1, "", v.choices());
        Schedule planned = Scheduler.plan(g, cpu, mode, s);
        assertEquals(v.choices().size(), planned.steps().stream().filter(st -> st instanceof Step.Conv c && c.tuned()).count(), v.move());
        next.putAll(v.choices()); // a second round starts from some winners: a mix of every move
      }
      for (var v : space.variants(next)) {
        Map<String, Tuning.Choice> mix = new LinkedHashMap<>(next);
        mix.putAll(v.choices());
        Scheduler.plan(g, cpu, mode, new Tuning.Section(g.name(), "native", cpu.name(), cpu.lanes(), 1, 1, "", mix));
      }
      List<String> moves = variants.stream().map(TuningSpace.Variant::move).toList();
      assertTrue(moves.contains("fewer-vectors") && moves.contains("one-band"), cpu.name() + " " + moves);
      assertEquals(!jvm, moves.contains("half-channels"), cpu.name() + " " + moves);
    }
  }

  @Test
  void aTuningRecordIsPartOfTheOptionsText() {
    CodegenOptions o = CodegenOptions.defaults().withTarget("native");
    var t = Tuning.none().with(section("resnet20", Map.of("conv1", new Tuning.Choice(false, 4, 2, 5))));
    assertTrue(o.text().endsWith(" tuning=none"), o.text());
    assertNotEquals(o.text(), o.withTuning(t).text());
    assertNotEquals(o.withTuning(t).text(), o.withTuning(t.with(section("resnet20", Map.of()))).text());
    assertEquals(o.withTuning(t).text(), o.withTuning(Tuning.parse(t.text(), "x")).text());
  }

  private static Step.Conv conv(Schedule s, String layer) {
    return s.steps(layer).stream().filter(st -> st instanceof Step.Conv).map(st -> (Step.Conv) st).findFirst().orElseThrow();
  }
}
