package resnetc.runtime;

import static org.junit.jupiter.api.Assertions.*;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class AtomicFileTest {
  @TempDir Path dir;

  private List<Path> files() throws IOException {
    try (Stream<Path> s = Files.list(dir)) {
      return s.sorted().toList();
    }
  }

  @Test
  void writesAndReplacesWholeFiles() throws Exception {
    Path f = dir.resolve("out.txt");
    AtomicFile.writeString(f, "first");
    assertEquals("first", Files.readString(f));
    AtomicFile.writeString(f, "second, longer");
    assertEquals("second, longer", Files.readString(f));
    assertEquals(List.of(f), files(), "no temporary file left");
  }

  @Test
  void aFailedWriteLeavesThePreviousFileAsItWas() throws Exception {
    Path f = dir.resolve("logits.f32");
    AtomicFile.writeString(f, "valid previous content");
    var e = assertThrows(IOException.class, () -> AtomicFile.write(f, out -> {
      out.write(new byte[100_000]);
      throw new IOException("No space left on device");
    }));
    assertEquals("cannot write " + f + ": No space left on device", e.getMessage());
    assertEquals("valid previous content", Files.readString(f));
    assertThrows(IllegalStateException.class, () -> AtomicFile.write(f, out -> {
      out.write(1);
      throw new IllegalStateException("the caller failed half way");
    }));
    assertEquals("valid previous content", Files.readString(f));
    try (AtomicFile a = AtomicFile.create(f)) {
      a.stream().write("never committed".getBytes(StandardCharsets.UTF_8));
    }
    assertEquals("valid previous content", Files.readString(f));
    assertEquals(List.of(f), files(), "temporary files are removed");
  }

  @Test
  void keepsPermissionsAndWritesThroughLinks() throws Exception {
    Assumptions.assumeTrue(dir.getFileSystem().supportedFileAttributeViews().contains("posix"));
    Path f = dir.resolve("model.jar");
    AtomicFile.writeString(f, "v1");
    Files.setPosixFilePermissions(f, PosixFilePermissions.fromString("rwxr-x---"));
    AtomicFile.writeString(f, "v2");
    assertEquals("rwxr-x---", PosixFilePermissions.toString(Files.getPosixFilePermissions(f)));
    Path link = Files.createSymbolicLink(dir.resolve("latest.jar"), f.getFileName());
    AtomicFile.writeString(link, "v3");
    assertTrue(Files.isSymbolicLink(link), "the link stays a link");
    assertEquals("v3", Files.readString(f));
  }

  @Test
  void devicesAreWrittenDirectlyAndMistakesNameTheFile() throws Exception {
    Path devNull = Path.of("/dev/null");
    Assumptions.assumeTrue(Files.exists(devNull) && !Files.isRegularFile(devNull));
    AtomicFile.writeString(devNull, "discarded");
    assertFalse(Files.isRegularFile(devNull), "/dev/null is still a device");
    var e = assertThrows(IOException.class, () -> AtomicFile.writeString(dir, "x"));
    assertEquals("cannot write " + dir + ": it is a directory", e.getMessage());
    Path missing = dir.resolve("no/such/dir/out.f32");
    e = assertThrows(IOException.class, () -> AtomicFile.writeString(missing, "x"));
    assertTrue(e.getMessage().startsWith("cannot write " + missing + ": no such directory"), e.getMessage());
  }

  /**
   * The jar's command line in a child JVM under {@code ulimit -f}: writing outputs larger than the limit fails
   * with one line that names the file, exit 1, and the previous outputs stay intact, with no temporary file left.
   */
  @Test
  void underAFileSizeLimitThePreviousOutputSurvives() throws Exception {
    Path bash = Path.of("/bin/bash");
    Assumptions.assumeTrue(Files.isExecutable(bash) && System.getProperty("os.name").startsWith("Linux"));
    float[] previous = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    Path out = dir.resolve("logits.f32"), in = dir.resolve("in.f32");
    F32.write(out, previous);
    F32.write(in, new float[300 * 3 * 32 * 32]); // 300 images -> 12000 bytes of logits, over the 8 KiB limit
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    List<String> cmd = new ArrayList<>(List.of(bash.toString(), "-c", "ulimit -f 8 && exec \"$@\"", "bash", java, "-XX:-UsePerfData",
        "-cp", System.getProperty("java.class.path"), ModelMain.class.getName(), "--no-vector",
        "--model-class", ModelMainTest.TinyModel.class.getName(), "--input-f32", in.toString(), "--output", out.toString(), "--batch", "64"));
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    String text = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertEquals(1, p.waitFor(), text);
    assertEquals("error: cannot write " + out + ": File too large (over the file size limit, see ulimit -f)", text.strip());
    assertArrayEquals(previous, F32.read(out));
    assertEquals(List.of(in, out), files(), "no temporary file left");
  }
}
