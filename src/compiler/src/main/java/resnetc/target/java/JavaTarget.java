package resnetc.target.java;

import resnetc.packaging.InMemoryJavac;

import java.io.IOException;
import java.lang.reflect.InvocationTargetException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import resnetc.Frontend;
import resnetc.check.Model;
import resnetc.ir.Graph;
import resnetc.passes.Pipeline;
import resnetc.runtime.CompiledModel;

/** The Java backend end to end: optimized graph to source, to classes in memory, to a live model. */
public final class JavaTarget {
  private JavaTarget() {}

  /** A compiled model: generated source, class files, weights blob bytes (null without weights). */
  public record Compiled(JavaBackend.Output output, Map<String, byte[]> classes, byte[] blob) {
    public String resourcePath() {
      String qn = output.qualifiedName();
      int dot = qn.lastIndexOf('.');
      return (dot < 0 ? "" : qn.substring(0, dot).replace('.', '/') + "/") + output.weightsResource();
    }
  }

  public static JavaBackend.Options defaultOptions(Model m, String packageName, String className) {
    return new JavaBackend.Options(packageName == null ? "resnetc.models" : packageName, className == null ? className(m.name()) : className);
  }

  /** {@code resnet20} to {@code Resnet20}, {@code wide-resnet} to {@code Wide_resnet}: a valid Java name. */
  public static String className(String modelName) {
    String s = modelName.replaceAll("[^A-Za-z0-9_]", "_");
    if (!Character.isJavaIdentifierStart(s.charAt(0))) s = "M" + s;
    return Character.toUpperCase(s.charAt(0)) + s.substring(1);
  }

  /**
   * Source for a loaded spec and a graph with or without weights: preprocessing is left to the runtime, the
   * default pipeline runs, and the backend emits the class.
   */
  public static JavaBackend.Output generate(Frontend.Loaded l, Graph graph, JavaBackend.Options opt, Pipeline pipeline) {
    return JavaBackend.generate(optimize(graph, pipeline), info(l), opt);
  }

  /** What the backend compiles: the graph without its input normalization, through the pipeline. */
  public static Graph optimize(Graph graph, Pipeline pipeline) {
    return pipeline.run(Frontend.withoutPreprocess(graph));
  }

  public static JavaBackend.Output generate(Frontend.Loaded l, Graph optimized, JavaBackend.Options opt) {
    return JavaBackend.generate(optimized, info(l), opt);
  }

  public static Compiled compile(JavaBackend.Output out) {
    Map<String, byte[]> classes = InMemoryJavac.compile(out.qualifiedName(), out.source());
    return new Compiled(out, classes, out.weights() == null ? null : JavaBackend.blobBytes(out.weights()));
  }

  /** Loads a compiled model into this JVM (for {@code resnetc run --backend java} and tests). */
  public static CompiledModel instantiate(Compiled c, int threads) {
    if (c.blob() == null) throw new IllegalArgumentException("model " + c.output().qualifiedName() + " has no weights");
    var loader = new InMemoryJavac.Loader(c.classes(), Map.of(c.resourcePath(), c.blob()), JavaTarget.class.getClassLoader());
    try {
      Class<?> cls = loader.loadClass(c.output().qualifiedName());
      return (CompiledModel) cls.getConstructor(int.class).newInstance(threads);
    } catch (InvocationTargetException e) {
      throw new IllegalStateException("cannot start " + c.output().qualifiedName() + ": " + e.getCause(), e.getCause());
    } catch (ReflectiveOperationException e) {
      throw new IllegalStateException("cannot load " + c.output().qualifiedName() + ": " + e, e);
    }
  }

  public static JavaBackend.ModelInfo info(Frontend.Loaded l) {
    Model m = l.model();
    Model.Preprocess p = m.preprocess();
    int ch = m.input().channels();
    float[] mean = new float[ch], std = new float[ch];
    java.util.Arrays.fill(std, 1);
    float div = 1;
    int resize = 0, crop = 0;
    if (p != null) {
      div = (float) (1 / p.scale());
      for (int i = 0; i < ch; i++) {
        mean[i] = (float) p.mean()[i];
        std[i] = (float) p.std()[i];
      }
      resize = p.resize();
      crop = p.crop();
    }
    return new JavaBackend.ModelInfo(m.name(), l.spec().getFileName().toString(), m.source(), div, mean, std, resize, crop, labels(l));
  }

  /** The spec's label file, relative to the spec; an unreadable one is a user error. */
  static List<String> labels(Frontend.Loaded l) {
    String file = l.model().labels();
    if (file == null) return List.of();
    Path dir = l.spec().toAbsolutePath().getParent();
    Path p = dir == null ? Path.of(file) : dir.resolve(file);
    try {
      List<String> lines = Files.readAllLines(p).stream().map(String::strip).filter(s -> !s.isEmpty()).toList();
      if (lines.size() != l.model().classes()) {
        throw new IllegalArgumentException(p + ": " + lines.size() + " labels for " + l.model().classes() + " classes");
      }
      return lines;
    } catch (IOException e) {
      throw new IllegalArgumentException(l.spec() + ": cannot read the label file " + p + " (" + e.getMessage() + ")");
    }
  }
}
