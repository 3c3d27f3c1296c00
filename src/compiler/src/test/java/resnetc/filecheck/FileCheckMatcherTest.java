package resnetc.filecheck;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** The matcher itself: every directive kind passes when it should and fails, with a useful message, when not. */
class FileCheckMatcherTest {
  private static final String OUT = """
      graph g {
        %x = input : f32[N,8,4,4]
        %c1 = conv2d %x, %w1 kernel=3x3 stride=1 pad=1 groups=1 : f32[N,8,4,4]
        %r1 = relu %c1 : f32[N,8,4,4]
        %c2 = conv2d %r1, %w2 kernel=3x3 stride=1 pad=1 groups=1 : f32[N,8,4,4]
        %s = add %c2, %x : f32[N,8,4,4]
        return %s
      }
      """;

  private static void pass(String checks) {
    FileCheck.parse("t.ir", checks).match(OUT);
  }

  private static String fail(String checks) {
    return assertThrows(FileCheck.Failure.class, () -> FileCheck.parse("t.ir", checks).match(OUT)).getMessage();
  }

  @Test
  void checkMatchesInOrder() {
    pass("// CHECK: %c1 = conv2d\n// CHECK: relu\n// CHECK: %c2 = conv2d\n// CHECK: return %s");
    pass("# CHECK: %r1 = relu %c1 : f32[N,8,4,4]"); // '#' comments too; brackets are literal
    String m = fail("// CHECK: relu\n// CHECK: %c1 = conv2d");
    assertTrue(m.startsWith("t.ir:2: CHECK: %c1 = conv2d\n"), m);
    assertTrue(m.contains("no match"), m);
    assertTrue(m.contains(">>    4 |   %r1 = relu"), m); // the output where matching stopped, with line numbers
  }

  @Test
  void checkContinuesOnTheSameLine() {
    pass("// CHECK: %s = add\n// CHECK: %c2\n// CHECK: %x");
    fail("// CHECK: %s = add %c2, %x\n// CHECK: %c2"); // nothing of %c2 after the add
  }

  @Test
  void regexBlocksAndBlanks() {
    pass("// CHECK: %c{{[0-9]+}} = conv2d %x, %w{{.}} kernel=3x3");
    pass("// CHECK: %r1   =   relu"); // a run of blanks matches any run of blanks
    pass("// CHECK: {{^}}  return %s{{$}}");
    fail("// CHECK: %c{{[3-9]}} = conv2d");
    fail("// CHECK: kernel=3.3"); // '.' outside {{ }} is literal
  }

  @Test
  void checkNextMustBeOnTheFollowingLine() {
    pass("// CHECK: %c1 = conv2d\n// CHECK-NEXT: %r1 = relu\n// CHECK-NEXT: %c2 = conv2d");
    String later = fail("// CHECK: %c1 = conv2d\n// CHECK-NEXT: %c2 = conv2d");
    assertTrue(later.startsWith("t.ir:2: CHECK-NEXT: %c2 = conv2d\n") && later.contains("output line 5, not on the line after"), later);
    String same = fail("// CHECK: %s = add\n// CHECK-NEXT: %x");
    assertTrue(same.contains("same line"), same);
  }

  @Test
  void checkNotHoldsBetweenTheSurroundingMatches() {
    pass("// CHECK: %c1 = conv2d\n// CHECK-NOT: add\n// CHECK: %c2 = conv2d"); // the add comes after %c2: fine
    pass("// CHECK-NOT: batchnorm"); // alone: the whole output
    String m = fail("// CHECK: %c1 = conv2d\n// CHECK-NOT: relu\n// CHECK: %c2 = conv2d");
    assertTrue(m.startsWith("t.ir:2: CHECK-NOT: relu\n") && m.contains("excluded pattern found") && m.contains(">>    4 |"), m);
    fail("// CHECK: %c2 = conv2d\n// CHECK-NOT: add"); // a trailing NOT runs to the end
    fail("// CHECK-NOT: input\n// CHECK: conv2d"); // a leading NOT starts at the beginning
  }

