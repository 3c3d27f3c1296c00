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
import java.lang.foreign.SymbolLookup;
import java.util.List;
import java.util.Optional;
import resnetc.schedule.Schedule;

/**
 * The program compiled in process by an ORC LLJIT: the same module as {@link NativeCompiler}'s, optimized the
 * same way and compiled by a target machine with the same options, so results are bit-identical to the shared
 * library's. Every step is compiled at load; the code lives until {@link #close}.
 */
final class NativeJit implements AutoCloseable {
  private final Map<String, Long> addresses = new HashMap<>();
  private LLVMOrcLLJITRef jit;

  private NativeJit(LLVMOrcLLJITRef jit) {
    this.jit = jit;
  }

  /** Compiles every step of {@code schedule}, step i as {@code symbols.get(i)}, for the schedule's CPU. */
  static NativeJit load(Schedule schedule, List<String> symbols) {
    LlvmMachine.init();
    LLVMOrcThreadSafeContextRef tsc = LLVMOrcCreateNewThreadSafeContext();
    LLVMOrcLLJITRef jit = null;
    try {
      LLVMModuleRef m = SharedLibrary.module(LLVMOrcThreadSafeContextGetContext(tsc), schedule, symbols);
      LLVMTargetMachineRef tm = LlvmMachine.machine(schedule.cpu());
      try {
        LlvmMachine.optimize(m, tm);
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
      LlvmMachine.check(LLVMOrcCreateLLJIT(out, builder), "creating the JIT");
      jit = new LLVMOrcLLJITRef(out.get(0));
      LlvmMachine.check(LLVMOrcLLJITAddLLVMIRModule(jit, LLVMOrcLLJITGetMainJITDylib(jit), LLVMOrcCreateNewThreadSafeModule(m, tsc)),
          "adding the module to the JIT");
      NativeJit result = new NativeJit(jit);
      for (String symbol : symbols) {
        long[] addr = new long[1];
        LlvmMachine.check(LLVMOrcLLJITLookup(jit, addr, symbol), "compiling " + symbol);
        result.addresses.put(symbol, addr[0]);
      }
      jit = null;
      return result;
    } finally {
      if (jit != null) LLVMOrcDisposeLLJIT(jit);
      LLVMOrcDisposeThreadSafeContext(tsc); // the module holds its own reference
    }
  }

  /** The compiled steps by symbol, for {@code Linker.downcallHandle}; valid until {@link #close}. */
  SymbolLookup lookup() {
    return name -> {
      if (jit == null) throw new IllegalStateException("the JIT is closed");
      Long a = addresses.get(name);
      return a == null ? Optional.empty() : Optional.of(MemorySegment.ofAddress(a));
    };
  }

  @Override
  public synchronized void close() {
    if (jit != null) {
      LlvmMachine.check(LLVMOrcDisposeLLJIT(jit), "disposing the JIT");
      jit = null;
    }
  }
}
