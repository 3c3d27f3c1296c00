package resnetc.runtime;

import static org.junit.jupiter.api.Assertions.*;

import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class InputFileTest {
  @TempDir Path dir;

  /** n CIFAR records: label i % 10, pixel j of record i = (i + j) % 256. */
  private Path cifar(int n) throws Exception {
    byte[] b = new byte[n * Cifar.RECORD];
    for (int i = 0; i < n; i++) {
      b[i * Cifar.RECORD] = (byte) (i % 10);
      for (int j = 0; j < Cifar.RECORD - 1; j++) b[i * Cifar.RECORD + 1 + j] = (byte) (i + j);
    }
    return Files.write(dir.resolve("records.bin"), b);
  }

  @Test
  void cifarBatchesConcatenateToTheWholeFile() throws Exception {
    Path file = cifar(7);
    Cifar whole = Cifar.read(file, 0);
    for (int batch : new int[] {1, 2, 3, 7, 100}) {
      try (InputFile in = InputFile.cifar(file, 0)) {
        assertEquals(7, in.count());
        float[] pixels = new float[0];
        int[] labels = new int[0];
        int batches = 0;
        for (InputFile.Batch b; (b = in.next(batch)) != null; batches++) {
          assertTrue(b.count() <= batch && b.count() > 0);
          assertEquals(b.count() * 3072, b.values().length);
          pixels = concat(pixels, b.values());
          labels = java.util.stream.IntStream.concat(Arrays.stream(labels), Arrays.stream(b.labels())).toArray();
        }
        assertEquals((7 + batch - 1) / batch, batches, "batch " + batch);
        assertArrayEquals(whole.pixels(), pixels, "batch " + batch);
        assertArrayEquals(whole.labels(), labels, "batch " + batch);
      }
    }
    assertEquals(255f, whole.pixels()[255]);
    assertEquals(0f, whole.pixels()[2 * 3072 - 1]); // record 1, pixel 3071: (1 + 3071) % 256
    assertEquals(3, whole.labels()[3]);
    try (InputFile in = InputFile.cifar(file, 3)) {
      assertEquals(3, in.count());
      assertEquals(3, in.next(10).count());
      assertNull(in.next(10));
    }
  }

  @Test
  void f32BatchesConcatenateToTheWholeFile() throws Exception {
    float[] x = new float[5 * 6];
    for (int i = 0; i < x.length; i++) x[i] = i * 0.5f - 3;
    Path file = dir.resolve("x.f32");
    F32.write(file, x);
    try (InputFile in = InputFile.f32(file, 6, "inputs of 6", 0)) {
      assertEquals(5, in.count());
      float[] all = new float[0];
      for (InputFile.Batch b; (b = in.next(2)) != null; ) {
        assertNull(b.labels());
        all = concat(all, b.values());
      }
      assertArrayEquals(x, all);
    }
    var e = assertThrows(IllegalArgumentException.class, () -> InputFile.f32(file, 7, "tiny inputs of 7", 0));
    assertTrue(e.getMessage().contains("not a whole number of tiny inputs of 7"), e.getMessage());
  }

  @Test
  void badFilesAreNamedInWords() throws Exception {
    assertThrows(NoSuchFileException.class, () -> InputFile.cifar(dir.resolve("nope.bin"), 0));
    var e = assertThrows(IllegalArgumentException.class, () -> InputFile.cifar(dir, 0));
    assertTrue(e.getMessage().contains("is a directory"), e.getMessage());
    Path devNull = Path.of("/dev/null");
    Assumptions.assumeTrue(Files.exists(devNull));
    e = assertThrows(IllegalArgumentException.class, () -> InputFile.f32(devNull, 4, "inputs", 0));
    assertEquals("/dev/null is not a regular file (a device or a pipe?); inputs are read from files of known size", e.getMessage());
    Path odd = Files.write(dir.resolve("odd.bin"), new byte[Cifar.RECORD + 1]);
    e = assertThrows(IllegalArgumentException.class, () -> InputFile.cifar(odd, 0));
    assertTrue(e.getMessage().contains("odd.bin: 3074 bytes is not a whole number of CIFAR records"), e.getMessage());
  }

  /** The arithmetic for batches that would not fit one array, without allocating them. */
  @Test
  void aBatchLargerThanAnArrayIsRefusedWithTheLargestThatFits() {
    assertEquals(1000, InputFile.checkBatch(1000, 3072));
    int most = InputFile.MAX_ARRAY / 3072;
    assertEquals(most, InputFile.checkBatch(most, 3072));
    var e = assertThrows(IllegalArgumentException.class, () -> InputFile.checkBatch(most + 1, 3072));
    assertTrue(e.getMessage().contains("at most " + most), e.getMessage());
    assertThrows(IllegalArgumentException.class, () -> InputFile.checkBatch(0, 3072));
    assertThrows(IllegalArgumentException.class, () -> InputFile.checkBatch(2, InputFile.MAX_ARRAY));
  }

  /**
   * A sparse file of just over 2 GiB that is a whole number of records (no disk space used): its count is right,
   * the first batch and the last record (past the 2 GiB mark) read correctly, and the whole-array reader refuses it
   * in words before allocating anything.
   */
  @Test
  void aFileOverTwoGibibytesStreams() throws Exception {
    long records = InputFile.MAX_ARRAY / (Cifar.RECORD - 1) + 5; // 2.15e9 bytes, more pixels than one array holds
    Path big = dir.resolve("big.bin");
    try (RandomAccessFile f = new RandomAccessFile(big.toFile(), "rw")) {
      f.setLength(records * Cifar.RECORD);
      f.seek((records - 1) * Cifar.RECORD);
      byte[] last = new byte[Cifar.RECORD];
      last[0] = 7;
      Arrays.fill(last, 1, last.length, (byte) 200);
      f.write(last);
    }
    assertTrue(Files.size(big) > 1L << 31);
    try (InputFile in = InputFile.cifar(big, 0)) {
      assertEquals(records, in.count());
      InputFile.Batch first = in.next(4);
      assertEquals(4, first.count());
      assertEquals(0, first.labels()[3]);
      in.skip(records - 5);
      InputFile.Batch last = in.next(4);
      assertEquals(1, last.count());
      assertEquals(7, last.labels()[0]);
      assertEquals(200f, last.values()[3071]);
      assertNull(in.next(4));
    }
    var e = assertThrows(IllegalArgumentException.class, () -> Cifar.read(big, 0));
    assertTrue(e.getMessage().contains(records + " records do not fit one array"), e.getMessage());
    assertEquals(2, Cifar.read(big, 2).count());
  }

  private static float[] concat(float[] a, float[] b) {
    float[] out = Arrays.copyOf(a, a.length + b.length);
    System.arraycopy(b, 0, out, a.length, b.length);
    return out;
  }
}
