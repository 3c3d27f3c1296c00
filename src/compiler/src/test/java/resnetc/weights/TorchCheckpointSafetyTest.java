package resnetc.weights;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import resnetc.TestPaths;
import resnetc.cli.Main;
import resnetc.weights.TorchFiles.Pickler;

/**
 * A pickle is a program: these feed the checkpoint reader files that try to run code, name classes outside a state
 * dict, nest without end, declare sizes far beyond the file, or stop short, and assert that each is refused with one
 * clear line (that names the offending global where there is one) and nothing is ever run.
 */
class TorchCheckpointSafetyTest {
  @TempDir Path tmp;

  /** Opens {@code file} as --weights would; returns the refusal, checked to be one line that starts with the path. */
  private static String refusal(Path file) {
    WeightException e = assertThrows(WeightException.class, () -> WeightFile.open(file).close());
    assertTrue(e.getMessage().startsWith(file.toString()), e.getMessage());
    assertFalse(e.getMessage().contains("\n"), e.getMessage());
    return e.getMessage();
  }

  private Path zipWith(String name, byte[] dataPkl) throws IOException {
    return TorchFiles.zip(tmp.resolve(name), dataPkl, Map.of());
  }

  @Test
  void osSystemThroughReduceIsRefusedAndNeverRun() throws IOException {
    Path marker = tmp.resolve("pwned");
    // What pickle.dumps makes of a class whose __reduce__ returns (os.system, ("touch ...",)).
    for (String[] g : new String[][] {{"os", "system"}, {"posix", "system"}, {"builtins", "eval"}, {"subprocess", "Popen"},
        {"builtins", "__import__"}, {"torch", "load"}}) {
      byte[] payload = TorchFiles.pickle().proto().global(g[0], g[1]).mark().str("touch " + marker).tuple().reduce().stop().bytes();
      String zipMessage = refusal(zipWith(g[1] + ".pth", payload));
      assertTrue(zipMessage.contains("refused: the pickle names " + g[0] + "." + g[1] + ", which is not on the allowlist"), zipMessage);
      assertTrue(zipMessage.contains("archive/data.pkl"), zipMessage);
      // The same pickle as a bare (legacy-format) file.
      Path bare = Files.write(tmp.resolve(g[1] + ".pt"), payload);
      assertTrue(refusal(bare).contains(g[0] + "." + g[1]), refusal(bare));
    }
    assertFalse(Files.exists(marker));
  }

  @Test
  void wholePickledModelsAndUnknownGlobalsAreNamed() throws IOException {
    // torch.save(model) instead of torch.save(model.state_dict()): the module classes appear as globals.
    byte[] model = TorchFiles.pickle().proto().global("__main__", "Net").op(')').op(0x81).stop().bytes();
    String m = refusal(zipWith("model.pth", model));
    assertTrue(m.contains("__main__.Net") && m.contains("save its state_dict() instead"), m);
    byte[] conv = TorchFiles.pickle().proto().global("torch.nn.modules.conv", "Conv2d").stop().bytes();
    assertTrue(refusal(zipWith("conv.pth", conv)).contains("torch.nn.modules.conv.Conv2d"));
    byte[] qint = TorchFiles.pickle().proto().global("torch", "QInt8Storage").stop().bytes();
    assertTrue(refusal(zipWith("qint.pth", qint)).contains("storage type torch.QInt8Storage is not supported"));
    // An allowed name may still not be called: a storage type is not a function here.
    byte[] call = TorchFiles.pickle().proto().global("torch", "FloatStorage").op(')').reduce().stop().bytes();
    assertTrue(refusal(zipWith("call.pth", call)).contains("torch.FloatStorage cannot be called"));
    // STACK_GLOBAL (protocol 4) is checked the same way.
    byte[] stackGlobal = TorchFiles.pickle().op(0x80, 4).str("os").str("system").op(0x93).stop().bytes();
    assertTrue(refusal(zipWith("stack.pth", stackGlobal)).contains("os.system"));
  }

