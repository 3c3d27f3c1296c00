package resnetc.lower;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import resnetc.Frontend;
import resnetc.TestPaths;
import resnetc.ir.Graph;
import resnetc.ir.IrParser;
import resnetc.ir.Node;
import resnetc.ir.Op;
import resnetc.ir.Printer;
import resnetc.ir.TensorType;
import resnetc.ir.Verifier;

class LowerToIrTest {
  static Stream<Path> examples() throws Exception {
    try (Stream<Path> s = Files.walk(TestPaths.repoRoot().resolve("examples"))) {
      return s.filter(p -> p.toString().endsWith(".resnet")).sorted().toList().stream();
    }
  }

  @ParameterizedTest
  @MethodSource("examples")
  void everyExampleLowersToVerifiedIrThatRoundTrips(Path spec) {
    Graph g = Frontend.load(spec).graph();
    Verifier.verify(g);
    String text = Printer.print(g);
    assertEquals(text, Printer.print(IrParser.parse(text)));
    assertEquals(TensorType.of(TensorType.BATCH, Frontend.load(spec).model().classes()), g.outputType());
  }

  static Graph lower(String body) {
    return Frontend.load("t.resnet", "model t {\n" + body + "\n}\n").graph();
  }

  static final String CIFAR = """
      input f32 [3, 32, 32]
      classes 10
      stem { conv 3x3 16 bn relu }
      head { avgpool fc }
      """;

  static long count(Graph g, Class<? extends Op> op) {
    return g.nodes().stream().filter(n -> op.isInstance(n.op())).count();
  }

  /** 'bn folded': no batch norm op; each conv that a bn followed has a bias named as the checkpoint would. */
  @Test
  void foldedBatchNormsAreConvBiases() {
    Graph plain = lower(CIFAR + "block bottleneck shortcut B stage 1 x 16 stage 1 x 32 stride 2");
    Graph folded = lower(CIFAR + "bn folded block bottleneck shortcut B stage 1 x 16 stage 1 x 32 stride 2");
    assertEquals(0, count(folded, Op.BatchNorm.class));
    assertEquals(count(plain, Op.BatchNorm.class), count(folded, Op.Conv2d.class));
    for (Node n : folded.nodes()) {
      if (n.op() instanceof Op.Conv2d) assertEquals(List.of(n.input(1).replace(".weight", ".bias")), n.inputs().subList(2, 3), n.name());
    }
    assertTrue(folded.find("layer2.0.downsample.0.bias").isPresent());
    assertEquals(plain.outputType(), folded.outputType());
  }

  @Test
  void optionASplitsZeroChannelsAsTheSharedCheckpoints() {
    Graph g = lower(CIFAR + "block basic shortcut A split stage 1 x 16 stage 1 x 32 stride 2");
    Node sc = g.node("layer2.0.shortcut");
    assertEquals(new Op.SubsamplePad(2, 8, 8), sc.op());
    assertEquals("layer1.0.relu", sc.input(0));
    assertEquals(List.of("layer2.0.bn2", "layer2.0.shortcut"), g.node("layer2.0.add").inputs());
    Graph end = lower(CIFAR + "block basic shortcut A end stage 1 x 16 stage 1 x 32 stride 2");
    assertEquals(new Op.SubsamplePad(2, 0, 16), end.node("layer2.0.shortcut").op());
  }

  @Test
  void optionBProjectsOnlyWhereTheShapeChangesAndCAlways() {
    Graph b = lower(CIFAR + "block basic shortcut B stage 2 x 16 stage 2 x 32 stride 2 weights torchvision");
    assertEquals(1, b.nodes().stream().filter(n -> n.name().endsWith("downsample.0")).count());
    assertEquals(new Op.Conv2d(1, 2, 0, 1), b.node("layer2.0.downsample.0").op());
    assertTrue(b.node("layer2.0.downsample.1").op() instanceof Op.BatchNorm);
    Graph c = lower(CIFAR + "block basic shortcut C stage 2 x 16 stage 2 x 32 stride 2 weights cifar");
    assertEquals(4, c.nodes().stream().filter(n -> n.name().matches("layer\\d\\.\\d\\.shortcut\\.0")).count());
  }

