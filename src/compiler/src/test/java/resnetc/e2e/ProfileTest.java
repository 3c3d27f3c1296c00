package resnetc.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.IntStream;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import resnetc.Frontend;
import resnetc.TestPaths;
import resnetc.target.TestTargets;
import resnetc.cli.Main;
import resnetc.ir.Graph;
import resnetc.passes.Pipeline;
import resnetc.runtime.CompiledModel;
import resnetc.runtime.F32;
import resnetc.runtime.Profile;
import resnetc.weights.RandomWeights;

/**
 * Per-layer profiles of ResNet-20 (seed-7 random weights, no ../shared needed): {@code resnetc run --profile} and
 * {@code java -jar model.jar --bench --profile} for the Java and native backends list every fused layer in order,
 * with times, shares summing to 100 % and GFLOP/s that follow from the layer's flops and time.
 */
class ProfileTest {
  @TempDir static Path tmp;
  static Path input;

  /** ResNet-20's fused layers in execution order: the stem conv, 2 per block, the pool and the classifier. */
  static final List<String> FUSED = Stream.of(
      Stream.of("conv1"),
      IntStream.rangeClosed(1, 3).boxed().flatMap(s -> IntStream.range(0, 3).boxed()
          .flatMap(b -> Stream.of("layer" + s + "." + b + ".conv1", "layer" + s + "." + b + ".conv2"))),
      Stream.of("head.avgpool", "linear")).flatMap(x -> x).toList();

  /** Floating-point operations per image of a fused ResNet-20 layer (2 x MACs). */
  static long flops(String layer) {
    return switch (layer) {
      case "conv1" -> 2L * 16 * 32 * 32 * 3 * 9;
      case "layer2.0.conv1" -> 2L * 32 * 16 * 16 * 16 * 9;
      case "layer3.0.conv1" -> 2L * 64 * 8 * 8 * 32 * 9;
      case "head.avgpool" -> 0;
      case "linear" -> 2L * 64 * 10;
      default -> 2L * 16 * 32 * 32 * 16 * 9; // every other 3x3 conv: same flops at each stage
    };
  }

  static Path spec() {
    return TestPaths.repoRoot().resolve("examples/cifar/resnet20.resnet");
  }

  @BeforeAll
  static void writeInput() throws Exception {
    Random r = new Random(2);
    float[] x = new float[4 * 3 * 32 * 32];
    for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
    input = tmp.resolve("four.f32");
    F32.write(input, x);
  }

  record Row(int index, String name, String kind, String shape, double ms, double gflops, double share) {}

  record Table(String header, List<Row> rows, double totalMs, double totalGflops, String byKind) {}

  private static final Pattern ROW = Pattern.compile("(?m)^ *(\\d+)  (\\S+) +(.*?) +(\\S+) +([0-9.]+) +([0-9.]+|-) +([0-9.]+)%$");
  private static final Pattern TOTAL = Pattern.compile("(?m)^total \\((\\d+) layers\\) +([0-9.]+) +([0-9.]+) +100\\.0%$");

  static Table parse(String out) {
    int start = out.indexOf("\nprofile: ");
    assertTrue(start >= 0, "no profile in:\n" + out);
    String text = out.substring(start + 1);
    List<Row> rows = new ArrayList<>();
    Matcher m = ROW.matcher(text);
    while (m.find()) {
      rows.add(new Row(Integer.parseInt(m.group(1)), m.group(2), m.group(3), m.group(4), Double.parseDouble(m.group(5)),
          m.group(6).equals("-") ? Double.NaN : Double.parseDouble(m.group(6)), Double.parseDouble(m.group(7))));
    }
    Matcher t = TOTAL.matcher(text);
    assertTrue(t.find(), "no total line in:\n" + text);
    assertEquals(rows.size(), Integer.parseInt(t.group(1)), text);
    int byKind = text.indexOf("\nby kind ");
    return new Table(text.lines().findFirst().orElseThrow(), rows, Double.parseDouble(t.group(2)), Double.parseDouble(t.group(3)),
        byKind < 0 ? "" : text.substring(byKind + 1));
  }

