package resnetc.spark;

import java.nio.file.Files;
import java.nio.file.Path;

/** The repository root and the read-only shared data beside it ({@code <root>/../shared}), as the compiler's tests find them. */
final class SharedData {
  private SharedData() {}

  /** The {@code resnetc.root} system property (set by the parent pom for surefire), else the nearest ancestor with the parent pom. */
  static Path repoRoot() {
    String prop = System.getProperty("resnetc.root");
    if (prop != null && !prop.isBlank()) return Path.of(prop).toAbsolutePath().normalize();
    for (Path dir = Path.of("").toAbsolutePath(); dir != null; dir = dir.getParent()) {
      if (Files.isRegularFile(dir.resolve("grammar/Resnet.g4"))) return dir;
    }
    throw new IllegalStateException("no resnetc checkout above " + Path.of("").toAbsolutePath());
  }

  static Path root() {
    return repoRoot().resolve("../shared").normalize();
  }
}
