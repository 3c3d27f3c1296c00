package resnetc.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;

import java.util.Random;
import org.junit.jupiter.api.Test;

class PreprocessingTest {
  /** Plane by plane, the same float operations as {@code (x / div - mean[c]) / std[c]} element by element. */
  @Test
  void normalizesEveryPlaneWithItsChannel() {
    float[] mean = {0.485f, 0.456f, 0.406f}, std = {0.229f, 0.224f, 0.225f};
    Preprocessing p = new Preprocessing(255f, mean, std, 0, 0);
    int plane = 37 * 41;
    float[] x = new float[3 * 3 * plane];
    Random r = new Random(1);
    for (int i = 0; i < x.length; i++) x[i] = r.nextInt(256) + r.nextFloat();
    float[] expected = x.clone();
    for (int i = 0; i < expected.length; i++) {
      int c = (i / plane) % 3;
      expected[i] = (expected[i] / 255f - mean[c]) / std[c];
    }
    assertSame(x, p.apply(x, 3, plane));
    for (int i = 0; i < x.length; i++) assertEquals(Float.floatToRawIntBits(expected[i]), Float.floatToRawIntBits(x[i]), "element " + i);
  }
}
