package resnetc.target.llvm;

import static org.bytedeco.llvm.global.LLVM.*;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.bytedeco.llvm.LLVM.LLVMContextRef;
import org.bytedeco.llvm.LLVM.LLVMModuleRef;
import org.bytedeco.llvm.LLVM.LLVMTargetMachineRef;
import resnetc.ir.Graph;

/**
 * Ahead-of-time native code: the program's LLVM module, optimized with {@code default<O3>} for the CPU, emitted as
 * an object file and linked into a shared library by the lld bundled with LLVM. The library exports one function
 * per step and imports nothing ({@code --no-undefined} proves it: the kernels are {@code no-builtins}, so no loop
 * becomes a memset or memcpy call).
 */
public final class NativeCompiler {
  private NativeCompiler() {}

  /** A compiled model: its program and the bytes of its ELF shared library. */
  public record Library(NativeProgram program, byte[] so) {}

  public static Library sharedLibrary(Graph optimized, String cpu) {
    NativeCodegen.Plan plan = NativeCodegen.plan(optimized, cpu);
    return new Library(plan.program(), link(object(plan)));
  }

  /** The optimized module of a plan as an object file. */
  static byte[] object(NativeCodegen.Plan plan) {
    LlvmTarget.init();
    LLVMContextRef ctx = LLVMContextCreate();
    LLVMTargetMachineRef tm = LlvmTarget.machine(plan.cpu());
    LLVMModuleRef m = null;
    try {
      m = module(ctx, plan);
      LlvmTarget.optimize(m, tm);
      return LlvmTarget.object(m, tm);
    } finally {
      if (m != null) LLVMDisposeModule(m);
      LLVMDisposeTargetMachine(tm);
      LLVMContextDispose(ctx);
    }
  }

  /** The module of a plan as LLVM assembly, optimized or as generated (for debugging and tests). */
  static String text(NativeCodegen.Plan plan, boolean optimized) {
    LlvmTarget.init();
    LLVMContextRef ctx = LLVMContextCreate();
    LLVMTargetMachineRef tm = LlvmTarget.machine(plan.cpu());
    LLVMModuleRef m = null;
    try {
      m = module(ctx, plan);
      if (optimized) LlvmTarget.optimize(m, tm);
      return LlvmTarget.text(m);
    } finally {
      if (m != null) LLVMDisposeModule(m);
      LLVMDisposeTargetMachine(tm);
      LLVMContextDispose(ctx);
    }
  }

  /** The plan's kernels as an (unoptimized) module in ctx. */
  static LLVMModuleRef module(LLVMContextRef ctx, NativeCodegen.Plan plan) {
    try (LlvmIr ir = new LlvmIr(ctx, plan.program().model())) {
      LlvmKernels.emit(ir, plan);
      return ir.module;
    }
  }

  /** {@code lld -flavor gnu -shared --no-undefined} on one object, in a temporary directory. */
  static byte[] link(byte[] object) {
    Path lld = LlvmTarget.lld();
    Path dir = null;
    try {
      dir = Files.createTempDirectory("resnetc-lld");
      Path in = dir.resolve("model.o"), out = dir.resolve("model.so"), log = dir.resolve("lld.log");
      Files.write(in, object);
      Process p = new ProcessBuilder(List.of(lld.toString(), "-flavor", "gnu", "-shared", "--no-undefined", "-O2", "--gc-sections",
          "-o", out.toString(), in.toString())).redirectErrorStream(true).redirectOutput(log.toFile()).start();
      if (!p.waitFor(120, TimeUnit.SECONDS)) {
        p.destroyForcibly();
        throw new IllegalStateException("lld did not finish in 120 s");
      }
      if (p.exitValue() != 0) {
        throw new IllegalStateException("lld failed (exit " + p.exitValue() + "): " + Files.readString(log, StandardCharsets.UTF_8).strip());
      }
      return Files.readAllBytes(out);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot link the shared library", e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while linking", e);
    } finally {
      if (dir != null) deleteTree(dir);
    }
  }

  private static void deleteTree(Path dir) {
    try (Stream<Path> s = Files.walk(dir)) {
      s.sorted(Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
    } catch (IOException e) {
      // a leftover temp dir is harmless
    }
  }
}
