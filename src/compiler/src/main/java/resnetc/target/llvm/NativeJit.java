package resnetc.target.llvm;

import static org.bytedeco.llvm.global.LLVM.*;

import java.lang.foreign.MemorySegment;
import java.util.HashMap;
import java.util.Map;
import org.bytedeco.javacpp.PointerPointer;
import org.bytedeco.llvm.LLVM.LLVMModuleRef;
import org.bytedeco.llvm.LLVM.LLVMOrcJITTargetMachineBuilderRef;
import org.bytedeco.llvm.LLVM.LLVMOrcLLJITBuilderRef;
import org.bytedeco.llvm.LLVM.LLVMOrcLLJITRef;
import org.bytedeco.llvm.LLVM.LLVMOrcThreadSafeContextRef;
import org.bytedeco.llvm.LLVM.LLVMTargetMachineRef;
import resnetc.ir.Graph;

/**
 * The program compiled in process by an ORC LLJIT: the same module as {@link NativeCompiler}'s, optimized the
 * same way and compiled by a target machine with the same options, so results are bit-identical to the shared
 * library's. Every step is compiled at load; the code lives until {@link #close}.
 */
public final class NativeJit implements AutoCloseable {
  private final NativeProgram program;
  private final Map<String, Long> addresses = new HashMap<>();
  private LLVMOrcLLJITRef jit;

  private NativeJit(NativeProgram program, LLVMOrcLLJITRef jit) {
    this.program = program;
    this.jit = jit;
  }

  public static NativeJit load(Graph optimized, String cpu) {
    NativeCodegen.Plan plan = NativeCodegen.plan(optimized, cpu);
    LlvmTarget.init();
    LLVMOrcThreadSafeContextRef tsc = LLVMOrcCreateNewThreadSafeContext();
    LLVMOrcLLJITRef jit = null;
    try {
      LLVMModuleRef m = NativeCompiler.module(LLVMOrcThreadSafeContextGetContext(tsc), plan);
      LLVMTargetMachineRef tm = LlvmTarget.machine(plan.cpu());
      try {
        LlvmTarget.optimize(m, tm);
      } catch (RuntimeException e) {
        LLVMDisposeModule(m);
        LLVMDisposeTargetMachine(tm);
        throw e;
      }
      // The builder takes the machine's CPU, features, options and optimization level, and then owns it.
      LLVMOrcJITTargetMachineBuilderRef jtmb = LLVMOrcJITTargetMachineBuilderCreateFromTargetMachine(tm);
      LLVMOrcLLJITBuilderRef builder = LLVMOrcCreateLLJITBuilder();
      LLVMOrcLLJITBuilderSetJITTargetMachineBuilder(builder, jtmb);
      PointerPointer<LLVMOrcLLJITRef> out = new PointerPointer<>(1);
      LlvmTarget.check(LLVMOrcCreateLLJIT(out, builder), "creating the JIT");
      jit = new LLVMOrcLLJITRef(out.get(0));
      LlvmTarget.check(LLVMOrcLLJITAddLLVMIRModule(jit, LLVMOrcLLJITGetMainJITDylib(jit), LLVMOrcCreateNewThreadSafeModule(m, tsc)),
          "adding the module to the JIT");
      NativeJit result = new NativeJit(plan.program(), jit);
      for (NativeProgram.Step s : plan.program().steps()) {
        long[] addr = new long[1];
        LlvmTarget.check(LLVMOrcLLJITLookup(jit, addr, s.symbol()), "compiling " + s.symbol());
        result.addresses.put(s.symbol(), addr[0]);
      }
      jit = null;
      return result;
    } finally {
      if (jit != null) LLVMOrcDisposeLLJIT(jit);
      LLVMOrcDisposeThreadSafeContext(tsc); // the module holds its own reference
    }
  }

  public NativeProgram program() {
    return program;
  }

  /** The entry of a step's function, as a zero-length segment for {@code Linker.downcallHandle}. */
  public MemorySegment address(String symbol) {
    if (jit == null) throw new IllegalStateException("the JIT is closed");
    Long a = addresses.get(symbol);
    if (a == null) throw new IllegalArgumentException("no step " + symbol + " in " + program.model());
    return MemorySegment.ofAddress(a);
  }

  @Override
  public synchronized void close() {
    if (jit != null) {
      LlvmTarget.check(LLVMOrcDisposeLLJIT(jit), "disposing the JIT");
      jit = null;
    }
  }
}
