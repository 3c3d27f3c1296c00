package resnetc.target.java;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.jar.JarFile;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import resnetc.Frontend;
import resnetc.TestPaths;
import resnetc.cli.Main;
import resnetc.interp.Interpreter;
import resnetc.ir.Graph;
import resnetc.Driver;
import resnetc.schedule.Winograd;
import resnetc.target.CodegenOptions;
import resnetc.target.TestTargets;
import resnetc.runtime.Cifar;
import resnetc.runtime.CompiledModel;
import resnetc.runtime.F32;
import resnetc.weights.RandomWeights;

/** {@code resnetc compile} end to end: the jar runs with plain {@code java -jar} in a fresh JVM. */
class JarTest {
  @TempDir static Path tmp;
  static Path jar;

  /** ResNet-20 with seed-7 random weights (no ../shared needed), compiled through the CLI. */
  @BeforeAll
  static void compileJar() {
    jar = tmp.resolve("resnet20.jar");
    StringWriter out = new StringWriter(), err = new StringWriter();
    int code = Main.execute(new String[] {"compile", spec().toString(), "--random-weights", "7", "-o", jar.toString(),
        "--package", "com.example.vision", "--class", "Cifar20"}, new PrintWriter(out), new PrintWriter(err));
    assertEquals(0, code, err.toString());
    assertTrue(out.toString().contains("class: com.example.vision.Cifar20"), out.toString());
  }

  static Path spec() {
    return TestPaths.repoRoot().resolve("examples/cifar/resnet20.resnet");
  }

  record Result(int code, String out, String err) {}

