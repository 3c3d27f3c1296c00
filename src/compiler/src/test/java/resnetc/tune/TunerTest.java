package resnetc.tune;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import resnetc.Driver;
import resnetc.TestPaths;
import resnetc.cli.Main;
import resnetc.passes.Numerics;
import resnetc.runtime.CompiledModel;
import resnetc.schedule.Schedule;
import resnetc.schedule.Scheduler;
import resnetc.schedule.Tuning;
import resnetc.schedule.TuningSpace;
import resnetc.schedule.Winograd;
import resnetc.target.ExampleFixtures;
import resnetc.target.TestTargets;

/** Tuned schedules compute what the rules' do, on both targets; {@code resnetc tune} measures and writes a record compile takes. */
class TunerTest {
  static final Path RESNET20 = TestPaths.repoRoot().resolve("examples/cifar/resnet20.resnet");

  @TempDir Path tmp;

  /**
   * Every move at once, spread over the convs (conv i takes the i-th move that applies to it): direct tiles and
   * splits other than the rules' give the rules' model's outputs bit for bit (the summation order is the same);
   * with the other algorithm mixed in, the outputs stay within the interpreter's bound.
   */
  @ParameterizedTest
  @ValueSource(strings = {"java", "native"})
  void tunedSchedulesComputeWhatTheRulesDo(String target) {
    var f = ExampleFixtures.of(RESNET20);
    // AVX-512 tiles (8 channels, 32 registers) where this machine runs them, else AVX2's
    String[] cpus = !target.equals("native") ? new String[0] : resnetc.runtime.CpuFeatures.runsHere("x86-64-v4") ? new String[] {"x86-64-v4"} : new String[] {"x86-64-v3"};
    Driver.Compilation c = TestTargets.spec(f.loaded(), f.weighted(), target, cpus);
    Schedule rules = c.schedule();
    var cpu = rules.cpu();
    Winograd.Mode mode = rules.winograd();
    var space = new TuningSpace(rules, Scheduler.plan(c.graph(), cpu, Winograd.Mode.OFF), Scheduler.plan(c.graph(), cpu, Winograd.Mode.ALWAYS));
    List<TuningSpace.Variant> variants = space.variants(space.rules());
    Map<String, Tuning.Choice> direct = new LinkedHashMap<>(), mixed = new LinkedHashMap<>();
    int i = 0;
    for (String layer : space.rules().keySet()) {
      List<Tuning.Choice> moves = new ArrayList<>(), directMoves = new ArrayList<>();
      for (var v : variants) {
        Tuning.Choice choice = v.choices().get(layer);
        if (choice == null) continue;
        moves.add(choice);
        if (!v.move().equals("other-algorithm")) directMoves.add(choice);
      }
      if (!directMoves.isEmpty()) direct.put(layer, directMoves.get(i % directMoves.size()));
      if (!moves.isEmpty()) mixed.put(layer, moves.get(i % moves.size()));
      i++;
    }
    assertTrue(mixed.values().stream().anyMatch(t -> t.winograd() != rules.winograd().equals(Winograd.Mode.ALWAYS)) || target.equals("java"));
    try (CompiledModel base = c.load(2);
         CompiledModel d = c.target().load(plan(c, direct), c.info(), c.options(), 2);
         CompiledModel m = c.target().load(plan(c, mixed), c.info(), c.options(), 2)) {
      float[] expected = base.predict(f.input(), f.batch());
      assertArrayEquals(expected, d.predict(f.input(), f.batch()), target + ": other tiles and splits, " + direct.size() + " convs");
      Numerics.assertWithinBound(target + ": every move mixed", m.predict(f.input(), f.batch()), f.reference(), f.optimized(), f.batch());
    }
  }

