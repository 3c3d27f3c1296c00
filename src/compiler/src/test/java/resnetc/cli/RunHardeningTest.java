package resnetc.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import resnetc.Frontend;
import resnetc.TestPaths;
import resnetc.ir.Graph;
import resnetc.ir.Tensor;
import resnetc.lower.LowerToIr;
import resnetc.runtime.Cifar;
import resnetc.runtime.F32;
import resnetc.runtime.ThreadTeam;
import resnetc.weights.RandomWeights;
import resnetc.weights.SafeTensorsWriter;

/**
 * {@code resnetc run} (and the other commands that read weights or write files) against hostile input: damaged
 * and non-finite weights, special files, limits, inputs streamed batch by batch, and writes that fail. Every
 * failure is one line and exit 1, and never an accuracy over garbage.
 */
class RunHardeningTest {
  @TempDir static Path dir;
  static Path spec, weights, records, pixelsF32;

  /** A small CIFAR-shaped model with pretrained-like (random, calibrated) weights in a safetensors file. */
  @BeforeAll
  static void fixtures() throws Exception {
    spec = Files.writeString(dir.resolve("tiny.resnet"), """
        model tiny {
          input f32 [3, 32, 32]
          preprocess { scale 1/255  mean [0.5, 0.5, 0.5]  std [0.25, 0.25, 0.25] }
          classes 10
          stem { conv 3x3 8  bn  relu }
          block basic
          shortcut A split
          stage layer1 1 x 8
          head { avgpool  fc }
          weights cifar
        }
        """);
    weights = writeWeights(dir.resolve("tiny.safetensors"), t -> {});
    Random r = new Random(3);
    byte[] b = new byte[7 * Cifar.RECORD];
    r.nextBytes(b);
    for (int i = 0; i < 7; i++) b[i * Cifar.RECORD] = (byte) (i % 10);
    records = Files.write(dir.resolve("seven.bin"), b);
    float[] x = new float[7 * 3 * 32 * 32];
    for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
    pixelsF32 = dir.resolve("seven.f32");
    F32.write(pixelsF32, x);
  }

  /** The tiny model's random weights, changed by {@code edit}, as a safetensors file. */
  static Path writeWeights(Path file, java.util.function.Consumer<Map<String, Tensor>> edit) {
    Frontend.Loaded l = Frontend.load(spec);
    Graph g = RandomWeights.generate(l.graph(), 5);
    Map<String, Tensor> tensors = new LinkedHashMap<>();
    for (String name : LowerToIr.parameters(l.graph()).keySet()) {
      Tensor t = g.constants().get(name);
      tensors.put(name, new Tensor(t.type(), t.data().clone()));
    }
    edit.accept(tensors);
    SafeTensorsWriter.write(file, tensors, null);
    return file;
  }

  record Run(int code, String out, String err) {
    void assertOneLineError(String fragment) {
      assertEquals(1, code, this.toString());
      assertTrue(err.startsWith("resnetc: error: ") && err.strip().lines().count() == 1, err);
      assertTrue(err.contains(fragment), err);
      assertFalse(err.contains("\tat ") || err.contains("Exception") || err.contains("internal error"), err);
      assertFalse(out.contains("accuracy"), out);
    }
  }

  static Run run(String... args) {
    StringWriter out = new StringWriter(), err = new StringWriter();
    int code = Main.execute(args, new PrintWriter(out), new PrintWriter(err));
    return new Run(code, out.toString(), err.toString());
  }

