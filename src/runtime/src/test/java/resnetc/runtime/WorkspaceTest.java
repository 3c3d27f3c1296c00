package resnetc.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;

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
}
