package resnetc.runtime;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.SymbolLookup;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileSystemException;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFileAttributeView;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.nio.file.attribute.UserPrincipal;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/**
 * Loads a native library that a model jar carries as {@code native/<platform>/<name>.so} (listed in
 * {@code native/index.txt}). A library must be a file to be loaded, so the bytes are extracted once into a
 * content-addressed cache, {@code <cache>/<sha256>/<file>}, where {@code <cache>} is {@code $XDG_CACHE_HOME/resnetc},
 * else {@code ~/.cache/resnetc}, else {@code <java.io.tmpdir>/resnetc-<user>}.
 *
 * <p>Many processes may start at once: each writes a private temp file in the target directory and renames it into
 * place atomically, so a reader never sees a half-written library, and a file with the right hash is reused as is.
 * A cached file is loaded only when it is a regular file (not a symbolic link), owned by us, writable by nobody else
 * and of the right hash; otherwise it is replaced (never rewritten in place: another process may have it mapped).
 * Directories that others own or can write to, and a hash directory that is a link, are not used, since a swapped
 * file would run as our code.
 */
public final class NativeLibrary {
  public static final String INDEX = "native/index.txt";

  private NativeLibrary() {}

  /** The library {@code name} of this platform from {@code owner}'s jar, loaded for the life of the JVM. */
  public static SymbolLookup load(Class<?> owner, String name) {
    ClassLoader loader = owner.getClassLoader() != null ? owner.getClassLoader() : ClassLoader.getSystemClassLoader();
    return load(loader, name, cacheRoots());
  }

  static SymbolLookup load(ClassLoader loader, String name, List<Path> roots) {
    return SymbolLookup.libraryLookup(extract(loader, name, platform(), roots), Arena.global());
  }

  /** {@code linux-x86_64}, {@code linux-aarch64}, {@code macos-aarch64}, ...: the directory under {@code native/}. */
  public static String platform() {
    return platform(System.getProperty("os.name", ""), System.getProperty("os.arch", ""));
  }

  static String platform(String osName, String osArch) {
    String os = osName.toLowerCase(Locale.ROOT).replace(" ", "");
    os = os.startsWith("linux") ? "linux" : os.startsWith("mac") || os.startsWith("darwin") ? "macos" : os.startsWith("windows") ? "windows" : os;
    String arch = osArch.toLowerCase(Locale.ROOT);
    arch = switch (arch) {
      case "amd64", "x86_64", "x64" -> "x86_64";
      case "aarch64", "arm64" -> "aarch64";
      default -> arch;
    };
    return os + "-" + arch;
  }

  /** The file name of library {@code name} on {@code platform}. */
  public static String fileName(String platform, String name) {
    return name + (platform.startsWith("macos") ? ".dylib" : platform.startsWith("windows") ? ".dll" : ".so");
  }

  /** The jar entry of library {@code name} on {@code platform}. */
  public static String entry(String platform, String name) {
    return "native/" + platform + "/" + fileName(platform, name);
  }

  /** Where extracted libraries go, best first. */
  static List<Path> cacheRoots() {
    List<Path> roots = new ArrayList<>();
    String xdg = System.getenv("XDG_CACHE_HOME");
    if (xdg != null && !xdg.isBlank() && Path.of(xdg).isAbsolute()) roots.add(Path.of(xdg, "resnetc"));
    String home = System.getProperty("user.home");
    if (home != null && !home.isBlank() && !home.equals("?")) roots.add(Path.of(home, ".cache", "resnetc"));
    String user = System.getProperty("user.name", "user").replaceAll("[^A-Za-z0-9._-]", "_");
    roots.add(Path.of(System.getProperty("java.io.tmpdir"), "resnetc-" + user));
    return roots;
  }

  /**
   * Extracts the library into the first usable root and returns its path.
   *
   * @throws IllegalStateException if the jar has no library for {@code platform} (the message lists what it has),
   *     or no root can hold it
   */
  static Path extract(ClassLoader loader, String name, String platform, List<Path> roots) {
    String entry = entry(platform, name);
    byte[] bytes;
    try (InputStream in = loader.getResourceAsStream(entry)) {
      if (in == null) {
        throw new IllegalStateException("no native library " + name + " for platform " + platform + ": the jar has no " + entry
            + " and carries " + carried(loader) + "; recompile the model for this platform or use the Java backend");
      }
      bytes = in.readAllBytes();
    } catch (IOException e) {
      throw new UncheckedIOException("reading " + entry + ": " + e.getMessage(), e);
    }
    String hash = sha256(bytes);
    List<String> failures = new ArrayList<>();
    for (Path root : roots) {
      try {
        return install(root.resolve(hash), fileName(platform, name), bytes, hash);
      } catch (IOException | RuntimeException e) {
        failures.add(root + " (" + e + ")");
      }
    }
    throw new IllegalStateException("cannot extract native library " + entry + " to any of: " + String.join(", ", failures));
  }

