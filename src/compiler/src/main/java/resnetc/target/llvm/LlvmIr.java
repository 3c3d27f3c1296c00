package resnetc.target.llvm;

import static org.bytedeco.llvm.global.LLVM.*;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.bytedeco.javacpp.PointerPointer;
import org.bytedeco.llvm.LLVM.LLVMBasicBlockRef;
import org.bytedeco.llvm.LLVM.LLVMBuilderRef;
import org.bytedeco.llvm.LLVM.LLVMContextRef;
import org.bytedeco.llvm.LLVM.LLVMModuleRef;
import org.bytedeco.llvm.LLVM.LLVMTypeRef;
import org.bytedeco.llvm.LLVM.LLVMValueRef;

/**
 * A thin layer over the LLVM C API for building one module: types, constants, arithmetic, memory access,
 * intrinsics and counted loops whose carried values become phis. Index arithmetic is i64 throughout. Not thread
 * safe; one instance per module.
 */
final class LlvmIr implements AutoCloseable {
  final LLVMContextRef ctx;
  final LLVMModuleRef module;
  final LLVMBuilderRef b;
  final LLVMTypeRef f32, f64, i1, i32, i64, ptr, voidType;
  private final Map<String, LLVMValueRef> intrinsics = new HashMap<>();
  private final Map<String, LLVMTypeRef> intrinsicTypes = new HashMap<>();
  private LLVMValueRef fn;

  LlvmIr(LLVMContextRef ctx, String moduleName) {
    this.ctx = ctx;
    this.module = LLVMModuleCreateWithNameInContext(moduleName, ctx);
    this.b = LLVMCreateBuilderInContext(ctx);
    f32 = LLVMFloatTypeInContext(ctx);
    f64 = LLVMDoubleTypeInContext(ctx);
    i1 = LLVMInt1TypeInContext(ctx);
    i32 = LLVMInt32TypeInContext(ctx);
    i64 = LLVMInt64TypeInContext(ctx);
    ptr = LLVMPointerTypeInContext(ctx, 0);
    voidType = LLVMVoidTypeInContext(ctx);
  }

  /** Disposes the builder only: the module is handed on (to the JIT or the object emitter), which owns it. */
  @Override
  public void close() {
    LLVMDisposeBuilder(b);
  }

  // ---- types and constants ----

  LLVMTypeRef vec(LLVMTypeRef elem, int lanes) {
    return LLVMVectorType(elem, lanes);
  }

  LLVMValueRef i64(long v) {
    return LLVMConstInt(i64, v, 1);
  }

  LLVMValueRef i32(long v) {
    return LLVMConstInt(i32, v, 1);
  }

  LLVMValueRef f32(double v) {
    return LLVMConstReal(f32, v);
  }

  LLVMValueRef f64(double v) {
    return LLVMConstReal(f64, v);
  }

  LLVMValueRef bool(boolean v) {
    return LLVMConstInt(i1, v ? 1 : 0, 0);
  }

  /** A constant vector of i1, lane l = valid[l]. */
  LLVMValueRef mask(boolean[] valid) {
    PointerPointer<LLVMValueRef> pp = new PointerPointer<>(valid.length);
    for (int l = 0; l < valid.length; l++) pp.put(l, bool(valid[l]));
    return LLVMConstVector(pp, valid.length);
  }

  /** The i32 vector 0, 1, ..., lanes - 1. */
  LLVMValueRef iota(int lanes) {
    PointerPointer<LLVMValueRef> pp = new PointerPointer<>(lanes);
    for (int l = 0; l < lanes; l++) pp.put(l, i32(l));
    return LLVMConstVector(pp, lanes);
  }

  /** A shuffle mask from, from + s, from + 2s, ... of {@code lanes} i32 lanes. */
  LLVMValueRef stride(int lanes, int s, int from) {
    PointerPointer<LLVMValueRef> pp = new PointerPointer<>(lanes);
    for (int l = 0; l < lanes; l++) pp.put(l, i32((long) l * s + from));
    return LLVMConstVector(pp, lanes);
  }

  /** The shuffle mask that interleaves two vectors of {@code lanes}: 0, lanes, 1, lanes + 1, ... */
  LLVMValueRef interleave(int lanes) {
    PointerPointer<LLVMValueRef> pp = new PointerPointer<>(2 * lanes);
    for (int l = 0; l < lanes; l++) {
      pp.put(2 * l, i32(l));
      pp.put(2 * l + 1, i32(l + lanes));
    }
    return LLVMConstVector(pp, 2 * lanes);
  }

