package resnetc.weights;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import resnetc.ir.Tensor;
import resnetc.ir.TensorType;

/** Matches the constants a model needs against a weights file and reads them, reporting every mismatch at once. */
public final class WeightBinder {
  private WeightBinder() {}

  /**
   * Reads each tensor of {@code expected} (name to unbatched type) from {@code file}. File names starting with
   * {@code stripPrefix} lose it first; BatchNorm's {@code num_batches_tracked} counters are ignored.
   *
   * @return the tensors in {@code expected} order
   * @throws WeightException listing all missing, unexpected, wrongly shaped and unsupported tensors
   */
  public static Map<String, Tensor> bind(Map<String, TensorType> expected, WeightFile file, String stripPrefix) {
    return bind(expected, file, stripPrefix, false);
  }

  /**
   * {@link #bind(Map, WeightFile, String)}; tensors holding NaN or infinite values are an error (naming each of
   * them) unless {@code allowNonFinite}: such weights make every output NaN, which would be scored as if meaningful.
   */
  public static Map<String, Tensor> bind(Map<String, TensorType> expected, WeightFile file, String stripPrefix, boolean allowNonFinite) {
    String prefix = stripPrefix == null ? "" : stripPrefix;
    // Model name -> file entry, in file order.
    Map<String, WeightFile.Entry> byName = new LinkedHashMap<>();
    List<String> unexpected = new ArrayList<>();
    for (WeightFile.Entry info : file.tensors().values()) {
      if (info.name().endsWith("num_batches_tracked")) continue;
      String name = !prefix.isEmpty() && info.name().startsWith(prefix) ? info.name().substring(prefix.length())
          : info.name();
      WeightFile.Entry clash = byName.putIfAbsent(name, info);
      if (clash != null) unexpected.add(info.name() + " (same name as \"" + clash.name() + "\" after stripping the prefix)");
    }

    List<String> missing = new ArrayList<>(), wrongShape = new ArrayList<>(), badDtype = new ArrayList<>();
    for (Map.Entry<String, TensorType> e : expected.entrySet()) {
      String name = e.getKey();
      if (e.getValue().isBatched()) throw new IllegalArgumentException("weight " + name + " cannot be batched");
      WeightFile.Entry info = byName.get(name);
      if (info == null) {
        missing.add(name + hint(name, byName, expected));
        continue;
      }
      int[] want = e.getValue().dims();
      if (!Arrays.equals(want, info.shape())) {
        wrongShape.add(name + ": file has " + info.shapeString() + ", model expects " + WeightFile.shapeString(want));
      }
      if (!WeightFile.FLOAT_DTYPES.contains(info.dtype())) {
        badDtype.add(name + ": " + info.dtype() + " (resnetc reads " + String.join(", ", WeightFile.FLOAT_DTYPES) + ")");
      }
    }
    byName.forEach((name, info) -> {
      if (!expected.containsKey(name)) unexpected.add(info.name());
    });

    if (missing.isEmpty() && unexpected.isEmpty() && wrongShape.isEmpty() && badDtype.isEmpty()) {
      Map<String, Tensor> out = new LinkedHashMap<>();
      for (String name : expected.keySet()) out.put(name, file.read(byName.get(name).name()));
      String nonFinite = nonFinite(out);
      if (nonFinite != null && !allowNonFinite) {
        throw SafeTensors.error(file.path(), nonFinite + "; --allow-non-finite loads them anyway");
      }
      return out;
    }
    StringBuilder counts = new StringBuilder(), lines = new StringBuilder();
    group(counts, lines, missing, "missing", "missing (the model needs them, the file lacks them)");
    group(counts, lines, unexpected, "unexpected", "unexpected (in the file, not in the model)");
    group(counts, lines, wrongShape, "wrong shape", "wrong shape");
    group(counts, lines, badDtype, "unsupported dtype", "unsupported dtype");
    throw SafeTensors.error(file.path(), "weights do not match the model: " + counts + lines);
  }

  /**
   * Which tensors hold NaN or infinite values, e.g. {@code 2 tensors hold non-finite values: conv1.weight (3 NaN,
   * 1 infinite of 432), linear.bias (1 NaN of 10)}, or null when every value is finite.
   */
  public static String nonFinite(Map<String, Tensor> tensors) {
    List<String> found = new ArrayList<>();
    for (Map.Entry<String, Tensor> e : tensors.entrySet()) {
      float[] v = e.getValue().data();
      int nan = 0, inf = 0;
      for (float x : v) {
        if (Float.isNaN(x)) nan++;
        else if (Float.isInfinite(x)) inf++;
      }
      if (nan + inf == 0) continue;
      String counts = (nan > 0 ? nan + " NaN" : "") + (nan > 0 && inf > 0 ? ", " : "") + (inf > 0 ? inf + " infinite" : "");
      found.add(e.getKey() + " (" + counts + " of " + v.length + ")");
    }
    if (found.isEmpty()) return null;
    return found.size() + (found.size() == 1 ? " tensor holds" : " tensors hold") + " non-finite values: " + String.join(", ", found);
  }

  /** For a missing name the file holds under some prefix, e.g. {@code module.conv1.weight}, point at the prefix. */
  private static String hint(String name, Map<String, WeightFile.Entry> byName, Map<String, TensorType> expected) {
    for (Map.Entry<String, WeightFile.Entry> e : byName.entrySet()) {
      // A candidate the model needs itself (layer1.0.conv1.weight for conv1.weight) is no evidence of a prefix.
      if (e.getKey().endsWith(name) && e.getKey().length() > name.length() && !expected.containsKey(e.getKey())) {
        return " (the file has \"" + e.getValue().name() + "\"; set the prefix to strip?)";
      }
    }
    return "";
  }

  private static void group(StringBuilder counts, StringBuilder lines, List<String> items, String count, String title) {
    if (items.isEmpty()) return;
    if (!counts.isEmpty()) counts.append(", ");
    counts.append(items.size()).append(' ').append(count);
    lines.append('\n').append(title).append(':');
    for (String item : items) lines.append("\n  ").append(item);
  }
}