  /** Every fused layer in order, times > 0, shares adding up, GFLOP/s = flops x batch / time, a by-kind summary. */
  static void assertResnet20Profile(Table t, int batch, String text) {
    assertEquals(FUSED, t.rows().stream().map(Row::name).toList(), text);
    double shares = 0, ms = 0;
    for (Row r : t.rows()) {
      assertEquals(FUSED.indexOf(r.name()) + 1, r.index(), text);
      shares += r.share();
      ms += r.ms();
      if (r.name().contains("conv")) {
        assertTrue(r.ms() > 0, r.name() + " took no time:\n" + text);
        assertTrue(r.kind().startsWith("conv 3x3"), text);
        double expected = flops(r.name()) * batch / (r.ms() * 1e6);
        // the printed ms has 4 decimals, GFLOP/s 1
        double slack = expected * 0.00005 / r.ms() + 0.051;
        assertEquals(expected, r.gflops(), slack + 0.01 * expected, r.name() + "\n" + text);
      }
    }
    assertEquals("conv 3x3 s2", t.rows().get(FUSED.indexOf("layer2.0.conv1")).kind(), text);
    assertEquals("32x16x16", t.rows().get(FUSED.indexOf("layer2.0.conv1")).shape(), text);
    assertEquals("global avgpool", t.rows().get(FUSED.indexOf("head.avgpool")).kind(), text);
    assertTrue(Double.isNaN(t.rows().get(FUSED.indexOf("head.avgpool")).gflops()), "no flops, no GFLOP/s: " + text);
    assertEquals("fc", t.rows().get(FUSED.indexOf("linear")).kind(), text);
    assertEquals(100, shares, 0.05 * t.rows().size() + 0.01, text);
    assertEquals(ms, t.totalMs(), 0.0001 * t.rows().size(), text);
    long total = FUSED.stream().mapToLong(ProfileTest::flops).sum();
    assertEquals(total * batch / (t.totalMs() * 1e6), t.totalGflops(), 0.01 * t.totalGflops() + 0.06, text);
    assertTrue(t.byKind().matches("(?s)by kind +layers +ms/run +GFLOP/s +share\\nconv 3x3 +17 .*\\nconv 3x3 s2 +2 .*"
        + "\\nglobal avgpool +1 .*\\nfc +1 .*"), t.byKind());
  }

  @ParameterizedTest
  @ValueSource(strings = {"java", "native"})
  void runProfilesEveryFusedLayer(String backend) {
    StringWriter out = new StringWriter(), err = new StringWriter();
    int code = Main.execute(new String[] {"run", spec().toString(), "--random-weights", "7", "--input-f32", input.toString(),
        "--batch", "2", "--threads", "2", "--backend", backend, "--profile", "--profile-runs", "6", "--profile-warmup", "3"},
        new PrintWriter(out), new PrintWriter(err));
    assertEquals(0, code, err.toString());
    String text = out.toString();
    assertTrue(text.startsWith("images: 4\n"), "run's own lines come first:\n" + text);
    Table t = parse(text);
    assertEquals("profile: resnet20, batch 2, 2 threads, median of 6 runs after 3 warm-up runs", t.header());
    assertResnet20Profile(t, 2, text);
    assertTrue(text.matches("(?s).*\\nwhole call +[0-9.]+ +\\(layers [0-9.]+% of it\\)\\n.*"), text);
    assertEquals(null, System.getProperty(CompiledModel.PROFILE_PROPERTY), "run --profile leaves the JVM's properties as they were");
  }

  /** The reference interpreter is profiled node by node, on the graph as it runs it (unoptimized here). */
  @Test
  void runProfilesTheInterpreterPerNode() {
    StringWriter out = new StringWriter(), err = new StringWriter();
    int code = Main.execute(new String[] {"run", spec().toString(), "--random-weights", "7", "--input-f32", input.toString(),
        "--batch", "1", "--limit", "1", "--backend", "reference", "--profile", "--profile-runs", "2", "--profile-warmup", "1"}, new PrintWriter(out), new PrintWriter(err));
    assertEquals(0, code, err.toString());
    Table t = parse(out.toString());
    Graph g = Frontend.withoutPreprocess(Frontend.load(spec()).graph());
    List<String> nodes = g.nodes().stream().filter(n -> !(n.op() instanceof resnetc.ir.Op.Input) && !(n.op() instanceof resnetc.ir.Op.Const))
        .map(n -> n.name()).toList();
    assertEquals(nodes, t.rows().stream().map(Row::name).toList(), out.toString());
    assertTrue(t.rows().stream().anyMatch(r -> r.kind().equals("batchnorm")), out.toString());
    assertEquals(100, t.rows().stream().mapToDouble(Row::share).sum(), 0.05 * t.rows().size(), out.toString());
    assertTrue(t.header().startsWith("profile: resnet20, batch 1, 1 thread, median of 2 runs"), t.header());
  }

