package resnetc.cli;

import java.io.IOException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;

/** Writes a file completely or not at all: to a temporary file beside it, then renamed over the target. */
final class AtomicFiles {
  private AtomicFiles() {}

  interface Writer {
    void write(Path temp) throws IOException;
  }

  static void write(Path target, Writer writer) throws IOException {
    Path abs = target.toAbsolutePath();
    Path dir = abs.getParent();
    if (dir == null || !Files.isDirectory(dir)) throw new Main.UserError("cannot write " + target + ": no directory " + dir);
    Path temp = Files.createTempFile(dir, "." + abs.getFileName() + ".", ".tmp");
    try {
      writer.write(temp);
      try {
        Files.move(temp, abs, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
      } catch (AtomicMoveNotSupportedException e) {
        Files.move(temp, abs, StandardCopyOption.REPLACE_EXISTING);
      }
    } finally {
      Files.deleteIfExists(temp);
    }
  }
}
