package resnetc.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class WorkspaceTest {
  @Test
  void reusesTheBuffersOfTheSameBatchOnlyAndNeverHandsThemOutTwice() {
    Workspace w = new Workspace(10, 4, 3);
    Workspace.Buffers b = w.take(2);
    assertEquals(24, b.a().length);
    assertEquals(6, b.s().length);
    assertNotSame(b, w.take(2), "taken buffers are not handed out again");
    w.give(b);
    assertSame(b, w.take(2));
    w.give(b);
    Workspace.Buffers c = w.take(3);
    assertNotSame(b, c);
    assertEquals(34, c.a().length);
    w.give(c);
    w.clear();
    assertNotSame(c, w.take(3));
  }

  /** A model with threads keeps that many spare sets (a busy server's lanes), of any batch sizes, and no more. */
  @Test
  void keepsOneSpareSetPerConcurrentCallUpToItsLimit() {
    Workspace w = new Workspace(10, 0, 1, Integer.MAX_VALUE, 2);
    Workspace.Buffers a = w.take(1), b = w.take(1), c = w.take(8);
    assertNotSame(a, b);
    w.give(a);
    w.give(c);
    assertSame(a, w.take(1), "the batch-1 set is found behind the batch-8 one");
    assertSame(c, w.take(8));
    w.give(a);
    w.give(b);
    w.give(c); // a third set: the oldest (a) is dropped
    assertSame(c, w.take(8));
    assertSame(b, w.take(1));
    assertNotSame(a, w.take(1));
    assertThrows(IllegalArgumentException.class, () -> new Workspace(10, 0, 1, Integer.MAX_VALUE, 0));
  }

  /**
   * ResNet-20's Java class has an arena of 57,360 floats per image: batch 65,536 overflowed an int and threw
   * ArithmeticException. Now the limit is the largest batch whose arena and scratch fit an array, refused with an
   * IllegalArgumentException before anything is allocated (these batches would need gigabytes).
   */
  @Test
  void oneBatchLimitRefusedBeforeAnyAllocation() {
    Workspace w = new Workspace(57_360, 64, 20_000);
    int most = (InputFile.MAX_ARRAY - 64) / 57_360;
    assertEquals(most, w.maxBatch());
    assertEquals(most, Workspace.maxBatch(57_360, 64, 20_000));
    for (int n : new int[] {most + 1, 65_536, Integer.MAX_VALUE, 0, -3}) {
      var e = assertThrows(IllegalArgumentException.class, () -> w.take(n));
      assertTrue(e.getMessage().contains("1 to " + most + " images per call"), e.getMessage());
    }
    assertEquals(InputFile.MAX_ARRAY / 1_000_000, Workspace.maxBatch(10, 4, 1_000_000), "scratch can be the tighter one");
    assertEquals(Integer.MAX_VALUE, Workspace.maxBatch(0, 0, 0));
  }
}
