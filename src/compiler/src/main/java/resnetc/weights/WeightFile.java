package resnetc.weights;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.Map;
import java.util.stream.Collectors;
import resnetc.ir.Tensor;
import resnetc.ir.TensorType;

/**
 * A file of named tensors that weights bind from: a safetensors file or a PyTorch checkpoint. {@link #open} tells
 * them apart by their first bytes, never by the file name.
 */
public interface WeightFile extends AutoCloseable {
  /** One tensor's description. Dtypes use safetensors' names: F32, F64, F16, BF16, I64, I32, I16, I8, U8, BOOL. */
  interface Entry {
    String name();

    String dtype();

    int[] shape();

    default long elements() {
      long n = 1;
      for (int d : shape()) n *= d;
      return n;
    }

    default String shapeString() {
      return WeightFile.shapeString(shape());
    }
  }

  /**
   * A weights argument split into the file and, for a PyTorch checkpoint, the key of the state dict inside it:
   * {@code model.pth#state_dict}. A path that names an existing file is taken whole, even with a {@code #} in it.
   */
  record Source(Path file, String key) {
    public static Source parse(Path argument) {
      String s = argument.toString();
      int hash = s.lastIndexOf('#');
      if (hash < 0 || Files.exists(argument)) return new Source(argument, null);
      String key = s.substring(hash + 1);
      if (key.isEmpty()) throw new WeightException(argument + ": empty state dict key after '#'");
      return new Source(Path.of(s.substring(0, hash)), key);
    }

    @Override
    public String toString() {
      return key == null ? file.toString() : file + "#" + key;
    }
  }

  Path path();

  /** The tensors in file order. */
  Map<String, ? extends Entry> tensors();

  /** The tensor's values as float32; only floating-point dtypes convert (float16 and bfloat16 exactly). */
  float[] readFloats(String name);

  /** The tensor's elements in row-major order as little-endian bytes of its own dtype. */
  byte[] readBytes(String name);

  default Tensor read(String name) {
    Entry e = tensors().get(name);
    if (e == null) throw new WeightException(path() + ": no tensor named " + name);
    return new Tensor(TensorType.of(e.shape()), readFloats(name));
  }

  /** Releases the file mapping; tensors already read stay valid. */
  @Override
  void close();

  /** The dtypes {@link #readFloats} converts. */
  java.util.List<String> FLOAT_DTYPES = java.util.List.of("F32", "F16", "BF16", "F64");

  /**
   * Opens {@code argument} ({@code FILE} or {@code FILE#KEY}) by its content: a zip archive or a pickle is a PyTorch
   * checkpoint ({@link TorchCheckpoint}), anything else must be safetensors.
   */
  static WeightFile open(Path argument) {
    Source source = Source.parse(argument);
    Path file = source.file();
    if (!Files.exists(file)) throw new WeightException(file + ": no such weights file");
    if (!Files.isRegularFile(file)) throw new WeightException(file + ": not a regular file");
    byte[] head = head(file);
    if (TorchCheckpoint.looksLikeCheckpoint(head)) return TorchCheckpoint.open(file, source.key());
    if (source.key() != null) {
      throw new WeightException(file + ": '#" + source.key() + "' selects a state dict inside a PyTorch checkpoint, but this is "
          + (head.length > 8 && head[8] == '{' ? "a safetensors file" : "not a PyTorch checkpoint"));
    }
    if (head.length < 9 || head[8] != '{') {
      throw new WeightException(file + ": not a weights file: neither safetensors nor a PyTorch checkpoint ("
          + (head.length == 0 ? "empty" : "it starts with " + HexFormat.ofDelimiter(" ").formatHex(head, 0, Math.min(8, head.length))) + ")");
    }
    return SafeTensors.open(file);
  }

  private static byte[] head(Path file) {
    try (InputStream in = Files.newInputStream(file)) {
      return in.readNBytes(16);
    } catch (NoSuchFileException e) {
      throw new WeightException(file + ": no such weights file");
    } catch (AccessDeniedException e) {
      throw new WeightException(file + ": permission denied");
    } catch (IOException e) {
      throw new WeightException(file + ": cannot read: " + e.getMessage());
    }
  }

  static String shapeString(int[] shape) {
    return Arrays.stream(shape).mapToObj(Integer::toString).collect(Collectors.joining(",", "[", "]"));
  }
}