  @Test
  void optionDPoolsThenProjectsWithStrideOne() {
    Graph g = lower(CIFAR + "block basic shortcut D stage 1 x 16 stage 1 x 32 stride 2");
    assertEquals(new Op.AvgPool(2, 2, 0, true, false), g.node("layer2.0.downsample.0").op());
    assertEquals(new Op.Conv2d(1, 1, 0, 1), g.node("layer2.0.downsample.1").op());
    assertTrue(g.node("layer2.0.downsample.2").op() instanceof Op.BatchNorm);
  }

  @Test
  void bottleneckStrideGoesOnThe3x3ForV15AndThe1x1ForV1() {
    String stages = " shortcut B stage 1 x 16 stage 1 x 32 stride 2";
    Graph v15 = lower(CIFAR + "block bottleneck stride_on 3x3" + stages);
    assertEquals(1, ((Op.Conv2d) v15.node("layer2.0.conv1").op()).stride());
    assertEquals(2, ((Op.Conv2d) v15.node("layer2.0.conv2").op()).stride());
    Graph v1 = lower(CIFAR + "block bottleneck stride_on 1x1" + stages);
    assertEquals(2, ((Op.Conv2d) v1.node("layer2.0.conv1").op()).stride());
    assertEquals(1, ((Op.Conv2d) v1.node("layer2.0.conv2").op()).stride());
    assertEquals(TensorType.of(128, 32, 1, 1), v1.node("layer2.0.conv3.weight").type());
  }

  @Test
  void resnextGroupsTheInner3x3() {
    Graph g = lower(CIFAR + "block bottleneck groups 32 width_per_group 4 shortcut B stage 1 x 64");
    assertEquals(new Op.Conv2d(3, 1, 1, 32), g.node("layer1.0.conv2").op());
    assertEquals(TensorType.of(128, 4, 3, 3), g.node("layer1.0.conv2.weight").type());
  }

  @Test
  void preactivationPutsBnReluBeforeEachConvAndNoReluAfterTheAdd() {
    Graph g = lower(CIFAR.replace("stem { conv 3x3 16 bn relu }", "stem { conv 3x3 16 }").replace("head { avgpool fc }", "head { bn relu avgpool fc }")
        + "block basic preact shortcut B stage 1 x 16 stage 1 x 32 stride 2 weights cifar");
    assertEquals("layer1.0.relu0", g.node("layer1.0.conv1").input(0));
    assertEquals("layer2.0.relu0", g.node("layer2.0.shortcut.0").input(0), "projection reads the activated input");
    assertFalse(g.find("layer2.0.shortcut.1").isPresent(), "no bn on a pre-activation projection");
    assertEquals("layer2.0.add", g.node("head.relu").input(0).equals("bn") ? "layer2.0.add" : g.node("bn").input(0));
    assertTrue(g.users("layer1.0.add").stream().noneMatch(n -> n.op() instanceof Op.Relu));
  }

  @Test
  void renamesAndPrefixNameTheConstants() {
    Graph g = lower(CIFAR + "block basic shortcut A stage 1 x 16 weights cifar { rename \"linear.weight\" -> \"classifier.w\" }");
    assertTrue(g.find("classifier.w").isPresent());
    assertFalse(g.find("linear.weight").isPresent());
  }

  @Test
  void originsPointAtTheSpecLines() {
    Graph g = lower(CIFAR + "block basic shortcut A\nstage 1 x 16");
    assertEquals("t.resnet:4", g.node("conv1").origin());
    assertEquals("t.resnet:7", g.node("layer1.0.conv1").origin());
  }
}