  @Test
  void opcodesThatBuildArbitraryObjectsAreRefused() throws IOException {
    byte[] inst = TorchFiles.pickle().proto().mark().op('i').raw("os\nsystem\n".getBytes()).stop().bytes();
    assertTrue(refusal(zipWith("inst.pth", inst)).contains("opcode INST"));
    byte[] obj = TorchFiles.pickle().proto().mark().global("collections", "OrderedDict").op('o').stop().bytes();
    assertTrue(refusal(zipWith("obj.pth", obj)).contains("opcode OBJ"));
    byte[] newobj = TorchFiles.pickle().proto().global("collections", "OrderedDict").op(')').op(0x81).stop().bytes();
    assertTrue(refusal(zipWith("newobj.pth", newobj)).contains("opcode NEWOBJ"));
    byte[] build = TorchFiles.pickle().proto().op(']').op('}').op('b').stop().bytes();
    assertTrue(refusal(zipWith("build.pth", build)).contains("BUILD"));
    byte[] unknown = TorchFiles.pickle().proto().op(0xff).stop().bytes();
    assertTrue(refusal(zipWith("ff.pth", unknown)).contains("opcode 0xff is not supported"));
  }

  @Test
  void deepNestingCyclesAndSharedExpansionAreBounded() throws IOException {
    // 200,000 lists, each inside the one before: {'x': [[[[...]]]]}.
    Pickler deep = TorchFiles.pickle().proto().emptyDict().str("x");
    for (int i = 0; i < 200_000; i++) deep.op(']');
    for (int i = 1; i < 200_000; i++) deep.op('a');
    assertTrue(refusal(zipWith("deep.pth", deep.setItem().stop().bytes())).contains("nests deeper than 100 levels"));
    // A list that contains itself.
    byte[] cycle = TorchFiles.pickle().proto().emptyDict().str("x").op(']').op('q', 0).op('h', 0).op('a').setItem().stop().bytes();
    assertTrue(refusal(zipWith("cycle.pth", cycle)).contains("nests deeper than"));
    // "Billion laughs": each list holds the previous one twice, 60 levels: 2^60 paths through 60 objects.
    Pickler laughs = TorchFiles.pickle().proto().emptyDict().str("x").op(']');
    for (int i = 0; i < 60; i++) laughs.op('q', 0).op('0').op(']').op('h', 0).op('a').op('h', 0).op('a');
    assertTrue(refusal(zipWith("laughs.pth", laughs.setItem().stop().bytes())).contains("expands to more than"));
    // A dict key nested without end would make hashing recurse: keys must be flat.
    Pickler key = TorchFiles.pickle().proto().emptyDict();
    for (int i = 0; i < 10_000; i++) key.op(')');
    for (int i = 0; i < 9_999; i++) key.op(0x86);
    assertTrue(refusal(zipWith("key.pth", key.str("v").setItem().stop().bytes())).contains("a dict key is a tuple"));
  }

  @Test
  void sizesBeyondTheFileAreRefusedBeforeAllocating() throws IOException {
    byte[] str8 = TorchFiles.pickle().proto().op(0x8d).raw(le64(1L << 62)).stop().bytes();
    assertTrue(refusal(zipWith("str8.pth", str8)).contains("BINUNICODE8 declares 4611686018427387904 bytes, more than the limit"));
    byte[] str = TorchFiles.pickle().proto().op('X').raw(TorchFiles.le32(1_000_000)).raw("short".getBytes()).bytes();
    assertTrue(refusal(zipWith("str.pth", str)).contains("BINUNICODE declares 1000000 bytes but only 5 remain"));
    byte[] long4 = TorchFiles.pickle().proto().op(0x8b).raw(TorchFiles.le32(Integer.MAX_VALUE)).stop().bytes();
    assertTrue(refusal(zipWith("long4.pth", long4)).contains("LONG4 declares 2147483647 bytes"));
    byte[] frame = TorchFiles.pickle().op(0x80, 4).op(0x95).raw(le64(Long.MAX_VALUE)).stop().bytes();
    assertTrue(refusal(zipWith("frame.pth", frame)).contains("FRAME declares"));
    // A storage that claims 2^60 floats, and tensors that reach past their storage.
    byte[] huge = TorchFiles.pickle().proto().emptyDict().str("w").tensor("0", 1L << 62, 0, new int[] {4}, new int[] {1}).setItem().stop().bytes();
    assertTrue(refusal(TorchFiles.zip(tmp.resolve("huge.pth"), huge, Map.of("0", TorchFiles.f32(1, 2, 3, 4)))).contains("a size overflows"));
    byte[] numel = TorchFiles.pickle().proto().emptyDict().str("w").tensor("0", 1 << 30, 0, new int[] {4}, new int[] {1}).setItem().stop().bytes();
    assertTrue(refusal(TorchFiles.zip(tmp.resolve("numel.pth"), numel, Map.of("0", TorchFiles.f32(1, 2, 3, 4))))
        .contains("declares 1073741824 F32 elements (4294967296 bytes) but its entry holds 16 bytes"));
    byte[] view = TorchFiles.pickle().proto().emptyDict().str("w").tensor("0", 4, 2, new int[] {2, 2}, new int[] {2, 1}).setItem().stop().bytes();
    assertTrue(refusal(TorchFiles.zip(tmp.resolve("view.pth"), view, Map.of("0", TorchFiles.f32(1, 2, 3, 4))))
        .contains("a tensor of shape [2,2] reaches element 5 of a storage of 4 elements"));
    byte[] dims = TorchFiles.pickle().proto().emptyDict().str("w").tensor("0", 4, 0, new int[] {Integer.MAX_VALUE, Integer.MAX_VALUE, Integer.MAX_VALUE}, new int[] {0, 0, 0})
        .setItem().stop().bytes();
    assertTrue(refusal(TorchFiles.zip(tmp.resolve("dims.pth"), dims, Map.of("0", TorchFiles.f32(1, 2, 3, 4)))).contains("a size overflows"));
    byte[] missing = TorchFiles.pickle().proto().emptyDict().str("w").tensor("7", 4, 0, new int[] {4}, new int[] {1}).setItem().stop().bytes();
    assertTrue(refusal(TorchFiles.zip(tmp.resolve("missing.pth"), missing, Map.of())).contains("storage 7 has no entry archive/data/7"));
  }

