package resnetc.runtime;

import static org.junit.jupiter.api.Assertions.*;

import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.jupiter.api.Test;

class ThreadTeamTest {
  private static void assertAllOnce(ThreadTeam team, int tasks) {
    AtomicIntegerArray hits = new AtomicIntegerArray(tasks);
    team.run(tasks, hits::incrementAndGet);
    for (int i = 0; i < tasks; i++) assertEquals(1, hits.get(i), "task " + i);
  }

  @Test
  void everyTaskRunsExactlyOnce() {
    for (int threads : new int[] {1, 4}) {
      try (ThreadTeam team = new ThreadTeam(threads)) {
        assertEquals(threads, team.threads());
        for (int tasks : new int[] {0, 1, 2, 3, 4, 5, 17, 1000}) assertAllOnce(team, tasks);
        for (int rep = 0; rep < 2000; rep++) assertAllOnce(team, 1 + rep % 9); // back-to-back, like layers
      }
    }
  }

  @Test
  void parkedWorkersWakeUp() throws Exception {
    try (ThreadTeam team = new ThreadTeam(4)) {
      for (int rep = 0; rep < 20; rep++) {
        Thread.sleep(2); // longer than the spin: workers are parked now
        assertAllOnce(team, 3 + rep);
      }
    }
  }

  @Test
  void oneThreadRunsInline() {
    try (ThreadTeam team = new ThreadTeam(1)) {
      Thread me = Thread.currentThread();
      team.run(10, i -> assertSame(me, Thread.currentThread()));
    }
  }

  /** Two callers at once, each on its own thread alone: every task once, none on a worker, neither waits for the lock. */
  @Test
  void callersOnlyRunSideBySideOnTheirOwnThreads() throws Exception {
    try (ThreadTeam team = new ThreadTeam(4); ExecutorService pool = Executors.newFixedThreadPool(2)) {
      java.util.concurrent.CyclicBarrier both = new java.util.concurrent.CyclicBarrier(2);
      List<Future<?>> calls = new ArrayList<>();
      for (int c = 0; c < 2; c++) {
        calls.add(pool.submit(() -> ThreadTeam.onCallerOnly(() -> {
          Thread me = Thread.currentThread();
          AtomicIntegerArray hits = new AtomicIntegerArray(50);
          team.run(50, i -> {
            assertSame(me, Thread.currentThread());
            if (i == 0) {
              try {
                both.await(10, java.util.concurrent.TimeUnit.SECONDS); // both calls are inside run() at once
              } catch (Exception e) {
                throw new RuntimeException(e);
              }
            }
            hits.incrementAndGet(i);
          });
          for (int i = 0; i < 50; i++) assertEquals(1, hits.get(i), "task " + i);
        })));
      }
      for (Future<?> f : calls) f.get();
      assertAllOnce(team, 20); // the team still works for a plain call after
    }
  }

  @Test
  void workersAreNamedDaemonsAndShareTheWork() throws Exception {
    try (ThreadTeam team = new ThreadTeam(4)) {
      Set<Thread> seen = ConcurrentHashMap.newKeySet();
      team.run(64, i -> {
        seen.add(Thread.currentThread());
        try {
          Thread.sleep(2);
        } catch (InterruptedException e) {
          throw new RuntimeException(e);
        }
      });
      assertTrue(seen.size() > 1, "only " + seen);
      for (Thread t : seen) {
        if (t != Thread.currentThread()) {
          assertTrue(t.isDaemon());
          assertTrue(t.getName().matches("resnetc-[123]"), t.getName());
        }
      }
    }
  }

  @Test
  void firstExceptionPropagatesAndTeamStaysUsable() {
    try (ThreadTeam team = new ThreadTeam(4)) {
      var e = assertThrows(IllegalStateException.class, () -> team.run(100, i -> {
        if (i == 37) throw new IllegalStateException("task 37 failed");
      }));
      assertEquals("task 37 failed", e.getMessage());
      assertThrows(AssertionError.class, () -> team.run(8, i -> {
        throw new AssertionError("boom");
      }));
      assertAllOnce(team, 50);
    }
    try (ThreadTeam inline = new ThreadTeam(1)) {
      assertThrows(ArithmeticException.class, () -> inline.run(3, i -> {
        int zero = 0;
        int unused = i / zero;
      }));
    }
  }

  @Test
  void concurrentCallersEachGetAllTheirTasks() throws Exception {
    try (ThreadTeam team = new ThreadTeam(4)) {
      ExecutorService callers = Executors.newFixedThreadPool(6);
      List<Future<?>> futures = new ArrayList<>();
      for (int c = 0; c < 6; c++) {
        int tasks = 10 + c * 7;
        futures.add(callers.submit(() -> {
          for (int rep = 0; rep < 300; rep++) assertAllOnce(team, tasks);
        }));
      }
      for (Future<?> f : futures) f.get();
      callers.shutdown();
    }
  }

  @Test
  void nestedCallsRunInline() {
    try (ThreadTeam team = new ThreadTeam(3)) {
      AtomicIntegerArray hits = new AtomicIntegerArray(6 * 5);
      team.run(6, i -> team.run(5, j -> hits.incrementAndGet(i * 5 + j)));
      for (int k = 0; k < hits.length(); k++) assertEquals(1, hits.get(k));
    }
  }

  @Test
  void closedTeamRefusesWorkAndBadSizesAreRejected() {
    ThreadTeam team = new ThreadTeam(2);
    team.close();
    team.close();
    assertThrows(IllegalStateException.class, () -> team.run(3, i -> {}));
    assertThrows(IllegalArgumentException.class, () -> new ThreadTeam(0));
    int most = ThreadTeam.maxThreads();
    assertEquals(ThreadTeam.MAX_THREADS_PER_PROCESSOR * Runtime.getRuntime().availableProcessors(), most);
    int before = Thread.activeCount();
    var e = assertThrows(IllegalArgumentException.class, () -> new ThreadTeam(32768));
    assertEquals("threads must be between 1 and " + most + " (8 per available processor, " + Runtime.getRuntime().availableProcessors()
        + " here), got 32768", e.getMessage());
    assertTrue(Thread.activeCount() <= before, "no thread was started");
    try (ThreadTeam full = new ThreadTeam(most)) {
      assertEquals(most, full.threads());
    }
  }
}
