package resnetc.packaging;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.FileVisitResult;
import java.nio.file.FileSystem;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.Map;
import java.util.TreeMap;
import java.util.jar.Attributes;
import java.util.jar.JarEntry;
import java.util.jar.JarOutputStream;
import java.util.jar.Manifest;
import java.util.zip.CRC32;
import java.util.zip.ZipEntry;
import resnetc.runtime.AtomicFile;
import resnetc.runtime.CompiledModel;
import resnetc.target.Artifact;
import resnetc.target.InMemoryJavac;

/**
 * The deployable inference jar: the model's classes, its weights blob, and the resnetc runtime shaded in, with a
 * manifest that makes {@code java -jar model.jar} run {@code resnetc.runtime.ModelMain} on this model.
 */
public final class ModelJar {
  private ModelJar() {}

  /** The jar of a target's artifact: its class compiled, its resources, the runtime. */
  public static void write(Path jar, Artifact a) {
    write(jar, a.qualifiedName(), a.compile(), a.resources());
  }

  /**
   * An artifact's model in this JVM as its jar would run it: the class from memory, its resources (weights, native
   * libraries, which are extracted like a jar's) served by the class loader.
   */
  public static CompiledModel load(Artifact a, int threads) {
    var loader = new InMemoryJavac.Loader(a.compile(), a.resources(), ModelJar.class.getClassLoader());
    try {
      return (CompiledModel) loader.loadClass(a.qualifiedName()).getConstructor(int.class).newInstance(threads);
    } catch (java.lang.reflect.InvocationTargetException e) {
      if (e.getCause() instanceof RuntimeException r) throw r;
      throw new IllegalStateException("cannot start " + a.qualifiedName() + ": " + e.getCause(), e.getCause());
    } catch (ReflectiveOperationException e) {
      throw new IllegalStateException("cannot load " + a.qualifiedName() + ": " + e, e);
    }
  }

  /**
   * @param classes class files by binary name
   * @param resources other entries by path, e.g. the weights blob (stored uncompressed: it is read once, fast,
   *     and float data barely compresses)
   */
  public static void write(Path jar, String modelClass, Map<String, byte[]> classes, Map<String, byte[]> resources) {
    Manifest mf = new Manifest();
    Attributes a = mf.getMainAttributes();
    a.put(Attributes.Name.MANIFEST_VERSION, "1.0");
    a.put(Attributes.Name.MAIN_CLASS, "resnetc.runtime.ModelMain");
    a.putValue("Resnetc-Model", modelClass);
    a.putValue("Enable-Native-Access", "ALL-UNNAMED");
    a.putValue("Created-By", "resnetc");
    Map<String, byte[]> entries = new TreeMap<>(runtimeClasses());
    classes.forEach((name, bytes) -> entries.put(name.replace('.', '/') + ".class", bytes));
    try {
      Path parent = jar.toAbsolutePath().getParent();
      if (parent != null) Files.createDirectories(parent);
      // all or nothing: a failed write (disk full, ulimit -f) leaves an existing jar as it was
      AtomicFile.write(jar, os -> {
        JarOutputStream out = new JarOutputStream(os, mf);
        for (Map.Entry<String, byte[]> e : entries.entrySet()) put(out, e.getKey(), e.getValue(), false);
        for (Map.Entry<String, byte[]> e : new TreeMap<>(resources).entrySet()) put(out, e.getKey(), e.getValue(), true);
        out.finish();
      });
    } catch (IOException e) {
      throw new UncheckedIOException(e.getMessage(), e);
    }
  }

  private static void put(JarOutputStream out, String name, byte[] bytes, boolean stored) throws IOException {
    JarEntry e = new JarEntry(name);
    e.setTime(0); // reproducible jars
    if (stored) {
      CRC32 crc = new CRC32();
      crc.update(bytes);
      e.setMethod(ZipEntry.STORED);
      e.setSize(bytes.length);
      e.setCompressedSize(bytes.length);
      e.setCrc(crc.getValue());
    }
    out.putNextEntry(e);
    out.write(bytes);
    out.closeEntry();
  }

  /** The runtime's class files, from its jar or its classes directory, by entry name. */
  static Map<String, byte[]> runtimeClasses() {
    Path where = Path.of(InMemoryJavac.runtimeClasspath());
    Map<String, byte[]> out = new TreeMap<>();
    try {
      if (Files.isDirectory(where)) {
        collect(where, out);
      } else {
        try (FileSystem fs = FileSystems.newFileSystem(where)) {
          collect(fs.getPath("/"), out);
        }
      }
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read the resnetc runtime at " + where, e);
    }
    if (!out.containsKey("resnetc/runtime/ModelMain.class")) throw new IllegalStateException("no resnetc runtime classes at " + where);
    return out;
  }

  private static void collect(Path root, Map<String, byte[]> out) throws IOException {
    Files.walkFileTree(root, new SimpleFileVisitor<>() {
      @Override
      public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) throws IOException {
        String rel = root.relativize(file).toString().replace('\\', '/');
        if (rel.startsWith("resnetc/runtime/") && rel.endsWith(".class")) out.put(rel, Files.readAllBytes(file));
        return FileVisitResult.CONTINUE;
      }
    });
  }
}
