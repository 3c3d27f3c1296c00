package resnetc.maven;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;
import org.apache.maven.model.Resource;
import org.apache.maven.plugin.MojoExecutionException;
import org.apache.maven.plugin.MojoFailureException;
import org.apache.maven.plugins.annotations.LifecyclePhase;
import org.apache.maven.plugins.annotations.Mojo;
import org.apache.maven.plugins.annotations.Parameter;
import resnetc.runtime.AtomicFile;

/**
 * Compiles every model spec under {@code specDirectory} into a Java class (under {@code outputSourceDirectory}, added
 * to the compile source roots) and its weights blob (under {@code outputResourceDirectory}, added to the resources).
 * Incremental: when the specs, their weights and the configuration hash as in the last run, nothing is regenerated.
 * The generated classes need {@code dev.resnetc:resnetc-runtime} and {@code --add-modules jdk.incubator.vector} at
 * compile time.
 */
@Mojo(name = "compile", defaultPhase = LifecyclePhase.GENERATE_SOURCES, threadSafe = true)
public class CompileMojo extends AbstractResnetcMojo {
  static final String STATE = ".resnetc-state";

  /** Where the generated Java sources go; added to the project's compile source roots. */
  @Parameter(property = "resnetc.outputSourceDirectory", defaultValue = "${project.build.directory}/generated-sources/resnetc", required = true)
  protected File outputSourceDirectory;

  /** Where the weights blobs go (next to their class's package path); added to the project's resources. */
  @Parameter(property = "resnetc.outputResourceDirectory", defaultValue = "${project.build.directory}/generated-resources/resnetc", required = true)
  protected File outputResourceDirectory;

  @Override
  public void execute() throws MojoExecutionException, MojoFailureException {
    List<Model> models = modelsToBuild();
    if (models.isEmpty()) return;
    Path src = outputSourceDirectory.toPath(), res = outputResourceDirectory.toPath(), state = src.resolve(STATE);
    StringBuilder sb = new StringBuilder("# resnetc-maven-plugin state: sha-256 of each spec, its weights and the configuration\n");
    sb.append("sources=").append(src.toAbsolutePath()).append('\n').append("resources=").append(res.toAbsolutePath()).append('\n');
    for (Model m : models) sb.append(m.relative()).append('=').append(m.hash()).append('\n');
    String expected = sb.toString();
    try {
      if (Files.isRegularFile(state) && Files.readString(state, StandardCharsets.UTF_8).equals(expected) && Files.isDirectory(res)) {
        getLog().info("resnetc: " + models.size() + " model(s) up to date, skipping generation");
      } else {
        clean(src);
        clean(res);
        for (Model m : models) {
          long t0 = System.nanoTime();
          Generated g = generate(m);
          Path javaFile = src.resolve(g.qualifiedName().replace('.', '/') + ".java");
          Files.createDirectories(javaFile.getParent());
          AtomicFile.writeString(javaFile, g.source());
          for (var e : g.resources().entrySet()) {
            Path file = res.resolve(e.getKey());
            Files.createDirectories(file.getParent());
            AtomicFile.write(file, e.getValue());
          }
          getLog().info(String.format(java.util.Locale.ROOT, "resnetc: %s -> %s (%s backend, weights %s, %s) in %.1f s", m.relative(), g.qualifiedName(),
              backend, m.seed() != null ? "random seed " + m.seed() : m.weightsFile() != null ? m.weightsFile() : "its own", mib(g.bytes()),
              (System.nanoTime() - t0) / 1e9));
        }
        AtomicFile.writeString(state, expected); // last: an interrupted generation is redone next time
        getLog().info("resnetc: generated " + models.size() + " model(s)");
      }
    } catch (IOException e) {
      throw new MojoExecutionException("resnetc: cannot write the generated files: " + e.getMessage(), e);
    }
    project.addCompileSourceRoot(src.toAbsolutePath().toString());
    Resource r = new Resource();
    r.setDirectory(res.toAbsolutePath().toString());
    r.setFiltering(false);
    project.addResource(r);
  }

  /** Empties a generated directory (only ever ours: the defaults live under target/). */
  private static void clean(Path dir) throws IOException {
    if (Files.isDirectory(dir)) {
      try (Stream<Path> s = Files.walk(dir)) {
        for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
          if (!p.equals(dir)) Files.delete(p);
        }
      }
    }
    Files.createDirectories(dir);
  }
}
