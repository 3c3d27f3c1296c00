package resnetc.runtime;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;

/**
 * The data caches of the machine a model runs on, as Linux reports them for CPU 0
 * ({@code /sys/devices/system/cpu/cpu0/cache/index*}: level, type, size): the L2 of one core and the L3 the cores
 * share. Zero where a level is missing or cannot be read (another OS): callers then assume nothing.
 *
 * @param l2Bytes one core's L2
 * @param l3Bytes the L3 CPU 0 shares with others (on a VM, all of it, whoever else uses it)
 */
public record CpuCaches(long l2Bytes, long l3Bytes) {
  private static final Path SYSFS = Path.of("/sys/devices/system/cpu/cpu0/cache");

  /** This machine's caches, read once per JVM (every model instance asks). */
  public static CpuCaches here() {
    return Here.CACHES;
  }

  private static final class Here {
    static final CpuCaches CACHES = read(SYSFS);
  }

  /** The caches described under {@code dir} (an {@code index0..} directory per cache, as sysfs has them). */
  static CpuCaches read(Path dir) {
    long l2 = 0, l3 = 0;
    for (int i = 0; i < 16; i++) {
      Path index = dir.resolve("index" + i);
      if (!Files.isDirectory(index)) break;
      try {
        String type = Files.readString(index.resolve("type")).strip();
        if (type.equals("Instruction")) continue;
        int level = Integer.parseInt(Files.readString(index.resolve("level")).strip());
        long size = bytes(Files.readString(index.resolve("size")).strip());
        if (level == 2) l2 = size;
        if (level == 3) l3 = size;
      } catch (IOException | RuntimeException e) {
        // an unreadable or odd entry: that level stays unknown
      }
    }
    return new CpuCaches(l2, l3);
  }

  /** {@code 32K}, {@code 1024K}, {@code 32M} or plain bytes. */
  static long bytes(String size) {
    String s = size.toUpperCase(Locale.ROOT);
    long unit = s.endsWith("K") ? 1L << 10 : s.endsWith("M") ? 1L << 20 : s.endsWith("G") ? 1L << 30 : 1;
    return Long.parseLong(unit == 1 ? s : s.substring(0, s.length() - 1)) * unit;
  }
}