  /** A copy of {@code file} whose header length field is off by {@code delta}. */
  static Path headerLength(Path file, long delta, Path to) throws Exception {
    byte[] b = Files.readAllBytes(file);
    ByteBuffer bb = ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN);
    bb.putLong(0, bb.getLong(0) + delta);
    return Files.write(to, b);
  }

  /** The report's reproduction, on the tiny model: exit 0 with an accuracy over NaN logits before. */
  @Test
  void aHeaderLengthOneShortIsRefused() throws Exception {
    Path bad = headerLength(weights, -1, dir.resolve("short-header.safetensors"));
    Path out = dir.resolve("never.f32");
    Run r = run("run", spec.toString(), "--weights", bad.toString(), "--input-cifar", records.toString(), "--limit", "5", "--output", out.toString());
    r.assertOneLineError(bad + ": 1 trailing byte after the last tensor's data");
    assertFalse(Files.exists(out));
  }

  /** The exact reproduction of the report, with the shared pretrained ResNet-20 and CIFAR images. */
  @Test
  void theReportedReproductionIsRefused() throws Exception {
    var w = TestPaths.shared("models/cifar10/resnet20.safetensors");
    var images = TestPaths.shared("data/cifar10-test-1000.bin");
    assumeTrue(w.isPresent() && images.isPresent(), "../shared is absent");
    Path bad = headerLength(w.get(), -1, dir.resolve("resnet20-short-header.safetensors"));
    Run r = run("run", TestPaths.repoRoot().resolve("examples/cifar/resnet20.resnet").toString(), "--weights", bad.toString(),
        "--input-cifar", images.get().toString(), "--limit", "10", "--output", dir.resolve("x.f32").toString());
    r.assertOneLineError("trailing byte after the last tensor's data");
  }

  @Test
  void nonFiniteWeightsAreRefusedUnlessAllowedAndNeverScoredSilently() throws Exception {
    Path nan = writeWeights(dir.resolve("nan.safetensors"), t -> {
      t.get("conv1.weight").data()[4] = Float.NaN;
      t.get("linear.bias").data()[0] = Float.POSITIVE_INFINITY;
    });
    String[] args = {"run", spec.toString(), "--weights", nan.toString(), "--input-cifar", records.toString()};
    run(args).assertOneLineError(nan + ": 2 tensors hold non-finite values: conv1.weight (1 NaN of 216), linear.bias (1 infinite of 10); "
        + "--allow-non-finite loads them anyway");
    run("compile", spec.toString(), "--weights", nan.toString(), "-o", dir.resolve("nan.jar").toString())
        .assertOneLineError("conv1.weight (1 NaN of 216)");
    run("export-onnx", spec.toString(), "--weights", nan.toString(), "-o", dir.resolve("nan.onnx").toString())
        .assertOneLineError("conv1.weight (1 NaN of 216)");
    Run allowed = run(Stream.concat(Stream.of(args), Stream.of("--allow-non-finite")).toArray(String[]::new));
    assertEquals(0, allowed.code(), allowed.toString());
    assertTrue(allowed.out().contains("accuracy: 0.0000 (not meaningful: 7 of 7 images have non-finite outputs, counted as wrong)\n"), allowed.out());
    assertTrue(allowed.err().contains("resnetc: warning: " + nan + ": 2 tensors hold non-finite values"), allowed.err());
    assertTrue(allowed.err().contains("resnetc: warning: 7 of 7 images have NaN or infinite outputs"), allowed.err());
  }

  /**
   * Inputs are read and run --batch at a time: any batch gives the same outputs, scores and comparisons (the loop
   * is the same for every backend; the reference interpreter keeps it quick).
   */
  @Test
  void inputsStreamBatchByBatch() throws Exception {
    List<float[]> outputs = new ArrayList<>();
    List<String> accuracies = new ArrayList<>();
    for (String batch : new String[] {"50", "3", "1"}) {
      Path out = dir.resolve("cifar-" + batch + ".f32");
      Run r = run("run", spec.toString(), "--weights", weights.toString(), "--input-cifar", records.toString(), "--batch", batch,
          "--output", out.toString());
      assertEquals(0, r.code(), r.toString());
      assertTrue(r.out().contains("images: 7\n"), r.out());
      accuracies.add(r.out().replaceAll("(?s).*(accuracy: [0-9.]+\n).*", "$1"));
      outputs.add(F32.read(out));
    }
    assertEquals(70, outputs.get(0).length);
    for (float[] y : outputs) assertArrayEquals(outputs.get(0), y);
    assertEquals(1, accuracies.stream().distinct().count(), accuracies.toString());

    Path whole = dir.resolve("f32.f32");
    Run r = run("run", spec.toString(), "--weights", weights.toString(), "--input-f32", pixelsF32.toString(), "--output", whole.toString());
    assertEquals(0, r.code(), r.toString());
    Path limited = dir.resolve("f32-limited.f32");
    r = run("run", spec.toString(), "--weights", weights.toString(), "--input-f32", pixelsF32.toString(), "--batch", "2", "--limit", "5",
        "--output", limited.toString(), "--compare", whole.toString());
    assertEquals(0, r.code(), r.toString());
    assertTrue(r.out().contains("images: 5\n") && r.out().contains("max_abs_error: 0.00\n"), r.out());
    assertArrayEquals(java.util.Arrays.copyOf(F32.read(whole), 50), F32.read(limited));
  }

  @Test
  void limitsAndSpecialFilesAreOneLineErrors() throws Exception {
    String s = spec.toString(), w = weights.toString();
    run("run", s, "--weights", w, "--input-cifar", records.toString(), "--threads", "32768")
        .assertOneLineError("threads must be between 1 and " + ThreadTeam.maxThreads());
    assumeTrue(Files.exists(Path.of("/dev/null")));
    run("run", s, "--weights", w, "--input-cifar", "/dev/null").assertOneLineError("/dev/null is not a regular file");
    run("run", s, "--weights", w, "--input-f32", "/dev/null").assertOneLineError("/dev/null is not a regular file");
    run("run", s, "--weights", "/dev/null", "--input-f32", pixelsF32.toString()).assertOneLineError("/dev/null: not a regular file");
    run("run", s, "--weights", w, "--input-f32", dir.resolve("none.f32").toString()).assertOneLineError("no such file: ");
    run("run", s, "--weights", w, "--input-f32", pixelsF32.toString(), "--output", dir.toString()).assertOneLineError("is a directory");
    run("run", s, "--weights", w, "--input-f32", pixelsF32.toString(), "--compare", records.toString())
        .assertOneLineError("is not a whole number of outputs of 10 classes");
    Run devNull = run("run", s, "--weights", w, "--input-f32", pixelsF32.toString(), "--output", "/dev/null");
    assertEquals(0, devNull.code(), devNull.toString());
    assertFalse(Files.isRegularFile(Path.of("/dev/null")), "still a device");
    Path big = dir.resolve("big.f32");
    F32.write(big, new float[3 * 32 * 32 * 4]);
    run("run", s, "--weights", w, "--input-f32", big.toString(), "--batch", "1000000000")
        .assertOneLineError("--batch 1000000000 is too large");
  }

  /**
   * Outputs written under a file size limit ({@code ulimit -f}, in a child JVM): the write fails with one line that
   * names the file, and the ONNX file and the jar that were there before are intact, with no temporary file left.
   */
  @Test
  void failedWritesLeaveThePreviousFilesIntact() throws Exception {
    Path bash = Path.of("/bin/bash");
    assumeTrue(Files.isExecutable(bash) && System.getProperty("os.name").startsWith("Linux"));
    Path outDir = Files.createDirectories(dir.resolve("limited"));
    Path onnx = Files.writeString(outDir.resolve("tiny.onnx"), "the previous ONNX file");
    Path jar = Files.writeString(outDir.resolve("tiny.jar"), "the previous jar");
    for (List<String> command : List.of(
        List.of("export-onnx", spec.toString(), "--weights", weights.toString(), "-o", onnx.toString()),
        List.of("compile", spec.toString(), "--weights", weights.toString(), "-o", jar.toString()))) {
      List<String> cmd = new ArrayList<>(List.of(bash.toString(), "-c", "ulimit -f 2 && exec \"$@\"", "bash",
          Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-XX:-UsePerfData", "--add-modules", "jdk.incubator.vector",
          "-cp", System.getProperty("java.class.path"), Main.class.getName()));
      cmd.addAll(command);
      Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
      String text = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      assertEquals(1, p.waitFor(), text);
      Path target = command.get(0).equals("compile") ? jar : onnx;
      assertTrue(text.strip().endsWith("resnetc: error: cannot write " + target + ": File too large (over the file size limit, see ulimit -f)"), text);
    }
    assertEquals("the previous ONNX file", Files.readString(onnx));
    assertEquals("the previous jar", Files.readString(jar));
    try (Stream<Path> files = Files.list(outDir)) {
      assertEquals(List.of(onnx, jar).stream().sorted().toList(), files.sorted().toList(), "no temporary file left");
    }
  }
}
