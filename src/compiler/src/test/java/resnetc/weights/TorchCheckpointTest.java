package resnetc.weights;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import resnetc.TestPaths;

/** Which tensors a checkpoint offers for binding, how views read, and the formats' edge cases. */
class TorchCheckpointTest {
  @TempDir Path tmp;

  private static Path fixture(String name) {
    Optional<Path> p = TestPaths.shared("models/torch-fixtures/" + name);
    Assumptions.assumeTrue(p.isPresent(), "../shared is absent");
    return p.get();
  }

  private static List<String> names(WeightFile f) {
    return List.copyOf(f.tensors().keySet());
  }

  @Test
  void findsTheStateDictInsideACheckpoint() {
    // {'model_state_dict': ..., 'optimizer_state_dict': {'state': {0: {'momentum_buffer': ...}}}, 'epoch': ...}
    try (TorchCheckpoint c = TorchCheckpoint.open(fixture("reader_checkpoint.pt"), null)) {
      assertEquals("model_state_dict", c.selectedKey());
      assertEquals(List.of("fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"), names(c));
    }
    try (TorchCheckpoint c = TorchCheckpoint.open(fixture("reader_checkpoint.pt"), "optimizer_state_dict")) {
      assertEquals(List.of("state.0.momentum_buffer"), names(c));
    }
    // The only entry holding tensors, whatever its name.
    try (TorchCheckpoint c = TorchCheckpoint.open(fixture("top_level_key_top_level_key.pt"), null)) {
      assertEquals("my_state_dict", c.selectedKey());
      assertEquals(List.of("conv1.weight", "conv1.bias"), names(c));
    }
    // Nested dicts of a state dict join their keys; several unnamed groups are all taken, named from the top.
    try (TorchCheckpoint c = TorchCheckpoint.open(fixture("reader_nested_dict.pt"), null)) {
      assertNull(c.selectedKey());
      assertEquals(List.of("layer1.weight", "layer1.bias", "layer2.weight", "layer2.bias"), names(c));
    }
    // A plain state dict is the top level.
    try (TorchCheckpoint c = TorchCheckpoint.open(fixture("reader_state_dict.pt"), null)) {
      assertNull(c.selectedKey());
      assertEquals(List.of("weight", "bias", "running_mean", "running_var"), names(c));
    }
  }

  @Test
  void theKeyAfterAHashNamesTheStateDict() {
    Optional<Path> th = TestPaths.shared("models/cifar10/resnet20-12fca82f.th");
    Assumptions.assumeTrue(th.isPresent(), "../shared is absent");
    try (WeightFile f = WeightFile.open(Path.of(th.get() + "#state_dict"))) {
      assertEquals(97, f.tensors().size()); // 19 convs, 19 batch norms (4 each), the linear layer
      assertTrue(f.tensors().containsKey("module.conv1.weight"));
      assertEquals("F32", f.tensors().get("module.linear.weight").dtype());
      assertArrayEquals(new int[] {10, 64}, f.tensors().get("module.linear.weight").shape());
    }
    WeightException e = assertThrows(WeightException.class, () -> WeightFile.open(Path.of(th.get() + "#model")));
    assertEquals(th.get() + ": no entry 'model' at the top level (it has best_prec1, state_dict)", e.getMessage());
    e = assertThrows(WeightException.class, () -> WeightFile.open(Path.of(th.get() + "#best_prec1")));
    assertEquals(th.get() + ": entry 'best_prec1' holds no tensors", e.getMessage());
    Optional<Path> st = TestPaths.shared("models/cifar10/resnet20.safetensors");
    e = assertThrows(WeightException.class, () -> WeightFile.open(Path.of(st.orElseThrow() + "#state_dict")));
    assertTrue(e.getMessage().contains("selects a state dict inside a PyTorch checkpoint, but this is a safetensors file"), e.getMessage());
  }

