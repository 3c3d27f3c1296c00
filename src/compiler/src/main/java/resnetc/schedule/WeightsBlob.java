package resnetc.schedule;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

/**
 * The weights blob the scheduler lays out: each tensor, packed as its kernel reads it, appended once per key, its
 * offset in floats written into the steps. Without weights only the offsets are computed, so the code is the same
 * whether or not weights are bound.
 */
final class WeightsBlob {
  private final boolean withData;
  private final List<float[]> parts = new ArrayList<>();
  private final Map<String, Long> offsets = new LinkedHashMap<>();
  private long size;

  WeightsBlob(boolean withData) {
    this.withData = withData;
  }

  /** Offset in floats of the tensor under {@code key}, appending {@code data} (of {@code floats} values) the first time. */
  long add(String key, long floats, Supplier<float[]> data) {
    Long at = offsets.get(key);
    if (at != null) return at;
    long offset = size;
    offsets.put(key, offset);
    size += floats;
    if (withData) {
      float[] d = data.get();
      if (d.length != floats) throw new IllegalStateException(key + ": " + d.length + " values, expected " + floats);
      parts.add(d);
    }
    if (size > Integer.MAX_VALUE - 8) throw new IllegalArgumentException("weights exceed 2^31 floats");
    return offset;
  }

  /** Floats so far. */
  long size() {
    return size;
  }

  /** The whole blob, or null without weights. */
  float[] toArray() {
    if (!withData) return null;
    float[] all = new float[Math.toIntExact(size)];
    int at = 0;
    for (float[] d : parts) {
      System.arraycopy(d, 0, all, at, d.length);
      at += d.length;
    }
    return all;
  }
}
