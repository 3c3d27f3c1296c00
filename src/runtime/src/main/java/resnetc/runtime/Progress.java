package resnetc.runtime;

import java.io.Console;
import java.io.Flushable;
import java.io.IOException;
import java.util.Locale;
import java.util.function.LongSupplier;

/**
 * A one-line progress report for long work (compiling ResNet-50, running thousands of images), rewritten in place
 * with {@code \r} at most every {@link #INTERVAL_NANOS} and erased when the work is done, so a terminal ends up
 * showing only the results. When the output is not a terminal (a pipe, a file, a test, CI) it prints nothing at
 * all: logs stay free of half-lines and carriage returns.
 */
public final class Progress implements AutoCloseable {
  /** How often the line is rewritten. */
  public static final long INTERVAL_NANOS = 200_000_000L;

  private final Appendable out;
  private final String label;
  private final long total;
  private boolean enabled;
  private final LongSupplier clock;
  private final long start;
  private long done, lastPrint = Long.MIN_VALUE;
  private int shown; // characters on the line now

  Progress(Appendable out, String label, long total, boolean enabled, LongSupplier clock) {
    this.out = out;
    this.label = label;
    this.total = total;
    this.enabled = enabled;
    this.clock = clock;
    this.start = clock.getAsLong();
  }

  /**
   * Progress of {@code total} items (0 for stages without a count) on {@code out} (a PrintStream or PrintWriter, e.g.
   * standard error), shown only when this JVM runs on a terminal ({@link #onTerminal()}).
   */
  public static Progress of(Appendable out, String label, long total) {
    return new Progress(out, label, total, onTerminal(), System::nanoTime);
  }

  /**
   * Whether the user watches this process on a terminal: the JDK's console is interactive (stdin and stdout are a
   * terminal). {@code -Dresnetc.progress=false} turns progress off regardless.
   */
  public static boolean onTerminal() {
    if (!Boolean.parseBoolean(System.getProperty("resnetc.progress", "true"))) return false;
    Console c = System.console();
    return c != null && c.isTerminal();
  }

  public boolean enabled() {
    return enabled;
  }

  /** {@code n} more items are done; rewrites the line when the last rewrite is old enough. */
  public void advance(long n) {
    done += n;
    if (!enabled) return;
    long now = clock.getAsLong();
    if (lastPrint != Long.MIN_VALUE && now - lastPrint < INTERVAL_NANOS && done < total) return;
    lastPrint = now;
    double seconds = (now - start) / 1e9;
    String rate = seconds > 0 ? String.format(Locale.ROOT, ", %.0f/s", done / seconds) : "";
    show(total > 0 ? String.format(Locale.ROOT, "%s: %d/%d (%d%%)%s", label, done, total, done * 100 / total, rate)
        : String.format(Locale.ROOT, "%s: %d%s", label, done, rate));
  }

  /** A stage of work without a count, e.g. {@code compiling Java}; always shown (stages are few and slow). */
  public void stage(String what) {
    if (!enabled) return;
    lastPrint = clock.getAsLong();
    show(label + ": " + what + "...");
  }

  private void show(String line) {
    StringBuilder sb = new StringBuilder("\r").append(line);
    for (int i = line.length(); i < shown; i++) sb.append(' '); // cover the end of a longer previous line
    shown = line.length();
    write(sb);
  }

  private void write(CharSequence text) {
    try {
      out.append(text);
      if (out instanceof Flushable f) f.flush();
    } catch (IOException e) {
      enabled = false; // progress is a courtesy: never fail the work for it
    }
  }

  /** Erases the line, leaving the cursor where it was before the first report. */
  @Override
  public void close() {
    if (!enabled || shown == 0) return;
    write("\r" + " ".repeat(shown) + "\r");
    shown = 0;
  }
}
