package resnetc.spark;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import org.apache.spark.api.java.function.MapPartitionsFunction;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import resnetc.runtime.CompiledModel;
import resnetc.runtime.Images;
import resnetc.runtime.ModelMain;

/**
 * Scores one partition: rows of (key, input, carried columns...) in, rows of (key, carried columns..., top,
 * [logits], error) out, batch by batch as the output is consumed, so a partition is never held in memory whole. A
 * row whose input cannot be used gets its error message and no scores; the others are scored as usual.
 */
final class ScorePartition implements MapPartitionsFunction<Row, Row> {
  static final int KEY = 0, INPUT = 1, CARRY = 2;

  private final String modelClass;
  private final ScoreOptions options;

  ScorePartition(String modelClass, ScoreOptions options) {
    this.modelClass = modelClass;
    this.options = options;
  }

  @Override
  public Iterator<Row> call(Iterator<Row> rows) {
    CompiledModel model = ExecutorModels.get(modelClass);
    return new Iterator<>() {
      private final ArrayDeque<Row> scored = new ArrayDeque<>();

      @Override
      public boolean hasNext() {
        while (scored.isEmpty() && rows.hasNext()) {
          List<Row> batch = new ArrayList<>(options.batch());
          while (batch.size() < options.batch() && rows.hasNext()) batch.add(rows.next());
          scored.addAll(scoreBatch(model, batch));
        }
        return !scored.isEmpty();
      }

      @Override
      public Row next() {
        if (!hasNext()) throw new NoSuchElementException();
        return scored.poll();
      }
    };
  }

  /** Splits the batch into one slice per thread: the task's thread scores the first, pool threads the others. */
  private List<Row> scoreBatch(CompiledModel model, List<Row> batch) {
    int slices = Math.min(options.threadsPerTask(), batch.size());
    if (slices == 1) return scoreSlice(model, batch);
    int per = Math.ceilDiv(batch.size(), slices);
    List<Future<List<Row>>> others = new ArrayList<>();
    for (int s = per; s < batch.size(); s += per) {
      List<Row> slice = batch.subList(s, Math.min(s + per, batch.size()));
      others.add(ExecutorModels.slices().submit(() -> scoreSlice(model, slice)));
    }
    List<Row> out = new ArrayList<>(scoreSlice(model, batch.subList(0, per)));
    try {
      for (Future<List<Row>> f : others) out.addAll(f.get());
    } catch (InterruptedException e) {
      others.forEach(f -> f.cancel(true));
      Thread.currentThread().interrupt();
      throw new IllegalStateException("scoring interrupted (task killed)", e);
    } catch (ExecutionException e) {
      if (e.getCause() instanceof RuntimeException r) throw r;
      if (e.getCause() instanceof Error r) throw r;
      throw new IllegalStateException(e.getCause());
    }
    return out;
  }

  /** Prepares each row's input (bad ones get their error), runs the good ones in one call, builds the output rows. */
  private List<Row> scoreSlice(CompiledModel model, List<Row> rows) {
    int n = rows.size(), size = model.inputSize(), classes = model.classes();
    float[] x = new float[n * size];
    String[] errors = new String[n];
    int good = 0;
    for (int i = 0; i < n; i++) {
      try {
        System.arraycopy(input(model, rows.get(i)), 0, x, good * size, size);
        good++;
      } catch (RuntimeException e) { // a record the decoder chokes on is a bad record, not a failed job
        errors[i] = e.getMessage() != null ? e.getMessage() : e.toString();
      }
    }
    float[] y = good == 0 ? new float[0] : model.predict(good == n ? x : Arrays.copyOf(x, good * size), good);
    List<Row> out = new ArrayList<>(n);
    for (int i = 0, j = 0; i < n; i++) {
      out.add(errors[i] != null ? output(rows.get(i), null, null, errors[i]) : output(rows.get(i), top(model, y, j * classes),
          options.logits() ? Arrays.copyOfRange(y, j * classes, (j + 1) * classes) : null, null));
      if (errors[i] == null) j++;
    }
    return out;
  }

  /** One row's model input, C x H x W preprocessed floats. */
  private float[] input(CompiledModel m, Row row) {
    if (row.isNullAt(INPUT)) throw new IllegalArgumentException("no input (null)");
    int c = m.channels(), plane = m.height() * m.width(), size = m.inputSize();
    return switch (options.kind()) {
      case IMAGE -> m.preprocessing().apply(Images.load((byte[]) row.get(INPUT), String.valueOf(row.get(KEY)), c, m.height(), m.width(),
          m.preprocessing()), c, plane);
      case PIXELS -> {
        byte[] bytes = (byte[]) row.get(INPUT);
        if (bytes.length != size) throw new IllegalArgumentException(bytes.length + " pixel bytes, expected " + shape(m) + " = " + size);
        float[] px = new float[size];
        for (int i = 0; i < size; i++) px[i] = bytes[i] & 0xff;
        yield m.preprocessing().apply(px, c, plane);
      }
      case FLOATS -> {
        List<Object> values = row.getList(INPUT);
        if (values.size() != size) throw new IllegalArgumentException(values.size() + " floats, expected " + shape(m) + " = " + size);
        float[] v = new float[size];
        for (int i = 0; i < size; i++) {
          if (!(values.get(i) instanceof Float f)) throw new IllegalArgumentException("null at element " + i);
          v[i] = f;
        }
        yield v;
      }
    };
  }

  /** The k most likely classes, most likely first: (class, label or null, probability), as the jar prints them. */
  private Row[] top(CompiledModel m, float[] y, int offset) {
    double[] p = ModelMain.probabilities(y, offset, m.classes());
    int[] best = ModelMain.top(p, Math.min(options.topK(), m.classes()));
    Row[] out = new Row[best.length];
    for (int i = 0; i < best.length; i++) {
      int c = best[i];
      out[i] = RowFactory.create(c, c < m.labels().size() ? m.labels().get(c) : null, p[c]);
    }
    return out;
  }

  private Row output(Row in, Row[] top, float[] logits, String error) {
    int carried = options.carry().size();
    Object[] v = new Object[1 + carried + 2 + (options.logits() ? 1 : 0)];
    int i = 0;
    v[i++] = in.get(KEY);
    for (int k = 0; k < carried; k++) v[i++] = in.get(CARRY + k);
    v[i++] = top;
    if (options.logits()) v[i++] = logits;
    v[i] = error;
    return RowFactory.create(v);
  }

  private static String shape(CompiledModel m) {
    return m.channels() + "x" + m.height() + "x" + m.width();
  }
}
