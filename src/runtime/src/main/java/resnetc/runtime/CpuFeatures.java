package resnetc.runtime;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * Which of a native model's instruction sets this machine runs, decided when the model class loads from the CPU
 * flags Linux lists in {@code /proc/cpuinfo} (the kernel lists a feature only when the CPU has it and the OS saves
 * its registers, so an AVX-512 flag means AVX-512 code runs). The levels are x86-64's: {@code x86-64-v3} (AVX2,
 * FMA, BMI1/2, F16C, MOVBE) and {@code x86-64-v4} (v3 and AVX-512 F, BW, CD, DQ, VL). {@code -Dresnetc.isa=LEVEL}
 * chooses one by hand.
 */
public final class CpuFeatures {
  /** The property that overrides the choice. */
  public static final String OVERRIDE = "resnetc.isa";

  private static final List<String> V3 = List.of("avx2", "fma", "bmi1", "bmi2", "f16c", "movbe");
  private static final List<String> V4 = List.of("avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl");

  private CpuFeatures() {}

  /** This machine's CPU flags, empty when they cannot be read (not Linux). */
  static Set<String> flags() {
    try {
      return flags(Files.readAllLines(Path.of("/proc/cpuinfo")));
    } catch (IOException | RuntimeException e) {
      return Set.of();
    }
  }

  static Set<String> flags(List<String> cpuinfo) {
    return cpuinfo.stream().filter(l -> l.startsWith("flags")).findFirst()
        .map(l -> Arrays.stream(l.substring(l.indexOf(':') + 1).trim().split("\\s+")).collect(Collectors.toUnmodifiableSet()))
        .orElse(Set.of());
  }

  /** Whether a CPU with {@code flags} runs code for {@code level}; an unknown level only when it is not x86-64. */
  static boolean runs(String level, Set<String> flags) {
    return switch (level) {
      case "x86-64-v3" -> flags.containsAll(V3);
      case "x86-64-v4" -> flags.containsAll(V3) && flags.containsAll(V4);
      default -> false;
    };
  }

  /** Whether this machine runs code for {@code level} ({@code x86-64-v3} or {@code x86-64-v4}); false when its flags cannot be read. */
  public static boolean runsHere(String level) {
    return runs(level, flags());
  }

  /**
   * The best of {@code levels} (listed best first) for this machine, or the one {@code -Dresnetc.isa} names.
   *
   * @throws IllegalStateException naming what the CPU lacks when it runs none of them
   */
  public static String choose(String model, List<String> levels) {
    return choose(model, levels, System.getProperty(OVERRIDE), flags());
  }

  static String choose(String model, List<String> levels, String override, Set<String> flags) {
    if (override != null && !override.isBlank()) {
      if (!levels.contains(override)) {
        throw new IllegalArgumentException(model + ": -D" + OVERRIDE + "=" + override + " is not one of its instruction sets: " + String.join(", ", levels));
      }
      return override;
    }
    if (flags.isEmpty()) return levels.getLast(); // flags unknown: the lowest level, which every x86-64-v3 server runs
    for (String level : levels) if (runs(level, flags)) return level;
    List<String> missing = V3.stream().filter(f -> !flags.contains(f)).toList();
    throw new IllegalStateException(model + ": this CPU runs none of the instruction sets the model was compiled for (" + String.join(", ", levels)
        + "): it lacks " + String.join(", ", missing).toUpperCase(Locale.ROOT) + "; compile the model for the Java backend, which runs anywhere");
  }
}
