// Measures the FMA peak of one core with 256-bit (AVX2) vectors: 12 independent accumulator chains so FMA latency
// is hidden. Build and run: gcc -O3 -march=x86-64-v3 bench/fma_peak.c -o /tmp/fma_peak && /tmp/fma_peak
// (-O3 keeps the accumulators in registers; run two copies at once for both cores).
#include <immintrin.h>
#include <stdio.h>
#include <time.h>

int main(void) {
  __m256 acc[12], a = _mm256_set1_ps(0.9999999f), b = _mm256_set1_ps(1e-7f);
  for (int i = 0; i < 12; i++) acc[i] = _mm256_set1_ps((float) i);
  const long iters = 200000000L;
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (long n = 0; n < iters; n++) {
    for (int i = 0; i < 12; i++) acc[i] = _mm256_fmadd_ps(acc[i], a, b);
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double s = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9;
  float sink = 0;
  for (int i = 0; i < 12; i++) sink += _mm256_cvtss_f32(acc[i]);
  printf("avx2_fma_peak_gflops: %.1f (one core; sink %g)\n", iters * 12.0 * 8 * 2 / s / 1e9, sink);
  return 0;
}
