package resnetc.runtime;

import static org.junit.jupiter.api.Assertions.*;

import java.net.URL;
import java.net.URLClassLoader;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class WeightsTest {
  /** Loaded again by a class loader that also sees the temporary directory, so resources "next to" it live there. */
  static final class Owner {}

  private static final int N = 300_000; // more than one 1 MiB read chunk

  @TempDir Path dir;

  private Class<?> owner() throws Exception {
    Path pkg = Files.createDirectories(dir.resolve("resnetc/runtime"));
    ByteBuffer b = ByteBuffer.allocate(N * 4).order(ByteOrder.LITTLE_ENDIAN);
    for (int i = 0; i < N; i++) b.putFloat(i * 0.5f - 3);
    Files.write(pkg.resolve("w.bin"), b.array());
    URL classes = Owner.class.getProtectionDomain().getCodeSource().getLocation();
    var loader = new URLClassLoader(new URL[] {dir.toUri().toURL(), classes}, ClassLoader.getPlatformClassLoader());
    Class<?> c = loader.loadClass(Owner.class.getName());
    assertNotSame(Owner.class, c);
    return c;
  }

  @Test
  void roundTripsAcrossChunks() throws Exception {
    Class<?> owner = owner();
    float[] w = Weights.load(owner, "w.bin", N);
    assertEquals(N, w.length);
    for (int i = 0; i < N; i++) assertEquals(i * 0.5f - 3, w[i], "value " + i);
    assertArrayEquals(w, Weights.load(owner, "/resnetc/runtime/w.bin", N));
  }

  @Test
  void wrongSizeNamesResourceAndBytes() throws Exception {
    Class<?> owner = owner();
    var tooFew = assertThrows(IllegalStateException.class, () -> Weights.load(owner, "w.bin", N + 1));
    assertTrue(tooFew.getMessage().contains("w.bin"), tooFew.getMessage());
    assertTrue(tooFew.getMessage().contains("1200000 bytes, expected 1200004"), tooFew.getMessage());
    var tooMany = assertThrows(IllegalStateException.class, () -> Weights.load(owner, "w.bin", 10));
    assertTrue(tooMany.getMessage().contains("1200000 bytes, expected 40"), tooMany.getMessage());
  }

  @Test
  void missingResourceIsNamed() {
    var e = assertThrows(IllegalStateException.class, () -> Weights.load(WeightsTest.class, "nope.bin", 4));
    assertTrue(e.getMessage().contains("nope.bin") && e.getMessage().contains("not found"), e.getMessage());
  }
}
