package resnetc.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The caches as sysfs describes them, and how many images a pass through the layers takes from them. */
class CpuCachesTest {
  @TempDir Path tmp;

  private void cache(int index, int level, String type, String size) throws IOException {
    Path d = Files.createDirectories(tmp.resolve("index" + index));
    Files.writeString(d.resolve("level"), level + "\n");
    Files.writeString(d.resolve("type"), type + "\n");
    Files.writeString(d.resolve("size"), size + "\n");
  }

  @Test
  void readsTheDataCachesOfEachLevel() throws IOException {
    cache(0, 1, "Data", "32K");
    cache(1, 1, "Instruction", "32K");
    cache(2, 2, "Unified", "1024K");
    cache(3, 3, "Unified", "32768K");
    assertEquals(new CpuCaches(1L << 20, 32L << 20), CpuCaches.read(tmp));
  }

  @Test
  void whatCannotBeReadIsUnknown() throws IOException {
    assertEquals(new CpuCaches(0, 0), CpuCaches.read(tmp.resolve("none")));
    cache(0, 2, "Unified", "lots");
    cache(1, 3, "Unified", "8M");
    assertEquals(new CpuCaches(0, 8L << 20), CpuCaches.read(tmp));
  }

  @Test
  void aPassKeepsItsImagesInAQuarterOfTheL3() {
    CpuCaches zen4 = new CpuCaches(1L << 20, 32L << 20);
    assertEquals(11, GeneratedModel.imagesPerPass(730_000, zen4, null), "ResNet-20 with Winograd");
    assertEquals(40, GeneratedModel.imagesPerPass(205_000, zen4, null), "ResNet-20 direct");
    assertEquals(Integer.MAX_VALUE, GeneratedModel.imagesPerPass(60_000_000, zen4, null), "ResNet-50: one image fills it, the batch shares weights");
    assertEquals(Integer.MAX_VALUE, GeneratedModel.imagesPerPass(730_000, new CpuCaches(0, 0), null), "caches unknown");
    assertEquals(3, GeneratedModel.imagesPerPass(730_000, zen4, "3"));
    assertEquals(Integer.MAX_VALUE, GeneratedModel.imagesPerPass(730_000, zen4, "all"));
    assertEquals("-Dresnetc.imagesPerPass must be a positive number or 'all', got '0'",
        assertThrows(IllegalArgumentException.class, () -> GeneratedModel.imagesPerPass(730_000, zen4, "0")).getMessage());
  }
}
