package resnetc.onnx;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import resnetc.Frontend;
import resnetc.TestPaths;
import resnetc.interp.Interpreter;
import resnetc.runtime.CompiledModel;
import resnetc.target.TestTargets;
import resnetc.ir.Graph;
import resnetc.runtime.Cifar;
import resnetc.runtime.F32;
import resnetc.runtime.Preprocessing;
import resnetc.recover.SpecRecovery;

/**
 * The pretrained CIFAR ResNet-56 as PyTorch's two exporters write it ({@code ../shared/models/torch-export}): the
 * TorchScript one (batch norms folded, option A and flatten as long shape chains) and the dynamo one (external
 * data). Both import with PyTorch's accuracy, 0.838 on the 1000 shared images, and logits within 1e-5 of PyTorch's
 * relative to the largest logit. Skipped when ../shared is absent.
 */
class TorchExportTest {
  static final float[] MEAN = {0.485f, 0.456f, 0.406f}, STD = {0.229f, 0.224f, 0.225f};

  static Optional<Path> shared(String file) {
    return TestPaths.shared("models/torch-export/" + file);
  }

  /** The logits of n preprocessed images, 100 at a time. */
  static float[] run(java.util.function.BiFunction<float[], Integer, float[]> model, float[] x, int n) {
    int item = 3 * 32 * 32, classes = 10, batch = 100;
    float[] y = new float[n * classes];
    for (int s = 0; s < n; s += batch) {
      int b = Math.min(batch, n - s);
      System.arraycopy(model.apply(Arrays.copyOfRange(x, s * item, (s + b) * item), b), 0, y, s * classes, b * classes);
    }
    return y;
  }

  /** max |y - ref| over the first {@code n} images' logits, relative to the largest reference logit. */
  static double relError(float[] y, float[] ref, int n) {
    double maxAbs = 0, maxRef = 0;
    for (int i = 0; i < n * 10; i++) {
      maxAbs = Math.max(maxAbs, Math.abs(y[i] - ref[i]));
      maxRef = Math.max(maxRef, Math.abs(ref[i]));
    }
    return maxAbs / maxRef;
  }

  @ParameterizedTest
  @ValueSource(strings = {"resnet56.onnx", "resnet56_dynamo.onnx"})
  void importsWithPyTorchsAccuracyAndLogits(String file) throws Exception {
    Optional<Path> model = shared(file), torch = shared("cifar10-test-1000.resnet56.torch.logits.f32");
    Optional<Path> images = TestPaths.shared("data/cifar10-test-1000.bin");
    assumeTrue(model.isPresent() && torch.isPresent() && images.isPresent(), "../shared is absent");
    Graph g = OnnxImport.read(model.get(), "resnet56");
    Cifar data = Cifar.read(images.get(), 0);
    float[] x = new Preprocessing(255, MEAN, STD, 0, 0).apply(data.pixels(), 3, 32 * 32), ref = F32.read(torch.get());
    // the imported graph itself through the interpreter on 100 images; all 1000 through the native backend, which
    // compiles the same graph optimized (and equals the interpreter on it bit for bit: LlvmTargetTest)
    float[] some = run(new Interpreter(g)::run, x, 100);
    float[] y;
    try (CompiledModel m = TestTargets.spec(Frontend.load(model.get()), g, "native", "native").load(2)) {
      y = run(m::predict, x, data.count());
    }
    assertEquals(ref.length, y.length);
    int correct = 0;
    for (int i = 0; i < data.count(); i++) if (F32.argmax(y, i * 10, 10) == data.labels()[i]) correct++;
    double interpreted = relError(some, ref, 100), compiled = relError(y, ref, data.count());
    System.out.printf(java.util.Locale.ROOT, "%s: accuracy %.4f, max error vs PyTorch relative to the largest logit %.3g (interpreter, 100 images), %.3g"
        + " (native, 1000)%n", file, correct / (double) data.count(), interpreted, compiled);
    assertEquals(838, correct);
    assertTrue(interpreted <= 1e-5, "relative error of the imported graph " + interpreted);
    assertTrue(compiled <= 1e-5, "relative error compiled " + compiled);
  }

  /** {@code resnetc import}: the TorchScript export as a readable spec that computes the same bits. */
  @Test
  void theTorchScriptExportIsRecoveredAsAFoldedOptionAResnet56() {
    Optional<Path> model = shared("resnet56.onnx");
    assumeTrue(model.isPresent(), "../shared is absent");
    Graph g = OnnxImport.read(model.get(), "resnet56");
    SpecRecovery.Recovered r = SpecRecovery.recover(g, "resnet56.resnet", "resnet56.safetensors", List.of());
    for (String line : List.of("bn folded", "block basic\n", "shortcut A split\n", "stage layer1 9 x 16\n", "stage layer2 9 x 32 stride 2\n",
        "stage layer3 9 x 64 stride 2\n", "stem { conv 3x3 16 stride 1 pad 1  bn  relu }", "head { avgpool  fc }", "weights cifar")) {
      assertTrue(r.spec().contains(line), line + " in\n" + r.spec());
    }
    assertEquals(112, r.weights().size());
    assertTrue(r.weights().containsKey("layer3.8.conv2.bias") && r.weights().containsKey("linear.weight"), r.weights().keySet().toString());
    Graph fromSpec = Frontend.load("resnet56.resnet", r.spec()).graph().withConstants(r.weights());
    float[] x = OnnxModels.gaussian(4 * 3 * 32 * 32, 1, 3);
    assertArrayEquals(new Interpreter(g).run(x, 4), new Interpreter(fromSpec).run(x, 4));
  }
}
