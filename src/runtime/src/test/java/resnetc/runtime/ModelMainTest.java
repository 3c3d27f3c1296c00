package resnetc.runtime;

import static org.junit.jupiter.api.Assertions.*;

import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

public class ModelMainTest {
  /**
   * 3 x size x size input, 10 classes; logit c = -(mean - c)^2 of the preprocessed image, so the prediction is
   * the class nearest the mean. Preprocessing divides by 10.
   */
  public static class TinyModel implements CompiledModel {
    final int size;
    final List<String> labels;

    public TinyModel() {
      this(32, List.of());
    }

    public TinyModel(int threads) {
      this();
    }

    public TinyModel(int size, List<String> labels) {
      this.size = size;
      this.labels = labels;
    }

    @Override public String name() { return "tiny"; }
    @Override public int channels() { return 3; }
    @Override public int height() { return size; }
    @Override public int width() { return size; }
    @Override public int classes() { return 10; }
    @Override public List<String> labels() { return labels; }

    @Override
    public Preprocessing preprocessing() {
      return new Preprocessing(10, new float[3], new float[] {1, 1, 1}, 0, 0);
    }

    @Override
    public float[] predict(float[] nchw, int batch) {
      CompiledModel.checkInput(this, nchw.length, batch);
      float[] out = new float[batch * 10];
      for (int b = 0; b < batch; b++) {
        double sum = 0;
        for (int i = 0; i < inputSize(); i++) sum += nchw[b * inputSize() + i];
        double mean = sum / inputSize();
        for (int c = 0; c < 10; c++) out[b * 10 + c] = (float) -((mean - c) * (mean - c));
      }
      return out;
    }

    @Override
    public void predict(MemorySegment input, MemorySegment output, int batch) {
      float[] y = predict(input.toArray(ValueLayout.JAVA_FLOAT), batch);
      MemorySegment.copy(y, 0, output, ValueLayout.JAVA_FLOAT, 0, y.length);
    }

    @Override public void close() {}
  }

  @TempDir Path dir;

  private record Result(int code, String out, String err) {}

