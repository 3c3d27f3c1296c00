package resnetc.schedule;

import java.util.Arrays;

/**
 * What the scheduler knows of the CPU a model is compiled for: its name and feature string as LLVM spells them,
 * the vector width in floats and the number of vector registers (which bound the register tile).
 *
 * @param name an LLVM CPU name ({@code x86-64-v3}, {@code znver4}, ...) or {@code jvm} for the Java target
 * @param features the LLVM feature string passed with the name (empty for the name's defaults)
 * @param lanes floats per vector register: 8 (AVX2) or 16 (AVX-512)
 * @param registers vector registers: 16 (AVX2) or 32 (AVX-512)
 */
public record CpuModel(String name, String features, int lanes, int registers) {
  public CpuModel {
    if (lanes != 8 && lanes != 16) throw new IllegalArgumentException("vectors of " + lanes + " floats: expected 8 or 16");
  }

  /**
   * The Java target's model: it plans in 16-float vectors, as on AVX-512; the generated class runs each planned
   * vector as two 8-float halves where the CPU's vectors are 256 bits (the choice is made when the class loads),
   * so one schedule serves both.
   */
  public static CpuModel jvm() {
    return new CpuModel("jvm", "", 16, 32);
  }

  /** An x86-64 CPU named as LLVM names it; AVX-512 (and its 32 registers) from the features, else from the name. */
  public static CpuModel x86(String name, String features) {
    boolean avx512 = avx512(name, features);
    return new CpuModel(name, features, avx512 ? 16 : 8, avx512 ? 32 : 16);
  }

  /** Whether the code may use AVX-512: an explicit feature wins over the name. */
  static boolean avx512(String name, String features) {
    var list = Arrays.asList(features.split(","));
    if (list.contains("-avx512f")) return false;
    if (list.contains("+avx512f")) return true;
    return name.equals("x86-64-v4") || name.startsWith("znver4") || name.startsWith("znver5") || name.contains("avx512")
        || name.startsWith("icelake") || name.startsWith("sapphirerapids") || name.startsWith("tigerlake")
        || name.startsWith("cascadelake") || name.startsWith("cooperlake") || name.startsWith("graniterapids")
        || name.startsWith("skylake-avx512") || name.startsWith("emeraldrapids");
  }

  /** Most output channels of a register tile: R x V accumulators, V input vectors and a broadcast weight fit the registers. */
  public int maxTileChannels() {
    return registers >= 32 ? 8 : 4;
  }

  /**
   * Whether a register tile always takes a whole pack of output channels (the Java target's kernels index the
   * packed weights by the tile's channels), rather than R of each pack's P.
   */
  public boolean tilesWholePacks() {
    return name.equals("jvm");
  }

  /**
   * Whether the target has Winograd's F(4x4, 3x3) transforms: the native target does; the Java target's are
   * F(2x2, 3x3) only (each of its vector transforms has a scalar twin giving the same bits, written for 4x4 tiles).
   */
  public boolean winograd4x4() {
    return !name.equals("jvm");
  }

  public String describe() {
    return name + (features.isEmpty() ? "" : " (" + features + ")") + ", " + lanes + " lanes, " + registers + " registers";
  }
}
