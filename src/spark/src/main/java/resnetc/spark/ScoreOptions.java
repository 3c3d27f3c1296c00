package resnetc.spark;

import java.io.Serializable;
import java.util.List;

/**
 * How {@link ResnetcSpark#score} reads its input table and what it writes. Start from {@link #images()} (a
 * {@code binaryFile} table; batch 64, one thread per task, top 5, no logits) or {@link #cifar()} (the table of
 * {@link ResnetcSpark#readCifar}), then change what differs with the {@code with...} methods.
 *
 * @param inputColumn the column that holds one image per row
 * @param kind what that column holds
 * @param keyColumn the column copied to the output to say which input a row scores (a path, an index)
 * @param carry further input columns copied to the output as they are (e.g. a known label)
 * @param batch images per predict call
 * @param threadsPerTask threads that score one task's batch at once, each on its own slice of it
 * @param topK classes per image in the {@code top} column
 * @param logits whether to write the model's raw outputs too (column {@code logits})
 */
public record ScoreOptions(String inputColumn, InputKind kind, String keyColumn, List<String> carry, int batch,
    int threadsPerTask, int topK, boolean logits) implements Serializable {

  /** What one row's input column holds. */
  public enum InputKind {
    /** binary: an image file's bytes (PNG, JPEG, BMP, GIF), decoded and preprocessed like {@code java -jar model.jar IMAGE}. */
    IMAGE,
    /** binary: exactly C x H x W raw pixel bytes (0..255) in CHW order, preprocessed like {@code --input-cifar}. */
    PIXELS,
    /** array of float: exactly C x H x W model inputs, already preprocessed, fed as they are like {@code --input-f32}. */
    FLOATS
  }

  public ScoreOptions {
    requireName("input column", inputColumn);
    requireName("key column", keyColumn);
    if (kind == null) throw new IllegalArgumentException("the input kind is missing");
    carry = List.copyOf(carry);
    carry.forEach(c -> requireName("carried column", c));
    if (batch < 1) throw new IllegalArgumentException("batch must be at least 1, got " + batch);
    if (threadsPerTask < 1) throw new IllegalArgumentException("threads per task must be at least 1, got " + threadsPerTask);
    if (topK < 1) throw new IllegalArgumentException("top-k must be at least 1, got " + topK);
  }

  /** Encoded images in column {@code content}, keyed by {@code path}: what {@code binaryFile} reads. */
  public static ScoreOptions images() {
    return new ScoreOptions("content", InputKind.IMAGE, "path", List.of(), 64, 1, 5, false);
  }

  /** Raw CIFAR pixels in column {@code pixels}, keyed by {@code index}, carrying {@code label}. */
  public static ScoreOptions cifar() {
    return images().withInput("pixels", InputKind.PIXELS).withKey("index").withCarry(List.of("label"));
  }

  public ScoreOptions withInput(String column, InputKind kind) {
    return new ScoreOptions(column, kind, keyColumn, carry, batch, threadsPerTask, topK, logits);
  }

  public ScoreOptions withKey(String column) {
    return new ScoreOptions(inputColumn, kind, column, carry, batch, threadsPerTask, topK, logits);
  }

  public ScoreOptions withCarry(List<String> columns) {
    return new ScoreOptions(inputColumn, kind, keyColumn, columns, batch, threadsPerTask, topK, logits);
  }

  public ScoreOptions withBatch(int images) {
    return new ScoreOptions(inputColumn, kind, keyColumn, carry, images, threadsPerTask, topK, logits);
  }

  public ScoreOptions withThreadsPerTask(int threads) {
    return new ScoreOptions(inputColumn, kind, keyColumn, carry, batch, threads, topK, logits);
  }

  public ScoreOptions withTopK(int k) {
    return new ScoreOptions(inputColumn, kind, keyColumn, carry, batch, threadsPerTask, k, logits);
  }

  public ScoreOptions withLogits(boolean write) {
    return new ScoreOptions(inputColumn, kind, keyColumn, carry, batch, threadsPerTask, topK, write);
  }

  private static void requireName(String what, String name) {
    if (name == null || name.isBlank()) throw new IllegalArgumentException("the " + what + " needs a name");
  }
}
