package resnetc.runtime;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.jar.JarEntry;
import java.util.jar.JarOutputStream;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class NativeLibraryTest {
  @TempDir Path tmp;

  static final String HERE = NativeLibrary.platform();
  /** Stand-in bytes: extraction never looks inside them. */
  static final byte[] LIB = "not really a shared object, but extraction does not care".getBytes(StandardCharsets.UTF_8);

  /** Serves the given resources, as a model jar would. */
  static ClassLoader jarLike(Map<String, byte[]> resources) {
    return new ClassLoader(null) {
      @Override
      public InputStream getResourceAsStream(String name) {
        byte[] b = resources.get(name);
        return b == null ? null : new ByteArrayInputStream(b);
      }
    };
  }

  static Map<String, byte[]> resources(byte[] lib) {
    return Map.of(NativeLibrary.entry(HERE, "toy"), lib,
        NativeLibrary.INDEX, ("# platform/file\n" + HERE + "/" + NativeLibrary.fileName(HERE, "toy") + "\n").getBytes(StandardCharsets.UTF_8));
  }

  @Test
  void platformNames() {
    assertEquals("linux-x86_64", NativeLibrary.platform("Linux", "amd64"));
    assertEquals("linux-aarch64", NativeLibrary.platform("Linux", "aarch64"));
    assertEquals("macos-aarch64", NativeLibrary.platform("Mac OS X", "aarch64"));
    assertEquals("macos-x86_64", NativeLibrary.platform("Mac OS X", "x86_64"));
    assertEquals("windows-x86_64", NativeLibrary.platform("Windows 11", "amd64"));
    assertEquals("native/linux-x86_64/m.so", NativeLibrary.entry("linux-x86_64", "m"));
    assertEquals("native/macos-aarch64/m.dylib", NativeLibrary.entry("macos-aarch64", "m"));
  }

  @Test
  void extractsOnceIntoAContentHashedPathAndReusesIt() throws Exception {
    ClassLoader l = jarLike(resources(LIB));
    Path first = NativeLibrary.extract(l, "toy", HERE, List.of(tmp));
    assertEquals(tmp.resolve(NativeLibrary.sha256(LIB)).resolve(NativeLibrary.fileName(HERE, "toy")), first);
    assertArrayEquals(LIB, Files.readAllBytes(first));
    Object inode = Files.readAttributes(first, BasicFileAttributes.class).fileKey();
    Path second = NativeLibrary.extract(l, "toy", HERE, List.of(tmp));
    assertEquals(first, second);
    assertEquals(inode, Files.readAttributes(second, BasicFileAttributes.class).fileKey(), "reused, not rewritten");
    assertEquals(List.of(first), listFiles(tmp));
  }

  @Test
  void aCorruptedCachedFileIsReplaced() throws Exception {
    ClassLoader l = jarLike(resources(LIB));
    Path p = NativeLibrary.extract(l, "toy", HERE, List.of(tmp));
    Files.write(p, "truncated".getBytes(StandardCharsets.UTF_8));
    assertEquals(p, NativeLibrary.extract(l, "toy", HERE, List.of(tmp)));
    assertArrayEquals(LIB, Files.readAllBytes(p));
  }

  /**
   * A cached "library" that is a symbolic link to a file outside the cache, even one with the right bytes (so the
   * hash alone would pass), is never returned: the link is replaced by a file of our own, and its target is untouched.
   */
  @Test
  void aCachedSymlinkIsReplacedNotFollowed() throws Exception {
    ClassLoader l = jarLike(resources(LIB));
    Path cache = tmp.resolve("cache");
    Path p = NativeLibrary.extract(l, "toy", HERE, List.of(cache));
    Path outside = Files.write(tmp.resolve("elsewhere.so"), LIB);
    Files.delete(p);
    Files.createSymbolicLink(p, outside);
    assertEquals(p, NativeLibrary.extract(l, "toy", HERE, List.of(cache)));
    assertFalse(Files.isSymbolicLink(p), "the link was replaced");
    assertArrayEquals(LIB, Files.readAllBytes(p));
    assertArrayEquals(LIB, Files.readAllBytes(outside), "the link's target is left alone");
  }

  @Test
  void aCachedFileOthersCanWriteIsReplaced() throws Exception {
    Assumptions.assumeTrue(tmp.getFileSystem().supportedFileAttributeViews().contains("posix"));
    ClassLoader l = jarLike(resources(LIB));
    Path p = NativeLibrary.extract(l, "toy", HERE, List.of(tmp));
    Files.setPosixFilePermissions(p, PosixFilePermissions.fromString("rw-rw-rw-"));
    Object inode = Files.readAttributes(p, BasicFileAttributes.class).fileKey();
    assertEquals(p, NativeLibrary.extract(l, "toy", HERE, List.of(tmp)));
    assertNotEquals(inode, Files.readAttributes(p, BasicFileAttributes.class).fileKey(), "a new file, not the writable one");
    assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(p)));
  }

  /** Needs root (to give a file away); CI runs as root, elsewhere it is skipped. */
  @Test
  void aCachedFileOfAnotherOwnerIsReplaced() throws Exception {
    ClassLoader l = jarLike(resources(LIB));
    Path p = NativeLibrary.extract(l, "toy", HERE, List.of(tmp));
    var users = tmp.getFileSystem().getUserPrincipalLookupService();
    java.nio.file.attribute.UserPrincipal nobody;
    try {
      nobody = users.lookupPrincipalByName("nobody");
      Files.setOwner(p, nobody);
    } catch (IOException | UnsupportedOperationException e) {
      Assumptions.abort("cannot give a file to another user here: " + e);
      return;
    }
    java.nio.file.attribute.UserPrincipal me = Files.getOwner(tmp);
    assertEquals(p, NativeLibrary.extract(l, "toy", HERE, List.of(tmp)));
    assertEquals(me, Files.getOwner(p));
  }

  @Test
  void aHashDirectoryThatIsALinkIsNotUsed() throws Exception {
    ClassLoader l = jarLike(resources(LIB));
    Path real = NativeLibrary.extract(l, "toy", HERE, List.of(tmp.resolve("real")));
    Path linked = Files.createDirectories(tmp.resolve("linked"));
    Files.createSymbolicLink(linked.resolve(NativeLibrary.sha256(LIB)), real.getParent());
    Path p = NativeLibrary.extract(l, "toy", HERE, List.of(linked, tmp.resolve("own")));
    assertTrue(p.startsWith(tmp.resolve("own")), p.toString());
  }

  @Test
  void aMissingPlatformNamesItAndListsWhatTheJarCarries() {
    var e = assertThrows(IllegalStateException.class, () -> NativeLibrary.extract(jarLike(resources(LIB)), "toy", "plan9-mips", List.of(tmp)));
    assertTrue(e.getMessage().contains("plan9-mips"), e.getMessage());
    assertTrue(e.getMessage().contains(HERE + "/" + NativeLibrary.fileName(HERE, "toy")), e.getMessage());
    var none = assertThrows(IllegalStateException.class, () -> NativeLibrary.extract(jarLike(Map.of()), "toy", HERE, List.of(tmp)));
    assertTrue(none.getMessage().contains("no native libraries"), none.getMessage());
  }

  @Test
  void aDirectoryOthersCanWriteIsSkipped() throws Exception {
    Assumptions.assumeTrue(tmp.getFileSystem().supportedFileAttributeViews().contains("posix"));
    Path shared = Files.createDirectories(tmp.resolve("shared"));
    Files.setPosixFilePermissions(shared, PosixFilePermissions.fromString("rwxrwxrwx"));
    Path p = NativeLibrary.extract(jarLike(resources(LIB)), "toy", HERE, List.of(shared, tmp.resolve("own")));
    assertTrue(p.startsWith(tmp.resolve("own")), p.toString());
    assertEquals("rwx------", PosixFilePermissions.toString(Files.getPosixFilePermissions(tmp.resolve("own"))));
  }

  @Test
  void concurrentExtractionFromThreadsEndsWithOneValidFile() throws Exception {
    ClassLoader l = jarLike(resources(LIB));
    CountDownLatch go = new CountDownLatch(1);
    try (ExecutorService pool = Executors.newFixedThreadPool(16)) {
      List<Future<Path>> got = new ArrayList<>();
      for (int i = 0; i < 16; i++) got.add(pool.submit(() -> {
        go.await();
        return NativeLibrary.extract(l, "toy", HERE, List.of(tmp));
      }));
      go.countDown();
      Set<Path> paths = new HashSet<>();
      for (Future<Path> f : got) paths.add(f.get());
      assertEquals(1, paths.size());
      assertArrayEquals(LIB, Files.readAllBytes(paths.iterator().next()));
      assertEquals(List.copyOf(paths), listFiles(tmp), "no temp files left behind");
    }
  }

  /** Several JVMs starting at once, as several {@code java -jar model.jar} would. */
  @Test
  void concurrentExtractionFromProcessesEndsWithOneValidFile() throws Exception {
    byte[] big = new byte[8 << 20]; // big enough that the writes overlap
    new java.util.Random(1).nextBytes(big);
    Path jar = tmp.resolve("model.jar");
    try (JarOutputStream out = new JarOutputStream(Files.newOutputStream(jar))) {
      for (var e : resources(big).entrySet()) {
        out.putNextEntry(new JarEntry(e.getKey()));
        out.write(e.getValue());
        out.closeEntry();
      }
    }
    Path cache = tmp.resolve("cache");
    String java = ProcessHandle.current().info().command().orElse("java");
    List<Process> ps = new ArrayList<>();
    for (int i = 0; i < 6; i++) {
      ps.add(new ProcessBuilder(java, "-cp", System.getProperty("java.class.path"), Extract.class.getName(), jar.toString(), cache.toString())
          .redirectErrorStream(true).start());
    }
    Set<String> paths = new HashSet<>();
    for (Process p : ps) {
      String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
      assertEquals(0, p.waitFor(), out);
      paths.add(out);
    }
    assertEquals(1, paths.size(), paths.toString());
    Path p = Path.of(paths.iterator().next());
    assertArrayEquals(big, Files.readAllBytes(p));
    assertEquals(List.of(p), listFiles(cache));
  }

  /** One process of the test above: extracts from the jar into the cache and prints the path. */
  public static final class Extract {
    public static void main(String[] args) throws Exception {
      try (URLClassLoader l = new URLClassLoader(new URL[] {Path.of(args[0]).toUri().toURL()}, null)) {
        System.out.println(NativeLibrary.extract(l, "toy", HERE, List.of(Path.of(args[1]))));
      }
    }
  }

  /** A real library: extracted, loaded, and its function called. */
  @Test
  void loadsARealLibrary() throws Throwable {
    Assumptions.assumeTrue(HERE.startsWith("linux"), "builds the library with gcc");
    Path c = tmp.resolve("answer.c"), so = tmp.resolve("answer.so");
    Files.writeString(c, "int answer(int x) { return 40 + x; }\n");
    Process gcc;
    try {
      gcc = new ProcessBuilder("gcc", "-O2", "-shared", "-fPIC", "-o", so.toString(), c.toString()).inheritIO().start();
    } catch (IOException e) {
      Assumptions.abort("no gcc: " + e.getMessage());
      return;
    }
    assertEquals(0, gcc.waitFor());
    SymbolLookup lib = NativeLibrary.load(jarLike(resources(Files.readAllBytes(so))), "toy", List.of(tmp.resolve("cache")));
    var answer = Linker.nativeLinker().downcallHandle(lib.findOrThrow("answer"), FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT));
    assertEquals(42, (int) answer.invokeExact(2));
    assertNotEquals(so, listFiles(tmp.resolve("cache")).getFirst());
  }

  static List<Path> listFiles(Path root) throws IOException {
    try (Stream<Path> s = Files.walk(root)) {
      return s.filter(Files::isRegularFile).filter(p -> !p.getFileName().toString().endsWith(".jar")).sorted().toList();
    }
  }
}
