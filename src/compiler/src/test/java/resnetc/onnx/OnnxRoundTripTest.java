package resnetc.onnx;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import resnetc.Frontend;
import resnetc.TestPaths;
import resnetc.interp.Interpreter;
import resnetc.ir.Graph;
import resnetc.ir.Op;
import resnetc.onnx.proto.Onnx.ModelProto;
import resnetc.passes.Pipeline;
import resnetc.recover.SpecRecovery;

/**
 * {@code export-onnx} of every example, imported again, computes the same outputs bit for bit through the
 * reference interpreter, unoptimized (batch norms, option-A Slice + Pad, the input normalization as Div, Sub, Div)
 * and optimized (batch norms folded, each fused conv Conv + Add + Relu); and the spec recovered from the import,
 * with its weights, computes them too (and describes the example's stages, blocks and head). Pre-activation networks exported with folded batch norms cannot be written
 * as a spec, and {@code import} says which block did not match.
 *
 * <p>Cheap: weights without batch-norm calibration ({@link OnnxModels#weights}); the ImageNet specs at 24x24 as in
 * OnnxEquivalenceTest (the same layers and attributes, odd sizes further down for ceil-mode pools), batch 2.
 */
class OnnxRoundTripTest {
  static Stream<Path> examples() throws Exception {
    return Stream.concat(OnnxEquivalenceTest.cifarSpecs().stream(), OnnxEquivalenceTest.imagenetSpecs().stream());
  }

  static Graph small(Path spec) throws Exception {
    String source = Files.readString(spec).replace("[3, 224, 224]", "[3, 24, 24]").replace("resize 256", "resize 28").replace("crop 224", "crop 24");
    return OnnxModels.weights(Frontend.load(spec.toString(), source).graph(), 17);
  }

  @ParameterizedTest
  @MethodSource("examples")
  void exportImportIsBitIdenticalAndTheRecoveredSpecToo(Path spec) throws Exception {
    Graph g = small(spec);
    boolean preact = Frontend.load(spec).model().stages().get(0).block().preact();
    for (boolean optimize : new boolean[] {false, true}) {
      Graph h = optimize ? Pipeline.defaults().run(g) : g;
      ModelProto m = ModelProto.parseFrom(OnnxExport.export(h, h.name()).toByteArray());
      Graph back = OnnxImport.fromModel(m, null, h.name() + ".onnx", h.name());
      float[] x = OnnxModels.input(h, 2, 23);
      float[] y = new Interpreter(h).run(x, 2);
      String what = h.name() + (optimize ? " optimized" : "");
      assertArrayEquals(y, new Interpreter(back).run(x, 2), what + ": export then import");
      if (!optimize) assertTrue(ops(h).equals(ops(back)), what + ": the same graph, node for node");

      if (optimize && preact) {
        SpecRecovery.NotAResNet e = assertThrows(SpecRecovery.NotAResNet.class, () -> SpecRecovery.recover(back, "r.resnet", null, List.of()));
        assertTrue(e.getMessage().startsWith("block 0 (%"), e.getMessage());
        continue;
      }
      SpecRecovery.Recovered r = SpecRecovery.recover(back, "r.resnet", "r.safetensors", List.of("round trip"));
      assertEquals(optimize, r.spec().contains("bn folded"), r.spec());
      if (!optimize) describesTheExample(spec, r.spec());
      assertEquals(optimize ? 0 : h.nodes().stream().filter(n -> n.op() instanceof Op.BatchNorm).count(),
          back.nodes().stream().filter(n -> n.op() instanceof Op.BatchNorm).count());
      Graph fromSpec = Frontend.load("r.resnet", r.spec()).graph().withConstants(r.weights());
      assertArrayEquals(y, new Interpreter(fromSpec).run(x, 2), what + ": the recovered spec and weights\n" + r.spec());
    }
  }

  /** Each node's op, attributes and type (ceil mode where it changes nothing compared as off, as exporters write it). */
  static List<String> ops(Graph g) {
    return g.nodes().stream().map(n -> {
      Op op = SpecRecovery.canonical(n.op(), n.inputs().isEmpty() ? null : g.node(n.input(0)).type());
      return op.mnemonic() + " " + op.attrs() + " : " + n.type();
    }).toList();
  }

  /** What the recovered spec of an example says, unoptimized: the example's architecture in other words. */
  static void describesTheExample(Path spec, String recovered) {
    var original = Frontend.load(spec).model();
    var back = Frontend.load("r.resnet", recovered).model();
    assertEquals(original.stages().stream().map(s -> s.blocks() + " " + s.block().kind() + " " + s.block().preact() + " " + s.stride()).toList(),
        back.stages().stream().map(s -> s.blocks() + " " + s.block().kind() + " " + s.block().preact() + " " + s.stride()).toList(), recovered);
    assertEquals(original.head().stream().map(l -> l.getClass().getSimpleName()).toList(), back.head().stream().map(l -> l.getClass().getSimpleName()).toList());
    assertEquals(original.preprocess() != null, back.preprocess() != null);
    assertEquals(original.eps(), back.eps());
  }
}
