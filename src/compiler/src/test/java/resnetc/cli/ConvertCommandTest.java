package resnetc.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import resnetc.Frontend;
import resnetc.TestPaths;
import resnetc.ir.Tensor;
import resnetc.weights.SafeTensors;
import resnetc.weights.TorchCheckpoint;
import resnetc.weights.WeightFile;

/** {@code resnetc convert}: a checkpoint to safetensors that binds to the same bits, written atomically. */
class ConvertCommandTest {
  @TempDir Path tmp;

  private record Result(int code, String out, String err) {}

  private static Result convert(String... args) {
    StringWriter out = new StringWriter(), err = new StringWriter();
    String[] full = Stream.concat(Stream.of("convert"), Stream.of(args)).toArray(String[]::new);
    int code = Main.execute(full, new PrintWriter(out), new PrintWriter(err));
    return new Result(code, out.toString(), err.toString());
  }

  @Test
  void convertedLegacyCheckpointBindsTheSameBits() throws IOException {
    Optional<Path> th = TestPaths.shared("models/cifar10/resnet20-12fca82f.th");
    assumeTrue(th.isPresent(), "../shared is absent");
    Path out = tmp.resolve("resnet20.safetensors");
    Result r = convert(th.get().toString(), "-o", out.toString());
    assertEquals(0, r.code(), r.err());
    assertEquals("safetensors: " + out + " (97 tensors, " + Files.size(out) + " bytes, from " + th.get() + "#state_dict)\n", r.out());
    try (Stream<Path> files = Files.list(tmp)) {
      assertEquals(List.of(out), files.toList()); // no temporary file left behind
    }
    Frontend.Loaded spec = Frontend.load(TestPaths.repoRoot().resolve("examples/cifar/resnet20.resnet"));
    Map<String, Tensor> a = Frontend.bind(spec, th.get()).constants(), b = Frontend.bind(spec, out).constants();
    assertEquals(a.keySet(), b.keySet());
    for (String name : a.keySet()) {
      float[] x = a.get(name).data(), y = b.get(name).data();
      assertEquals(x.length, y.length, name);
      for (int i = 0; i < x.length; i++) assertEquals(Float.floatToRawIntBits(x[i]), Float.floatToRawIntBits(y[i]), name + "[" + i + "]");
    }
    try (SafeTensors st = SafeTensors.open(out)) {
      assertTrue(st.tensors().containsKey("module.conv1.weight")); // names as in the checkpoint; the spec strips the prefix
      assertEquals(Map.of("format", "pt"), st.metadata());
    }
  }

  @Test
  void dtypesAndViewsAreKept() throws IOException {
    for (String fixture : List.of("reader_mixed_types.pt", "reader_bfloat16.pt", "reader_float16.pt", "reader_legacy_shared_storage.pt",
        "non_contiguous_indexes_non_contiguous_indexes.pt")) {
      Optional<Path> in = TestPaths.shared("models/torch-fixtures/" + fixture);
      assumeTrue(in.isPresent(), "../shared is absent");
      Path out = tmp.resolve(fixture + ".safetensors");
      Result r = convert(in.get().toString(), "-o", out.toString());
      assertEquals(0, r.code(), r.err());
      try (TorchCheckpoint c = TorchCheckpoint.open(in.get(), null); SafeTensors st = SafeTensors.open(out)) {
        assertEquals(List.copyOf(c.tensors().keySet()), List.copyOf(st.tensors().keySet()), fixture);
        for (WeightFile.Entry e : c.tensors().values()) {
          SafeTensors.TensorInfo info = st.tensors().get(e.name());
          assertEquals(e.dtype(), info.dtype(), fixture + " " + e.name());
          assertArrayEquals(e.shape(), info.shape(), fixture + " " + e.name());
          assertArrayEquals(c.readBytes(e.name()), st.readBytes(e.name()), fixture + " " + e.name());
        }
      }
    }
  }

  @Test
  void aFailedConversionLeavesTheOutputAlone() throws IOException {
    Optional<Path> broken = TestPaths.shared("models/torch-fixtures/reader_broken.pt");
    assumeTrue(broken.isPresent(), "../shared is absent");
    Path out = Files.writeString(tmp.resolve("keep.safetensors"), "previous contents");
    Result r = convert(broken.get().toString(), "-o", out.toString());
    assertEquals(1, r.code());
    assertEquals("resnetc: error: " + broken.get() + ": not a weights file: neither safetensors nor a PyTorch checkpoint (it starts with 61 62 63)\n",
        r.err());
    assertEquals("previous contents", Files.readString(out));
    Result missing = convert(tmp.resolve("none.pth") + "#state_dict", "-o", out.toString());
    assertEquals(1, missing.code());
    assertEquals("resnetc: error: " + tmp.resolve("none.pth") + ": no such weights file\n", missing.err());
    try (Stream<Path> files = Files.list(tmp)) {
      assertEquals(List.of(out), files.toList());
    }
  }
}
