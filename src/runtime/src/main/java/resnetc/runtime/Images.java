package resnetc.runtime;

import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Iterator;
import javax.imageio.ImageIO;
import javax.imageio.ImageReader;
import javax.imageio.stream.ImageInputStream;
import javax.imageio.stream.MemoryCacheImageInputStream;

/**
 * Image files to raw model input, the way torchvision's {@code Resize(resize)}, {@code CenterCrop(crop)} do it on a
 * PIL image after {@code convert("RGB")} (or {@code "L"}), so pixel values match a Python evaluation pipeline:
 *
 * <ul>
 *   <li>decoding by javax.imageio (PNG, JPEG, BMP, GIF); alpha is dropped, not composited, like PIL's convert;
 *       grayscale is PIL's luma {@code (19595 R + 38470 G + 7471 B + 0x8000) >> 16};
 *   <li>resizing with PIL's bilinear resampling: a triangle filter widened by the scale factor when shrinking
 *       (i.e. antialiased, as PIL always does), horizontal pass then vertical, 8-bit fixed point and rounding to
 *       whole values after each pass;
 *   <li>the shorter side becomes {@code resize}, the longer one {@code floor(resize * long / short)};
 *   <li>the crop offset is {@code round((size - crop) / 2)} with Python's round-half-even; a crop larger than the
 *       image pads with zeros.
 * </ul>
 *
 * With {@code resize} and {@code crop} both 0 the image is resized straight to the model's height x width. If the
 * result of resize/crop is still not height x width (a spec whose crop differs from its input), it is resized to
 * that last. Checked bit-exact against Pillow 9.4 (convert, resize, torchvision's crop arithmetic) on random PNGs of
 * many sizes, up- and downscaling, RGB and L, and on baseline JPEGs (4:4:4 and 4:2:0).
 */
public final class Images {
  private static final int PRECISION_BITS = 32 - 8 - 2; // PIL's fixed point for 8-bit images

  private Images() {}

  /**
   * The default limit on an image's pixels (width x height), checked from the file's header before it is decoded:
   * decoding takes about 20 bytes per pixel, so a small compressed file declaring 20000x20000 pixels would
   * otherwise take gigabytes. {@code -Dresnetc.maxImagePixels=N} (or the jar's {@code --max-pixels N}) changes it.
   */
  public static final long DEFAULT_MAX_PIXELS = 50_000_000;

  /** The system property that overrides {@link #DEFAULT_MAX_PIXELS}. */
  public static final String MAX_PIXELS_PROPERTY = "resnetc.maxImagePixels";

  /** The pixel limit in force: {@value #MAX_PIXELS_PROPERTY} when set, else {@link #DEFAULT_MAX_PIXELS}. */
  public static long maxPixels() {
    String v = System.getProperty(MAX_PIXELS_PROPERTY);
    if (v == null || v.isBlank()) return DEFAULT_MAX_PIXELS;
    try {
      long n = Long.parseLong(v.strip());
      if (n >= 1) return n;
    } catch (NumberFormatException e) {
      // reported below
    }
    throw new IllegalArgumentException("-D" + MAX_PIXELS_PROPERTY + " needs a positive whole number of pixels, got '" + v + "'");
  }

  /** Raw pixels 0..255, CHW, {@code channels} (3 = RGB, 1 = grayscale) x height x width; at most {@link #maxPixels()}. */
  public static float[] load(Path file, int channels, int height, int width, Preprocessing p) {
    return load(file, channels, height, width, p, maxPixels());
  }

  /** {@link #load(Path, int, int, int, Preprocessing)} refusing images of more than {@code maxPixels} pixels. */
  public static float[] load(Path file, int channels, int height, int width, Preprocessing p, long maxPixels) {
    checkChannels(channels);
    if (!Files.exists(file)) throw new IllegalArgumentException("no such image file: " + file);
    if (!Files.isRegularFile(file)) throw new IllegalArgumentException("cannot read image " + file + ": not a regular file");
    try (ImageInputStream in = ImageIO.createImageInputStream(file.toFile())) {
      if (in == null) throw new IllegalArgumentException("cannot read image " + file + ": the file cannot be opened");
      return pixels(read(in, file.toString(), Files.size(file) == 0, maxPixels), channels, height, width, p);
    } catch (IOException e) {
      throw new IllegalArgumentException("cannot read image " + file + ": an I/O error" + detail(e));
    }
  }

  /** {@link #load(byte[], String, int, int, int, Preprocessing, long)} with the default pixel limit, {@link #maxPixels()}. */
  public static float[] load(byte[] encoded, String name, int channels, int height, int width, Preprocessing p) {
    return load(encoded, name, channels, height, width, p, maxPixels());
  }

