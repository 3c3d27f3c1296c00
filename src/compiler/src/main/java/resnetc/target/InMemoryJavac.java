package resnetc.target;

import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.OutputStream;
import java.io.StringWriter;
import java.net.URI;
import java.net.URISyntaxException;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import javax.tools.Diagnostic;
import javax.tools.DiagnosticCollector;
import javax.tools.FileObject;
import javax.tools.ForwardingJavaFileManager;
import javax.tools.JavaCompiler;
import javax.tools.JavaFileObject;
import javax.tools.SimpleJavaFileObject;
import javax.tools.StandardJavaFileManager;
import javax.tools.ToolProvider;
import resnetc.runtime.CompiledModel;

/** Compiles generated sources with the JDK's javac, in memory, against the resnetc runtime. */
public final class InMemoryJavac {
  private InMemoryJavac() {}

  /** Class files by binary name. A compile error here is a backend bug, reported with javac's messages. */
  public static Map<String, byte[]> compile(String qualifiedName, String source) {
    JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
    if (javac == null) throw new IllegalStateException("no Java compiler: resnetc needs a JDK, not a JRE");
    DiagnosticCollector<JavaFileObject> diags = new DiagnosticCollector<>();
    Map<String, ByteArrayOutputStream> out = new LinkedHashMap<>();
    StandardJavaFileManager std = javac.getStandardFileManager(diags, null, null);
    var fm = new ForwardingJavaFileManager<>(std) {
      @Override
      public JavaFileObject getJavaFileForOutput(Location loc, String className, JavaFileObject.Kind kind, FileObject sibling) {
        return new SimpleJavaFileObject(uri(className.replace('.', '/') + ".class"), kind) {
          @Override
          public OutputStream openOutputStream() {
            return out.computeIfAbsent(className, k -> new ByteArrayOutputStream());
          }
        };
      }
    };
    JavaFileObject file = new SimpleJavaFileObject(uri(qualifiedName.replace('.', '/') + ".java"), JavaFileObject.Kind.SOURCE) {
      @Override
      public CharSequence getCharContent(boolean ignoreEncodingErrors) {
        return source;
      }
    };
    List<String> options = List.of("--release", "25", "--add-modules", "jdk.incubator.vector", "-classpath", runtimeClasspath(),
        "-Xlint:none", "-nowarn", "-g:source,lines");
    StringWriter log = new StringWriter();
    boolean ok = javac.getTask(log, fm, diags, options, null, List.of(file)).call();
    if (!ok) {
      StringBuilder sb = new StringBuilder("generated code for " + qualifiedName + " does not compile (a resnetc bug):");
      for (Diagnostic<? extends JavaFileObject> d : diags.getDiagnostics()) {
        if (d.getKind() == Diagnostic.Kind.ERROR) sb.append("\n  line ").append(d.getLineNumber()).append(": ").append(d.getMessage(null));
      }
      throw new IllegalStateException(sb.toString());
    }
    Map<String, byte[]> classes = new LinkedHashMap<>();
    out.forEach((k, v) -> classes.put(k, v.toByteArray()));
    return classes;
  }

  /** Where the runtime classes are: a jar or a classes directory. */
  public static String runtimeClasspath() {
    try {
      return new File(CompiledModel.class.getProtectionDomain().getCodeSource().getLocation().toURI()).getPath();
    } catch (URISyntaxException e) {
      throw new IllegalStateException(e);
    }
  }

  private static URI uri(String path) {
    return URI.create("mem:///" + path);
  }

  /** Loads compiled classes and serves the weights blob as a resource next to the model class. */
  public static final class Loader extends ClassLoader {
    private final Map<String, byte[]> classes;
    private final Map<String, byte[]> resources;

    public Loader(Map<String, byte[]> classes, Map<String, byte[]> resources, ClassLoader parent) {
      super(parent);
      this.classes = classes;
      this.resources = resources;
    }

    @Override
    protected Class<?> findClass(String name) throws ClassNotFoundException {
      byte[] b = classes.get(name);
      if (b == null) throw new ClassNotFoundException(name);
      return defineClass(name, b, 0, b.length);
    }

    @Override
    public java.io.InputStream getResourceAsStream(String name) {
      byte[] r = resources.get(name);
      return r != null ? new java.io.ByteArrayInputStream(r) : super.getResourceAsStream(name);
    }
  }
}