  @Test
  void viewsOffsetsAndSharedStoragesRead() throws IOException {
    // Storage 0 holds 0..11; a is its transpose-like strided view, b a slice at offset 6 sharing it.
    float[] values = new float[12];
    for (int i = 0; i < 12; i++) values[i] = i;
    byte[] pkl = TorchFiles.pickle().proto().emptyDict()
        .str("a").tensor("0", 12, 0, new int[] {3, 2}, new int[] {1, 3}).setItem()
        .str("b").tensor("0", 12, 6, new int[] {2, 3}, new int[] {3, 1}).setItem()
        .str("c").tensor("0", 12, 11, new int[] {}, new int[] {}).setItem()
        .str("d").tensor("0", 12, 0, new int[] {2, 0}, new int[] {0, 1}).setItem()
        .str("e").tensor("0", 12, 1, new int[] {2, 1, 2}, new int[] {4, 7, 2}).setItem().stop().bytes();
    Path file = TorchFiles.zip(tmp.resolve("views.pth"), pkl, Map.of("0", TorchFiles.f32(values)));
    try (TorchCheckpoint c = TorchCheckpoint.open(file, null)) {
      assertArrayEquals(new float[] {0, 3, 1, 4, 2, 5}, c.readFloats("a"));
      assertArrayEquals(new float[] {6, 7, 8, 9, 10, 11}, c.readFloats("b"));
      assertArrayEquals(new float[] {11}, c.readFloats("c"));
      assertArrayEquals(new float[] {}, c.readFloats("d"));
      assertArrayEquals(new float[] {1, 3, 5, 7}, c.readFloats("e"));
      assertSame(c.tensors().get("a").tensor().storage(), c.tensors().get("b").tensor().storage());
      assertArrayEquals(TorchFiles.f32(0, 3, 1, 4, 2, 5), c.tensors().get("a").tensor().toBytes());
    }
  }

  @Test
  void zip64ArchivesRead() throws IOException {
    byte[] pkl = TorchFiles.pickle().proto().emptyDict().str("w").tensor("0", 3, 1, new int[] {2}, new int[] {1}).setItem().stop().bytes();
    Path file = TorchFiles.zip64(tmp.resolve("big.pth"), pkl, Map.of("0", TorchFiles.f32(1, 2, 3)));
    try (WeightFile f = WeightFile.open(file)) {
      assertArrayEquals(new float[] {2, 3}, f.readFloats("w"));
    }
    // The ZIP64 record pointing past the central directory's end.
    byte[] bytes = Files.readAllBytes(file);
    bytes[bytes.length - 22 - 20 + 8] ^= 0x40;
    Path bad = Files.write(tmp.resolve("bad64.pth"), bytes);
    WeightException e = assertThrows(WeightException.class, () -> WeightFile.open(bad));
    assertEquals(bad + ": ZIP64 end-of-directory record missing or out of place", e.getMessage());
  }

  @Test
  void containerProblemsAreNamed() throws IOException {
    byte[] pkl = TorchFiles.pickle().proto().emptyDict().str("w").tensor("0", 1, 0, new int[] {1}, new int[] {1}).setItem().stop().bytes();
    // Deflated entries (a re-zipped checkpoint) cannot be mapped.
    Path deflated = tmp.resolve("deflated.pth");
    try (OutputStream os = Files.newOutputStream(deflated); ZipOutputStream zip = new ZipOutputStream(os)) {
      zip.putNextEntry(new ZipEntry("archive/data.pkl"));
      zip.write(pkl);
      zip.closeEntry();
    }
    WeightException e = assertThrows(WeightException.class, () -> WeightFile.open(deflated));
    assertTrue(e.getMessage().contains("entry archive/data.pkl is compressed (method 8); torch.save stores entries uncompressed"), e.getMessage());
    // A TorchScript archive.
    Path script = tmp.resolve("script.pt");
    try (OutputStream os = Files.newOutputStream(script); ZipOutputStream zip = new ZipOutputStream(os)) {
      for (String name : new String[] {"m/data.pkl", "m/constants.pkl", "m/code/__torch__.py"}) {
        ZipEntry z = new ZipEntry(name);
        z.setMethod(ZipEntry.STORED);
        z.setSize(0);
        z.setCrc(0);
        zip.putNextEntry(z);
        zip.closeEntry();
      }
    }
    e = assertThrows(WeightException.class, () -> WeightFile.open(script));
    assertTrue(e.getMessage().contains("a TorchScript archive (torch.jit.save)"), e.getMessage());
    Path empty = Files.write(tmp.resolve("empty.pth"), new byte[0]);
    e = assertThrows(WeightException.class, () -> WeightFile.open(empty));
    assertEquals(empty + ": not a weights file: neither safetensors nor a PyTorch checkpoint (empty)", e.getMessage());
    e = assertThrows(WeightException.class, () -> WeightFile.open(tmp.resolve("nope.pth")));
    assertEquals(tmp.resolve("nope.pth") + ": no such weights file", e.getMessage());
  }

  @Test
  void integerTensorsAreListedButNotReadAsFloats() {
    try (TorchCheckpoint c = TorchCheckpoint.open(fixture("batch_norm_batch_norm2d.pt"), null)) {
      assertEquals("I64", c.tensors().get("norm1.num_batches_tracked").dtype());
      WeightException e = assertThrows(WeightException.class, () -> c.readFloats("norm1.num_batches_tracked"));
      assertTrue(e.getMessage().contains("unsupported dtype I64 for tensor norm1.num_batches_tracked"), e.getMessage());
      assertArrayEquals(new float[] {1, 1, 1, 1, 1}, c.readFloats("norm1.weight"));
    }
  }
}
