package resnetc.target.java;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import resnetc.interp.Interpreter;
import resnetc.ir.Graph;
import resnetc.TestPaths;
import resnetc.ir.IrParser;
import resnetc.schedule.Winograd;
import resnetc.target.TestTargets;
import resnetc.runtime.CompiledModel;

/**
 * Max pooling alone through a generated class, on every path (16-lane, 8-lane, scalar), bit for bit against the
 * interpreter: odd sizes so windows hang over the right and bottom edges, all-negative inputs so a padding zero
 * would win if it were read, NaNs that must win, +0 and -0 ties, infinities, and rows too short for a vector.
 */
class MaxPoolTest {
  @ParameterizedTest
  @CsvSource({
      "3, 11, 75, 3, 2, 1", // the ResNet stem pool: interior columns overlap the last vector
      "2, 9, 21, 3, 2, 1", // interior shorter than 16 lanes
      "2, 7, 40, 3, 1, 1",
      "2, 8, 36, 2, 2, 0", // no border columns
      "2, 10, 43, 3, 3, 1", // stride 3: scalar interior
      "1, 5, 6, 5, 1, 2", // every column a border column
  })
  void matchesTheInterpreterBitForBit(int c, int h, int w, int k, int s, int p) {
    int oh = (h + 2 * p - k) / s + 1, ow = (w + 2 * p - k) / s + 1;
    Graph g = IrParser.parse(String.format("""
        graph pool {
          %%x = input : f32[N,%d,%d,%d]
          %%y = maxpool %%x kernel=%dx%d stride=%d pad=%d : f32[N,%d,%d,%d]
          return %%y
        }
        """, c, h, w, k, k, s, p, c, oh, ow));
    int batch = 2;
    float[] x = new float[batch * c * h * w];
    Random r = new Random(h * 31 + w);
    for (int i = 0; i < x.length; i++) {
      int pick = r.nextInt(40);
      x[i] = switch (pick) {
        case 0 -> Float.NaN;
        case 1, 2, 3 -> 0f;
        case 4, 5, 6 -> -0f;
        case 7 -> Float.NEGATIVE_INFINITY;
        case 8 -> Float.POSITIVE_INFINITY;
        default -> -1f - (float) Math.abs(r.nextGaussian());
      };
    }
    float[] ref = new Interpreter(g).run(x, batch);
    for (String flag : new String[] {null, "resnetc.narrow", "resnetc.scalar"}) {
      float[] y = TestPaths.withProperty(flag == null ? "resnetc.unused" : flag, flag == null ? null : "true", () -> {
        try (CompiledModel m = TestTargets.raw(g, "java", Winograd.Mode.OFF, 2)) {
          return m.predict(x, batch);
        }
      });
      assertEquals(ref.length, y.length);
      for (int i = 0; i < ref.length; i++) {
        assertEquals(Float.floatToIntBits(ref[i]), Float.floatToIntBits(y[i]),
            (flag == null ? "vector" : flag) + ", output " + i + ": " + y[i] + " instead of " + ref[i]);
      }
    }
  }
}