  @Test
  void truncatedAndDamagedFilesFailCleanly() throws IOException {
    Optional<Path> zip = TestPaths.shared("models/torch-fixtures/reader_tensor_2d.pt");
    Optional<Path> legacy = TestPaths.shared("models/torch-fixtures/reader_legacy_shared_storage.pt");
    Assumptions.assumeTrue(zip.isPresent() && legacy.isPresent(), "../shared is absent");
    for (Path source : new Path[] {zip.get(), legacy.get()}) {
      byte[] good = Files.readAllBytes(source);
      Path cut = tmp.resolve("cut-" + source.getFileName());
      for (int n = 0; n < good.length; n += 1 + n % 11) { // about one length in six (each open costs a millisecond or two)
        Files.write(cut, Arrays.copyOf(good, n));
        refusal(cut);
      }
      // Flipped bytes: refused, or (where the format has no checksum, e.g. a legacy storage's data) read; never a crash.
      Random rnd = new Random(14);
      Path flipped = tmp.resolve("flip-" + source.getFileName());
      for (int trial = 0; trial < 100; trial++) {
        byte[] bad = good.clone();
        for (int k = 0; k < 1 + trial % 3; k++) bad[rnd.nextInt(bad.length)] ^= (byte) (1 << rnd.nextInt(8));
        Files.write(flipped, bad);
        try (WeightFile f = WeightFile.open(flipped)) {
          for (String name : f.tensors().keySet()) f.read(name);
        } catch (WeightException e) {
          assertFalse(e.getMessage().contains("\n"), e.getMessage());
        }
      }
    }
    // A damaged storage in a zip checkpoint fails its CRC instead of loading wrong weights.
    byte[] good = Files.readAllBytes(zip.get());
    int at = indexOf(good, new byte[] {0, 0, (byte) 0x80, 0x3f}); // 1.0f, the first value of the tensor
    assertTrue(at > 0);
    good[at + 3] ^= 1;
    Path crc = Files.write(tmp.resolve("crc.pt"), good);
    assertTrue(refusal(crc).contains("fails its CRC-32 check"), refusal(crc));
  }

  @Test
  void theCliPrintsOneLineAndExitsOne() throws IOException {
    byte[] payload = TorchFiles.pickle().proto().global("os", "system").mark().str("true").tuple().reduce().stop().bytes();
    Path file = zipWith("evil.pth", payload);
    StringWriter out = new StringWriter(), err = new StringWriter();
    int code = Main.execute(new String[] {"run", TestPaths.repoRoot().resolve("examples/cifar/resnet20.resnet").toString(),
        "--weights", file.toString(), "--input-f32", file.toString()}, new PrintWriter(out), new PrintWriter(err));
    assertEquals(1, code);
    assertEquals(1, err.toString().lines().count(), err.toString());
    assertTrue(err.toString().startsWith("resnetc: error: " + file + ": archive/data.pkl, byte 2: refused: the pickle names os.system"), err.toString());
  }

  private static byte[] le64(long v) {
    return ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(v).array();
  }

  private static int indexOf(byte[] hay, byte[] needle) {
    outer:
    for (int i = hay.length - needle.length; i >= 0; i--) {
      for (int j = 0; j < needle.length; j++) if (hay[i + j] != needle[j]) continue outer;
      return i;
    }
    return -1;
  }
}
