package resnetc.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** Choosing a native model's instruction set from the CPU's flags. */
class CpuFeaturesTest {
  static final Set<String> ZEN3 = CpuFeatures.flags(List.of("processor\t: 0", "flags\t\t: fpu sse sse2 avx avx2 fma bmi1 bmi2 f16c movbe abm"));
  static final Set<String> ZEN4 = CpuFeatures.flags(List.of("flags\t: avx avx2 fma bmi1 bmi2 f16c movbe avx512f avx512dq avx512cd avx512bw avx512vl"));
  static final Set<String> OLD = CpuFeatures.flags(List.of("flags\t: sse sse2 sse4_2 avx"));
  static final List<String> BOTH = List.of("x86-64-v4", "x86-64-v3");

  @Test
  void theBestLevelTheCpuRuns() {
    assertEquals("x86-64-v4", CpuFeatures.choose("m", BOTH, null, ZEN4));
    assertEquals("x86-64-v3", CpuFeatures.choose("m", BOTH, null, ZEN3), "AVX2 only");
    assertEquals("x86-64-v3", CpuFeatures.choose("m", List.of("x86-64-v3"), null, ZEN4), "a jar with AVX2 code only");
    assertEquals("x86-64-v3", CpuFeatures.choose("m", BOTH, null, Set.of()), "flags unknown: the lowest level");
  }

  @Test
  void theOverrideNamesOneOfTheModels() {
    assertEquals("x86-64-v3", CpuFeatures.choose("m", BOTH, "x86-64-v3", ZEN4));
    var e = assertThrows(IllegalArgumentException.class, () -> CpuFeatures.choose("m", BOTH, "znver9", ZEN4));
    assertEquals("m: -Dresnetc.isa=znver9 is not one of its instruction sets: x86-64-v4, x86-64-v3", e.getMessage());
  }

  @Test
  void aCpuBelowTheLowestLevelIsAClearError() {
    var e = assertThrows(IllegalStateException.class, () -> CpuFeatures.choose("resnet50", BOTH, null, OLD));
    assertTrue(e.getMessage().startsWith("resnet50: this CPU runs none of the instruction sets the model was compiled for (x86-64-v4, x86-64-v3)"),
        e.getMessage());
    assertTrue(e.getMessage().contains("it lacks AVX2, FMA, BMI1, BMI2, F16C, MOVBE"), e.getMessage());
  }

  @Test
  void thisMachinesFlagsAreRead() {
    Set<String> flags = CpuFeatures.flags();
    if (System.getProperty("os.name", "").startsWith("Linux") && System.getProperty("os.arch", "").equals("amd64")) {
      assertTrue(flags.contains("sse2"), "an x86-64 Linux machine lists sse2: " + flags);
    }
  }
}
