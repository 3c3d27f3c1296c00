package resnetc.bench;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import resnetc.Frontend;
import resnetc.ir.Summary;

/**
 * Turns JMH's JSON result into the markdown table of docs/benchmarks.md: median time per batch, ms per image,
 * images/s, GFLOP/s (2 x MACs of convs and dense layers), and each row's time as a multiple of ONNX Runtime's
 * in the same configuration (below 1: faster than ORT), sorted by model, batch, threads, backend.
 */
public final class Table {
  record Row(String model, String backend, int batch, int threads, double medianMs) {}

  /** The table between these lines of a markdown file is replaced by {@code --update FILE}. */
  static final String START = "<!-- bench:table -->", END = "<!-- bench:end -->";

  /**
   * {@code Table [--update FILE.md] RESULT.json...}: prints the table, and with --update writes it into FILE.md. A
   * configuration in a later file replaces the same one in an earlier file.
   */
  public static void main(String[] args) throws IOException {
    List<Row> rows = new ArrayList<>();
    Path update = null;
    for (int i = 0; i < args.length; i++) {
      if (args[i].equals("--update")) update = Path.of(args[++i]);
      else rows.addAll(read(Path.of(args[i])));
    }
    // a later result of the same configuration replaces an earlier one (a rerun of some rows)
    Map<String, Row> latest = new LinkedHashMap<>();
    for (Row r : rows) latest.put(key(r) + "/" + r.backend(), r);
    String table = table(new ArrayList<>(latest.values()));
    System.out.print(table);
    if (update != null) {
      String md = java.nio.file.Files.readString(update);
      int a = md.indexOf(START), b = md.indexOf(END);
      if (a < 0 || b < a) throw new IOException(update + ": no " + START + " ... " + END + " lines to replace");
      java.nio.file.Files.writeString(update, md.substring(0, a + START.length()) + "\n" + table + md.substring(b));
      System.out.println("updated " + update);
    }
  }

  static String table(List<Row> rows) {
    Map<String, Long> macs = new HashMap<>();
    StringBuilder sb = new StringBuilder();
    sb.append("| model | batch | threads | backend | median ms/batch | ms/image | images/s | GFLOP/s | time vs ORT |\n");
    sb.append("| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |\n");
    Map<String, Double> ort = new HashMap<>();
    for (Row r : rows) if (r.backend().equals("ort")) ort.put(key(r), r.medianMs());
    List<String> order = List.of("reference", "java", "java-scalar", "native", "native-v3", "native-jit", "ort");
    rows = new ArrayList<>(rows);
    rows.sort(java.util.Comparator.comparing(Row::model).thenComparingInt(Row::batch).thenComparingInt(Row::threads)
        .thenComparingInt(r -> order.indexOf(r.backend())));
    for (Row r : rows) {
      long m = macs.computeIfAbsent(r.model(), Table::macs);
      double perImage = r.medianMs() / r.batch();
      double gflops = 2.0 * m * r.batch() / (r.medianMs() * 1e6);
      Double peer = ort.get(key(r));
      sb.append(String.format(Locale.ROOT, "| %s | %d | %d | %s | %.2f | %.3f | %.1f | %.1f | %s |%n", r.model(), r.batch(), r.threads(),
          r.backend(), r.medianMs(), perImage, 1000 / perImage, gflops, peer == null ? "-" : String.format(Locale.ROOT, "%.2fx", r.medianMs() / peer)));
    }
    return sb.toString();
  }

  private static String key(Row r) {
    return r.model() + "/" + r.batch() + "/" + r.threads();
  }

  static long macs(String model) {
    Path cifar = InferenceBench.root().resolve("examples/cifar/" + model + ".resnet");
    String dir = java.nio.file.Files.exists(cifar) ? "cifar" : "imagenet";
    return Summary.of(Frontend.load(InferenceBench.root().resolve("examples/" + dir + "/" + model + ".resnet")).graph()).macs();
  }

  /** The parameters and the median of each benchmark in JMH's JSON. */
  static List<Row> read(Path json) throws IOException {
    List<Row> rows = new ArrayList<>();
    try (JsonParser p = new JsonFactory().createParser(json.toFile())) {
      if (p.nextToken() != JsonToken.START_ARRAY) throw new IOException(json + ": not a JMH result array");
      while (p.nextToken() == JsonToken.START_OBJECT) {
        Map<String, String> params = new LinkedHashMap<>();
        double median = Double.NaN;
        while (p.nextToken() == JsonToken.FIELD_NAME) {
          String field = p.currentName();
          p.nextToken();
          if (field.equals("params")) {
            while (p.nextToken() == JsonToken.FIELD_NAME) {
              String k = p.currentName();
              p.nextToken();
              params.put(k, p.getText());
            }
          } else if (field.equals("primaryMetric")) {
            median = median(p);
          } else {
            p.skipChildren();
          }
        }
        rows.add(new Row(params.get("model"), params.get("backend"), Integer.parseInt(params.get("batch")),
            Integer.parseInt(params.get("threads")), median));
      }
    }
    return rows;
  }

  /** primaryMetric.scorePercentiles["50.0"], the object's other fields skipped. */
  private static double median(JsonParser p) throws IOException {
    double median = Double.NaN;
    while (p.nextToken() == JsonToken.FIELD_NAME) {
      String f = p.currentName();
      p.nextToken();
      if (f.equals("scorePercentiles")) {
        while (p.nextToken() == JsonToken.FIELD_NAME) {
          String k = p.currentName();
          p.nextToken();
          if (k.equals("50.0")) median = p.getDoubleValue();
        }
      } else {
        p.skipChildren();
      }
    }
    return median;
  }
}