  /**
   * {@link #load(Path, int, int, int, Preprocessing, long)} for an image file's bytes (a table's binary column, a
   * request body); {@code name} only names the image in error messages.
   */
  public static float[] load(byte[] encoded, String name, int channels, int height, int width, Preprocessing p, long maxPixels) {
    checkChannels(channels);
    // cached in memory: ImageIO's default for a stream is a temporary file, twice the decoding time of a small PNG
    try (ImageInputStream in = new MemoryCacheImageInputStream(new ByteArrayInputStream(encoded))) {
      return pixels(read(in, name, encoded.length == 0, maxPixels), channels, height, width, p);
    } catch (IOException e) {
      throw new IllegalArgumentException("cannot read image " + name + ": an I/O error" + detail(e));
    }
  }

  /**
   * The same for an image already decoded (by {@code ImageIO}): raw pixels 0..255, CHW, {@code channels} x height x
   * width, resized and cropped as {@code p} says.
   */
  public static float[] pixels(BufferedImage img, int channels, int height, int width, Preprocessing p) {
    checkChannels(channels);
    Decoded d = decode(img, channels);
    int[][] planes = d.planes();
    int w = d.width(), h = d.height();
    if (p.resize() > 0) {
      int s = p.resize();
      int nw = w <= h ? s : (int) ((double) s * w / h), nh = w <= h ? (int) ((double) s * h / w) : s;
      planes = resize(planes, w, h, nw, nh);
      w = nw;
      h = nh;
    }
    if (p.crop() > 0 || p.resize() > 0) {
      int cw = p.crop() > 0 ? p.crop() : width, ch = p.crop() > 0 ? p.crop() : height;
      planes = crop(planes, w, h, cw, ch);
      w = cw;
      h = ch;
    }
    if (w != width || h != height) planes = resize(planes, w, h, width, height);
    float[] out = new float[channels * height * width];
    for (int c = 0; c < channels; c++) {
      for (int i = 0; i < height * width; i++) out[c * height * width + i] = planes[c][i];
    }
    return out;
  }

  private static void checkChannels(int channels) {
    if (channels != 3 && channels != 1) {
      throw new IllegalArgumentException("images can feed models with 3 (RGB) or 1 (grayscale) channels, not " + channels);
    }
  }

  private record Decoded(int width, int height, int[][] planes) {}

  /**
   * Decodes the first image of {@code in} after checking the size its header declares against {@code maxPixels};
   * every failure is an IllegalArgumentException in words.
   */
  private static BufferedImage read(ImageInputStream in, String name, boolean empty, long maxPixels) throws IOException {
    Iterator<ImageReader> readers = ImageIO.getImageReaders(in);
    if (!readers.hasNext()) {
      throw new IllegalArgumentException("cannot read image " + name + ": " + (empty ? "the file is empty" : "not a PNG, JPEG, BMP or GIF file"));
    }
    ImageReader reader = readers.next();
    String format = reader.getFormatName().toUpperCase(java.util.Locale.ROOT);
    BufferedImage img;
    try {
      reader.setInput(in, true, true);
      int w, h;
      try {
        w = reader.getWidth(0);
        h = reader.getHeight(0);
      } catch (IOException | RuntimeException e) {
        throw new IllegalArgumentException("cannot read image " + name + ": its " + format + " header is damaged" + detail(e));
      }
      if (w < 1 || h < 1) throw new IllegalArgumentException("cannot read image " + name + ": its header declares " + w + "x" + h + " pixels");
      if ((long) w * h > maxPixels) {
        throw new IllegalArgumentException("image " + name + " is " + w + "x" + h + " = " + (long) w * h + " pixels, more than the limit of "
            + maxPixels + " (raise it with --max-pixels or -D" + MAX_PIXELS_PROPERTY + ")");
      }
      try {
        img = reader.read(0);
      } catch (IOException | RuntimeException e) {
        throw new IllegalArgumentException("cannot read image " + name + ": its " + format + " data cannot be decoded (damaged, truncated or unsupported)" + detail(e));
      } catch (OutOfMemoryError e) {
        throw new IllegalArgumentException("image " + name + " (" + w + "x" + h + " pixels) does not fit in memory; give the JVM more (-Xmx)");
      }
    } finally {
      reader.dispose();
    }
    if (img == null) throw new IllegalArgumentException("cannot read image " + name + ": the file holds no image");
    return img;
  }

  /** {@code channels} planes of 0..255 values. */
  private static Decoded decode(BufferedImage img, int channels) {
    int w = img.getWidth(), h = img.getHeight();
    int[][] planes = new int[channels][];
    if (img.getType() == BufferedImage.TYPE_BYTE_GRAY || img.getType() == BufferedImage.TYPE_USHORT_GRAY) {
      // getRGB would map these through Java's linear gray color space and brighten them; read the samples.
      int[] v = img.getRaster().getSamples(0, 0, w, h, 0, (int[]) null);
      if (img.getType() == BufferedImage.TYPE_USHORT_GRAY) for (int i = 0; i < v.length; i++) v[i] >>= 8;
      for (int c = 0; c < channels; c++) planes[c] = c == 0 ? v : v.clone();
      return new Decoded(w, h, planes);
    }
    int[] argb = img.getRGB(0, 0, w, h, null, 0, w);
    for (int c = 0; c < channels; c++) planes[c] = new int[w * h];
    for (int i = 0; i < argb.length; i++) {
      int r = (argb[i] >> 16) & 0xff, g = (argb[i] >> 8) & 0xff, b = argb[i] & 0xff;
      if (channels == 3) {
        planes[0][i] = r;
        planes[1][i] = g;
        planes[2][i] = b;
      } else {
        planes[0][i] = (r * 19595 + g * 38470 + b * 7471 + 0x8000) >>> 16;
      }
    }
    return new Decoded(w, h, planes);
  }

