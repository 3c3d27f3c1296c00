package resnetc.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import resnetc.TestPaths;
import resnetc.cli.Main;
import resnetc.runtime.F32;

/**
 * The done-when of the foundation issue: the CLI on the shared pretrained CIFAR models reproduces the independent
 * float64 reference logits to 1e-3 and the reference accuracy. Skipped when ../shared is absent.
 */
class PretrainedCifarTest {
  @TempDir Path tmp;

  /**
   * ResNet-20 on all 1000 images; ResNet-56 (three times the work) on the first 300 (the file is sorted by class), whose reference accuracy is
   * 0.7867 (its 1000-image accuracy through the reference interpreter is PipelineEquivalenceTest's).
   */
  @ParameterizedTest
  @CsvSource({"resnet20, 0.7950, 1000", "resnet56, 0.7867, 300"})
  void cliReproducesReferenceLogitsAndAccuracy(String model, String accuracy, int images1) throws Exception {
    Optional<Path> weights = TestPaths.shared("models/cifar10/" + model + ".safetensors");
    Optional<Path> images = TestPaths.shared("data/cifar10-test-1000.bin");
    Optional<Path> logits = TestPaths.shared("data/cifar10-test-1000." + model + ".logits.f32");
    assumeTrue(weights.isPresent() && images.isPresent() && logits.isPresent(), "../shared is absent");

    Path out = tmp.resolve("logits.f32");
    StringWriter stdout = new StringWriter(), stderr = new StringWriter();
    int code = Main.execute(new String[] {"run", TestPaths.repoRoot().resolve("examples/cifar/" + model + ".resnet").toString(),
        "--weights", weights.get().toString(), "--input-cifar", images.get().toString(), "--limit", Integer.toString(images1), "--output",
        out.toString(), "--backend", "reference"},
        new PrintWriter(stdout), new PrintWriter(stderr));
    assertEquals(0, code, stderr.toString());
    assertTrue(stdout.toString().contains("accuracy: " + accuracy + "\n"), stdout.toString());

    float[] got = F32.read(out), ref = java.util.Arrays.copyOf(F32.read(logits.get()), images1 * 10);
    assertEquals(ref.length, got.length);
    double maxAbs = 0;
    for (int i = 0; i < ref.length; i++) maxAbs = Math.max(maxAbs, Math.abs(got[i] - ref[i]));
    System.out.printf("%s: max abs error vs float64 reference logits %.3g%n", model, maxAbs);
    assertTrue(maxAbs < 1e-3, "max abs error " + maxAbs);
  }

  @ParameterizedTest
  @CsvSource({"resnet20"})
  void preprocessedF32InputGivesTheSameLogits(String model) throws Exception {
    Optional<Path> weights = TestPaths.shared("models/cifar10/" + model + ".safetensors");
    Optional<Path> images = TestPaths.shared("data/cifar10-test-1000.bin");
    assumeTrue(weights.isPresent() && images.isPresent(), "../shared is absent");
    // Preprocess 20 images by hand, as a user of --input-f32 would, and compare with --input-cifar.
    float[] pix = resnetc.runtime.Cifar.read(images.get(), 20).pixels();
    float[] mean = {0.485f, 0.456f, 0.406f}, std = {0.229f, 0.224f, 0.225f};
    for (int i = 0; i < pix.length; i++) {
      int c = (i / 1024) % 3;
      pix[i] = (pix[i] / 255f - mean[c]) / std[c];
    }
    Path in = tmp.resolve("in.f32");
    F32.write(in, pix);
    String spec = TestPaths.repoRoot().resolve("examples/cifar/" + model + ".resnet").toString();
    Path a = tmp.resolve("a.f32"), b = tmp.resolve("b.f32");
    StringWriter err = new StringWriter();
    assertEquals(0, Main.execute(new String[] {"run", spec, "--weights", weights.get().toString(), "--input-f32", in.toString(), "--output", a.toString(), "--backend", "reference"},
        new PrintWriter(new StringWriter()), new PrintWriter(err)), err.toString());
    assertEquals(0, Main.execute(new String[] {"run", spec, "--weights", weights.get().toString(), "--input-cifar", images.get().toString(),
        "--limit", "20", "--batch", "7", "--output", b.toString(), "--backend", "reference"}, new PrintWriter(new StringWriter()), new PrintWriter(err)), err.toString());
    float[] x = F32.read(a), y = F32.read(b);
    assertEquals(200, x.length);
    for (int i = 0; i < x.length; i++) assertEquals(y[i], x[i], 1e-4, "logit " + i);
    assertTrue(Files.size(a) == 800);
  }
}
