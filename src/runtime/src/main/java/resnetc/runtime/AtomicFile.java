package resnetc.runtime;

import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFileAttributeView;
import java.util.concurrent.ThreadLocalRandom;

/**
 * A file written all or nothing: the bytes go to a temporary file in the target's directory, which is renamed over
 * the target only when everything was written and flushed to disk. When a write fails (disk full, the file size
 * limit of {@code ulimit -f}, an exception in the caller), the temporary file is deleted and whatever the target
 * held before is left as it was. Every file resnetc, a model jar and the Maven plugin write goes through this.
 *
 * <p>An existing target keeps its permissions; a symbolic link is written through (its target is replaced, the
 * link stays). A target that exists but is not a regular file, such as {@code /dev/null} or a pipe, cannot be
 * replaced by a rename and is written directly. Errors are {@link IOException}s whose message names the target.
 *
 * <pre>{@code
 * try (AtomicFile f = AtomicFile.create(path)) {
 *   f.stream().write(...);
 *   f.commit();
 * } // not committed (an exception on the way): the temporary file is removed
 * }</pre>
 */
public final class AtomicFile implements AutoCloseable {
  /** The body of a whole-file write. */
  @FunctionalInterface
  public interface Body {
    void writeTo(OutputStream out) throws IOException;
  }

  private final Path target; // what the caller named, for messages
  private final Path destination; // the file the rename replaces (a link's target)
  private final Path temp; // null when writing a device or pipe directly
  private final FileChannel channel;
  private final OutputStream stream;
  private boolean done;

  private AtomicFile(Path target, Path destination, Path temp, FileChannel channel, OutputStream stream) {
    this.target = target;
    this.destination = destination;
    this.temp = temp;
    this.channel = channel;
    this.stream = stream;
  }

  /** Starts writing {@code target}: its directory must exist; nothing is visible there until {@link #commit}. */
  public static AtomicFile create(Path target) throws IOException {
    Path destination = target;
    try {
      if (Files.isSymbolicLink(target)) destination = target.toRealPath();
    } catch (IOException e) {
      // a dangling link: replace the link itself
    }
    if (Files.isDirectory(destination)) throw new IOException("cannot write " + target + ": it is a directory");
    if (Files.exists(destination) && !Files.isRegularFile(destination, LinkOption.NOFOLLOW_LINKS)) {
      // /dev/null, a pipe, a terminal: no rename possible, and none needed
      try {
        OutputStream out = Files.newOutputStream(destination, StandardOpenOption.WRITE);
        return new AtomicFile(target, destination, null, null, new BufferedOutputStream(out, 1 << 16));
      } catch (IOException e) {
        throw failure(target, e);
      }
    }
    Path dir = destination.toAbsolutePath().getParent();
    if (dir == null || !Files.isDirectory(dir)) throw new IOException("cannot write " + target + ": no such directory " + dir);
    String name = destination.getFileName().toString();
    for (int attempt = 0; ; attempt++) {
      // Hidden, and unique per writer, so concurrent writers of the same target never share a temporary file.
      Path temp = dir.resolve("." + name + "." + Long.toUnsignedString(ThreadLocalRandom.current().nextLong(), 36) + ".tmp");
      try {
        FileChannel ch = FileChannel.open(temp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
        copyPermissions(destination, temp);
        return new AtomicFile(target, destination, temp, ch, new BufferedOutputStream(Channels.newOutputStream(ch), 1 << 16));
      } catch (java.nio.file.FileAlreadyExistsException e) {
        if (attempt == 10) throw failure(target, e);
      } catch (IOException e) {
        throw failure(target, e);
      }
    }
  }

  /** Writes {@code target} in one go with what {@code body} writes. */
  public static void write(Path target, Body body) throws IOException {
    try (AtomicFile f = create(target)) {
      try {
        body.writeTo(f.stream());
      } catch (IOException e) {
        throw failure(target, e);
      }
      f.commit();
    }
  }

  public static void write(Path target, byte[] bytes) throws IOException {
    write(target, out -> out.write(bytes));
  }

  public static void writeString(Path target, String text) throws IOException {
    write(target, text.getBytes(StandardCharsets.UTF_8));
  }

  /** Where the caller writes; buffered. Write errors surface here or in {@link #commit}. */
  public OutputStream stream() {
    return stream;
  }

  /** Flushes, syncs and renames the temporary file over the target; the write is visible from now on. */
  public void commit() throws IOException {
    if (done) throw new IllegalStateException(target + " is already committed or abandoned");
    try {
      stream.flush();
      if (channel != null) channel.force(true);
      stream.close();
      if (temp != null) {
        try {
          Files.move(temp, destination, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (AtomicMoveNotSupportedException e) {
          Files.move(temp, destination, StandardCopyOption.REPLACE_EXISTING);
        }
      }
      done = true;
    } catch (IOException e) {
      abandon();
      throw failure(target, e);
    }
  }

  /** Without a {@link #commit}: removes the temporary file and leaves the target as it was. */
  @Override
  public void close() {
    if (!done) abandon();
  }

  private void abandon() {
    done = true;
    try {
      stream.close();
    } catch (IOException e) {
      // the write failed already; the temporary file goes anyway
    }
    if (temp != null) {
      try {
        Files.deleteIfExists(temp);
      } catch (IOException e) {
        // nothing more to do; a hidden .tmp file is left
      }
    }
  }

  private static void copyPermissions(Path from, Path to) throws IOException {
    if (!Files.isRegularFile(from)) return;
    PosixFileAttributeView src = Files.getFileAttributeView(from, PosixFileAttributeView.class);
    PosixFileAttributeView dst = Files.getFileAttributeView(to, PosixFileAttributeView.class);
    if (src != null && dst != null) dst.setPermissions(src.readAttributes().permissions());
  }

  /** An IOException that names the target once, with the reason in words. */
  private static IOException failure(Path target, IOException e) {
    String prefix = "cannot write " + target + ": ";
    if (e.getMessage() != null && e.getMessage().startsWith(prefix)) return e;
    String reason = switch (e) {
      case java.nio.file.AccessDeniedException a -> "permission denied";
      case java.nio.file.NoSuchFileException n -> "no such file or directory";
      case FileSystemException f when f.getReason() != null -> f.getReason();
      default -> e.getMessage() != null ? e.getMessage() : "the write failed";
    };
    if (reason.equals("File too large")) reason += " (over the file size limit, see ulimit -f)";
    return new IOException(prefix + reason, e);
  }
}