  /** The AVX2 code of a two-CPU jar whose record gives only it Winograd for a conv reads the shared blob right. */
  @Test
  void aCpuTunedApartReadsTheSharedWeightsRight() {
    var f = ExampleFixtures.of(RESNET20);
    var v3 = new Tuning.Section("resnet20", "native", "x86-64-v3", 8, 1, 1, "x", Map.of("layer3.1.conv1", new Tuning.Choice(true, 4, 2, 1)));
    var options = resnetc.target.CodegenOptions.defaults().withTarget("native").withTuning(Tuning.none().with(v3));
    Driver.Compilation c = Driver.compile(f.loaded(), f.weighted(), options);
    assertEquals(List.of("x86-64-v4", "x86-64-v3"), c.schedules().stream().map(s -> s.cpu().name()).toList());
    try (CompiledModel m = c.target().load(c.schedules().get(1), c.info(), c.options(), 1)) {
      Numerics.assertWithinBound("x86-64-v3 tuned apart", m.predict(f.input(), f.batch()), f.reference(), f.optimized(), f.batch());
    }
  }

  private static Schedule plan(Driver.Compilation c, Map<String, Tuning.Choice> choices) {
    var cpu = c.schedule().cpu();
    return Scheduler.plan(c.graph(), cpu, c.schedule().winograd(),
        new Tuning.Section(c.graph().name(), c.target().name(), cpu.name(), cpu.lanes(), 2, 1, "test", choices));
  }

  /**
   * {@code resnetc tune} on this machine (as short a run as it takes: one round, one timed call per variant, AVX2
   * code, which every machine here runs): it adds its section to a record that already has another CPU's, and
   * plan and compile take the record, each CPU its own section.
   */
  @Test
  void tuneWritesARecordThatCompileAndPlanTake() throws Exception {
    Path record = tmp.resolve("resnet20.tuning");
    var v4 = new Tuning.Section("resnet20", "native", "x86-64-v4", 16, 2, 1, "another machine", Map.of("layer3.1.conv1", new Tuning.Choice(true, 8, 1, 1)));
    Files.writeString(record, Tuning.none().with(v4).text());
    String out = resnetc("tune", RESNET20.toString(), "--cpu", "x86-64-v3", "--threads", "1", "--rounds", "1", "--runs", "1", "--measure-ms", "0", "--warmup-ms", "0",
        "--moves", "one-band", "-o", record.toString());
    assertTrue(out.contains("tuning resnet20 for x86-64-v3"), out);
    assertTrue(out.contains("rules, tuned alternating"), out);
    assertTrue(out.contains("round 1 one-band") && !out.contains("half-channels"), "only the moves asked for: " + out);
    assertTrue(out.contains("native x86-64-v3: "), out);
    Tuning t = Tuning.parse(Files.readString(record), record.toString());
    assertEquals(List.of("x86-64-v4", "x86-64-v3"), t.sections().stream().map(Tuning.Section::cpu).toList());
    assertEquals(v4, t.sections().getFirst(), "the other CPU's section is kept as it was");
    var v3 = t.sections().get(1);
    assertEquals(List.of("resnet20", "native", "x86-64-v3", 8, 1, 1), List.of(v3.model(), v3.target(), v3.cpu(), v3.lanes(), v3.threads(), v3.batch()));
    assertFalse(v3.machine().isBlank());

    String plan = resnetc("plan", RESNET20.toString(), "--backend", "native", "--tuning", record.toString());
    assertTrue(plan.contains("cpu=x86-64-v4 lanes=16 registers=32 winograd=auto tuned=1 (threads=2 batch=1 on \"another machine\")"), plan);
    assertTrue(plan.contains("cpu=x86-64-v3 lanes=8 registers=16 winograd=auto tuned=" + v3.choices().size()), plan);
    Path jar = tmp.resolve("r20.jar");
    resnetc("compile", RESNET20.toString(), "--backend", "native", "--tuning", record.toString(), "-o", jar.toString());

    // Each library of the jar (their steps differ: Winograd for one conv on AVX-512 only) computes what the same
    // schedule does in process, bit for bit, and that is within the interpreter's bound.
    var l = resnetc.Frontend.load(RESNET20);
    var weighted = resnetc.Frontend.bind(l, TestPaths.repoRoot().resolve("examples/cifar/resnet20.safetensors"));
    var c = Driver.compile(l, weighted, resnetc.target.CodegenOptions.defaults().withTarget("native").withTuning(t));
    float[] x = resnetc.passes.Numerics.randomInput(c.graph(), 4, 7);
    float[] reference = new resnetc.interp.Interpreter(c.graph()).run(x, 4);
    Path in = tmp.resolve("in.f32"), res = tmp.resolve("out.f32");
    resnetc.runtime.F32.write(in, x);
    for (Schedule s : c.schedules()) {
      String level = s.cpu().name();
      if (!c.target().runsHere(s.cpu())) continue;
      float[] y;
      try (CompiledModel m = c.target().load(s, c.info(), c.options(), 1)) {
        y = m.predict(x, 4);
      }
      Numerics.assertWithinBound(level + " library of the tuned jar", y, reference, c.graph(), 4);
      List<String> command = new ArrayList<>(List.of(ProcessHandle.current().info().command().orElse("java"), "-Dresnetc.isa=" + level, "-jar", jar.toString(),
          "--input-f32", in.toString(), "--output", res.toString(), "--batch", "4"));
      Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
      String log = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
      assertEquals(0, p.waitFor(), log);
      assertArrayEquals(y, resnetc.runtime.F32.read(res), level + ": the jar's library and the same schedule in process");
    }
  }

