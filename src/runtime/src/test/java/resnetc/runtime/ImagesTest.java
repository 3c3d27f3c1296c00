package resnetc.runtime;

import static org.junit.jupiter.api.Assertions.*;

import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ImagesTest {
  @TempDir Path dir;

  /** A w x h PNG with R = 10x, G = 20y, B = 7. */
  private Path gradient(int w, int h) throws Exception {
    BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
    for (int y = 0; y < h; y++) for (int x = 0; x < w; x++) img.setRGB(x, y, (10 * x) << 16 | (20 * y) << 8 | 7);
    Path file = dir.resolve("g" + w + "x" + h + ".png");
    ImageIO.write(img, "png", file.toFile());
    return file;
  }

  private static Preprocessing sizes(int resize, int crop) {
    return new Preprocessing(1, new float[3], new float[] {1, 1, 1}, resize, crop);
  }

  private static float at(float[] chw, int c, int y, int x, int h, int w) {
    return chw[(c * h + y) * w + x];
  }

  @Test
  void centerCropWithoutResampling() throws Exception {
    // 8x4: the shorter side already is 4, so only the crop acts, starting at x = (8 - 4) / 2 = 2.
    float[] px = Images.load(gradient(8, 4), 3, 4, 4, sizes(4, 4));
    assertEquals(48, px.length);
    for (int y = 0; y < 4; y++) {
      for (int x = 0; x < 4; x++) {
        assertEquals(10 * (x + 2), at(px, 0, y, x, 4, 4), "R at " + y + "," + x);
        assertEquals(20 * y, at(px, 1, y, x, 4, 4));
        assertEquals(7, at(px, 2, y, x, 4, 4));
      }
    }
    // 9x4: offset round(2.5) = 2, half to even like Python.
    assertEquals(20, at(Images.load(gradient(9, 4), 3, 4, 4, sizes(4, 4)), 0, 0, 0, 4, 4));
  }

  @Test
  void shorterSideResizeThenCrop() throws Exception {
    // 16x8 -> 8x4 (PIL bilinear, antialiased: a triangle filter two pixels wide), then crop x from 2.
    float[] px = Images.load(gradient(16, 8), 3, 4, 4, sizes(4, 4));
    for (int x = 0; x < 4; x++) assertEquals(20 * (x + 2) + 5, at(px, 0, 1, x, 4, 4), "linear ramp, inside");
    // Rows: inside the filter sees a linear ramp; at the borders it is cut and renormalized, as PIL does.
    assertEquals(14, at(px, 1, 0, 0, 4, 4)); // (0.75*0 + 0.75*20 + 0.25*40) / 1.75
    assertEquals(50, at(px, 1, 1, 0, 4, 4));
    assertEquals(90, at(px, 1, 2, 0, 4, 4));
    assertEquals(126, at(px, 1, 3, 0, 4, 4)); // (0.25*100 + 0.75*120 + 0.75*140) / 1.75
    assertEquals(7, at(px, 2, 3, 3, 4, 4));
  }

  @Test
  void directResizeWhenNoResizeOrCrop() throws Exception {
    BufferedImage img = new BufferedImage(13, 7, BufferedImage.TYPE_INT_ARGB);
    for (int y = 0; y < 7; y++) for (int x = 0; x < 13; x++) img.setRGB(x, y, 0x80C86432); // alpha dropped, like PIL
    Path file = dir.resolve("flat.png");
    ImageIO.write(img, "png", file.toFile());
    float[] px = Images.load(file, 3, 5, 6, Preprocessing.identity(3));
    assertEquals(90, px.length);
    for (int i = 0; i < 30; i++) {
      assertEquals(200, px[i]);
      assertEquals(100, px[30 + i]);
      assertEquals(50, px[60 + i]);
    }
    float[] gray = Images.load(file, 1, 5, 6, Preprocessing.identity(1));
    assertEquals((200 * 19595 + 100 * 38470 + 50 * 7471 + 0x8000) >> 16, gray[0]);
  }

  @Test
  void grayImagesKeepTheirValues() throws Exception {
    BufferedImage img = new BufferedImage(4, 4, BufferedImage.TYPE_BYTE_GRAY);
    for (int y = 0; y < 4; y++) for (int x = 0; x < 4; x++) img.getRaster().setSample(x, y, 0, 100);
    Path file = dir.resolve("gray.png");
    ImageIO.write(img, "png", file.toFile());
    float[] px = Images.load(file, 3, 4, 4, Preprocessing.identity(3));
    for (float v : px) assertEquals(100, v); // not brightened by a linear-to-sRGB conversion
  }

  @Test
  void cropLargerThanImagePadsWithZeros() throws Exception {
    float[] px = Images.load(gradient(2, 2), 3, 4, 4, sizes(0, 4));
    assertEquals(0, at(px, 2, 0, 0, 4, 4));
    assertEquals(7, at(px, 2, 1, 1, 4, 4));
    assertEquals(10, at(px, 0, 1, 2, 4, 4));
    assertEquals(0, at(px, 2, 3, 3, 4, 4));
  }

  @Test
  void badInputsNameTheProblem() throws Exception {
    Path text = Files.writeString(dir.resolve("notes.png"), "not an image");
    var e = assertThrows(IllegalArgumentException.class, () -> Images.load(text, 3, 4, 4, Preprocessing.identity(3)));
    assertTrue(e.getMessage().contains("notes.png"), e.getMessage());
    Path missing = dir.resolve("missing.jpg");
    e = assertThrows(IllegalArgumentException.class, () -> Images.load(missing, 3, 4, 4, Preprocessing.identity(3)));
    assertTrue(e.getMessage().contains("missing.jpg"), e.getMessage());
    Path ok = gradient(4, 4);
    e = assertThrows(IllegalArgumentException.class, () -> Images.load(ok, 4, 4, 4, Preprocessing.identity(4)));
    assertTrue(e.getMessage().contains("not 4"), e.getMessage());
  }

  /** A PNG that is only a signature, an IHDR chunk declaring w x h RGB pixels and IEND: no pixel data at all. */
  private Path headerOnlyPng(int w, int h) throws Exception {
    var out = new java.io.ByteArrayOutputStream();
    out.write(new byte[] {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'});
    chunk(out, "IHDR", java.nio.ByteBuffer.allocate(13).putInt(w).putInt(h).put((byte) 8).put((byte) 2).array());
    chunk(out, "IEND", new byte[0]);
    return Files.write(dir.resolve("huge.png"), out.toByteArray());
  }

  private static void chunk(java.io.ByteArrayOutputStream out, String type, byte[] data) {
    byte[] t = type.getBytes(java.nio.charset.StandardCharsets.US_ASCII);
    var crc = new java.util.zip.CRC32();
    crc.update(t);
    crc.update(data);
    out.writeBytes(java.nio.ByteBuffer.allocate(4).putInt(data.length).array());
    out.writeBytes(t);
    out.writeBytes(data);
    out.writeBytes(java.nio.ByteBuffer.allocate(4).putInt((int) crc.getValue()).array());
  }

  /** 20000x20000 pixels declared by a 57-byte file: refused from its header, before decoding would take gigabytes. */
  @Test
  void imagesAboveThePixelLimitAreRefusedFromTheirHeader() throws Exception {
    Path huge = headerOnlyPng(20000, 20000);
    var e = assertThrows(IllegalArgumentException.class, () -> Images.load(huge, 3, 4, 4, Preprocessing.identity(3)));
    assertEquals("image " + huge + " is 20000x20000 = 400000000 pixels, more than the limit of " + Images.DEFAULT_MAX_PIXELS
        + " (raise it with --max-pixels or -Dresnetc.maxImagePixels)", e.getMessage());
    Path small = gradient(12, 10);
    e = assertThrows(IllegalArgumentException.class, () -> Images.load(small, 3, 4, 4, Preprocessing.identity(3), 119));
    assertTrue(e.getMessage().contains("12x10 = 120 pixels, more than the limit of 119"), e.getMessage());
    assertEquals(48, Images.load(small, 3, 4, 4, Preprocessing.identity(3), 120).length);
    System.setProperty(Images.MAX_PIXELS_PROPERTY, "100");
    try {
      assertEquals(100, Images.maxPixels());
      assertThrows(IllegalArgumentException.class, () -> Images.load(small, 3, 4, 4, Preprocessing.identity(3)));
      System.setProperty(Images.MAX_PIXELS_PROPERTY, "lots");
      e = assertThrows(IllegalArgumentException.class, Images::maxPixels);
      assertTrue(e.getMessage().contains("resnetc.maxImagePixels needs a positive whole number"), e.getMessage());
    } finally {
      System.clearProperty(Images.MAX_PIXELS_PROPERTY);
    }
  }

  /** Damaged files are described in words: never a JDK exception class name. */
  @Test
  void damagedImagesAreDescribedInWords() throws Exception {
    byte[] png = Files.readAllBytes(gradient(64, 64));
    Path truncated = Files.write(dir.resolve("truncated.png"), java.util.Arrays.copyOf(png, png.length - 40));
    Path noPixels = headerOnlyPng(8, 8);
    byte[] header = png.clone();
    header[16] = (byte) 0x80; // width 2^31 + 64: negative in the IHDR's signed reading
    Path badHeader = Files.write(dir.resolve("bad-header.png"), header);
    Path empty = Files.write(dir.resolve("empty.png"), new byte[0]);
    for (Path p : new Path[] {truncated, noPixels, badHeader, empty}) {
      var e = assertThrows(IllegalArgumentException.class, () -> Images.load(p, 3, 4, 4, Preprocessing.identity(3)));
      String m = e.getMessage();
      assertTrue(m.startsWith("cannot read image " + p + ": "), m);
      assertFalse(m.matches("(?s).*\\b(java|javax)\\.[a-z.]+[A-Z]\\w*(Exception|Error).*"), "class name in: " + m);
    }
    assertTrue(assertThrows(IllegalArgumentException.class, () -> Images.load(truncated, 3, 4, 4, Preprocessing.identity(3)))
        .getMessage().contains("PNG data cannot be decoded (damaged, truncated or unsupported)"));
    assertTrue(assertThrows(IllegalArgumentException.class, () -> Images.load(empty, 3, 4, 4, Preprocessing.identity(3)))
        .getMessage().endsWith("the file is empty"));
    assertTrue(assertThrows(IllegalArgumentException.class, () -> Images.load(Path.of("/dev/null"), 3, 4, 4, Preprocessing.identity(3)))
        .getMessage().endsWith("not a regular file"));
  }

  /** An image's bytes (a table's binary column) decode exactly like the file; bad bytes name the image. */
  @Test
  void bytesDecodeLikeTheFile() throws Exception {
    Path file = gradient(16, 8);
    byte[] bytes = Files.readAllBytes(file);
    assertArrayEquals(Images.load(file, 3, 4, 4, sizes(4, 4)), Images.load(bytes, "g.png", 3, 4, 4, sizes(4, 4)));
    var e = assertThrows(IllegalArgumentException.class,
        () -> Images.load(java.util.Arrays.copyOf(bytes, bytes.length / 2), "cut.png", 3, 4, 4, sizes(4, 4)));
    assertTrue(e.getMessage().startsWith("cannot read image cut.png"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> Images.load(new byte[0], "empty.png", 3, 4, 4, sizes(4, 4)));
    assertTrue(e.getMessage().contains("empty.png: the file is empty"), e.getMessage());
  }
}