  /** The platform/file entries listed in the jar's index, for error messages. */
  static String carried(ClassLoader loader) {
    try (InputStream in = loader.getResourceAsStream(INDEX)) {
      if (in == null) return "no native libraries (no " + INDEX + ")";
      List<String> lines = new String(in.readAllBytes(), StandardCharsets.UTF_8).lines().map(String::strip)
          .filter(l -> !l.isEmpty() && !l.startsWith("#")).toList();
      return lines.isEmpty() ? "no native libraries" : String.join(", ", lines);
    } catch (IOException e) {
      return "an unreadable " + INDEX + " (" + e.getMessage() + ")";
    }
  }

  private static Path install(Path dir, String file, byte[] bytes, String hash) throws IOException {
    createPrivateDirectories(dir);
    // ours are made as directories; a link could lead anywhere
    if (Files.isSymbolicLink(dir)) throw new IOException(dir + " is a symbolic link, not a directory resnetc made");
    Path target = dir.resolve(file);
    // A file we create tells who we are, also where user.name has no account behind it (containers).
    Path tmp = Files.createTempFile(dir, file + ".", ".tmp");
    try {
      UserPrincipal me = Files.getOwner(tmp);
      checkPrivate(dir.getParent(), me);
      checkPrivate(dir, me);
      if (trusted(target, me, hash)) return target;
      Files.write(tmp, bytes);
      try {
        // replaces whatever is there, a link included (the link, never what it points to)
        Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
      } catch (AtomicMoveNotSupportedException e) {
        Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING);
      }
      return target;
    } finally {
      Files.deleteIfExists(tmp);
    }
  }

  /**
   * Whether a cached library may be loaded as it is: a regular file, not a symbolic link (which could point at any
   * file), owned by us, writable by nobody else, and with the expected hash (read without following links).
   */
  static boolean trusted(Path target, UserPrincipal me, String hash) throws IOException {
    PosixFileAttributeView view = Files.getFileAttributeView(target, PosixFileAttributeView.class, LinkOption.NOFOLLOW_LINKS);
    try {
      if (view != null) {
        PosixFileAttributes a = view.readAttributes();
        Set<PosixFilePermission> p = a.permissions();
        if (!a.isRegularFile() || !a.owner().equals(me) || p.contains(PosixFilePermission.GROUP_WRITE)
            || p.contains(PosixFilePermission.OTHERS_WRITE)) {
          return false;
        }
      } else if (!Files.isRegularFile(target, LinkOption.NOFOLLOW_LINKS)) {
        return false;
      }
      try (var in = Files.newInputStream(target, StandardOpenOption.READ, LinkOption.NOFOLLOW_LINKS)) {
        return hash.equals(sha256(in.readAllBytes()));
      }
    } catch (java.nio.file.NoSuchFileException e) {
      return false;
    } catch (FileSystemException e) {
      return false; // e.g. swapped for a link after the check (O_NOFOLLOW): replace it
    }
  }

  private static void createPrivateDirectories(Path dir) throws IOException {
    if (Files.isDirectory(dir)) return;
    if (FileSystems.getDefault().supportedFileAttributeViews().contains("posix")) {
      // Parents may be shared (~/.cache, /tmp); only our own levels are made owner-only.
      if (dir.getParent() != null && !Files.isDirectory(dir.getParent())) createPrivateDirectories(dir.getParent());
      try {
        Files.createDirectory(dir, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
      } catch (java.nio.file.FileAlreadyExistsException e) {
        // another process made it first
      }
    } else {
      Files.createDirectories(dir);
    }
  }

  /** Rejects a directory that another user owns or could write to: a library there could be swapped. */
  private static void checkPrivate(Path dir, UserPrincipal me) throws IOException {
    PosixFileAttributeView view = Files.getFileAttributeView(dir, PosixFileAttributeView.class);
    if (view == null) return;
    var attrs = view.readAttributes();
    Set<PosixFilePermission> p = attrs.permissions();
    if (!attrs.owner().equals(me) || p.contains(PosixFilePermission.GROUP_WRITE) || p.contains(PosixFilePermission.OTHERS_WRITE)) {
      throw new IOException(dir + " is not private (owner " + attrs.owner().getName() + ", " + PosixFilePermissions.toString(p) + ")");
    }
  }

  static String sha256(byte[] bytes) {
    try {
      return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }
}
