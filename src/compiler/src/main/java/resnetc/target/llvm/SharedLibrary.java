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
import resnetc.schedule.Schedule;

/**
 * Ahead-of-time native code: the schedule's LLVM module, optimized with {@code default<O3>} for the CPU, emitted as
 * an object file and linked into a shared library by the lld bundled with LLVM. The library exports one function
 * per step and imports nothing ({@code --no-undefined} proves it: the kernels are {@code no-builtins}, so no loop
 * becomes a memset or memcpy call).
 */
final class SharedLibrary {
  private SharedLibrary() {}

  /** The schedule's steps, step i as function {@code symbols.get(i)}, in an ELF shared library for the schedule's CPU. */
  static byte[] build(Schedule schedule, List<String> symbols) {
    return link(object(schedule, symbols));
  }

  /** The optimized module as an object file. */
  static byte[] object(Schedule schedule, List<String> symbols) {
    return withModule(schedule, symbols, (m, tm) -> {
      LlvmMachine.optimize(m, tm);
      return LlvmMachine.object(m, tm);
    });
  }

  /** The module as LLVM assembly, optimized or as generated (for debugging and tests). */
  static String text(Schedule schedule, List<String> symbols, boolean optimized) {
    return withModule(schedule, symbols, (m, tm) -> {
      if (optimized) LlvmMachine.optimize(m, tm);
      return LlvmMachine.text(m);
    });
  }

  /** {@code use} of the schedule's module and a target machine for its CPU, both disposed after. */
  private static <T> T withModule(Schedule schedule, List<String> symbols, java.util.function.BiFunction<LLVMModuleRef, LLVMTargetMachineRef, T> use) {
    LlvmMachine.init();
    LLVMContextRef ctx = LLVMContextCreate();
    LLVMTargetMachineRef tm = LlvmMachine.machine(schedule.cpu());
    LLVMModuleRef m = null;
    try {
      m = module(ctx, schedule, symbols);
      return use.apply(m, tm);
    } finally {
      if (m != null) LLVMDisposeModule(m);
      LLVMDisposeTargetMachine(tm);
      LLVMContextDispose(ctx);
    }
  }

  /** The steps as an (unoptimized) module in ctx. */
  static LLVMModuleRef module(LLVMContextRef ctx, Schedule schedule, List<String> symbols) {
    try (LlvmIr ir = new LlvmIr(ctx, schedule.model())) {
      LlvmKernels.emit(ir, schedule, symbols);
      return ir.module;
    }
  }

  /** {@code lld -flavor gnu -shared --no-undefined} on one object, in a temporary directory. */
  static byte[] link(byte[] object) {
    Path lld = LlvmMachine.lld();
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