  @Test
  void badRecordsAndOptionsAreOneLineErrors() throws Exception {
    Path bad = tmp.resolve("bad.tuning");
    Files.writeString(bad, "tuning model=resnet20 target=native cpu=x86-64-v4 lanes=16 threads=1 batch=1 machine=\"x\"\n  %nope = direct tile=8x3 bands=1\n");
    assertEquals("resnetc: error: the tuning record chooses for %nope, which is not a conv of resnet20 (tune again after changing the model or its passes)",
        error("plan", RESNET20.toString(), "--backend", "native", "--cpu", "x86-64-v4", "--tuning", bad.toString()));
    Files.writeString(bad, "hello\n");
    assertEquals("resnetc: error: " + bad + ":1: expected 'tuning model=... target=... cpu=... lanes=... threads=... batch=... machine=\"...\"', got 'hello'",
        error("compile", RESNET20.toString(), "--tuning", bad.toString(), "-o", tmp.resolve("x.jar").toString()));
    assertEquals("resnetc: error: " + tmp.resolve("none.tuning") + ": no such tuning record (a file written by resnetc tune)",
        error("plan", RESNET20.toString(), "--tuning", tmp.resolve("none.tuning").toString()));
    assertEquals("resnetc: error: tune writes a tuning record (-o FILE); --tuning is for compile, run and plan",
        error("tune", RESNET20.toString(), "--tuning", bad.toString(), "-o", tmp.resolve("t").toString()));
    assertEquals("resnetc: error: unknown move 'sideways' (moves: other-algorithm, half-channels, fewer-vectors, more-vectors, half-bands, twice-bands, one-band)",
        error("tune", RESNET20.toString(), "--moves", "sideways", "-o", tmp.resolve("t").toString()));
    assertEquals("resnetc: error: --min-gain must be at least 0 and below 1, got 1.5",
        error("tune", RESNET20.toString(), "--min-gain", "1.5", "-o", tmp.resolve("t").toString()));
    assertFalse(Files.exists(tmp.resolve("t")));
  }

  private static String resnetc(String... args) {
    StringWriter out = new StringWriter(), err = new StringWriter();
    int code = Main.execute(args, new PrintWriter(out), new PrintWriter(err));
    assertEquals(0, code, String.join(" ", args) + ":\n" + err);
    return out.toString();
  }

  private static String error(String... args) {
    StringWriter out = new StringWriter(), err = new StringWriter();
    int code = Main.execute(args, new PrintWriter(out), new PrintWriter(err));
    assertEquals(1, code, out + "\n" + err);
    assertEquals(1, err.toString().strip().lines().count(), err.toString());
    return err.toString().strip();
  }
}
