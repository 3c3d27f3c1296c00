package resnetc.spark;

import java.lang.reflect.InvocationTargetException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import resnetc.runtime.CompiledModel;

/**
 * The model instances of one JVM (an executor's, or the driver's in local mode): one per model class and class
 * loader, created by the first task that needs it and shared by every task after it until the JVM exits. This is
 * the one place with static mutable state, on purpose: Spark gives tasks no other home for something that must
 * outlive them, and loading weights and warming up the JIT per partition would cost more than scoring a small one.
 *
 * <p>An instance is made with one thread, i.e. without a thread team: its calls run on the caller's thread, never
 * wait for each other, and each has its own activation arena ({@link CompiledModel} is safe to share), so the
 * executor's task threads and {@link #slices()} score in parallel on one instance.
 */
final class ExecutorModels {
  private record Key(ClassLoader loader, String className) {}

  private static final ConcurrentHashMap<Key, CompiledModel> MODELS = new ConcurrentHashMap<>();

  private ExecutorModels() {}

  /**
   * The instance of {@code className} from the calling task's class loader (where Spark puts the jars given with
   * {@code --jars}); created once, other tasks asking meanwhile wait for it.
   *
   * @throws IllegalStateException if the class is missing or is not a compiled model
   */
  static CompiledModel get(String className) {
    ClassLoader loader = Thread.currentThread().getContextClassLoader();
    if (loader == null) loader = ExecutorModels.class.getClassLoader();
    return MODELS.computeIfAbsent(new Key(loader, className), ExecutorModels::create);
  }

  private static CompiledModel create(Key key) {
    if (ModuleLayer.boot().findModule("jdk.incubator.vector").isEmpty()) {
      // not an error: a Java-backend model still runs, on its scalar path, only several times slower
      System.err.println("resnetc-spark: this JVM runs without jdk.incubator.vector, so Java-backend models use their scalar"
          + " code; add --add-modules jdk.incubator.vector to spark.executor.extraJavaOptions");
    }
    Class<?> c = modelClass(key.className(), key.loader(), true);
    try {
      return (CompiledModel) c.getConstructor(int.class).newInstance(1);
    } catch (InvocationTargetException e) {
      throw new IllegalStateException("creating " + key.className() + ": " + e.getCause(), e.getCause());
    } catch (ReflectiveOperationException e) {
      throw new IllegalStateException(key.className() + " has no public constructor (int threads)", e);
    }
  }

  /**
   * Finds a compiled model class; {@code initialize} false checks it without loading its weights.
   *
   * @throws IllegalStateException if the class is missing or is not a compiled model
   */
  static Class<?> modelClass(String className, ClassLoader loader, boolean initialize) {
    Class<?> c;
    try {
      c = Class.forName(className, initialize, loader);
    } catch (ClassNotFoundException | NoClassDefFoundError e) {
      throw new IllegalStateException("model class " + className + " is not on the class path: give its model jar to"
          + " spark-submit with --jars (or set spark.jars)");
    }
    if (!CompiledModel.class.isAssignableFrom(c)) {
      throw new IllegalStateException(className + " is not a " + CompiledModel.class.getName()
          + " (or comes with another copy of the resnetc runtime than this job's)");
    }
    return c;
  }

  /** How many instances of {@code className} this JVM holds (one per class loader that asked): for tests. */
  static long instances(String className) {
    return MODELS.keySet().stream().filter(k -> k.className().equals(className)).count();
  }

  /** Threads for the slices of a batch beyond the task's own (see {@link ScoreOptions#threadsPerTask()}). */
  static ExecutorService slices() {
    return Slices.POOL;
  }

  /** Created on first use only: most jobs score with one thread per task and never need it. */
  private static final class Slices {
    static final ExecutorService POOL = Executors.newCachedThreadPool(Thread.ofPlatform().daemon().name("resnetc-slice-", 1).factory());
  }
}