  /** A shuffle mask 0, s, 2s, ... of {@code lanes} i32 lanes: every s-th lane of a wider vector. */
  LLVMValueRef stride(int lanes, int s) {
    return stride(lanes, s, 0);
  }

  static PointerPointer<LLVMTypeRef> types(LLVMTypeRef... ts) {
    PointerPointer<LLVMTypeRef> pp = new PointerPointer<>(ts.length);
    for (int i = 0; i < ts.length; i++) pp.put(i, ts[i]);
    return pp;
  }

  static PointerPointer<LLVMValueRef> values(LLVMValueRef... vs) {
    PointerPointer<LLVMValueRef> pp = new PointerPointer<>(vs.length);
    for (int i = 0; i < vs.length; i++) pp.put(i, vs[i]);
    return pp;
  }

  // ---- functions and blocks ----

  /**
   * Starts an exported function {@code void name(params...)} and positions the builder in its entry block.
   * Every function is nounwind and no-builtins (loop idioms must not become memset/memcpy calls: the kernels link
   * against nothing) and carries the target CPU and features so the optimizer and code generator agree.
   */
  LLVMValueRef function(String name, String cpu, String features, LLVMTypeRef... params) {
    LLVMTypeRef type = LLVMFunctionType(voidType, types(params), params.length, 0);
    fn = LLVMAddFunction(module, name, type);
    LLVMSetLinkage(fn, LLVMExternalLinkage);
    addFnAttr(enumAttr("nounwind"));
    addFnAttr(stringAttr("no-builtins", ""));
    addFnAttr(stringAttr("target-cpu", cpu));
    if (!features.isEmpty()) addFnAttr(stringAttr("target-features", features));
    LLVMPositionBuilderAtEnd(b, LLVMAppendBasicBlockInContext(ctx, fn, "entry"));
    return fn;
  }

  LLVMValueRef param(int i) {
    return LLVMGetParam(fn, i);
  }

  /** Adds an enum attribute ({@code noalias}, {@code readonly}, ...) to parameter i (0-based). */
  void paramAttr(int i, String attr) {
    LLVMAddAttributeAtIndex(fn, i + 1, enumAttr(attr));
  }

