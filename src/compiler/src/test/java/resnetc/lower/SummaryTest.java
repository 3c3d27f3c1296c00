package resnetc.lower;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.PrintWriter;
import java.io.StringWriter;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import resnetc.Frontend;
import resnetc.TestPaths;
import resnetc.cli.Main;
import resnetc.ir.Summary;

/** Parameter and MAC counts against the published figures (torchvision's model table, He et al. 2016). */
class SummaryTest {
  @ParameterizedTest
  @CsvSource({
      "imagenet/resnet18.resnet, 11689512, 1814073344",
      "imagenet/resnet34.resnet, 21797672, 3663761408",
      "imagenet/resnet50.resnet, 25557032, 4089184256",
      "imagenet/resnet101.resnet, 44549160, 7801405440",
      "imagenet/resnet152.resnet, 60192808, 11513626624",
      "imagenet/resnext50_32x4d.resnet, 25028904, 4230479872",
      "imagenet/wide_resnet50_2.resnet, 68883240, 11398021120",
      "cifar/resnet20.resnet, 269722, 40551040",
      "cifar/resnet56.resnet, 853018, 125485696",
  })
  void matchesPublishedFigures(String spec, long params, long macs) {
    Summary s = Summary.of(Frontend.load(TestPaths.repoRoot().resolve("examples").resolve(spec)).graph());
    assertEquals(params, s.params(), "params");
    assertEquals(macs, s.macs(), "macs");
  }

  /** Profiles group layers by kind: kernel size, stride and groups, or the op. */
  @ParameterizedTest
  @CsvSource(delimiter = ';', value = {
      "imagenet/resnet50.resnet; normalize, conv 7x7 s2, batchnorm, relu, maxpool 3x3 s2, conv 1x1, conv 3x3, add, conv 3x3 s2, conv 1x1 s2, global avgpool, fc",
      "imagenet/resnext50_32x4d.resnet; normalize, conv 7x7 s2, batchnorm, relu, maxpool 3x3 s2, conv 1x1, conv 3x3 g32, add, conv 3x3 s2 g32, conv 1x1 s2, global avgpool, fc",
      "cifar/resnet20.resnet; normalize, conv 3x3, batchnorm, relu, add, conv 3x3 s2, subsample_pad, global avgpool, fc",
  })
  void kindsNameKernelStrideAndGroups(String spec, String kinds) {
    var g = Frontend.load(TestPaths.repoRoot().resolve("examples").resolve(spec)).graph();
    var seen = g.nodes().stream().filter(n -> !(n.op() instanceof resnetc.ir.Op.Input) && !(n.op() instanceof resnetc.ir.Op.Const))
        .map(Summary::kind).distinct().toList();
    assertEquals(java.util.List.of(kinds.split(", ")), seen);
  }

  @ParameterizedTest
  @CsvSource({"imagenet/resnet50.resnet, 25557032, 4089184256", "cifar/resnet20.resnet, 269722, 40551040"})
  void cliPrintsTotalsAsLines(String spec, long params, long macs) {
    StringWriter out = new StringWriter();
    int code = Main.execute(new String[] {"summary", TestPaths.repoRoot().resolve("examples").resolve(spec).toString()},
        new PrintWriter(out), new PrintWriter(new StringWriter()));
    assertEquals(0, code);
    assertTrue(out.toString().contains("\nparams: " + params + "\n"), out.toString());
    assertTrue(out.toString().contains("\nmacs: " + macs + "\n"), out.toString());
    // One table row per layer: conv and its output shape for the first stem conv.
    assertTrue(out.toString().lines().anyMatch(l -> l.startsWith("conv1 ") && l.contains("conv2d")), out.toString());
  }
}
