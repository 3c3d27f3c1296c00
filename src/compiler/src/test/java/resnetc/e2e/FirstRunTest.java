package resnetc.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import resnetc.TestPaths;
import resnetc.cli.Main;
import resnetc.runtime.F32;

/**
 * {@code resnetc run} as a new user meets it: the shipped spec, its shipped weights and the shipped 300-image sample,
 * nothing from {@code ../shared}, and no {@code --backend}: the native backend by default, the reference
 * interpreter (the oracle) on request, with the same predictions.
 */
class FirstRunTest {
  @TempDir Path tmp;

  record Run(int code, String out, String err) {}

  static Run run(String... args) {
    StringWriter out = new StringWriter(), err = new StringWriter();
    int code = Main.execute(args, new PrintWriter(out), new PrintWriter(err));
    return new Run(code, out.toString(), err.toString());
  }

  @Test
  void runDefaultsToTheNativeBackendAndAgreesWithTheReference() throws Exception {
    String spec = TestPaths.repoRoot().resolve("examples/cifar/resnet20.resnet").toString();
    String sample = TestPaths.repoRoot().resolve("examples/cifar/cifar10-test-300.bin").toString();
    Path fast = tmp.resolve("native.f32"), oracle = tmp.resolve("reference.f32");
    Run r = run("run", spec, "--input-cifar", sample, "--output", fast.toString());
    assertEquals(0, r.code(), r.err());
    assertTrue(r.out().contains("backend native)"), r.out());
    assertTrue(r.out().contains("accuracy: 0.7900\n"), r.out());
    assertEquals("", r.err(), "nothing but results off a terminal");

    Run ref = run("run", spec, "--input-cifar", sample, "--limit", "20", "--backend", "reference", "--output", oracle.toString());
    assertEquals(0, ref.code(), ref.err());
    assertTrue(ref.out().contains("backend reference)"), ref.out());
    float[] y = F32.read(fast), z = F32.read(oracle);
    assertEquals(300 * 10, y.length);
    for (int i = 0; i < z.length; i++) assertEquals(z[i], y[i], 1e-4f * (1 + Math.abs(z[i])), "logit " + i);
    for (int i = 0; i < 20; i++) assertEquals(F32.argmax(z, i * 10, 10), F32.argmax(y, i * 10, 10), "image " + i);
  }
}
