package resnetc.passes;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Supplier;
import resnetc.ir.Graph;
import resnetc.ir.IrException;
import resnetc.ir.Printer;
import resnetc.ir.Verifier;

/**
 * A named sequence of passes, written as text ({@code fold-bn,fuse-conv,dce}). The verifier runs after every pass,
 * so a pass that breaks the graph is named in the error.
 */
public record Pipeline(List<Pass> passes) {
  /** Every pass by name, in the order the default pipeline runs them. */
  private static final Map<String, Supplier<Pass>> REGISTRY = registry();

  public static final String DEFAULT = "fold-preprocess,fold-bn,fuse-conv,fold-constants,dce";

  private static Map<String, Supplier<Pass>> registry() {
    Map<String, Supplier<Pass>> m = new LinkedHashMap<>();
    m.put("fold-preprocess", FoldPreprocess::new);
    m.put("fold-bn", FoldBatchNorm::new);
    m.put("fuse-conv", FuseConv::new);
    m.put("fold-constants", FoldConstants::new);
    m.put("dce", DeadCodeElimination::new);
    return m;
  }

  public static List<String> names() {
    return List.copyOf(REGISTRY.keySet());
  }

  /** Parses {@code a,b,c}; unknown names are an IllegalArgumentException listing the known ones. */
  public static Pipeline parse(String text) {
    List<Pass> passes = new ArrayList<>();
    for (String name : text.split(",")) {
      String n = name.trim();
      if (n.isEmpty()) continue;
      Supplier<Pass> p = REGISTRY.get(n);
      if (p == null) throw new IllegalArgumentException("unknown pass '" + n + "' (known: " + String.join(", ", REGISTRY.keySet()) + ")");
      passes.add(p.get());
    }
    return new Pipeline(passes);
  }

  public static Pipeline defaults() {
    return parse(DEFAULT);
  }

  /** This pipeline, then {@code next}'s passes. */
  public Pipeline then(Pipeline next) {
    List<Pass> all = new ArrayList<>(passes);
    all.addAll(next.passes());
    return new Pipeline(all);
  }

  public String text() {
    return String.join(",", passes.stream().map(Pass::name).toList());
  }

  public Graph run(Graph g) {
    return run(g, Instruments.NONE);
  }

  /**
   * @param dumpAfter a pass name or {@code all}; null for none
   * @param dumpDir where {@code NN-pass.ir} files go
   * @param timing where to print per-pass times, or null
   */
  public record Instruments(String dumpAfter, Path dumpDir, PrintWriter timing) {
    public static final Instruments NONE = new Instruments(null, null, null);
  }

  public Graph run(Graph g, Instruments in) {
    Verifier.verify(g);
    List<String> times = new ArrayList<>();
    long total = 0;
    int index = 0;
    for (Pass p : passes) {
      index++;
      long t0 = System.nanoTime();
      Graph next = p.run(g);
      long dt = System.nanoTime() - t0;
      total += dt;
      List<String> problems = Verifier.problems(next);
      if (!problems.isEmpty()) throw new IrException("after pass " + p.name() + ":\n" + String.join("\n", problems));
      g = next;
      times.add(String.format(Locale.ROOT, "  %8.3f ms  %s", dt / 1e6, p.name()));
      if (in.dumpAfter() != null && (in.dumpAfter().equals("all") || in.dumpAfter().equals(p.name()))) {
        dump(in.dumpDir(), String.format(Locale.ROOT, "%02d-%s.ir", index, p.name()), g);
      }
    }
    if (in.timing() != null) {
      in.timing().println("pass timings:");
      times.forEach(in.timing()::println);
      in.timing().printf(Locale.ROOT, "  %8.3f ms  total%n", total / 1e6);
      in.timing().flush();
    }
    return g;
  }

  private static void dump(Path dir, String file, Graph g) {
    try {
      Files.createDirectories(dir);
      resnetc.runtime.AtomicFile.writeString(dir.resolve(file), Printer.print(g));
    } catch (IOException e) {
      throw new UncheckedIOException(e.getMessage(), e);
    }
  }
}
