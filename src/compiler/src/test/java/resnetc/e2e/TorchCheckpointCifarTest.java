package resnetc.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import resnetc.Frontend;
import resnetc.TestPaths;
import resnetc.cli.Main;
import resnetc.interp.Interpreter;
import resnetc.ir.Graph;
import resnetc.ir.Tensor;
import resnetc.runtime.Cifar;

/**
 * The pretrained CIFAR checkpoints as PyTorch wrote them: the legacy-format .th files of the original repository
 * (names prefixed {@code module.}, under the key {@code state_dict}) and a current zip-format torch.save of
 * ResNet-56. Each binds to exactly the bits of the safetensors conversion, so every backend's logits are those of
 * the safetensors path; the accuracy on the 1000 shared images is checked end to end through the CLI.
 */
class TorchCheckpointCifarTest {
  @ParameterizedTest
  @CsvSource({"resnet20, cifar10/resnet20-12fca82f.th", "resnet56, cifar10/resnet56-4bfd9763.th", "resnet56, torch-export/resnet56.pth"})
  void checkpointBindsTheBitsOfTheSafetensorsFile(String model, String checkpoint) {
    Optional<Path> pth = TestPaths.shared("models/" + checkpoint), st = TestPaths.shared("models/cifar10/" + model + ".safetensors");
    assumeTrue(pth.isPresent() && st.isPresent(), "../shared is absent");
    Frontend.Loaded spec = Frontend.load(TestPaths.repoRoot().resolve("examples/cifar/" + model + ".resnet"));
    Map<String, Tensor> fromPth = Frontend.bind(spec, pth.get()).constants(), fromSt = Frontend.bind(spec, st.get()).constants();
    assertEquals(fromSt.keySet(), fromPth.keySet());
    for (String name : fromSt.keySet()) {
      float[] a = fromSt.get(name).data(), b = fromPth.get(name).data();
      assertEquals(fromSt.get(name).type(), fromPth.get(name).type(), name);
      for (int i = 0; i < a.length; i++) assertEquals(Float.floatToRawIntBits(a[i]), Float.floatToRawIntBits(b[i]), name + "[" + i + "]");
    }
  }

  @Test
  void logitsAreBitIdenticalToTheSafetensorsPath() throws Exception {
    Optional<Path> pth = TestPaths.shared("models/cifar10/resnet20-12fca82f.th"), st = TestPaths.shared("models/cifar10/resnet20.safetensors");
    Optional<Path> images = TestPaths.shared("data/cifar10-test-1000.bin");
    assumeTrue(pth.isPresent() && st.isPresent() && images.isPresent(), "../shared is absent");
    Frontend.Loaded spec = Frontend.load(TestPaths.repoRoot().resolve("examples/cifar/resnet20.resnet"));
    float[] x = Cifar.read(images.get(), 20).pixels();
    Graph a = Frontend.bind(spec, pth.get()), b = Frontend.bind(spec, st.get());
    float[] ya = new Interpreter(a).run(x, 20), yb = new Interpreter(b).run(x, 20);
    assertEquals(200, ya.length);
    for (int i = 0; i < ya.length; i++) assertEquals(Float.floatToRawIntBits(yb[i]), Float.floatToRawIntBits(ya[i]), "logit " + i);
  }

  /** The CLI with the checkpoint as --weights, through the Java backend (the fastest path that needs no LLVM). */
  @ParameterizedTest
  @CsvSource({"resnet20, resnet20-12fca82f.th#state_dict, 0.7950", "resnet56, resnet56-4bfd9763.th, 0.8380"})
  void accuracyOnTheSharedImages(String model, String checkpoint, String accuracy) {
    Optional<Path> dir = TestPaths.shared("models/cifar10"), images = TestPaths.shared("data/cifar10-test-1000.bin");
    assumeTrue(dir.isPresent() && images.isPresent(), "../shared is absent");
    StringWriter out = new StringWriter(), err = new StringWriter();
    int code = Main.execute(new String[] {"run", TestPaths.repoRoot().resolve("examples/cifar/" + model + ".resnet").toString(),
        "--weights", dir.get().resolve(checkpoint).toString(), "--input-cifar", images.get().toString(), "--backend", "java",
        "--batch", "100"}, new PrintWriter(out), new PrintWriter(err));
    assertEquals(0, code, err.toString());
    assertTrue(out.toString().contains("images: 1000\n"), out.toString());
    assertTrue(out.toString().contains("accuracy: " + accuracy + "\n"), out.toString());
  }
}
