package resnetc.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import java.io.StringWriter;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

class ProgressTest {
  final AtomicLong clock = new AtomicLong();

  @Test
  void onATerminalTheLineIsRewrittenAtMostEveryIntervalAndErasedAtTheEnd() {
    StringWriter out = new StringWriter();
    String first = "\rimages: 100/1000 (10%), 1000/s", second = "\rimages: 300/1000 (30%), 750/s " /* covers the longer line before */, last = "images: 1000/1000 (100%), 2500/s";
    try (Progress p = new Progress(out, "images", 1000, true, clock::get)) {
      clock.set(100_000_000L); // 0.1 s
      p.advance(100);
      assertEquals(first, out.toString());
      clock.addAndGet(Progress.INTERVAL_NANOS / 2);
      p.advance(100); // too soon: not shown
      assertEquals(first, out.toString());
      clock.addAndGet(Progress.INTERVAL_NANOS);
      p.advance(100);
      assertEquals(first + second, out.toString());
      p.advance(700); // the last item is always shown
      assertEquals(first + second + "\r" + last, out.toString());
    }
    assertEquals(first + second + "\r" + last + "\r" + " ".repeat(last.length()) + "\r", out.toString());
  }

  @Test
  void aShorterLineCoversTheRestOfALongerOne() {
    StringWriter out = new StringWriter();
    Progress p = new Progress(out, "compile", 0, true, clock::get);
    p.stage("generating Java");
    p.stage("javac");
    assertEquals("\rcompile: generating Java...\rcompile: javac...          ", out.toString());
    p.close();
    p.close(); // once
    assertEquals("\rcompile: generating Java...\rcompile: javac...          \r" + " ".repeat(17) + "\r", out.toString());
  }

  @Test
  void offATerminalNothingIsPrinted() {
    StringWriter out = new StringWriter();
    try (Progress p = new Progress(out, "images", 10, false, clock::get)) {
      p.stage("loading");
      for (int i = 0; i < 10; i++) {
        clock.addAndGet(Progress.INTERVAL_NANOS);
        p.advance(1);
      }
    }
    assertEquals("", out.toString());
    // surefire runs tests with pipes, not a terminal: the factory must see that
    assertFalse(Progress.onTerminal());
    try (Progress p = Progress.of(out, "images", 10)) {
      assertFalse(p.enabled());
      p.advance(10);
    }
    assertEquals("", out.toString());
  }
}
