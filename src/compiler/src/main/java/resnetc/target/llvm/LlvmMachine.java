package resnetc.target.llvm;

import static org.bytedeco.llvm.global.LLVM.*;

import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.Loader;
import org.bytedeco.llvm.LLVM.LLVMErrorRef;
import org.bytedeco.llvm.LLVM.LLVMMemoryBufferRef;
import org.bytedeco.llvm.LLVM.LLVMModuleRef;
import org.bytedeco.llvm.LLVM.LLVMPassBuilderOptionsRef;
import org.bytedeco.llvm.LLVM.LLVMTargetMachineRef;
import org.bytedeco.llvm.LLVM.LLVMTargetRef;
import resnetc.schedule.CpuModel;

/**
 * The x86-64 machine LLVM compiles for: one-time LLVM initialization, the CPU a program is compiled for, target machines, the
 * optimization pipeline, object emission, and the lld that ships in the bytedeco jar.
 */
final class LlvmMachine {
  static final String TRIPLE = "x86_64-unknown-linux-gnu";
  /** The default CPU: AVX2 and FMA, which every x86-64 server of the last decade has. */
  static final String DEFAULT_CPU = "x86-64-v3";

  private LlvmMachine() {}

  /** Initialized once per process when this holder class loads. */
  private static final class Init {
    static {
      // Extracts libLLVM into the javacpp cache (once per machine) and loads the JNI bindings.
      Loader.load(org.bytedeco.llvm.global.LLVM.class);
      LLVMInitializeX86TargetInfo();
      LLVMInitializeX86Target();
      LLVMInitializeX86TargetMC();
      LLVMInitializeX86AsmPrinter();
    }

    static void touch() {}
  }

  static void init() {
    Init.touch();
  }

  /** Generic CPUs without FMA, on which {@code llvm.fma} would become a call of libm's fmaf. */
  private static final java.util.Set<String> NO_FMA = java.util.Set.of("x86-64", "x86-64-v2", "generic", "core2", "nehalem",
      "westmere", "sandybridge", "ivybridge", "btver2", "bdver1");

  /**
   * {@code native} is the host's CPU with its exact features; any other name is passed to LLVM as is. The kernels
   * need FMA (every multiply-add is one rounding, as in the interpreter), so CPUs known to lack it are refused.
   */
  static CpuModel resolve(String cpu) {
    if (cpu == null || cpu.isEmpty()) cpu = DEFAULT_CPU;
    CpuModel c;
    if (cpu.equals("native")) {
      init();
      BytePointer name = LLVMGetHostCPUName(), features = LLVMGetHostCPUFeatures();
      try {
        c = CpuModel.x86(name.getString(), features.getString());
      } finally {
        LLVMDisposeMessage(name);
        LLVMDisposeMessage(features);
      }
    } else {
      c = CpuModel.x86(cpu, "");
    }
    if (NO_FMA.contains(c.name()) || java.util.Arrays.asList(c.features().split(",")).contains("-fma")) {
      throw new IllegalArgumentException("the native backend needs a CPU with FMA (x86-64-v3 or later), not " + cpu
          + (cpu.equals(c.name()) ? "" : " (" + c.name() + ")"));
    }
    return c;
  }

  /** A target machine for the CPU: position-independent (the same code serves the shared library and the JIT). */
  static LLVMTargetMachineRef machine(CpuModel cpu) {
    init();
    LLVMTargetRef target = new LLVMTargetRef();
    BytePointer err = new BytePointer((org.bytedeco.javacpp.Pointer) null);
    if (LLVMGetTargetFromTriple(new BytePointer(TRIPLE), target, err) != 0) throw new IllegalStateException("no LLVM target " + TRIPLE + ": " + message(err));
    LLVMTargetMachineRef tm = LLVMCreateTargetMachine(target, TRIPLE, cpu.name(), cpu.features(), LLVMCodeGenLevelAggressive, LLVMRelocPIC,
        LLVMCodeModelDefault);
    if (tm == null || tm.isNull()) throw new IllegalStateException("LLVM does not know the CPU " + cpu.name());
    return tm;
  }

