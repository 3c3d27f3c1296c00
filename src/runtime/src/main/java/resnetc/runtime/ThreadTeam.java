package resnetc.runtime;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.IntConsumer;

/**
 * A fixed team of {@code threads - 1} daemon workers ({@code resnetc-1..}) plus the calling thread, for the
 * fork-join of one layer: {@link #run} hands out task indices from an atomic counter and returns when all are done.
 *
 * <p>Concurrency: calls are serialized by a lock, so several callers may share a team and take turns (each call
 * still gets the whole team). A call made from inside a body (by a worker, or by the caller while it holds the
 * team) runs inline instead of waiting for itself.
 *
 * <p>Cost per call: one small job object and at most one unpark per sleeping worker that is needed. Workers spin
 * for {@link #SPIN_NANOS} after a job before parking, so the back-to-back calls of one prediction rarely pay
 * for a wake-up; an idle team parks and uses no CPU.
 */
public final class ThreadTeam implements AutoCloseable {
  /** How long an idle worker (or a waiting caller) spins before parking: a little more than a layer gap. */
  static final long SPIN_NANOS = 100_000;

  private final Worker[] workers;
  private final ReentrantLock lock = new ReentrantLock();
  /** The current job; workers watch it for a new one. Written under the lock. */
  private volatile Job current;
  private volatile boolean closed;

  /** Bound while {@link #onCallerOnly} runs its action on this thread. */
  private static final ScopedValue<Boolean> CALLER_ONLY = ScopedValue.newInstance();

  /** Threads per available processor a team may have at most (more only adds switching and memory). */
  public static final int MAX_THREADS_PER_PROCESSOR = 8;

  public ThreadTeam(int threads) {
    checkThreads(threads);
    workers = new Worker[threads - 1];
    for (int i = 0; i < workers.length; i++) {
      workers[i] = new Worker(this, "resnetc-" + (i + 1));
      workers[i].start();
    }
  }

  /** The most threads a team may have here: {@link #MAX_THREADS_PER_PROCESSOR} per available processor. */
  public static int maxThreads() {
    return MAX_THREADS_PER_PROCESSOR * Runtime.getRuntime().availableProcessors();
  }

  /** Checks a thread count before any thread starts; the message states the bound. */
  public static int checkThreads(int threads) {
    int most = maxThreads();
    if (threads < 1 || threads > most) {
      throw new IllegalArgumentException("threads must be between 1 and " + most + " (" + MAX_THREADS_PER_PROCESSOR + " per available processor, "
          + Runtime.getRuntime().availableProcessors() + " here), got " + threads);
    }
    return threads;
  }

  /** Team size including the calling thread. */
  public int threads() {
    return workers.length + 1;
  }

  /**
   * Runs {@code action} with every team job it starts done on this thread alone, in the same tasks (so with the
   * same results): for a caller that runs several model calls at once, one per core, where sharing a team per call
   * would only make each wait for the others' turns.
   */
  public static void onCallerOnly(Runnable action) {
    ScopedValue.where(CALLER_ONLY, Boolean.TRUE).run(action);
  }

  /** Runs {@code body.accept(i)} for every i in 0..tasks-1, each exactly once; rethrows the first exception. */
  public void run(int tasks, IntConsumer body) {
    if (closed) throw new IllegalStateException("ThreadTeam is closed");
    if (tasks <= 0) return;
    if (tasks == 1 || workers.length == 0 || CALLER_ONLY.isBound() || isNested()) {
      for (int i = 0; i < tasks; i++) body.accept(i);
      return;
    }
    lock.lock();
    try {
      Job job = new Job(body, tasks, Thread.currentThread());
      current = job;
      // Wake only as many sleepers as there are tasks for; spinning workers see the job by themselves.
      int wake = Math.min(tasks - 1, workers.length);
      for (int i = 0; i < wake; i++) {
        if (workers[i].sleeping) LockSupport.unpark(workers[i]);
      }
      job.work();
      job.await();
      Throwable t = job.error;
      if (t instanceof RuntimeException e) throw e;
      if (t instanceof Error e) throw e;
      if (t != null) throw new RuntimeException(t);
    } finally {
      lock.unlock();
    }
  }

  private boolean isNested() {
    return lock.isHeldByCurrentThread() || (Thread.currentThread() instanceof Worker w && w.team == this);
  }

  /** Stops the workers (they exit after their current task); further {@link #run} calls fail. */
  @Override
  public void close() {
    closed = true;
    for (Worker w : workers) LockSupport.unpark(w);
  }

  /** One call's shared state: the next index to hand out, how many are done, the first failure. */
  private static final class Job {
    private static final VarHandle NEXT, DONE, ERROR;

    static {
      try {
        var l = MethodHandles.lookup();
        NEXT = l.findVarHandle(Job.class, "next", int.class);
        DONE = l.findVarHandle(Job.class, "done", int.class);
        ERROR = l.findVarHandle(Job.class, "error", Throwable.class);
      } catch (ReflectiveOperationException e) {
        throw new ExceptionInInitializerError(e);
      }
    }

    final IntConsumer body;
    final int tasks;
    final Thread caller;
    volatile int next, done;
    volatile Throwable error;
    volatile boolean callerParked;

    Job(IntConsumer body, int tasks, Thread caller) {
      this.body = body;
      this.tasks = tasks;
      this.caller = caller;
    }

    /** Pulls tasks until none are left; after a failure the remaining tasks are only counted, not run. */
    void work() {
      int mine = 0;
      for (int i; (i = (int) NEXT.getAndAdd(this, 1)) < tasks; mine++) {
        if (error != null) continue;
        try {
          body.accept(i);
        } catch (Throwable t) {
          ERROR.compareAndSet(this, null, t);
        }
      }
      if (mine > 0 && (int) DONE.getAndAdd(this, mine) + mine == tasks && callerParked) LockSupport.unpark(caller);
    }

    void await() {
      long start = System.nanoTime();
      while (done != tasks) {
        if (System.nanoTime() - start < SPIN_NANOS) {
          Thread.onSpinWait();
          continue;
        }
        callerParked = true; // then re-check: the finishing worker either sees the flag or we see its count
        if (done != tasks) LockSupport.park(this);
      }
    }
  }

  private static final class Worker extends Thread {
    final ThreadTeam team;
    volatile boolean sleeping;

    Worker(ThreadTeam team, String name) {
      super(name);
      this.team = team;
      setDaemon(true);
    }

    @Override
    public void run() {
      Job seen = null;
      while (true) {
        Job job = awaitJob(seen);
        if (job == null) return;
        seen = job;
        job.work();
      }
    }

    /** The next job different from {@code seen}, or null once the team is closed. */
    private Job awaitJob(Job seen) {
      long start = System.nanoTime();
      while (true) {
        if (team.closed) return null;
        Job job = team.current;
        if (job != seen) return job;
        if (System.nanoTime() - start < SPIN_NANOS) {
          Thread.onSpinWait();
          continue;
        }
        sleeping = true; // then re-check: run() either sees the flag or we see its job
        if (team.current == seen && !team.closed) LockSupport.park(this);
        sleeping = false;
      }
    }
  }
}