  private void addFnAttr(org.bytedeco.llvm.LLVM.LLVMAttributeRef a) {
    LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex, a);
  }

  private org.bytedeco.llvm.LLVM.LLVMAttributeRef enumAttr(String name) {
    int kind = LLVMGetEnumAttributeKindForName(name, name.length());
    if (kind == 0) throw new IllegalStateException("unknown LLVM attribute " + name);
    return LLVMCreateEnumAttribute(ctx, kind, 0);
  }

  private org.bytedeco.llvm.LLVM.LLVMAttributeRef stringAttr(String key, String value) {
    return LLVMCreateStringAttribute(ctx, key, key.length(), value, value.length());
  }

  void retVoid() {
    LLVMBuildRetVoid(b);
  }

  LLVMBasicBlockRef block(String name) {
    return LLVMAppendBasicBlockInContext(ctx, fn, name);
  }

  LLVMBasicBlockRef current() {
    return LLVMGetInsertBlock(b);
  }

  void at(LLVMBasicBlockRef bb) {
    LLVMPositionBuilderAtEnd(b, bb);
  }

  void br(LLVMBasicBlockRef bb) {
    LLVMBuildBr(b, bb);
  }

  void condBr(LLVMValueRef cond, LLVMBasicBlockRef then, LLVMBasicBlockRef otherwise) {
    LLVMBuildCondBr(b, cond, then, otherwise);
  }

  /** if (cond) { then } — then emits into the builder and may leave it in another block. */
  void ifThen(LLVMValueRef cond, Runnable then) {
    LLVMBasicBlockRef yes = block("then"), done = block("endif");
    condBr(cond, yes, done);
    at(yes);
    then.run();
    br(done);
    at(done);
  }

  /** if (cond) { then } else { otherwise }. */
  void ifElse(LLVMValueRef cond, Runnable then, Runnable otherwise) {
    LLVMBasicBlockRef yes = block("then"), no = block("else"), done = block("endif");
    condBr(cond, yes, no);
    at(yes);
    then.run();
    br(done);
    at(no);
    otherwise.run();
    br(done);
    at(done);
  }

  /** A loop body: gets the induction variable and the carried values, returns the next carried values. */
  interface Body {
    List<LLVMValueRef> run(LLVMValueRef i, List<LLVMValueRef> carried);
  }

  /**
   * {@code for (i = from; i < to; i += step)} over i64 with loop-carried values (phis); returns their values after
   * the loop. The loop is guarded, so an empty range runs no iteration.
   */
  List<LLVMValueRef> loop(String name, LLVMValueRef from, LLVMValueRef to, long step, List<LLVMValueRef> init, Body body) {
    LLVMBasicBlockRef pre = current(), head = block(name), exit = block(name + ".exit");
    condBr(slt(from, to), head, exit);
    at(head);
    LLVMValueRef i = LLVMBuildPhi(b, i64, name + ".i");
    List<LLVMValueRef> phis = new ArrayList<>();
    for (LLVMValueRef v : init) phis.add(LLVMBuildPhi(b, LLVMTypeOf(v), name + ".acc"));
    List<LLVMValueRef> next = body.run(i, List.copyOf(phis));
    if (next.size() != init.size()) throw new IllegalStateException("loop " + name + " carries " + init.size() + " values, body returned " + next.size());
    LLVMValueRef inext = LLVMBuildAdd(b, i, i64(step), name + ".next");
    LLVMBasicBlockRef latch = current();
    condBr(slt(inext, to), head, exit);
    LLVMAddIncoming(i, values(from, inext), blocks(pre, latch), 2);
    for (int k = 0; k < phis.size(); k++) LLVMAddIncoming(phis.get(k), values(init.get(k), next.get(k)), blocks(pre, latch), 2);
    at(exit);
    List<LLVMValueRef> out = new ArrayList<>();
    for (int k = 0; k < phis.size(); k++) {
      LLVMValueRef phi = LLVMBuildPhi(b, LLVMTypeOf(init.get(k)), name + ".out");
      LLVMAddIncoming(phi, values(init.get(k), next.get(k)), blocks(pre, latch), 2);
      out.add(phi);
    }
    return out;
  }

  /** A loop without carried values. */
  void loop(String name, LLVMValueRef from, LLVMValueRef to, long step, java.util.function.Consumer<LLVMValueRef> body) {
    loop(name, from, to, step, List.of(), (i, c) -> {
      body.accept(i);
      return List.of();
    });
  }

  private static PointerPointer<LLVMBasicBlockRef> blocks(LLVMBasicBlockRef... bbs) {
    PointerPointer<LLVMBasicBlockRef> pp = new PointerPointer<>(bbs.length);
    for (int i = 0; i < bbs.length; i++) pp.put(i, bbs[i]);
    return pp;
  }

  LLVMValueRef phi(LLVMTypeRef t, LLVMValueRef v1, LLVMBasicBlockRef b1, LLVMValueRef v2, LLVMBasicBlockRef b2) {
    LLVMValueRef p = LLVMBuildPhi(b, t, "phi");
    LLVMAddIncoming(p, values(v1, v2), blocks(b1, b2), 2);
    return p;
  }

  // ---- integer arithmetic (i64) ----

  LLVMValueRef add(LLVMValueRef x, LLVMValueRef y) {
    return LLVMBuildNSWAdd(b, x, y, "");
  }

  LLVMValueRef add(LLVMValueRef x, long y) {
    return y == 0 ? x : add(x, i64(y));
  }

  LLVMValueRef sub(LLVMValueRef x, LLVMValueRef y) {
    return LLVMBuildNSWSub(b, x, y, "");
  }

  LLVMValueRef mul(LLVMValueRef x, LLVMValueRef y) {
    return LLVMBuildNSWMul(b, x, y, "");
  }

  LLVMValueRef mul(LLVMValueRef x, long y) {
    return y == 1 ? x : mul(x, i64(y));
  }

  LLVMValueRef sdiv(LLVMValueRef x, long y) {
    return y == 1 ? x : LLVMBuildSDiv(b, x, i64(y), "");
  }

  LLVMValueRef srem(LLVMValueRef x, long y) {
    return LLVMBuildSRem(b, x, i64(y), "");
  }

  LLVMValueRef slt(LLVMValueRef x, LLVMValueRef y) {
    return LLVMBuildICmp(b, LLVMIntSLT, x, y, "");
  }

  LLVMValueRef sle(LLVMValueRef x, LLVMValueRef y) {
    return LLVMBuildICmp(b, LLVMIntSLE, x, y, "");
  }

  LLVMValueRef sge(LLVMValueRef x, LLVMValueRef y) {
    return LLVMBuildICmp(b, LLVMIntSGE, x, y, "");
  }

  LLVMValueRef eq(LLVMValueRef x, LLVMValueRef y) {
    return LLVMBuildICmp(b, LLVMIntEQ, x, y, "");
  }

  LLVMValueRef icmp(int predicate, LLVMValueRef x, LLVMValueRef y) {
    return LLVMBuildICmp(b, predicate, x, y, "");
  }

  /** Integer add without wrap flags, for vectors. */
  LLVMValueRef vadd(LLVMValueRef x, LLVMValueRef y) {
    return LLVMBuildAdd(b, x, y, "");
  }

  LLVMValueRef and(LLVMValueRef x, LLVMValueRef y) {
    return LLVMBuildAnd(b, x, y, "");
  }

  LLVMValueRef or(LLVMValueRef x, LLVMValueRef y) {
    return LLVMBuildOr(b, x, y, "");
  }

  LLVMValueRef select(LLVMValueRef c, LLVMValueRef x, LLVMValueRef y) {
    return LLVMBuildSelect(b, c, x, y, "");
  }

  LLVMValueRef sext(LLVMValueRef x) {
    return LLVMBuildSExt(b, x, i64, "");
  }

  LLVMValueRef min(LLVMValueRef x, LLVMValueRef y) {
    return select(slt(x, y), x, y);
  }

  LLVMValueRef max(LLVMValueRef x, LLVMValueRef y) {
    return select(slt(x, y), y, x);
  }

  // ---- floating point ----

  LLVMValueRef fadd(LLVMValueRef x, LLVMValueRef y) {
    return LLVMBuildFAdd(b, x, y, "");
  }

  LLVMValueRef fsub(LLVMValueRef x, LLVMValueRef y) {
    return LLVMBuildFSub(b, x, y, "");
  }

  LLVMValueRef fmul(LLVMValueRef x, LLVMValueRef y) {
    return LLVMBuildFMul(b, x, y, "");
  }

  LLVMValueRef fdiv(LLVMValueRef x, LLVMValueRef y) {
    return LLVMBuildFDiv(b, x, y, "");
  }

  LLVMValueRef fcmp(int predicate, LLVMValueRef x, LLVMValueRef y) {
    return LLVMBuildFCmp(b, predicate, x, y, "");
  }

  LLVMValueRef fpext(LLVMValueRef x) {
    return LLVMBuildFPExt(b, x, f64, "");
  }

  LLVMValueRef fptrunc(LLVMValueRef x) {
    return LLVMBuildFPTrunc(b, x, f32, "");
  }

  LLVMValueRef sitofp(LLVMValueRef x, LLVMTypeRef t) {
    return LLVMBuildSIToFP(b, x, t, "");
  }

  LLVMValueRef fptosi(LLVMValueRef x, LLVMTypeRef t) {
    return LLVMBuildFPToSI(b, x, t, "");
  }

  LLVMValueRef bitcast(LLVMValueRef x, LLVMTypeRef t) {
    return LLVMBuildBitCast(b, x, t, "");
  }

  LLVMValueRef shl(LLVMValueRef x, long y) {
    return LLVMBuildShl(b, x, i64(y), "");
  }

  /** Java's {@code Math.max(x, 0f)}: x when x > 0 or x is NaN, else +0. */
  LLVMValueRef relu(LLVMValueRef x) {
    LLVMTypeRef t = LLVMTypeOf(x);
    return select(fcmp(LLVMRealUGT, x, LLVMConstNull(t)), x, LLVMConstNull(t));
  }

  // ---- vectors ----

  LLVMValueRef splat(LLVMValueRef scalar, int lanes) {
    LLVMTypeRef vt = vec(LLVMTypeOf(scalar), lanes);
    LLVMValueRef one = LLVMBuildInsertElement(b, LLVMGetPoison(vt), scalar, i32(0), "");
    return LLVMBuildShuffleVector(b, one, LLVMGetPoison(vt), LLVMConstNull(vec(i32, lanes)), "");
  }

  LLVMValueRef extract(LLVMValueRef v, int lane) {
    return LLVMBuildExtractElement(b, v, i32(lane), "");
  }

  /** {@code llvm.vector.reduce.fadd} is ordered without fast-math flags, so it is spelled out lane by lane here. */
  LLVMValueRef sumLanes(LLVMValueRef v, int lanes) {
    LLVMValueRef s = extract(v, 0);
    for (int l = 1; l < lanes; l++) s = fadd(s, extract(v, l));
    return s;
  }

  // ---- memory ----

  /** {@code &base[index]} with elements of type t. */
  LLVMValueRef gep(LLVMTypeRef t, LLVMValueRef base, LLVMValueRef index) {
    PointerPointer<LLVMValueRef> idx = new PointerPointer<>(1);
    idx.put(0, index);
    return LLVMBuildInBoundsGEP2(b, t, base, idx, 1, "");
  }

  /** {@code &base[index]} that may point anywhere (for prefetches past the end of an array). */
  LLVMValueRef gepAnywhere(LLVMTypeRef t, LLVMValueRef base, LLVMValueRef index) {
    PointerPointer<LLVMValueRef> idx = new PointerPointer<>(1);
    idx.put(0, index);
    return LLVMBuildGEP2(b, t, base, idx, 1, "");
  }

  /** A read prefetch into all cache levels; it never faults. */
  void prefetch(LLVMValueRef address) {
    call("llvm.prefetch", types(ptr), 1, address, i32(0), i32(3), i32(1));
  }

  LLVMValueRef load(LLVMTypeRef t, LLVMValueRef base, LLVMValueRef index) {
    return load(t, gep(elem(t), base, index));
  }

  LLVMValueRef load(LLVMTypeRef t, LLVMValueRef address) {
    LLVMValueRef v = LLVMBuildLoad2(b, t, address, "");
    LLVMSetAlignment(v, 4);
    return v;
  }

  void store(LLVMValueRef v, LLVMValueRef base, LLVMValueRef index) {
    store(v, gep(elem(LLVMTypeOf(v)), base, index));
  }

  void store(LLVMValueRef v, LLVMValueRef address) {
    LLVMValueRef s = LLVMBuildStore(b, v, address);
    LLVMSetAlignment(s, 4);
  }

  /** Vectors are addressed in units of their element: index i of a float vector load is float i. */
  private LLVMTypeRef elem(LLVMTypeRef t) {
    return LLVMGetTypeKind(t) == LLVMVectorTypeKind ? LLVMGetElementType(t) : t;
  }

  LLVMValueRef maskedLoad(LLVMTypeRef vt, LLVMValueRef address, LLVMValueRef mask) {
    return call("llvm.masked.load", types(vt, ptr), 2, address, i32(4), mask, LLVMConstNull(vt));
  }

  void maskedStore(LLVMValueRef v, LLVMValueRef address, LLVMValueRef mask) {
    call("llvm.masked.store", types(LLVMTypeOf(v), ptr), 2, v, address, i32(4), mask);
  }

  /** {@code x * y + z} rounded once. */
  LLVMValueRef fma(LLVMValueRef x, LLVMValueRef y, LLVMValueRef z) {
    return call("llvm.fma", types(LLVMTypeOf(x)), 1, x, y, z);
  }

  LLVMValueRef floor(LLVMValueRef x) {
    return call("llvm.floor", types(LLVMTypeOf(x)), 1, x);
  }

  /** Calls an overloaded intrinsic, declared once per overload. */
  LLVMValueRef call(String name, PointerPointer<LLVMTypeRef> overloads, int count, LLVMValueRef... args) {
    StringBuilder key = new StringBuilder(name);
    for (int i = 0; i < count; i++) key.append(':').append(overloads.get(i).address());
    String k = key.toString();
    LLVMValueRef f = intrinsics.get(k);
    if (f == null) {
      int id = LLVMLookupIntrinsicID(name, name.length());
      if (id == 0) throw new IllegalStateException("unknown intrinsic " + name);
      f = LLVMGetIntrinsicDeclaration(module, id, overloads, count);
      intrinsics.put(k, f);
      intrinsicTypes.put(k, LLVMIntrinsicGetType(ctx, id, overloads, count));
    }
    return LLVMBuildCall2(b, intrinsicTypes.get(k), f, values(args), args.length, "");
  }
}
