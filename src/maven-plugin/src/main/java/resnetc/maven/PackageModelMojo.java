package resnetc.maven;

import resnetc.target.InMemoryJavac;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.apache.maven.plugin.MojoExecutionException;
import org.apache.maven.plugin.MojoFailureException;
import org.apache.maven.plugins.annotations.Component;
import org.apache.maven.plugins.annotations.LifecyclePhase;
import org.apache.maven.plugins.annotations.Mojo;
import org.apache.maven.plugins.annotations.Parameter;
import org.apache.maven.project.MavenProjectHelper;
import resnetc.packaging.ModelJar;
import resnetc.runtime.AtomicFile;
import resnetc.target.Artifact;

/**
 * Packages every model spec under {@code specDirectory} into a deployable inference jar, the same jar as
 * {@code resnetc compile}: the generated class, its weights blob and the resnetc runtime, runnable with
 * {@code java -jar}. The jar of model {@code M} is {@code jarName-M.jar} (by default the project's final name, then the model
 * name), attached with classifier {@code M} so that {@code install} and {@code deploy} publish it. Skipped when the jar is up to date (same hash).
 */
@Mojo(name = "package-model", defaultPhase = LifecyclePhase.PACKAGE, threadSafe = true)
public class PackageModelMojo extends AbstractResnetcMojo {
  /** Directory of the model jars. */
  @Parameter(property = "resnetc.jarDirectory", defaultValue = "${project.build.directory}", required = true)
  protected File jarDirectory;

  /** Base name of the model jars; the model name is appended. */
  @Parameter(property = "resnetc.jarName", defaultValue = "${project.build.finalName}", required = true)
  protected String jarName;

  /** Attach each model jar to the project with the model name as classifier. */
  @Parameter(property = "resnetc.attach", defaultValue = "true")
  protected boolean attach;

  @Component
  protected MavenProjectHelper projectHelper;

  @Override
  public void execute() throws MojoExecutionException, MojoFailureException {
    List<Model> models = modelsToBuild();
    if (models.isEmpty()) return;
    try {
      for (Model m : models) {
        Path jar = jarDirectory.toPath().resolve(jarName + "-" + m.name() + ".jar");
        Path stamp = jar.resolveSibling(jar.getFileName() + ".sha256");
        if (Files.isRegularFile(jar) && Files.isRegularFile(stamp) && Files.readString(stamp, StandardCharsets.UTF_8).strip().equals(m.hash())) {
          getLog().info("resnetc: " + jar.getFileName() + " up to date");
        } else {
          long t0 = System.nanoTime();
          Generated g = generate(m);
          ModelJar.write(jar, new Artifact(g.qualifiedName(), g.source(), g.resources()));
          AtomicFile.writeString(stamp, m.hash() + "\n");
          getLog().info(String.format(java.util.Locale.ROOT, "resnetc: %s -> %s (%s, class %s) in %.1f s", m.relative(), jar,
              mib(Files.size(jar)), g.qualifiedName(), (System.nanoTime() - t0) / 1e9));
        }
        if (attach) projectHelper.attachArtifact(project, "jar", m.name(), jar.toFile());
      }
    } catch (IOException e) {
      throw new MojoExecutionException("resnetc: cannot write a model jar: " + e.getMessage(), e);
    } catch (IllegalStateException | java.io.UncheckedIOException e) {
      throw new MojoExecutionException("resnetc: " + e.getMessage(), e);
    }
  }
}