  private static Result run(CompiledModel model, String... args) {
    var out = new ByteArrayOutputStream();
    var err = new ByteArrayOutputStream();
    int code = ModelMain.run(args, new PrintStream(out, true, StandardCharsets.UTF_8),
        new PrintStream(err, true, StandardCharsets.UTF_8), model);
    return new Result(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
  }

  private static void assertUserError(Result r, String fragment) {
    assertEquals(1, r.code(), r.toString());
    assertTrue(r.err().startsWith("error: "), r.err());
    assertTrue(r.err().contains(fragment), r.err());
    assertFalse(r.err().contains("\tat "), "stack trace in " + r.err());
  }

  /** n images whose preprocessed mean is value(i). */
  private static float[] inputs(int n, int size, java.util.function.IntToDoubleFunction value) {
    float[] x = new float[n * 3 * size * size];
    for (int i = 0; i < n; i++) Arrays.fill(x, i * 3 * size * size, (i + 1) * 3 * size * size, (float) value.applyAsDouble(i));
    return x;
  }

  @Test
  void f32InputWritesOutputsInBatches() throws Exception {
    Path in = dir.resolve("in.f32"), out = dir.resolve("out.f32");
    F32.write(in, inputs(5, 32, i -> i * 2)); // already preprocessed: no division by 10
    Result r = run(new TinyModel(), "--input-f32", in.toString(), "--output", out.toString(), "--batch", "2");
    assertEquals(0, r.code(), r.err());
    float[] y = F32.read(out);
    assertEquals(50, y.length);
    for (int i = 0; i < 5; i++) assertEquals(Math.min(i * 2, 9), F32.argmax(y, i * 10, 10));
    assertEquals(-1f, y[2 * 10 + 3]); // image 2 has mean 4: -(4 - 3)^2

    r = run(new TinyModel(), "--input-f32=" + in, "--limit", "3");
    assertEquals(0, r.code(), r.err());
    assertEquals(List.of("0: 0", "1: 2", "2: 4"), r.out().lines().toList());
  }

  @Test
  void cifarAccuracyAppliesPreprocessing() throws Exception {
    byte[] records = new byte[10 * Cifar.RECORD];
    for (int i = 0; i < 10; i++) {
      int label = i, shown = i < 7 ? i : (i + 1) % 10; // the last three look like another class
      records[i * Cifar.RECORD] = (byte) label;
      Arrays.fill(records, i * Cifar.RECORD + 1, (i + 1) * Cifar.RECORD, (byte) (shown * 10));
    }
    Path file = Files.write(dir.resolve("test_batch.bin"), records);
    Result r = run(new TinyModel(), "--input-cifar", file.toString(), "--batch", "3");
    assertEquals(0, r.code(), r.err());
    assertTrue(r.out().contains("accuracy: 0.7000\n"), r.out());
    r = run(new TinyModel(), "--input-cifar", file.toString(), "--limit", "4", "--output", dir.resolve("o.f32").toString());
    assertTrue(r.out().contains("accuracy: 1.0000\n"), r.out());
    assertEquals(40, F32.read(dir.resolve("o.f32")).length);
  }

  @Test
  void imagesPrintTopFiveWithLabels() throws Exception {
    BufferedImage img = new BufferedImage(12, 10, BufferedImage.TYPE_INT_RGB);
    for (int y = 0; y < 10; y++) for (int x = 0; x < 12; x++) img.setRGB(x, y, 0x1e1e1e); // 30 -> mean 3
    Path cat = dir.resolve("cat.png");
    ImageIO.write(img, "png", cat.toFile());
    List<String> names = List.of("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine");
    Result r = run(new TinyModel(8, names), cat.toString(), cat.toString());
    assertEquals(0, r.code(), r.err());
    List<String> lines = r.out().lines().toList();
    assertEquals(12, lines.size(), r.out());
    assertEquals(cat.toString(), lines.get(0));
    double z = 1 + 2 * Math.exp(-1) + 2 * Math.exp(-4) + 2 * Math.exp(-9) + Math.exp(-16) + Math.exp(-25) + Math.exp(-36);
    assertEquals(String.format(java.util.Locale.ROOT, "  %.4f  3  three", 1 / z), lines.get(1));
    assertTrue(lines.get(2).endsWith("  2  two") && lines.get(3).endsWith("  4  four"), r.out());
    assertTrue(lines.get(4).endsWith("  1  one") && lines.get(5).endsWith("  5  five"), r.out());

    r = run(new TinyModel(8, List.of()), cat.toString());
    assertTrue(r.out().lines().toList().get(1).endsWith("  3"), r.out());
  }

  @Test
  void probabilitiesPassThroughWhenTheyAlreadySumToOne() {
    assertArrayEquals(new double[] {0.25, 0.75}, ModelMain.probabilities(new float[] {0.25f, 0.75f}, 0, 2), 1e-7);
    double[] p = ModelMain.probabilities(new float[] {9, 0, 0}, 1, 2);
    assertArrayEquals(new double[] {0.5, 0.5}, p, 1e-12);
    assertArrayEquals(new int[] {2, 0}, ModelMain.top(new double[] {0.3, 0.1, 0.6}, 2));
  }

  @Test
  void benchPrintsTheRequiredLines() {
    Result r = run(new TinyModel(), "--bench", "--seconds", "0.2", "--batch", "2", "--threads", "3", "--warmup", "0.1");
    assertEquals(0, r.code(), r.err());
    String out = r.out();
    for (String key : List.of("median_ms", "p90_ms", "images_per_s", "runs", "cold_start_ms")) {
      assertTrue(out.matches("(?s).*\\n" + key + ": [0-9.]+\\n.*"), key + " in " + out);
    }
    assertTrue(out.contains("\nbatch: 2\n") && out.contains("\nthreads: 3\n"), out);
    assertTrue(out.matches("(?s).*\\nvector: (on|off)\\n.*"), out);
  }

  /** TinyModel as three timed "layers"; the middle one busy-waits 200 us per image, so it dominates. */
  static final class LayeredModel extends TinyModel {
    final boolean counting;
    final java.util.concurrent.atomic.AtomicLongArray nanos = new java.util.concurrent.atomic.AtomicLongArray(3);

    LayeredModel(boolean counting) {
      this.counting = counting;
    }

    @Override public List<String> layers() { return List.of("sum", "spin", "logits"); }
    @Override public List<String> layerKinds() { return List.of("reduce", "wait", "fc"); }
    @Override public List<String> layerShapes() { return List.of("1", "1", "10"); }
    @Override public long[] layerFlops() { return new long[] {3L * 32 * 32, 0, 40}; }

    @Override
    public long[] layerNanos() {
      long[] out = new long[3];
      for (int i = 0; i < 3; i++) out[i] = nanos.get(i);
      return out;
    }

    @Override
    public float[] predict(float[] nchw, int batch) {
      long t0 = System.nanoTime();
      float[] y = super.predict(nchw, batch);
      long t1 = System.nanoTime();
      while (System.nanoTime() - t1 < 200_000L * batch) Thread.onSpinWait();
      long t2 = System.nanoTime();
      if (counting) {
        nanos.addAndGet(0, t1 - t0);
        nanos.addAndGet(1, t2 - t1);
        nanos.addAndGet(2, 1);
      }
      return y;
    }
  }

  @Test
  void benchProfilePrintsEveryLayerWithItsShare() {
    Result r = run(new LayeredModel(true), "--bench", "--profile", "--seconds", "0.3", "--batch", "2", "--threads", "1", "--warmup", "0.1");
    assertEquals(0, r.code(), r.err());
    String out = r.out();
    assertTrue(out.contains("\nimages_per_s: "), out);
    int runs = Integer.parseInt(out.replaceAll("(?s).*\nruns: (\\d+)\n.*", "$1"));
    assertTrue(out.contains("\nprofile: tiny, batch 2, 1 thread, median of " + runs + " runs after "), out);
    var rows = java.util.regex.Pattern.compile("(?m)^ +(\\d+)  (\\S+) +(\\S+) +(\\S+) +([0-9.]+) +([0-9.]+|-) +([0-9.]+)%$").matcher(out);
    List<String> names = new java.util.ArrayList<>();
    double share = 0, spinShare = 0;
    while (rows.find()) {
      names.add(rows.group(2));
      share += Double.parseDouble(rows.group(7));
      if (rows.group(2).equals("spin")) {
        spinShare = Double.parseDouble(rows.group(7));
        assertEquals("-", rows.group(6), "no flops, no GFLOP/s");
        assertTrue(Double.parseDouble(rows.group(5)) >= 0.4, "2 images x 200 us per run: " + out);
      }
    }
    assertEquals(List.of("sum", "spin", "logits"), names, out);
    assertEquals(100, share, 0.2, out);
    assertTrue(spinShare > 50, out);
    assertTrue(out.matches("(?s).*\nwait +1 +[0-9.]+ +- +[0-9.]+%\n.*"), "by-kind summary in " + out);
  }

  @Test
  void profileMistakesAreOneLineErrors() {
    assertUserError(run(new LayeredModel(true), "--profile", "--input-f32", "x.f32"), "--profile needs --bench");
    assertUserError(run(new TinyModel(), "--bench", "--profile", "--seconds", "0.05"), "records no per-layer times");
    assertUserError(run(new LayeredModel(false), "--bench", "--profile", "--seconds", "0.05", "--warmup", "0"),
        "loaded without -Dresnetc.profile=true");
  }

  @Test
  void modelClassIsLoadedByName() throws Exception {
    Path in = dir.resolve("one.f32");
    F32.write(in, inputs(1, 32, i -> 6));
    Result r = run(null, "--model-class", TinyModel.class.getName(), "--threads", "2", "--input-f32", in.toString());
    assertEquals(0, r.code(), r.err());
    assertEquals("0: 6", r.out().strip());
    assertUserError(run(null, "--model-class", "no.such.Model", "--input-f32", in.toString()), "no.such.Model");
    assertUserError(run(null, "--model-class", "java.lang.String", "--input-f32", in.toString()), "is not a");
    assertUserError(run(null, "--input-f32", in.toString()), "Resnetc-Model");
  }

  @Test
  void userMistakesAreOneLineErrors() throws Exception {
    Path bad = dir.resolve("bad.f32");
    F32.write(bad, new float[3 * 32 * 32 + 1]);
    assertUserError(run(new TinyModel(), "--input-f32", bad.toString()), "not a whole number of tiny inputs of 3x32x32");
    assertUserError(run(new TinyModel(), "--input-f32", dir.resolve("nope.f32").toString()), "no such file");
    assertUserError(run(new TinyModel(), "--frobnicate"), "unknown option --frobnicate (see --help)");
    assertUserError(run(new TinyModel()), "no input");
    assertUserError(run(new TinyModel(), "--bench", "--batch", "0"), "--batch needs a positive whole number");
    assertUserError(run(new TinyModel(), "--bench", "--batch"), "--batch needs a value");
    assertUserError(run(new TinyModel(), "--bench", "--input-f32", bad.toString()), "only one of");
    assertUserError(run(new TinyModel(), "--serve", "--bench"), "only one of");
    assertUserError(run(new TinyModel(), "--bench", "--max-batch", "4"), "need --serve");
    assertUserError(run(new TinyModel(), "--serve", "--port", "70000"), "--port needs a whole number from 0 to 65535");
    assertUserError(run(new TinyModel(), "--serve", "--max-delay-ms", "-1"), "--max-delay-ms needs a number");
    assertUserError(run(new TinyModel(), "--serve", "--max-batch", "8", "--queue", "4"), "--queue (4) must hold at least --max-batch (8)");
    assertUserError(run(new TinyModel(), "--serve", "--output", "x.f32"), "--output does not apply to --serve");
    Path text = Files.writeString(dir.resolve("dog.jpg"), "woof");
    assertUserError(run(new TinyModel(), text.toString()), "dog.jpg");
    Path cifar = Files.write(dir.resolve("short.bin"), new byte[100]);
    assertUserError(run(new TinyModel(), "--input-cifar", cifar.toString()), "CIFAR records");
    assertUserError(run(new TinyModel(8, List.of()), "--input-cifar", cifar.toString()), "3x32x32");
    CompiledModel picky = new TinyModel() {
      @Override
      public float[] predict(float[] nchw, int batch) {
        throw new IllegalArgumentException("batch too large for this model");
      }
    };
    assertUserError(run(picky, "--bench"), "batch too large");
  }

  /** Outputs over NaN are never scored silently: the accuracy line says how many images had non-finite outputs. */
  @Test
  void nonFiniteOutputsAreNeverScoredSilently() throws Exception {
    byte[] records = new byte[4 * Cifar.RECORD]; // all label 0, all pixels 0: TinyModel predicts class 0
    Path file = Files.write(dir.resolve("zeros.bin"), records);
    CompiledModel nan = new TinyModel() {
      @Override
      public float[] predict(float[] nchw, int batch) {
        float[] y = super.predict(nchw, batch);
        java.util.Arrays.fill(y, 0, 10, Float.NaN); // the first image of each batch
        return y;
      }
    };
    Result r = run(nan, "--input-cifar", file.toString(), "--batch", "2");
    assertEquals(0, r.code(), r.err());
    assertTrue(r.out().contains("accuracy: 0.5000 (not meaningful: 2 of 4 images have non-finite outputs, counted as wrong)\n"), r.out());
    assertTrue(r.err().startsWith("warning: 2 of 4 images have NaN or infinite outputs"), r.err());
    Path in = dir.resolve("in.f32");
    F32.write(in, inputs(3, 32, i -> 1));
    r = run(nan, "--input-f32", in.toString(), "--batch", "2", "--output", dir.resolve("y.f32").toString());
    assertTrue(r.err().startsWith("warning: 2 of 3 images have NaN or infinite outputs"), r.err());
    r = run(new TinyModel(), "--input-cifar", file.toString());
    assertTrue(r.out().contains("accuracy: 1.0000\n") && r.err().isEmpty(), r.toString());
  }

  @Test
  void limitsAndSpecialFilesAreOneLineErrors() throws Exception {
    int most = ThreadTeam.maxThreads();
    assertUserError(run(null, "--model-class", TinyModel.class.getName(), "--threads", "32768", "--bench"),
        "threads must be between 1 and " + most);
    assertUserError(run(new TinyModel(), "--bench", "--batch", "1000000"), "--batch 1000000 is too large");
    assertUserError(run(new TinyModel(), "--input-f32", "/dev/null"), "/dev/null is not a regular file");
    assertUserError(run(new TinyModel(), "--input-cifar", dir.toString()), "is a directory");
    Path in = dir.resolve("in.f32");
    F32.write(in, inputs(2, 32, i -> 1));
    Path nowhere = dir.resolve("missing/out.f32");
    assertUserError(run(new TinyModel(), "--input-f32", in.toString(), "--output", nowhere.toString()), "cannot write " + nowhere);
    assertUserError(run(new TinyModel(), "--input-f32", in.toString(), "--output", dir.toString()), "is a directory");
    Path png = dir.resolve("a.png");
    ImageIO.write(new BufferedImage(12, 10, BufferedImage.TYPE_INT_RGB), "png", png.toFile());
    assertUserError(run(new TinyModel(8, List.of()), "--max-pixels", "100", png.toString()), "more than the limit of 100");
    assertEquals(0, run(new TinyModel(8, List.of()), "--max-pixels", "120", png.toString()).code());
  }

  /** A failed write (here: a model failing on the second batch) leaves an existing output file as it was. */
  @Test
  void aFailedRunLeavesThePreviousOutputIntact() throws Exception {
    Path in = dir.resolve("in.f32"), out = dir.resolve("out.f32");
    F32.write(in, inputs(4, 32, i -> 1));
    F32.write(out, new float[] {42});
    CompiledModel failsLate = new TinyModel() {
      int calls;

      @Override
      public float[] predict(float[] nchw, int batch) {
        if (++calls == 2) throw new IllegalStateException("the second batch failed");
        return super.predict(nchw, batch);
      }
    };
    assertUserError(run(failsLate, "--input-f32", in.toString(), "--output", out.toString(), "--batch", "2"), "the second batch failed");
    assertArrayEquals(new float[] {42}, F32.read(out));
    try (var files = Files.list(dir)) {
      assertEquals(2, files.count(), "no temporary file left");
    }
  }

  @Test
  void helpPrintsUsage() {
    Result r = run(null, "--help");
    assertEquals(0, r.code());
    assertTrue(r.out().startsWith("usage: java -jar MODEL.jar"), r.out());
    assertTrue(r.out().contains("--bench") && r.out().contains("--input-cifar"), r.out());
  }
}