  @Test
  void checkCountIsExactFromTheCurrentPosition() {
    pass("// CHECK-COUNT-2: = conv2d");
    pass("// CHECK: %r1 = relu\n// CHECK-COUNT-1: = conv2d"); // from the current position on
    pass("// CHECK-COUNT-0: batchnorm\n// CHECK-COUNT-1: = add\n// CHECK: %x = input"); // the position stays
    pass("// CHECK: %c1 = conv2d\n// CHECK-COUNT-1: = conv2d\n// CHECK-NEXT: %r1 = relu");
    String few = fail("// CHECK-COUNT-3: = conv2d");
    assertTrue(few.startsWith("t.ir:1: CHECK-COUNT-3: = conv2d\n") && few.contains("exactly 3 occurrences, found 2"), few);
    String many = fail("// CHECK-COUNT-1: = conv2d");
    assertTrue(many.contains("found 2") && many.contains(">>    5 |   %c2 = conv2d"), many); // the extra one is marked
    fail("// CHECK-COUNT-0: = add\n// CHECK: %x = input"); // 0 means nowhere
    String label = fail("// CHECK-LABEL: %r1\n// CHECK-COUNT-2: conv2d\n// CHECK-LABEL: %s = add"); // within the section
    assertTrue(label.contains("found 1"), label);
  }

  @Test
  void labelsSplitTheOutputIntoSections() {
    pass("// CHECK-LABEL: %c1 =\n// CHECK: relu\n// CHECK-LABEL: %c2 =\n// CHECK-NOT: relu\n// CHECK: add");
    // relu exists, but only in the section before the label
    String m = fail("// CHECK-LABEL: %c2 =\n// CHECK: relu");
    assertTrue(m.startsWith("t.ir:2: CHECK: relu\n"), m);
    // the add exists, but after the next label's match
    fail("// CHECK-LABEL: %r1 =\n// CHECK: add\n// CHECK-LABEL: %c2 =");
    // a NOT before a label only sees its own section
    pass("// CHECK: %x = input\n// CHECK-NOT: add\n// CHECK-LABEL: %s = add");
    String missing = fail("// CHECK-LABEL: %c1 =\n// CHECK-LABEL: %x = input");
    assertTrue(missing.startsWith("t.ir:2: CHECK-LABEL:"), missing);
  }

  @Test
  void malformedCheckFilesAreErrors() {
    assertThrows(IllegalArgumentException.class, () -> FileCheck.parse("t", "// CHECK-NXT: relu"));
    assertThrows(IllegalArgumentException.class, () -> FileCheck.parse("t", "// CHECK-COUNT: relu"));
    assertThrows(IllegalArgumentException.class, () -> FileCheck.parse("t", "// CHECK :relu"));
    assertThrows(IllegalArgumentException.class, () -> FileCheck.parse("t", "// CHECK:   "));
    assertThrows(IllegalArgumentException.class, () -> FileCheck.parse("t", "// CHECK-NEXT: relu"));
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> FileCheck.parse("t", "x\n// CHECK: {{[}}"));
    assertTrue(e.getMessage().startsWith("t:2: bad pattern"), e.getMessage());
    assertThrows(IllegalArgumentException.class, () -> FileCheck.parse("t", "// CHECK: {{x"));
  }

  @Test
  void readsDirectivesFromCommentsOnly() {
    FileCheck fc = FileCheck.parse("t", "# RUN: lower\nmodel m { }  # CHECK: conv2d\nCHECK: not a directive\n// CHECK-COUNT-12: x");
    assertEquals(2, fc.directives().size());
    assertEquals(new FileCheck.Directive(FileCheck.Kind.CHECK, "conv2d", 0, 2), fc.directives().get(0));
    assertEquals(new FileCheck.Directive(FileCheck.Kind.COUNT, "x", 12, 4), fc.directives().get(1));
  }
}