  static Result java(String... args) throws Exception {
    List<String> cmd = new ArrayList<>(List.of(ProcessHandle.current().info().command().orElse("java"), "-jar", jar.toString()));
    cmd.addAll(List.of(args));
    Process p = new ProcessBuilder(cmd).redirectErrorStream(false).start();
    p.getOutputStream().close();
    Future<String> err = Executors.newVirtualThreadPerTaskExecutor().submit(() -> new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8));
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    return new Result(p.waitFor(), out, err.get());
  }

  @Test
  void jarHoldsModelWeightsAndRuntimeOnly() throws Exception {
    try (JarFile j = new JarFile(jar.toFile())) {
      assertEquals("resnetc.runtime.ModelMain", j.getManifest().getMainAttributes().getValue("Main-Class"));
      assertEquals("com.example.vision.Cifar20", j.getManifest().getMainAttributes().getValue("Resnetc-Model"));
      assertEquals("ALL-UNNAMED", j.getManifest().getMainAttributes().getValue("Enable-Native-Access"));
      assertTrue(j.getEntry("com/example/vision/Cifar20.weights") != null);
      assertTrue(j.stream().noneMatch(e -> e.getName().startsWith("org/antlr") || e.getName().startsWith("com/palantir")
          || e.getName().startsWith("resnetc/ir") || e.getName().startsWith("picocli")), "no compiler classes in the jar");
    }
  }

  /** f32 input through the jar equals the reference interpreter on the same random weights. */
  @Test
  void jarOutputsMatchTheInterpreter() throws Exception {
    Frontend.Loaded l = Frontend.load(spec());
    Graph g = Frontend.withoutPreprocess(RandomWeights.generate(l.graph(), 7));
    Random r = new Random(3);
    float[] x = new float[5 * 3 * 32 * 32];
    for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
    Path in = tmp.resolve("in.f32"), out = tmp.resolve("out.f32");
    F32.write(in, x);
    Result res = java("--input-f32", in.toString(), "--output", out.toString(), "--batch", "2", "--threads", "2");
    assertEquals(0, res.code(), res.err());
    float[] y = F32.read(out), ref = new Interpreter(g).run(x, 5);
    assertEquals(ref.length, y.length);
    for (int i = 0; i < y.length; i++) assertEquals(ref[i], y[i], 1e-4 * 10, "logit " + i);
    double maxAbs = 0, maxRef = 0;
    for (int i = 0; i < y.length; i++) {
      maxAbs = Math.max(maxAbs, Math.abs(y[i] - ref[i]));
      maxRef = Math.max(maxRef, Math.abs(ref[i]));
    }
    assertTrue(maxAbs / maxRef < 1e-4, "relative error " + maxAbs / maxRef);
  }

  @Test
  void jarReportsCifarAccuracyWithTheSharedWeights() throws Exception {
    var weights = TestPaths.shared("models/cifar10/resnet20.safetensors");
    var images = TestPaths.shared("data/cifar10-test-1000.bin");
    org.junit.jupiter.api.Assumptions.assumeTrue(weights.isPresent() && images.isPresent(), "../shared is absent");
    Path real = tmp.resolve("real.jar");
    StringWriter err = new StringWriter();
    assertEquals(0, Main.execute(new String[] {"compile", spec().toString(), "--weights", weights.get().toString(), "-o", real.toString()},
        new PrintWriter(new StringWriter()), new PrintWriter(err)), err.toString());
    Path saved = jar;
    jar = real;
    try {
      Path out = tmp.resolve("cifar.f32");
      Result res = java("--input-cifar", images.get().toString(), "--output", out.toString());
      assertEquals(0, res.code(), res.err());
      assertTrue(res.out().contains("accuracy: 0.7950"), res.out());
      float[] y = F32.read(out), ref = F32.read(TestPaths.shared("data/cifar10-test-1000.resnet20.logits.f32").get());
      double maxAbs = 0;
      for (int i = 0; i < ref.length; i++) maxAbs = Math.max(maxAbs, Math.abs(y[i] - ref[i]));
      assertTrue(maxAbs < 1e-3, "max abs error vs the float64 logits " + maxAbs);
    } finally {
      jar = saved;
    }
  }

  /**
   * README's first command, which needs nothing beside the repository: the spec binds the weights shipped next to
   * it, and the jar classifies the shipped 300-image sample (30 per class) with the pretrained accuracy.
   */
  @Test
  void shippedWeightsClassifyTheShippedSample() throws Exception {
    Path shipped = tmp.resolve("shipped.jar");
    StringWriter err = new StringWriter();
    assertEquals(0, Main.execute(new String[] {"compile", spec().toString(), "-o", shipped.toString()},
        new PrintWriter(new StringWriter()), new PrintWriter(err)), err.toString());
    Path sample = TestPaths.repoRoot().resolve("examples/cifar/cifar10-test-300.bin");
    Cifar data = Cifar.read(sample, 0);
    assertEquals(300, data.count());
    for (int i = 0; i < data.count(); i++) assertEquals(i % 10, data.labels()[i], "record " + i);
    Path saved = jar;
    jar = shipped;
    try {
      Result res = java("--input-cifar", sample.toString());
      assertEquals(0, res.code(), res.err());
      assertTrue(res.out().contains("accuracy: 0.7900\n"), res.out());
      assertTrue(res.out().matches("(?s).*\\nimages_per_s: [0-9.]+\\n.*"), res.out());
    } finally {
      jar = saved;
    }
    var sharedWeights = TestPaths.shared("models/cifar10/resnet20.safetensors");
    if (sharedWeights.isPresent()) {
      assertArrayEquals(Files.readAllBytes(sharedWeights.get()), Files.readAllBytes(spec().resolveSibling("resnet20.safetensors")));
    }
  }

  /** Progress lines ({@code \r}, rewritten in place) on a terminal, none in a pipe; the results are the same. */
  @Test
  void progressShowsOnATerminalOnly() throws Exception {
    String sample = TestPaths.repoRoot().resolve("examples/cifar/cifar10-test-300.bin").toString();
    Result piped = java("--input-cifar", sample, "--limit", "100", "--batch", "10");
    assertEquals(0, piped.code(), piped.err());
    assertFalse((piped.out() + piped.err()).contains("\r"), piped.out() + piped.err());
    // the JVM that runs the Vector API says so (README: "Compiled models"); nothing else on stderr
    assertTrue(piped.err().lines().allMatch(l -> l.equals("WARNING: Using incubator modules: jdk.incubator.vector")), piped.err());

    Path script = Path.of("/usr/bin/script"); // util-linux: runs a command on a pseudo-terminal
    org.junit.jupiter.api.Assumptions.assumeTrue(Files.isExecutable(script), "no script(1) to give the jar a terminal");
    String java = ProcessHandle.current().info().command().orElse("java");
    String command = String.join(" ", List.of(java, "-jar", jar.toString(), "--input-cifar", sample, "--limit", "100", "--batch", "10").stream()
        .map(s -> "'" + s.replace("'", "'\\''") + "'").toList());
    Process p = new ProcessBuilder(script.toString(), "-qec", command, "/dev/null").redirectErrorStream(true).start();
    p.getOutputStream().close();
    String terminal = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertEquals(0, p.waitFor(), terminal);
    assertTrue(terminal.contains("\rimages: 10/100 (10%)"), terminal);
    assertTrue(terminal.contains("\rimages: 100/100 (100%)"), terminal);
    String accuracy = piped.out().lines().filter(l -> l.startsWith("accuracy: ")).findFirst().orElseThrow();
    assertTrue(terminal.contains(accuracy), terminal);
  }

  /**
   * {@code java -jar model.jar --serve} in its own JVM (through the relaunch that adds the Vector API): it prints
   * where it listens, describes the model, answers a PNG as the jar's image mode does, and on SIGTERM stops
   * accepting connections but still answers a request whose body was arriving, then exits.
   */
  @Test
  void serveAnswersThenDrainsOnSigterm() throws Exception {
    String javaExe = ProcessHandle.current().info().command().orElse("java");
    // files, not pipes: the output is read after the process (and the JVM it relaunched) has gone
    Path stdout = tmp.resolve("serve.out"), stderr = tmp.resolve("serve.err");
    Process p = new ProcessBuilder(javaExe, "-jar", jar.toString(), "--serve", "--port", "0", "--threads", "2", "--warmup", "0")
        .redirectOutput(stdout.toFile()).redirectError(stderr.toFile()).start();
    p.getOutputStream().close();
    try {
      String started = null;
      for (long deadline = System.nanoTime() + 60_000_000_000L; started == null && System.nanoTime() < deadline && p.isAlive(); Thread.sleep(50)) {
        started = Files.readAllLines(stdout).stream().findFirst().orElse(null);
      }
      assertTrue(started != null && started.matches("serving resnet20 \\(backend java, .*Vector API.*\\), max batch 8, .* on http://127\\.0\\.0\\.1:\\d+/"),
          started + "\n" + Files.readString(stderr));
      URI base = URI.create(started.substring(started.lastIndexOf(" on ") + 4));
      var client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
      String model = client.send(HttpRequest.newBuilder(base.resolve("/model")).build(),
          HttpResponse.BodyHandlers.ofString()).body();
      assertTrue(model.startsWith("{\"name\":\"resnet20\",\"input\":{\"shape\":[3,32,32]"), model);
      assertTrue(model.contains("\"backend\":\"java\",\"isa\":\"Vector API, "), model);

      BufferedImage img = new BufferedImage(40, 36, BufferedImage.TYPE_INT_RGB);
      for (int y = 0; y < 36; y++) for (int x = 0; x < 40; x++) img.setRGB(x, y, (x * 6) << 16 | (y * 7) << 8 | 90);
      Path png = tmp.resolve("served.png");
      ImageIO.write(img, "png", png.toFile());
      String top1 = java(png.toString()).out().lines().skip(1).findFirst().orElseThrow().strip(); // "0.1234  3  cat"
      String answer = client.send(HttpRequest.newBuilder(base.resolve("/predict?k=1")).header("Content-Type", "image/png")
          .POST(HttpRequest.BodyPublishers.ofFile(png)).build(), HttpResponse.BodyHandlers.ofString()).body();
      String[] parts = top1.split("\\s+");
      assertTrue(answer.contains("\"top\":[{\"class\":" + parts[1] + ",\"label\":\"" + parts[2] + "\""), answer + " vs " + top1);

      // a request whose body is half sent when SIGTERM arrives is still answered
      byte[] body = Files.readAllBytes(png);
      try (Socket s = new Socket(base.getHost(), base.getPort())) {
        var o = s.getOutputStream();
        o.write(("POST /predict?k=1 HTTP/1.1\r\nHost: localhost\r\nContent-Type: image/png\r\nContent-Length: " + body.length
            + "\r\nConnection: close\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
        o.write(body, 0, body.length / 2);
        o.flush();
        Thread.sleep(300); // the handler is reading the body
        p.destroy(); // SIGTERM to the jar's JVM, which passes it on to the JVM it relaunched
        long deadline = System.nanoTime() + 20_000_000_000L;
        while (true) { // wait until the listener is closed
          try (Socket probe = new Socket(base.getHost(), base.getPort())) {
            assertTrue(System.nanoTime() < deadline, "still accepting connections 20 s after SIGTERM");
            Thread.sleep(50);
          } catch (IOException refused) {
            break;
          }
        }
        o.write(body, body.length / 2, body.length - body.length / 2);
        o.flush();
        String response = new String(s.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(response.startsWith("HTTP/1.1 200"), response);
        assertTrue(response.contains("\"top\":[{\"class\":" + parts[1] + ","), response);
      }
      assertTrue(p.waitFor(30, TimeUnit.SECONDS), "exits after SIGTERM");
      String out = Files.readString(stdout).strip();
      assertTrue(out.contains("\nstopping: answering the requests in flight\n") && out.endsWith("\nstopped"), out);
      assertTrue(p.exitValue() == 0 || p.exitValue() == 143, "exit " + p.exitValue());
      String err = Files.readString(stderr);
      assertTrue(err.lines().allMatch(l -> l.equals("WARNING: Using incubator modules: jdk.incubator.vector")), err);
    } finally {
      p.descendants().forEach(ProcessHandle::destroyForcibly); // the JVM the jar relaunched
      p.destroyForcibly();
    }
  }

  @Test
  void benchPrintsTheRequiredLines() throws Exception {
    Result res = java("--bench", "--batch", "2", "--threads", "1", "--seconds", "1");
    assertEquals(0, res.code(), res.err());
    for (String line : List.of("median_ms: ", "images_per_s: ", "cold_start_ms: ", "vector: on")) {
      assertTrue(res.out().contains(line), line + " missing in:\n" + res.out());
    }
  }

  @Test
  void wrongInputSizeIsAClearErrorNotACrash() throws Exception {
    Path in = tmp.resolve("bad.f32");
    F32.write(in, new float[3 * 32 * 32 + 5]);
    Result res = java("--input-f32", in.toString());
    assertEquals(1, res.code());
    assertTrue(res.err().contains("error:"), res.err());
    assertFalse(res.err().contains("\tat "), res.err());
  }

  /** Many threads calling one instance at once get the same answers as one at a time. */
  @Test
  void oneInstanceIsSafeToShareAcrossThreads() throws Exception {
    Frontend.Loaded l = Frontend.load(spec());
    try (CompiledModel m = TestTargets.spec(l, RandomWeights.generate(l.graph(), 7), "java").load(2); ExecutorService pool = Executors.newFixedThreadPool(6)) {
      List<float[]> inputs = new ArrayList<>();
      List<float[]> expected = new ArrayList<>();
      Random r = new Random(9);
      for (int k = 0; k < 12; k++) {
        float[] x = new float[2 * m.inputSize()];
        for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
        inputs.add(x);
        expected.add(m.predict(x, 2));
      }
      List<Future<float[]>> got = new ArrayList<>();
      for (int rep = 0; rep < 3; rep++) for (float[] x : inputs) got.add(pool.submit(() -> m.predict(x, 2)));
      for (int k = 0; k < got.size(); k++) assertArrayEquals(expected.get(k % 12), got.get(k).get());
    }
  }

  /**
   * Every path of a generated class computes what the interpreter does: 16-lane tiles (where the CPU has AVX-512),
   * 8-lane tiles ({@code -Dresnetc.narrow=true}) and the scalar path (no Vector API), on a basic-block, a wide and
   * an option-A model (whose shortcut goes through the element-wise epilogue).
   */
  @ParameterizedTest
  @ValueSource(strings = {"preact_resnet18", "wrn16_4", "resnet20", "wrn16_4 winograd", "resnet20 winograd"})
  void everyPathMatchesTheInterpreter(String variant) {
    String model = variant.split(" ")[0];
    Frontend.Loaded l = Frontend.load(TestPaths.repoRoot().resolve("examples/cifar/" + model + ".resnet"));
    var options = CodegenOptions.defaults().withWinograd(variant.endsWith("winograd") ? Winograd.Mode.ALWAYS : Winograd.Mode.AUTO);
    var c = Driver.compile(l, RandomWeights.generate(l.graph(), 4), options);
    Graph g = c.graph();
    assertEquals(variant.endsWith("winograd"), c.source().contains("winogradIn("), "Winograd layers only when asked for");
    float[] x = new float[3 * 3 * 32 * 32];
    Random r = new Random(1);
    for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
    float[] ref = new Interpreter(g).run(x, 3);
    assertFalse(java.util.Arrays.equals(ref, new float[ref.length]));
    for (String flag : new String[] {null, "resnetc.narrow", "resnetc.scalar"}) {
      float[] y = TestPaths.withProperty(flag == null ? "resnetc.unused" : flag, flag == null ? null : "true", () -> {
        try (CompiledModel m = c.load(2)) { // a new class loader, so the flag is read again
          return m.predict(x, 3);
        }
      });
      for (int i = 0; i < ref.length; i++) assertEquals(ref[i], y[i], 1e-5f * (1 + Math.abs(ref[i])), (flag == null ? "vector" : flag) + ", output " + i);
    }
  }

  /** An image file in, the top-5 classes with the spec's label names out. */
  @Test
  void classifiesAnImageFileWithLabels() throws Exception {
    java.awt.image.BufferedImage img = new java.awt.image.BufferedImage(40, 36, java.awt.image.BufferedImage.TYPE_INT_RGB);
    for (int y = 0; y < 36; y++) for (int x = 0; x < 40; x++) img.setRGB(x, y, (x * 6) << 16 | (y * 7) << 8 | 90);
    Path png = tmp.resolve("picture.png");
    javax.imageio.ImageIO.write(img, "png", png.toFile());
    Result res = java(png.toString());
    assertEquals(0, res.code(), res.err());
    assertTrue(res.out().contains("picture.png"), res.out());
    long labelled = res.out().lines().filter(l -> l.matches(".*\\b(airplane|automobile|bird|cat|deer|dog|frog|horse|ship|truck)\\b.*")).count();
    assertEquals(5, labelled, res.out());
  }

  @Test
  void cifarInputFileIsReadAndPreprocessedByTheJar() throws Exception {
    // Two hand-made CIFAR records: labels 3 and 8, constant images.
    byte[] rec = new byte[2 * Cifar.RECORD];
    rec[0] = 3;
    java.util.Arrays.fill(rec, 1, Cifar.RECORD, (byte) 120);
    rec[Cifar.RECORD] = 8;
    java.util.Arrays.fill(rec, Cifar.RECORD + 1, rec.length, (byte) 200);
    Path in = tmp.resolve("two.bin");
    Files.write(in, rec);
    Result res = java("--input-cifar", in.toString());
    assertEquals(0, res.code(), res.err());
    assertTrue(res.out().matches("(?s).*accuracy: (0\\.0000|0\\.5000|1\\.0000).*"), res.out());
  }
}
