package resnetc;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

/** Locates the repository root and the read-only shared data next to it ({@code <root>/../shared}). */
public final class TestPaths {
  private TestPaths() {}

  /** The {@code resnetc.root} system property, else the nearest ancestor of the working dir with the parent pom. */
  public static Path repoRoot() {
    String prop = System.getProperty("resnetc.root");
    if (prop != null && !prop.isBlank()) return Path.of(prop).toAbsolutePath().normalize();
    for (Path dir = Path.of("").toAbsolutePath(); dir != null; dir = dir.getParent()) {
      if (isParentPom(dir.resolve("pom.xml"))) return dir;
    }
    throw new IllegalStateException("no pom.xml with resnetc-parent above " + Path.of("").toAbsolutePath());
  }

  /** A file or directory under the shared data dir, if present. */
  public static Optional<Path> shared(String relative) {
    Path p = repoRoot().resolve("../shared").resolve(relative).normalize();
    return Files.exists(p) ? Optional.of(p) : Optional.empty();
  }

  /**
   * Runs {@code body} with system property {@code key} set to {@code value} (cleared when null), then restores the
   * previous value: generated classes read flags such as {@code resnetc.narrow} when they load.
   */
  public static <T> T withProperty(String key, String value, java.util.function.Supplier<T> body) {
    String previous = value == null ? System.clearProperty(key) : System.setProperty(key, value);
    try {
      return body.get();
    } finally {
      if (previous == null) System.clearProperty(key);
      else System.setProperty(key, previous);
    }
  }

  /**
   * The spec, with an ImageNet-size input (3x224x224) shrunk to 3x64x64: the same layers, ops, tiles and Winograd
   * choices at a twelfth of the work, for tests that check every example.
   */
  public static resnetc.Frontend.Loaded loadSmall(Path spec) {
    return loadSmall(spec, 64);
  }

  /** The spec with an ImageNet-size input shrunk to 3 x size x size (resized to 8/7 of that and cropped). */
  public static resnetc.Frontend.Loaded loadSmall(Path spec, int size) {
    try {
      String source = Files.readString(spec);
      if (!source.contains("[3, 224, 224]")) return resnetc.Frontend.load(spec);
      return resnetc.Frontend.load(spec.toString(), source.replace("[3, 224, 224]", "[3, " + size + ", " + size + "]")
          .replace("resize 256", "resize " + size * 8 / 7).replace("crop 224", "crop " + size));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static boolean isParentPom(Path pom) {
    try {
      return Files.isRegularFile(pom) && Files.readString(pom).contains("<artifactId>resnetc-parent</artifactId>");
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
