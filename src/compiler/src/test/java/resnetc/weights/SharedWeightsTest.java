package resnetc.weights;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.Optional;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import resnetc.TestPaths;

/** Reads the pretrained CIFAR-10 ResNet-20 from the shared data, written by the reference implementation. */
class SharedWeightsTest {
  @Test
  void opensPretrainedResnet20() {
    Optional<Path> file = TestPaths.shared("models/cifar10/resnet20.safetensors");
    Assumptions.assumeTrue(file.isPresent(), "shared resnet20.safetensors not present");
    try (SafeTensors st = SafeTensors.open(file.get())) {
      assertArrayEquals(new int[] {16, 3, 3, 3}, st.tensors().get("conv1.weight").shape());
      assertArrayEquals(new int[] {10, 64}, st.tensors().get("linear.weight").shape());
      float[] conv1 = st.readFloats("conv1.weight");
      assertEquals(16 * 3 * 3 * 3, conv1.length);
      for (String name : st.tensors().keySet()) {
        if (name.endsWith("num_batches_tracked")) continue;
        for (float v : st.readFloats(name)) assertTrue(Float.isFinite(v), name);
      }
    }
  }
}
