package resnetc.weights;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.zip.CRC32;

/**
 * The entries of a zip archive in a mapped file, as {@code torch.save} writes it: uncompressed ("stored") entries
 * whose data are slices of the mapping, so storages are read in place and never copied whole. Reads the central
 * directory (with ZIP64 for archives or entries past 4 GiB) and checks every offset and size against the file;
 * compressed or encrypted entries are refused, since PyTorch writes neither.
 */
final class StoredZip {
  /** One entry: its data (a slice of the file) and the CRC-32 the directory records for it. */
  record Entry(String name, MemorySegment data, int crc) {
    /** Throws when the data do not have the recorded CRC-32 (a damaged file). */
    void verify(String where) {
      CRC32 crc32 = new CRC32();
      for (long at = 0; at < data.byteSize(); at += 1 << 30) {
        crc32.update(data.asSlice(at, Math.min(1 << 30, data.byteSize() - at)).asByteBuffer());
      }
      if ((int) crc32.getValue() != crc) throw new WeightException(where + ": entry " + name + " fails its CRC-32 check (damaged file?)");
    }
  }

  private static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
  private static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
  private static final ValueLayout.OfLong U64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
  private static final int EOCD = 0x06054b50, ZIP64_LOCATOR = 0x07064b50, ZIP64_EOCD = 0x06064b50;
  private static final int CENTRAL = 0x02014b50, LOCAL = 0x04034b50;

  private StoredZip() {}

  /** The entries by name, in directory order. */
  static Map<String, Entry> read(MemorySegment file, String where) {
    long size = file.byteSize();
    long eocd = findEndOfDirectory(file, where);
    long entries = u16(file, eocd + 10), cdSize = u32(file, eocd + 12), cdOffset = u32(file, eocd + 16);
    if (u16(file, eocd + 4) != 0 || u16(file, eocd + 6) != 0) throw error(where, "multi-disk zip archives are not supported");
    if (entries == 0xffff || cdSize == 0xffffffffL || cdOffset == 0xffffffffL) {
      if (eocd < 20 || u32i(file, eocd - 20) != ZIP64_LOCATOR) throw error(where, "ZIP64 end-of-directory locator missing");
      long z = u64(file, eocd - 12, where);
      if (z < 0 || z > eocd - 20 - 56 || u32i(file, z) != ZIP64_EOCD) throw error(where, "ZIP64 end-of-directory record missing or out of place");
      entries = u64(file, z + 32, where);
      cdSize = u64(file, z + 40, where);
      cdOffset = u64(file, z + 48, where);
    }
    if (cdOffset < 0 || cdSize < 0 || cdOffset > size || cdSize > size - cdOffset) {
      throw error(where, "central directory lies outside the file (truncated file?)");
    }
    if (entries > cdSize / 46) throw error(where, "central directory declares " + entries + " entries, more than fit in it");

    Map<String, Entry> out = new LinkedHashMap<>();
    long at = cdOffset, end = cdOffset + cdSize;
    for (long i = 0; i < entries; i++) {
      if (at + 46 > end || u32i(file, at) != CENTRAL) throw error(where, "malformed central directory (entry " + i + ")");
      int flags = u16(file, at + 8), method = u16(file, at + 10), crc = u32i(file, at + 16);
      long compressed = u32(file, at + 20), uncompressed = u32(file, at + 24);
      int nameLen = u16(file, at + 28), extraLen = u16(file, at + 30), commentLen = u16(file, at + 32);
      long local = u32(file, at + 42);
      if (at + 46 + nameLen + extraLen + commentLen > end) throw error(where, "malformed central directory (entry " + i + ")");
      String name = new String(file.asSlice(at + 46, nameLen).toArray(ValueLayout.JAVA_BYTE), StandardCharsets.UTF_8);
      // ZIP64 extra field: the 64-bit values of exactly those fields that read 0xffffffff, in this order.
      long extra = at + 46 + nameLen, extraEnd = extra + extraLen;
      while (extra + 4 <= extraEnd) {
        int id = u16(file, extra), len = u16(file, extra + 2);
        if (extra + 4 + len > extraEnd) throw error(where, "malformed extra field of entry " + name);
        if (id == 1) {
          long f = extra + 4, fEnd = f + len;
          if (uncompressed == 0xffffffffL) { uncompressed = f + 8 <= fEnd ? u64(file, f, where) : -1; f += 8; }
          if (compressed == 0xffffffffL) { compressed = f + 8 <= fEnd ? u64(file, f, where) : -1; f += 8; }
          if (local == 0xffffffffL) local = f + 8 <= fEnd ? u64(file, f, where) : -1;
          if (uncompressed < 0 || compressed < 0 || local < 0) throw error(where, "malformed ZIP64 field of entry " + name);
        }
        extra += 4 + len;
      }
      at += 46 + nameLen + extraLen + commentLen;

      if ((flags & 1) != 0) throw error(where, "entry " + name + " is encrypted");
      if (method != 0) {
        throw error(where, "entry " + name + " is compressed (method " + method + "); torch.save stores entries uncompressed"
            + " (was the file re-zipped? save it again with torch.save)");
      }
      if (compressed != uncompressed) throw error(where, "entry " + name + " is stored but its sizes differ");
      if (local < 0 || local > size - 30 || u32i(file, local) != LOCAL) throw error(where, "entry " + name + ": local header missing (truncated file?)");
      long dataStart = local + 30 + u16(file, local + 26) + u16(file, local + 28);
      if (dataStart > size || compressed > size - dataStart) {
        throw error(where, "entry " + name + " extends past the end of the file (truncated file?)");
      }
      if (out.put(name, new Entry(name, file.asSlice(dataStart, compressed), crc)) != null) {
        throw error(where, "entry " + name + " appears twice");
      }
    }
    return Collections.unmodifiableMap(out);
  }

  /** The end-of-central-directory record: the last one in the file's final 64 KiB + 22 bytes. */
  private static long findEndOfDirectory(MemorySegment file, String where) {
    long size = file.byteSize();
    for (long at = size - 22; at >= Math.max(0, size - 22 - 0xffff); at--) {
      if (u32i(file, at) == EOCD && at + 22 + u16(file, at + 20) == size) return at;
    }
    throw error(where, "zip end-of-directory record not found (truncated file?)");
  }

  private static int u16(MemorySegment f, long at) {
    return f.get(U16, at) & 0xffff;
  }

  private static int u32i(MemorySegment f, long at) {
    return f.get(U32, at);
  }

  private static long u32(MemorySegment f, long at) {
    return f.get(U32, at) & 0xffffffffL;
  }

  private static long u64(MemorySegment f, long at, String where) {
    long v = f.get(U64, at);
    if (v < 0) throw error(where, "a ZIP64 size or offset is beyond 2^63");
    return v;
  }

  private static WeightException error(String where, String message) {
    return new WeightException(where + ": " + message);
  }
}
