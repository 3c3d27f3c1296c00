package resnetc.weights;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.zip.CRC32;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;

/** Hand-made torch.save files for tests: a pickle assembler and the zip container PyTorch puts pickles in. */
final class TorchFiles {
  private TorchFiles() {}

  /** Pickle opcodes, one method each, in the byte order a pickler writes them. */
  static final class Pickler {
    private final ByteArrayOutputStream out = new ByteArrayOutputStream();

    Pickler op(int... bytes) {
      for (int b : bytes) out.write(b);
      return this;
    }

    Pickler raw(byte[] b) {
      out.writeBytes(b);
      return this;
    }

    Pickler proto() {
      return op(0x80, 2);
    }

    Pickler global(String module, String name) {
      return op('c').raw((module + "\n" + name + "\n").getBytes(StandardCharsets.US_ASCII));
    }

    Pickler str(String s) {
      byte[] b = s.getBytes(StandardCharsets.UTF_8);
      return op('X').raw(le32(b.length)).raw(b);
    }

    Pickler integer(int v) {
      return op('J').raw(le32(v));
    }

    /** LONG1 with 8 bytes, for ints beyond 32 bits. */
    Pickler integer(long v) {
      return op(0x8a, 8).raw(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(v).array());
    }

    Pickler mark() {
      return op('(');
    }

    Pickler tuple() {
      return op('t');
    }

    Pickler reduce() {
      return op('R');
    }

    Pickler emptyDict() {
      return op('}');
    }

    Pickler setItem() {
      return op('s');
    }

    Pickler stop() {
      return op('.');
    }

    /** {@code torch._utils._rebuild_tensor_v2(storage key, offset, shape, stride, False, OrderedDict())}, float32. */
    Pickler tensor(String key, long numel, int offset, int[] shape, int[] stride) {
      global("torch._utils", "_rebuild_tensor_v2").mark();
      mark().str("storage").global("torch", "FloatStorage").str(key).str("cpu").integer(numel).tuple().op('Q');
      integer(offset);
      mark();
      for (int d : shape) integer(d);
      tuple().mark();
      for (int s : stride) integer(s);
      tuple().op(0x89).global("collections", "OrderedDict").op(')').reduce();
      return tuple().reduce();
    }

    byte[] bytes() {
      return out.toByteArray();
    }
  }

  static Pickler pickle() {
    return new Pickler();
  }

  /** A torch.save zip: {@code archive/data.pkl}, {@code archive/data/<key>} per storage, stored uncompressed. */
  static Path zip(Path file, byte[] dataPkl, Map<String, byte[]> storages) throws IOException {
    try (OutputStream os = Files.newOutputStream(file); ZipOutputStream zip = new ZipOutputStream(os)) {
      put(zip, "archive/data.pkl", dataPkl);
      put(zip, "archive/byteorder", "little".getBytes(StandardCharsets.US_ASCII));
      for (var e : storages.entrySet()) put(zip, "archive/data/" + e.getKey(), e.getValue());
      put(zip, "archive/version", "3\n".getBytes(StandardCharsets.US_ASCII));
    }
    return file;
  }

  /**
   * The same archive with every size and offset in ZIP64 fields (the 32-bit ones read 0xffffffff), as a writer
   * does for checkpoints past 4 GiB.
   */
  static Path zip64(Path file, byte[] dataPkl, Map<String, byte[]> storages) throws IOException {
    Map<String, byte[]> entries = new java.util.LinkedHashMap<>();
    entries.put("archive/data.pkl", dataPkl);
    storages.forEach((k, v) -> entries.put("archive/data/" + k, v));
    ByteBuffer out = ByteBuffer.allocate(1 << 20).order(ByteOrder.LITTLE_ENDIAN);
    Map<String, Integer> offsets = new java.util.LinkedHashMap<>();
    for (var e : entries.entrySet()) {
      byte[] name = e.getKey().getBytes(StandardCharsets.UTF_8), data = e.getValue();
      offsets.put(e.getKey(), out.position());
      out.putInt(0x04034b50).putShort((short) 45).putShort((short) 0).putShort((short) 0).putInt(0).putInt(crc(data))
          .putInt(-1).putInt(-1).putShort((short) name.length).putShort((short) 20).put(name)
          .putShort((short) 1).putShort((short) 16).putLong(data.length).putLong(data.length).put(data);
    }
    int cd = out.position();
    for (var e : entries.entrySet()) {
      byte[] name = e.getKey().getBytes(StandardCharsets.UTF_8), data = e.getValue();
      out.putInt(0x02014b50).putShort((short) 45).putShort((short) 45).putShort((short) 0).putShort((short) 0).putInt(0)
          .putInt(crc(data)).putInt(-1).putInt(-1).putShort((short) name.length).putShort((short) 28).putShort((short) 0)
          .putShort((short) 0).putShort((short) 0).putInt(0).putInt(-1).put(name)
          .putShort((short) 1).putShort((short) 24).putLong(data.length).putLong(data.length).putLong(offsets.get(e.getKey()));
    }
    int cdEnd = out.position();
    out.putInt(0x06064b50).putLong(44).putShort((short) 45).putShort((short) 45).putInt(0).putInt(0)
        .putLong(entries.size()).putLong(entries.size()).putLong(cdEnd - cd).putLong(cd);
    out.putInt(0x07064b50).putInt(0).putLong(cdEnd).putInt(1);
    out.putInt(0x06054b50).putShort((short) 0).putShort((short) 0).putShort((short) -1).putShort((short) -1).putInt(-1).putInt(-1)
        .putShort((short) 0);
    return Files.write(file, java.util.Arrays.copyOf(out.array(), out.position()));
  }

  private static int crc(byte[] data) {
    CRC32 crc = new CRC32();
    crc.update(data);
    return (int) crc.getValue();
  }

  private static void put(ZipOutputStream zip, String name, byte[] data) throws IOException {
    ZipEntry e = new ZipEntry(name);
    e.setMethod(ZipEntry.STORED);
    e.setSize(data.length);
    CRC32 crc = new CRC32();
    crc.update(data);
    e.setCrc(crc.getValue());
    zip.putNextEntry(e);
    zip.write(data);
    zip.closeEntry();
  }

  static byte[] le32(int v) {
    return ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(v).array();
  }

  static byte[] f32(float... values) {
    ByteBuffer b = ByteBuffer.allocate(4 * values.length).order(ByteOrder.LITTLE_ENDIAN);
    for (float v : values) b.putFloat(v);
    return b.array();
  }
}
