package resnetc.runtime;

import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import javax.imageio.ImageIO;
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

  /** Raw pixels 0..255, CHW, {@code channels} (3 = RGB, 1 = grayscale) x height x width. */
  public static float[] load(Path file, int channels, int height, int width, Preprocessing p) {
    checkChannels(channels);
    if (!Files.isRegularFile(file)) throw new IllegalArgumentException("no such image file: " + file);
    BufferedImage img;
    try {
      img = ImageIO.read(file.toFile());
    } catch (IOException | RuntimeException e) {
      throw new IllegalArgumentException("cannot read image " + file + ": " + e.getMessage());
    }
    return toModelSize(checked(img, file.toString()), channels, height, width, p);
  }

  /**
   * {@link #load(Path, int, int, int, Preprocessing)} for an image file's bytes (e.g. a table's binary column);
   * {@code name} only names the image in error messages.
   */
  public static float[] load(byte[] encoded, String name, int channels, int height, int width, Preprocessing p) {
    checkChannels(channels);
    BufferedImage img;
    try {
      // cached in memory: ImageIO.read(InputStream) would cache it in a temporary file, twice the decoding time here
      img = ImageIO.read(new MemoryCacheImageInputStream(new ByteArrayInputStream(encoded)));
    } catch (IOException | RuntimeException e) {
      throw new IllegalArgumentException("cannot read image " + name + ": " + e.getMessage());
    }
    return toModelSize(checked(img, name), channels, height, width, p);
  }

  private static void checkChannels(int channels) {
    if (channels != 3 && channels != 1) {
      throw new IllegalArgumentException("images can feed models with 3 (RGB) or 1 (grayscale) channels, not " + channels);
    }
  }

  private static BufferedImage checked(BufferedImage img, String name) {
    if (img == null) throw new IllegalArgumentException("cannot read image " + name + ": not a PNG, JPEG, BMP or GIF file");
    return img;
  }

  private static float[] toModelSize(BufferedImage img, int channels, int height, int width, Preprocessing p) {
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

  private record Decoded(int width, int height, int[][] planes) {}

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
