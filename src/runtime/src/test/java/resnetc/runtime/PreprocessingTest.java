package resnetc.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
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

  /** A caller writing to mean() or std(), or to the arrays it passed in, changes no other instance. */
  @Test
  void meanAndStdAreCopies() {
    float[] mean = {0.5f, 0.25f}, std = {2, 4};
    Preprocessing p = new Preprocessing(1, mean, std, 0, 0), same = new Preprocessing(1, mean, std, 0, 0);
    mean[0] = 99;
    std[1] = 99;
    p.mean()[1] = 7;
    p.std()[0] = 7;
    assertArrayEquals(new float[] {0.5f, 0.25f}, p.mean());
    assertArrayEquals(new float[] {2, 4}, p.std());
    assertArrayEquals(new float[] {0.5f, 0.25f}, same.mean());
    assertEquals(same, p);
    float[] x = {4, 4};
    p.apply(x, 2, 1);
    assertArrayEquals(new float[] {1.75f, 0.9375f}, x);
  }
}
