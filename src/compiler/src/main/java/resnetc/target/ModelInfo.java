package resnetc.target;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import resnetc.Frontend;
import resnetc.check.Model;

/**
 * What a generated class says about itself beyond its schedule: the model's name, where it came from (the spec's
 * file name and text, for the comments that tie each layer to its spec line), the preprocessing the runtime
 * applies to raw pixels, and the class labels.
 */
public record ModelInfo(String name, String specFile, String specSource, float div, float[] mean, float[] std, int resize, int crop,
                        List<String> labels) {
  public ModelInfo {
    labels = List.copyOf(labels);
  }

  /** A model with no spec behind it: identity preprocessing of {@code channels} channels, no labels. */
  public static ModelInfo of(String name, int channels) {
    float[] one = new float[channels];
    Arrays.fill(one, 1);
    return new ModelInfo(name, name, null, 1f, new float[channels], one, 0, 0, List.of());
  }

  /** From a loaded spec: its preprocessing (identity when it has none) and its label file, read relative to the spec. */
  public static ModelInfo of(Frontend.Loaded l) {
    Model m = l.model();
    Model.Preprocess p = m.preprocess();
    int ch = m.input().channels();
    float[] mean = new float[ch], std = new float[ch];
    Arrays.fill(std, 1);
    float div = 1;
    int resize = 0, crop = 0;
    if (p != null) {
      div = (float) (1 / p.scale());
      for (int i = 0; i < ch; i++) {
        mean[i] = (float) p.mean()[i];
        std[i] = (float) p.std()[i];
      }
      resize = p.resize();
      crop = p.crop();
    }
    return new ModelInfo(m.name(), l.spec().getFileName().toString(), m.source(), div, mean, std, resize, crop, labels(l));
  }

  /** The spec's label file, relative to the spec; an unreadable one is a user error. */
  private static List<String> labels(Frontend.Loaded l) {
    String file = l.model().labels();
    if (file == null) return List.of();
    Path dir = l.spec().toAbsolutePath().getParent();
    Path p = dir == null ? Path.of(file) : dir.resolve(file);
    try {
      List<String> lines = Files.readAllLines(p).stream().map(String::strip).filter(s -> !s.isEmpty()).toList();
      if (lines.size() != l.model().classes()) {
        throw new IllegalArgumentException(p + ": " + lines.size() + " labels for " + l.model().classes() + " classes");
      }
      return lines;
    } catch (IOException e) {
      throw new IllegalArgumentException(l.spec() + ": cannot read the label file " + p + " (" + e.getMessage() + ")");
    }
  }

  /** The spec line a node came from ({@code file:line}), stripped, or null when unknown. */
  public String specLine(String origin) {
    int colon = origin.lastIndexOf(':');
    if (colon < 0 || specSource == null) return null;
    int line;
    try {
      line = Integer.parseInt(origin.substring(colon + 1));
    } catch (NumberFormatException e) {
      return null;
    }
    String[] lines = specSource.split("\r?\n", -1);
    return line >= 1 && line <= lines.length ? lines[line - 1].strip() : null;
  }
}
