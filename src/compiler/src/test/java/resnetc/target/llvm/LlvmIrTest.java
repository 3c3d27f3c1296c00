package resnetc.target.llvm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import resnetc.ir.SampleGraphs;
import resnetc.schedule.Schedule;
import resnetc.schedule.Winograd;
import resnetc.target.TestTargets;

/**
 * The generated IR itself: after optimization the kernels call nothing but LLVM intrinsics (no memset, memcpy or
 * libm), and the convs are vector FMAs.
 */
class LlvmIrTest {
  private static final Pattern CALL = Pattern.compile("call [^@]*@([A-Za-z0-9_.]+)\\(");

  @Test
  void optimizedKernelsCallOnlyIntrinsics() {
    for (var g : List.of(LlvmTargetTest.optimized("cifar/resnet20.resnet"), TestTargets.optimized(SampleGraphs.allOps(true, 3), "native"))) {
      Schedule s = LlvmTargetTest.plan(g, LlvmTargetTest.CPU, Winograd.Mode.AUTO);
      String ir = SharedLibrary.text(s, LlvmTarget.symbols(s), true);
      Matcher m = CALL.matcher(ir);
      int calls = 0;
      while (m.find()) {
        calls++;
        assertTrue(m.group(1).startsWith("llvm."), g.name() + " calls " + m.group(1));
      }
      assertTrue(calls > 0 && ir.contains("@llvm.fma.v"), g.name() + " has vector FMAs");
      assertEquals(-1, ir.indexOf(" alloca "), g.name() + " keeps everything in registers");
    }
  }
}
