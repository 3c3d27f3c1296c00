package resnetc.ir;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class VerifierTest {
  /** Problems of a graph written in text form (the parser does not verify). */
  private static List<String> problems(String body) {
    return Verifier.problems(IrParser.parse("graph g {\n" + body + "\n}\n"));
  }

  private static void assertProblem(List<String> problems, String node, String fragment) {
    assertTrue(problems.stream().anyMatch(p -> p.startsWith("%" + node + ": ") && p.contains(fragment)),
        "expected '%" + node + ": ..." + fragment + "' in " + problems);
  }

  @Test
  void acceptsWellFormedGraphs() {
    assertEquals(List.of(), Verifier.problems(SampleGraphs.allOps(false, 1)));
    assertEquals(List.of(), Verifier.problems(SampleGraphs.allOps(true, 1)));
    Verifier.verify(SampleGraphs.allOps(true, 1));
  }

  @Test
  void exactlyOneInput() {
    List<String> none = problems("  %c = const : f32[2]\n  return %c");
    assertTrue(none.stream().anyMatch(p -> p.contains("no input node")), none.toString());
    List<String> two = problems("  %a = input : f32[N,2]\n  %b = input : f32[N,2]\n  %s = add %a, %b : f32[N,2]\n  return %s");
    assertEquals(1, two.size(), two.toString());
    assertProblem(two, "b", "second input node");
  }

  @Test
  void operandsDefinedOnceAndEarlier() {
    List<String> p = problems("""
          %x = input : f32[N,2]
          %a = add %x, %b : f32[N,2]
          %b = relu %x : f32[N,2]
          %c = relu %nowhere : f32[N,2]
          %b = relu %a : f32[N,2]
          %d = relu %d : f32[N,2]
          return %b
        """);
    assertProblem(p, "a", "uses %b before its definition");
    assertProblem(p, "c", "uses undefined %nowhere");
    assertProblem(p, "b", "defined more than once (single definition)");
    assertProblem(p, "d", "uses %d before its definition");
    assertEquals(4, p.size(), p.toString());
  }

  @Test
  void operandCounts() {
    List<String> p = problems("""
          %x = input : f32[N,2]
          %r = relu %x, %x : f32[N,2]
          %w = const : f32[3,2]
          %d = dense %x : f32[N,3]
          return %r
        """);
    assertProblem(p, "r", "relu takes 1 operands, got 2");
    assertProblem(p, "d", "dense takes 2..3 operands, got 1");
    assertEquals(2, p.size(), p.toString());
  }

  @Test
  void recordedTypesMustBeInferred() {
    List<String> p = problems("""
          %x = input : f32[N,3,8,8]
          %w = const : f32[4,3,3,3]
          %c = conv2d %x, %w kernel=3x3 stride=2 pad=1 groups=1 : f32[N,4,8,8]
          %v = const : f32[4,3,5,5]
          %e = conv2d %x, %v kernel=3x3 stride=1 pad=1 groups=1 : f32[N,4,8,8]
          %s = add %x, %c : f32[N,3,8,8]
          return %c
        """);
    assertProblem(p, "c", "recorded type f32[N,4,8,8] but the operands give f32[N,4,4,4]");
    assertProblem(p, "e", "type inference failed: conv2d weight f32[4,3,5,5] does not fit");
    assertProblem(p, "s", "type inference failed: add operands differ");
    assertEquals(3, p.size(), p.toString());
  }

  @Test
  void batchDimension() {
    List<String> p = problems("""
          %x = input : f32[3,4]
          %w = const : f32[N,4]
          %r = relu %x : f32[3,4]
          return %r
        """);
    assertProblem(p, "x", "activation type f32[3,4] lacks the batch dimension N");
    assertProblem(p, "r", "activation type f32[3,4] lacks the batch dimension N");
    assertProblem(p, "w", "constant type f32[N,4] must not have the batch dimension N");
    assertEquals(3, p.size(), p.toString());
  }

  @Test
  void outputMustExist() {
    List<String> p = problems("  %x = input : f32[N,2]\n  return %y");
    assertEquals(List.of("%y: returned but not defined"), p);
  }

  @Test
  void constantData() {
    Graph g = SampleGraphs.allOps(true, 1);
    Map<String, Tensor> data = new HashMap<>(g.constants());
    data.put("fc.b", Tensor.of(new float[11], 11));
    data.remove("bn.var");
    data.put("relu", Tensor.of(new float[1], 1));
    data.put("ghost", Tensor.of(new float[1], 1));
    List<String> p = Verifier.problems(g.withConstants(data));
    assertProblem(p, "fc.b", "constant data is f32[11] but the node is f32[10]");
    assertProblem(p, "bn.var", "constant has no data");
    assertProblem(p, "relu", "has constant data but is not a const node");
    assertProblem(p, "ghost", "has constant data but is not a const node");
    assertEquals(4, p.size(), p.toString());
  }

  @Test
  void verifyListsEveryProblemOnItsOwnLine() {
    Graph g = IrParser.parse("graph g {\n  %x = input : f32[N,2]\n  %a = relu %q : f32[N,2]\n  %b = add %x : f32[N,2]\n  return %z\n}\n");
    IrException e = assertThrows(IrException.class, () -> Verifier.verify(g));
    List<String> lines = e.getMessage().lines().toList();
    assertEquals(Verifier.problems(g), lines);
    assertEquals(3, lines.size(), e.getMessage());
    assertTrue(lines.stream().allMatch(l -> l.startsWith("%")), e.getMessage());
  }
}