  /** Sets the module's triple and data layout for the machine, verifies it, then runs {@code default<O3>}. */
  static void optimize(LLVMModuleRef m, LLVMTargetMachineRef tm) {
    LLVMSetTarget(m, TRIPLE);
    var layout = LLVMCreateTargetDataLayout(tm);
    LLVMSetModuleDataLayout(m, layout);
    LLVMDisposeTargetData(layout);
    BytePointer err = new BytePointer((org.bytedeco.javacpp.Pointer) null);
    if (LLVMVerifyModule(m, LLVMReturnStatusAction, err) != 0) {
      throw new IllegalStateException("invalid LLVM module: " + message(err));
    }
    LLVMDisposeMessage(err);
    LLVMPassBuilderOptionsRef opts = LLVMCreatePassBuilderOptions();
    try {
      check(LLVMRunPasses(m, "default<O3>", tm, opts), "optimizing");
    } finally {
      LLVMDisposePassBuilderOptions(opts);
    }
  }

  /** The module as an ELF relocatable object. */
  static byte[] object(LLVMModuleRef m, LLVMTargetMachineRef tm) {
    BytePointer err = new BytePointer((org.bytedeco.javacpp.Pointer) null);
    LLVMMemoryBufferRef buf = new LLVMMemoryBufferRef();
    if (LLVMTargetMachineEmitToMemoryBuffer(tm, m, LLVMObjectFile, err, buf) != 0) {
      throw new IllegalStateException("cannot emit the object file: " + message(err));
    }
    try {
      BytePointer start = LLVMGetBufferStart(buf);
      byte[] bytes = new byte[Math.toIntExact(LLVMGetBufferSize(buf))];
      start.get(bytes);
      return bytes;
    } finally {
      LLVMDisposeMemoryBuffer(buf);
    }
  }

  /** The module as text, for debugging. */
  static String text(LLVMModuleRef m) {
    BytePointer s = LLVMPrintModuleToString(m);
    try {
      return s.getString();
    } finally {
      LLVMDisposeMessage(s);
    }
  }

  static void check(LLVMErrorRef e, String what) {
    if (e == null || e.isNull()) return;
    BytePointer msg = LLVMGetErrorMessage(e);
    String text = msg.getString();
    LLVMDisposeErrorMessage(msg);
    throw new IllegalStateException("LLVM failed " + what + ": " + text);
  }

  private static String message(BytePointer err) {
    if (err == null || err.isNull()) return "(no message)";
    String s = err.getString();
    LLVMDisposeMessage(err);
    return s;
  }

  /**
   * The lld executable, extracted from the jar beside libLLVM. It needs {@code libLLVM.so.<major>.<minor>} while
   * the cache holds only {@code libLLVM.so}, so the versioned name is linked in once (lld's RUNPATH is
   * {@code $ORIGIN}).
   */
  static Path lld() {
    Path lld = tool("lld");
    int[] major = new int[1], minor = new int[1], patch = new int[1];
    LLVMGetVersion(major, minor, patch);
    Path versioned = lld.resolveSibling("libLLVM.so." + major[0] + "." + minor[0]);
    if (!Files.exists(versioned, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
      try {
        Files.createSymbolicLink(versioned, Path.of("libLLVM.so"));
      } catch (java.nio.file.FileAlreadyExistsException e) {
        // another process made it meanwhile
      } catch (IOException e) {
        throw new UncheckedIOException("cannot link " + versioned + " for lld", e);
      }
    }
    return lld;
  }

  /** A tool of the LLVM jar (lld, llvm-nm, ...), extracted into the javacpp cache on first use. */
  static Path tool(String name) {
    init();
    try {
      File f = Loader.cacheResource("/org/bytedeco/llvm/" + Loader.getPlatform() + "/" + name);
      if (f == null) throw new IllegalStateException("the LLVM jar for " + Loader.getPlatform() + " has no " + name);
      if (!f.canExecute() && !f.setExecutable(true)) throw new IllegalStateException("cannot make " + f + " executable");
      return f.toPath();
    } catch (IOException e) {
      throw new UncheckedIOException("cannot extract " + name + " from the LLVM jar", e);
    }
  }
}