  @Test
  void profileOptionsAreChecked() {
    StringWriter err = new StringWriter();
    int code = Main.execute(new String[] {"run", spec().toString(), "--random-weights", "7", "--input-f32", input.toString(),
        "--profile", "--profile-runs", "0"}, new PrintWriter(new StringWriter()), new PrintWriter(err));
    assertEquals(1, code);
    assertTrue(err.toString().contains("--profile-runs must be at least 1"), err.toString());
  }

  /** The generated classes count every layer's time when the property is set before they load. */
  @ParameterizedTest
  @ValueSource(strings = {"java", "native"})
  void everyLayerCountsTime(String backend) {
    Frontend.Loaded l = Frontend.load(spec());
    var c = TestTargets.spec(l, RandomWeights.generate(l.graph(), 7), backend, backend.equals("native") ? new String[] {"x86-64-v3"} : new String[0]);
    float[] x = new float[2 * 3 * 32 * 32];
    try (CompiledModel m = TestPaths.withProperty(CompiledModel.PROFILE_PROPERTY, "true", () -> c.load(2))) {
      assertEquals(FUSED, m.layers());
      m.predict(x, 2);
      long[] before = m.layerNanos();
      for (int i = 0; i < 3; i++) m.predict(x, 2);
      long[] after = m.layerNanos();
      for (int i = 0; i < FUSED.size(); i++) assertTrue(after[i] > before[i], FUSED.get(i) + " counted no time");
      Profile p = Profile.of(m, before, after, 2, 2, 1, 3, 0);
      assertEquals(FUSED.stream().map(ProfileTest::flops).toList(), p.layers().stream().map(Profile.Layer::flopsPerImage).toList());
      assertEquals(100, p.layers().stream().mapToDouble(r -> p.share(r.nanos())).sum(), 1e-9);
      Profile.Layer conv = p.layers().get(1);
      assertEquals((after[1] - before[1]) / 3.0, conv.nanos(), 1e-9, "mean per run");
      assertEquals(conv.flopsPerImage() * 2.0 / conv.nanos(), p.gflops(conv.flopsPerImage(), conv.nanos()), 1e-9);
    } finally {
      System.clearProperty(CompiledModel.PROFILE_PROPERTY);
    }
  }

  record Result(int code, String out, String err) {}

  static Result java(Path jar, String... args) throws Exception {
    List<String> cmd = new ArrayList<>(List.of(ProcessHandle.current().info().command().orElse("java"), "-jar", jar.toString()));
    cmd.addAll(List.of(args));
    Process p = new ProcessBuilder(cmd).start();
    p.getOutputStream().close();
    Future<String> err = Executors.newVirtualThreadPerTaskExecutor()
        .submit(() -> new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8));
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    return new Result(p.waitFor(), out, err.get());
  }

  /** {@code java -jar model.jar --bench --profile} in a fresh JVM (relaunched for the Vector API) for both kinds of jar. */
  @ParameterizedTest
  @ValueSource(strings = {"java", "native"})
  void jarBenchProfilesEveryFusedLayer(String backend) throws Exception {
    Path jar = tmp.resolve("r20-" + backend + ".jar");
    StringWriter err = new StringWriter();
    assertEquals(0, Main.execute(new String[] {"compile", spec().toString(), "--random-weights", "7", "--backend", backend, "-o", jar.toString()},
        new PrintWriter(new StringWriter()), new PrintWriter(err)), err.toString());
    List<List<String>> variants = new ArrayList<>(List.of(List.of()));
    if (backend.equals("java")) variants.add(List.of("--no-vector")); // no relaunch: the property is set in this JVM
    for (List<String> extra : variants) {
      List<String> args = new ArrayList<>(List.of("--bench", "--profile", "--batch", "2", "--threads", "1", "--seconds", "1", "--warmup", "0.3"));
      args.addAll(extra);
      Result r = java(jar, args.toArray(String[]::new));
      assertEquals(0, r.code(), r.err());
      assertTrue(r.out().contains(extra.isEmpty() ? "\nvector: on\n" : "\nvector: off\n"), r.out());
      int runs = Integer.parseInt(r.out().replaceAll("(?s).*\\nruns: (\\d+)\\n.*", "$1"));
      Table t = parse(r.out());
      assertTrue(t.header().matches("profile: resnet20, batch 2, 1 thread, median of " + runs + " runs after \\d+ warm-up runs?"), t.header());
      assertResnet20Profile(t, 2, r.out());
    }
  }
}
