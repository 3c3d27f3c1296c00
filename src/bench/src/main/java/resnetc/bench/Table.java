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
 * images/s, GFLOP/s (2 x MACs of convs and dense layers) and the speed-up over the reference interpreter.
 */
public final class Table {
  record Row(String model, String backend, int batch, int threads, double medianMs) {}

  public static void main(String[] args) throws IOException {
    List<Row> rows = read(Path.of(args[0]));
    Map<String, Long> macs = new HashMap<>();
    StringBuilder sb = new StringBuilder();
    sb.append("| model | backend | batch | threads | median ms/batch | ms/image | images/s | GFLOP/s | vs reference |\n");
    sb.append("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    Map<String, Double> reference = new HashMap<>();
    for (Row r : rows) if (r.backend().equals("reference")) reference.put(key(r), r.medianMs());
    for (Row r : rows) {
      long m = macs.computeIfAbsent(r.model(), Table::macs);
      double perImage = r.medianMs() / r.batch();
      double gflops = 2.0 * m * r.batch() / (r.medianMs() * 1e6);
      Double ref = reference.get(key(r));
      sb.append(String.format(Locale.ROOT, "| %s | %s | %d | %d | %.2f | %.3f | %.1f | %.1f | %s |%n", r.model(), r.backend(), r.batch(),
          r.threads(), r.medianMs(), perImage, 1000 / perImage, gflops, ref == null ? "-" : String.format(Locale.ROOT, "%.1fx", ref / r.medianMs())));
    }
    System.out.print(sb);
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
