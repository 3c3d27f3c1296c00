package resnetc.ir;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

class IrParserTest {
  private static Node withoutOrigin(Node n) {
    return new Node(n.name(), n.op(), n.inputs(), n.type());
  }

  @Test
  void roundTripsEveryOp() {
    Graph g = SampleGraphs.allOps(false, 1);
    Set<String> mnemonics = g.nodes().stream().map(n -> n.op().mnemonic()).collect(Collectors.toSet());
    Set<String> all = Set.of(Op.class.getPermittedSubclasses()).stream()
        .map(c -> c.getSimpleName()).collect(Collectors.toSet());
    assertEquals(all.size(), mnemonics.size(), "sample covers every op: " + mnemonics);

    String text = Printer.print(g);
    Graph parsed = IrParser.parse(text);
    assertEquals(text, Printer.print(parsed));
    assertEquals(g.name(), parsed.name());
    assertEquals(g.output(), parsed.output());
    assertEquals(g.nodes().stream().map(IrParserTest::withoutOrigin).toList(), parsed.nodes());
    assertTrue(parsed.constants().isEmpty());
    Verifier.verify(parsed);
  }

  @Test
  void ignoresOriginsCommentsAndBlankLines() {
    Graph g = SampleGraphs.allOps(false, 1);
    String withOrigins = Printer.print(g, true);
    assertTrue(withOrigins.contains("// spec.rn:3"));
    assertEquals(Printer.print(g), Printer.print(IrParser.parse(withOrigins)));

    String text = """
        // a comment line

        graph tiny {   // header comment
          %in/x = input : f32[N,2,3,3]

          %r = relu %in/x   : f32[N,2,3,3] // names may contain '/'
          return %r
        }
        """.replace("\n", "\r\n");
    Graph t = IrParser.parse(text);
    assertEquals("in/x", t.nodes().get(0).name());
    assertEquals(List.of("in/x"), t.nodes().get(1).inputs());
    assertEquals("graph tiny {\n  %in/x = input : f32[N,2,3,3]\n  %r = relu %in/x : f32[N,2,3,3]\n  return %r\n}\n", Printer.print(t));
  }

  @Test
  void readsAttributesExactly() {
    Graph g = IrParser.parse("""
        graph g {
          %x = input : f32[N,3,4,4]
          %n = normalize %x div=255.0 mean=[0.485,-1.0E-7,3.4028235E38] std=[1.0,2.0,0.225] : f32[N,3,4,4]
          %bn.g = const : f32[3]
          %bn = batchnorm %n, %bn.g, %bn.g, %bn.g, %bn.g eps=1.0E-5 : f32[N,3,4,4]
          %p = avgpool %bn kernel=3x3 stride=2 pad=1 ceil=true count_pad=false : f32[N,3,3,3]
          %s = const : f32[]
          return %p
        }
        """);
    assertEquals(new Op.Normalize(255f, new float[] {0.485f, -1e-7f, Float.MAX_VALUE}, new float[] {1f, 2f, 0.225f}), g.node("n").op());
    assertEquals(new Op.BatchNorm(1e-5f), g.node("bn").op());
    assertEquals(new Op.AvgPool(3, 2, 1, true, false), g.node("p").op());
    assertEquals(TensorType.of(), g.node("s").type());
    assertEquals(List.of("n", "bn.g", "bn.g", "bn.g", "bn.g"), g.node("bn").inputs());
  }

  @Test
  void doesNotVerify() {
    // A wrong type is kept as written; the verifier reports it.
    Graph g = IrParser.parse("graph g {\n %x = input : f32[N,3]\n %r = relu %x : f32[N,4]\n return %r\n}\n");
    assertEquals(TensorType.batched(4), g.node("r").type());
    assertEquals(1, Verifier.problems(g).size());
  }

  private static void assertError(String text, int line, String fragment) {
    IrException e = assertThrows(IrException.class, () -> IrParser.parse(text));
    assertTrue(e.getMessage().startsWith("line " + line + ": "), e.getMessage());
    assertTrue(e.getMessage().contains(fragment), e.getMessage());
  }

  private static String graph(String... body) {
    return "graph g {\n  // comment\n\n  %x = input : f32[N,2,4,4]\n" + String.join("\n", body) + "\n  return %x\n}\n";
  }

  @Test
  void reportsErrorsWithLineNumbers() {
    // the body starts at line 5
    assertError(graph("  %y = frobnicate %x : f32[N,2,4,4]"), 5, "unknown op 'frobnicate'");
    assertError(graph("  %y = relu %x", "  %z = maxpool %y kernel=3x3 stride=1 : f32[N,2,4,4]"), 5, "expected ':'");
    assertError(graph("  %y = relu %x : f32[N,2,4,4]", "  %z = maxpool %y kernel=3x3 stride=1 : f32[N,2,4,4]"), 6, "maxpool needs attribute pad");
    assertError(graph("  %y = maxpool %x kernel=3x3 stride=1 pad=1 size=2 : f32[N,2,4,4]"), 5, "maxpool has no attribute size");
    assertError(graph("  %y = maxpool %x kernel=3x2 stride=1 pad=1 : f32[N,2,4,4]"), 5, "not square");
    assertError(graph("  %y = maxpool %x kernel=3x3 stride=one pad=1 : f32[N,2,4,4]"), 5, "bad stride 'one'");
    assertError(graph("  %y = maxpool %x kernel=3x3 stride=1 stride=1 pad=1 : f32[N,2,4,4]"), 5, "given twice");
    assertError(graph("  %y = avgpool %x kernel=3x3 stride=1 pad=1 ceil=yes count_pad=true : f32[N,2,4,4]"), 5, "expected true or false");
    assertError(graph("  %y = batchnorm %x, %x, %x, %x, %x eps=1e-5x : f32[N,2,4,4]"), 5, "bad eps");
    assertError(graph("  %y = normalize %x div=1.0 mean=0.5 std=[1.0,1.0] : f32[N,2,4,4]"), 5, "expected [a,b,...]");
    assertError(graph("  %y = relu %x : f32[2,N,4,4]"), 5, "N is only allowed as the first dimension");
    assertError(graph("  %y = relu %x : i32[N,2]"), 5, "expected a type");
    assertError(graph("  %y = relu %x : f32[N,-2]"), 5, "negative dimension");
    assertError(graph("  %y = add %x, : f32[N,2,4,4]"), 5, "expected an operand");
    assertError(graph("  y = relu %x : f32[N,2,4,4]"), 5, "expected '%'");
    assertError(graph("  %y = relu %x : f32[N,2,4,4] extra"), 5, "expected a type");
    assertError("graf g {\n}\n", 1, "expected 'graph NAME {'");
    assertError("graph g {\n  %x = input : f32[N,2]\n}\n", 3, "without 'return");
    assertError("graph g {\n  %x = input : f32[N,2]\n  return %x\n  %y = relu %x : f32[N,2]\n}\n", 4, "expected '}'");
    assertError("graph g {\n  %x = input : f32[N,2]\n  return %x\n}\n}\n", 5, "after the closing");
    assertError("graph g {\n  %x = input : f32[N,2]\n  return %x\n", 4, "expected '}'");
    assertError("graph g {\n  %x = input : f32[N,2]\n  return x\n}", 3, "expected 'return %VALUE'");
    assertError("", 1, "expected 'graph NAME {'");
  }
}
