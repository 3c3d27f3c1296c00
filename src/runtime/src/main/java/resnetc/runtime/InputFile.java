package resnetc.runtime;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * A file of fixed-size inputs read one batch at a time, so that a file of any size (over 2 GiB too) runs in the
 * memory of one batch: CIFAR binary records (a label byte, then 3x32x32 pixel bytes, as raw values 0..255 NCHW) or
 * little-endian float32 tensors of a fixed number of values each. The size is checked when the file is opened.
 */
public final class InputFile implements AutoCloseable {
  /** The most values one Java array holds (the JDK's own limit for array allocation). */
  public static final int MAX_ARRAY = Integer.MAX_VALUE - 8;

  private static final int CHUNK = 1 << 20; // bytes read at a time for float32 files

  /** {@code count} inputs: {@code count x floatsPerItem} values; labels for CIFAR records, else null. */
  public record Batch(float[] values, int[] labels, int count) {}

  private final Path file;
  private final FileChannel channel;
  private final boolean cifar;
  private final int floatsPerItem;
  private final long count;
  private long read;

  private InputFile(Path file, FileChannel channel, boolean cifar, int floatsPerItem, long count) {
    this.file = file;
    this.channel = channel;
    this.cifar = cifar;
    this.floatsPerItem = floatsPerItem;
    this.count = count;
  }

  /** CIFAR records, at most {@code limit} of them (all when limit <= 0). */
  public static InputFile cifar(Path file, long limit) throws IOException {
    long size = checkReadable(file);
    if (size == 0 || size % Cifar.RECORD != 0) {
      throw new IllegalArgumentException(file + ": " + size + " bytes is not a whole number of CIFAR records of " + Cifar.RECORD + " bytes");
    }
    return open(file, true, Cifar.RECORD - 1, size / Cifar.RECORD, limit);
  }

  /**
   * Float32 inputs of {@code floatsPerItem} values each, at most {@code limit} of them (all when limit <= 0);
   * {@code what} names one input in messages, e.g. {@code resnet20 inputs of 3x32x32}.
   */
  public static InputFile f32(Path file, int floatsPerItem, String what, long limit) throws IOException {
    if (floatsPerItem < 1) throw new IllegalArgumentException("inputs must have at least one value, got " + floatsPerItem);
    long size = checkReadable(file);
    long itemBytes = 4L * floatsPerItem;
    if (size == 0 || size % itemBytes != 0) {
      throw new IllegalArgumentException(file + ": " + size + " bytes is not a whole number of " + what + " = " + floatsPerItem
          + " float32 values (" + itemBytes + " bytes)");
    }
    return open(file, false, floatsPerItem, size / itemBytes, limit);
  }

  private static InputFile open(Path file, boolean cifar, int floatsPerItem, long count, long limit) throws IOException {
    try {
      return new InputFile(file, FileChannel.open(file, StandardOpenOption.READ), cifar, floatsPerItem, limit > 0 ? Math.min(count, limit) : count);
    } catch (AccessDeniedException e) {
      throw new IllegalArgumentException(file + ": permission denied");
    }
  }

  /**
   * Checks that {@code file} is a readable regular file and returns its size; the message says what is wrong
   * (no such file, a directory, a device or pipe such as {@code /dev/null}, no permission).
   */
  public static long checkReadable(Path file) throws IOException {
    if (!Files.exists(file)) throw new NoSuchFileException(file.toString());
    if (Files.isDirectory(file)) throw new IllegalArgumentException(file + " is a directory, not an input file");
    if (!Files.isRegularFile(file)) {
      throw new IllegalArgumentException(file + " is not a regular file (a device or a pipe?); inputs are read from files of known size");
    }
    if (!Files.isReadable(file)) throw new IllegalArgumentException(file + ": permission denied");
    return Files.size(file);
  }

  /**
   * The batch size to read with: {@code batch}, unless one batch of {@code floatsPerItem}-value inputs would not
   * fit one Java array, which is an error that names the largest batch that does.
   */
  public static int checkBatch(int batch, long floatsPerItem) {
    if (batch < 1) throw new IllegalArgumentException("--batch must be at least 1, got " + batch);
    long most = MAX_ARRAY / Math.max(1, floatsPerItem);
    if (batch > most) {
      throw new IllegalArgumentException("--batch " + batch + " is too large: " + batch + " inputs of " + floatsPerItem
          + " values do not fit one Java array; at most " + most);
    }
    return batch;
  }

  public Path file() {
    return file;
  }

  /** How many inputs the file holds (after the limit). */
  public long count() {
    return count;
  }

  /** How many are left to read. */
  public long remaining() {
    return count - read;
  }

  public int floatsPerItem() {
    return floatsPerItem;
  }

  /** The next at most {@code max} inputs, or null after the last one. */
  public Batch next(int max) throws IOException {
    int n = (int) Math.min(checkBatch(max, floatsPerItem), remaining());
    if (n == 0) return null;
    float[] values = new float[n * floatsPerItem];
    int[] labels = cifar ? new int[n] : null;
    if (cifar) readRecords(values, labels, n);
    else readFloats(values);
    read += n;
    return new Batch(values, labels, n);
  }

  /** Skips up to {@code n} inputs without reading them (positions past 2 GiB included). */
  void skip(long n) throws IOException {
    long k = Math.min(n, remaining());
    channel.position(channel.position() + k * (cifar ? Cifar.RECORD : 4L * floatsPerItem));
    read += k;
  }

  private void readRecords(float[] values, int[] labels, int n) throws IOException {
    int pixels = Cifar.RECORD - 1, perChunk = Math.max(1, CHUNK / Cifar.RECORD);
    ByteBuffer buf = ByteBuffer.allocate(Math.min(n, perChunk) * Cifar.RECORD);
    for (int done = 0; done < n; ) {
      int k = Math.min(n - done, perChunk);
      buf.clear().limit(k * Cifar.RECORD);
      fill(buf);
      byte[] b = buf.array();
      for (int i = 0; i < k; i++) {
        int r = i * Cifar.RECORD, o = (done + i) * pixels;
        labels[done + i] = b[r] & 0xff;
        for (int j = 0; j < pixels; j++) values[o + j] = b[r + 1 + j] & 0xff;
      }
      done += k;
    }
  }

  private void readFloats(float[] values) throws IOException {
    ByteBuffer buf = ByteBuffer.allocate((int) Math.min(CHUNK, 4L * values.length)).order(ByteOrder.LITTLE_ENDIAN);
    for (int done = 0; done < values.length; ) {
      int k = Math.min(values.length - done, buf.capacity() / 4);
      buf.clear().limit(4 * k);
      fill(buf);
      buf.flip();
      buf.asFloatBuffer().get(values, done, k);
      done += k;
    }
  }

  private void fill(ByteBuffer buf) throws IOException {
    while (buf.hasRemaining()) {
      if (channel.read(buf) < 0) throw new IOException(file + ": the file ended early (was it truncated while being read?)");
    }
  }

  @Override
  public void close() throws IOException {
    channel.close();
  }
}