  /** The decoder's own words for what went wrong, without exception class names, as "; the decoder says: ..." (or empty). */
  private static String detail(Throwable e) {
    String message = null;
    for (Throwable t = e; t != null; t = t.getCause()) {
      if (t.getMessage() != null && !t.getMessage().isBlank()) message = t.getMessage();
    }
    if (message == null) return "";
    message = message.replaceAll("(?:[a-z][\\w$]*\\.)+[A-Z][\\w$]*(?:Exception|Error): ?", "").strip();
    return message.isEmpty() ? "" : "; the decoder says: " + message;
  }

  /** Center crop to cw x ch, zero padding where the crop is larger than the image (torchvision's CenterCrop). */
  static int[][] crop(int[][] planes, int w, int h, int cw, int ch) {
    int left = offset(w, cw), top = offset(h, ch);
    int[][] out = new int[planes.length][cw * ch];
    for (int c = 0; c < planes.length; c++) {
      for (int y = 0; y < ch; y++) {
        int sy = y + top;
        if (sy < 0 || sy >= h) continue;
        for (int x = 0; x < cw; x++) {
          int sx = x + left;
          if (sx >= 0 && sx < w) out[c][y * cw + x] = planes[c][sy * w + sx];
        }
      }
    }
    return out;
  }

  /** Where the crop starts: round-half-even like Python's round(), or minus the left padding when it is larger. */
  private static int offset(int size, int crop) {
    return crop <= size ? (int) Math.rint((size - crop) / 2.0) : -((crop - size) / 2);
  }

  /** PIL's {@code Image.resize((nw, nh), BILINEAR)} on 8-bit planes: horizontal pass, then vertical. */
  static int[][] resize(int[][] planes, int w, int h, int nw, int nh) {
    int[][] out = planes;
    if (nw != w) {
      Coeffs k = coeffs(w, nw);
      int[][] next = new int[planes.length][nw * h];
      for (int c = 0; c < planes.length; c++) {
        for (int y = 0; y < h; y++) {
          for (int x = 0; x < nw; x++) {
            int[] kk = k.weights[x];
            int ss = 1 << (PRECISION_BITS - 1);
            for (int j = 0; j < kk.length; j++) ss += out[c][y * w + k.first[x] + j] * kk[j];
            next[c][y * nw + x] = clip8(ss);
          }
        }
      }
      out = next;
    }
    if (nh != h) {
      Coeffs k = coeffs(h, nh);
      int[][] next = new int[planes.length][nw * nh];
      for (int c = 0; c < planes.length; c++) {
        for (int y = 0; y < nh; y++) {
          int[] kk = k.weights[y];
          for (int x = 0; x < nw; x++) {
            int ss = 1 << (PRECISION_BITS - 1);
            for (int j = 0; j < kk.length; j++) ss += out[c][(k.first[y] + j) * nw + x] * kk[j];
            next[c][y * nw + x] = clip8(ss);
          }
        }
      }
      out = next;
    }
    return out;
  }

  private static int clip8(int v) {
    if (v >= 1 << PRECISION_BITS << 8) return 255;
    return v <= 0 ? 0 : v >> PRECISION_BITS;
  }

  /** For each output index: the first input index and the fixed-point weights from there on. */
  private record Coeffs(int[] first, int[][] weights) {}

  /** PIL's precompute_coeffs + normalize_coeffs_8bpc for the bilinear (triangle, support 1) filter. */
  private static Coeffs coeffs(int in, int out) {
    double scale = (double) in / out, filterscale = Math.max(scale, 1.0), support = filterscale, ss = 1.0 / filterscale;
    int[] first = new int[out];
    int[][] weights = new int[out][];
    for (int o = 0; o < out; o++) {
      double center = (o + 0.5) * scale;
      int min = Math.max((int) (center - support + 0.5), 0); // (int) truncates toward zero, as C does
      int n = Math.min((int) (center + support + 0.5), in) - min;
      double[] k = new double[n];
      double sum = 0;
      for (int j = 0; j < n; j++) {
        double t = Math.abs((j + min - center + 0.5) * ss);
        k[j] = t < 1 ? 1 - t : 0;
        sum += k[j];
      }
      int[] fixed = new int[n];
      for (int j = 0; j < n; j++) {
        double v = sum != 0 ? k[j] / sum : k[j];
        fixed[j] = (int) (v < 0 ? -0.5 + v * (1 << PRECISION_BITS) : 0.5 + v * (1 << PRECISION_BITS));
      }
      first[o] = min;
      weights[o] = fixed;
    }
    return new Coeffs(first, weights);
  }
}
