package resnetc.target.llvm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import resnetc.target.java.JavaTarget;
import resnetc.ir.SampleGraphs;
import resnetc.passes.Pipeline;

/**
 * The generated IR itself: after optimization the kernels call nothing but LLVM intrinsics (no memset, memcpy or
 * libm), and the convs are vector FMAs. With {@code -Dresnetc.dump=<example spec>} it also prints the conv tiles
 * of that model and writes its optimized IR and object file to /tmp, for looking at the code.
 */
class LlvmIrTest {
  private static final Pattern CALL = Pattern.compile("call [^@]*@([A-Za-z0-9_.]+)\\(");

  @Test
  void optimizedKernelsCallOnlyIntrinsics() {
    for (var g : List.of(NativeCodegenTest.optimized("cifar/resnet20.resnet"), JavaTarget.optimize(SampleGraphs.allOps(true, 3), Pipeline.defaults()))) {
      String ir = NativeCompiler.text(NativeCodegen.plan(g, NativeCodegenTest.CPU), true);
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

  @Test
  void dump() throws Exception {
    String spec = System.getProperty("resnetc.dump");
    if (spec == null) return;
    var plan = NativeCodegen.plan(NativeCodegenTest.optimized(spec), NativeCodegenTest.CPU);
    for (var k : plan.kernels()) {
      if (k instanceof NativeCodegen.Conv c) {
        System.out.printf("%-40s %dx%d %4d->%4d %3dx%-3d positions %5d (width %3d) tile %2d x %d x %2d, %d bands, %d tasks%s%n", c.symbol(),
            c.k(), c.k(), c.c(), c.o(), c.oh(), c.ow(), c.positions(), c.wq(), c.tileR(), c.tileV(), c.lanes(), c.bands(), c.tasksPerImage(),
            c.imageMinor() ? ", image-minor" : "");
      }
    }
    Files.writeString(Path.of("/tmp/model.ll"), NativeCompiler.text(plan, true));
    Files.write(Path.of("/tmp/model.o"), NativeCompiler.object(plan));
  }
}
