package resnetc.passes;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import resnetc.TestPaths;
import resnetc.cli.Main;
import resnetc.ir.Graph;
import resnetc.ir.IrException;
import resnetc.ir.IrParser;
import resnetc.ir.Node;
import resnetc.ir.Printer;
import resnetc.ir.TensorType;
import resnetc.ir.Verifier;

/** The pass manager: parsing pass lists, the verifier after every pass, and the CLI's dump and timing options. */
class PipelineTest {
  @TempDir Path tmp;

  private static final String RESNET20 = TestPaths.repoRoot().resolve("examples/cifar/resnet20.resnet").toString();

  @Test
  void parsesPassListsAndNamesTheDefault() {
    assertEquals(List.of("fold-preprocess", "fold-bn", "fuse-conv", "fold-constants", "dce"), Pipeline.names());
    assertEquals(String.join(",", Pipeline.names()), Pipeline.defaults().text());
    Pipeline p = Pipeline.parse(" fuse-conv, dce,,fuse-conv ");
    assertEquals("fuse-conv,dce,fuse-conv", p.text());
    assertTrue(p.passes().get(0) instanceof FuseConv && p.passes().get(1) instanceof DeadCodeElimination);
    assertEquals(List.of(), Pipeline.parse("").passes());
  }

  @Test
  void rejectsUnknownPassesListingTheKnownOnes() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Pipeline.parse("fold-bn,fold-batchnorm"));
    assertEquals("unknown pass 'fold-batchnorm' (known: fold-preprocess, fold-bn, fuse-conv, fold-constants, dce)", e.getMessage());
    // and on the command line, as a user error
    StringWriter err = new StringWriter();
    assertEquals(1, Main.execute(new String[] {"ir", RESNET20, "--passes=fuse-conv,bogus"}, new PrintWriter(new StringWriter()), new PrintWriter(err)));
    assertTrue(err.toString().contains("unknown pass 'bogus' (known: fold-preprocess, fold-bn"), err.toString());
  }

  /** A pass that breaks the graph: it records a wrong type on the first relu. */
  private record Breaks(String name) implements Pass {
    public Graph run(Graph g) {
      List<Node> nodes = new ArrayList<>(g.nodes());
      for (int i = 0; i < nodes.size(); i++) {
        Node n = nodes.get(i);
        if (n.op().mnemonic().equals("relu")) {
          nodes.set(i, new Node(n.name(), n.op(), n.inputs(), TensorType.batched(1)));
          break;
        }
      }
      return g.withNodes(nodes, g.output());
    }
  }

  private static final Graph SMALL = IrParser.parse("""
      graph small {
        %x = input : f32[N,4]
        %r = relu %x : f32[N,4]
        return %r
      }
      """);

  @Test
  void verifiesAfterEveryPassAndNamesTheCulprit() {
    Pipeline p = new Pipeline(List.of(new DeadCodeElimination(), new Breaks("breaker"), new DeadCodeElimination()));
    IrException e = assertThrows(IrException.class, () -> p.run(SMALL));
    assertEquals("after pass breaker:\n%r: recorded type f32[N,1] but the operands give f32[N,4]", e.getMessage());
    // the input is verified before any pass runs
    Graph broken = new Breaks("x").run(SMALL);
    IrException in = assertThrows(IrException.class, () -> new Pipeline(List.of()).run(broken));
    assertFalse(in.getMessage().contains("after pass"), in.getMessage());
  }

  private String cli(String... args) {
    StringWriter out = new StringWriter(), err = new StringWriter();
    int code = Main.execute(args, new PrintWriter(out), new PrintWriter(err));
    assertEquals(0, code, err.toString());
    return out + "\u0000" + err;
  }

  private List<String> files(Path dir) throws IOException {
    try (Stream<Path> s = Files.list(dir)) {
      return s.map(p -> p.getFileName().toString()).sorted().toList();
    }
  }

  @Test
  void dumpIrAfterAllWritesOneVerifiedFilePerPass() throws IOException {
    Path dir = tmp.resolve("all");
    String stdout = cli("ir", RESNET20, "--opt", "--dump-ir-after=all", "--dump-dir", dir.toString()).split("\u0000")[0];
    assertEquals(List.of("01-fold-preprocess.ir", "02-fold-bn.ir", "03-fuse-conv.ir", "04-fold-constants.ir", "05-dce.ir"), files(dir));
    String previous = null;
    for (String f : files(dir)) {
      String text = Files.readString(dir.resolve(f));
      Graph g = IrParser.parse(text);
      Verifier.verify(g);
      assertEquals(text, Printer.print(g), f + " is in the stable text form");
      if (f.startsWith("03")) assertFalse(text.equals(previous), "fuse-conv changes the graph");
      previous = text;
    }
    assertEquals(stdout, previous, "the last dump is what the command prints");
    assertTrue(Files.readString(dir.resolve("02-fold-bn.ir")).contains("folded_weight"));
    assertFalse(Files.readString(dir.resolve("02-fold-bn.ir")).contains("fused_conv"));
  }

  @Test
  void dumpIrAfterOnePassWritesJustThat() throws IOException {
    Path dir = tmp.resolve("one");
    cli("ir", RESNET20, "--opt", "--dump-ir-after=fuse-conv", "--dump-dir", dir.toString());
    assertEquals(List.of("03-fuse-conv.ir"), files(dir));
    Verifier.verify(IrParser.parse(Files.readString(dir.resolve("03-fuse-conv.ir"))));
    // with an explicit list the index is the position in that list
    cli("ir", RESNET20, "--passes=fold-bn,fuse-conv", "--dump-ir-after=fuse-conv", "--dump-dir", tmp.resolve("two").toString());
    assertEquals(List.of("02-fuse-conv.ir"), files(tmp.resolve("two")));
    // naming a pass that is not in the pipeline is a user error
    StringWriter err = new StringWriter();
    assertEquals(1, Main.execute(new String[] {"ir", RESNET20, "--passes=fold-bn", "--dump-ir-after=dce", "--dump-dir", dir.toString()},
        new PrintWriter(new StringWriter()), new PrintWriter(err)));
    assertTrue(err.toString().contains("--dump-ir-after=dce names no pass of the pipeline fold-bn"), err.toString());
  }

  @Test
  void timePassesPrintsEveryPass() {
    String stderr = cli("ir", RESNET20, "--opt", "--time-passes").split("\u0000")[1];
    List<String> lines = stderr.lines().toList();
    assertEquals("pass timings:", lines.get(0));
    List<String> names = new ArrayList<>(Pipeline.names());
    names.add("total");
    assertEquals(names.size() + 1, lines.size(), stderr);
    for (int i = 0; i < names.size(); i++) assertTrue(lines.get(i + 1).matches("\\s+\\d+\\.\\d{3} ms  " + names.get(i)), lines.get(i + 1));
  }

  @Test
  void graphWritesOptimizedDot() throws IOException {
    Path dot = tmp.resolve("x.dot");
    cli("graph", RESNET20, "--opt", "-o", dot.toString());
    String text = Files.readString(dot);
    assertTrue(text.startsWith("digraph \"resnet20\" {\n") && text.endsWith("}\n"), text);
    assertFalse(text.contains("\\nconst") || text.contains("weight"), "no const nodes or edges from them");
    assertEquals(19, text.split("\\\\nfused_conv", -1).length - 1);
    assertFalse(text.contains("\\nbatchnorm") || text.contains("\\nadd"));
  }
}
