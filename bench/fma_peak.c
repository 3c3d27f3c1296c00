// Measures the FMA peak of one core: 12 independent accumulator chains so FMA latency is hidden.
//   gcc -O3 -march=x86-64-v3 bench/fma_peak.c -o /tmp/fma_peak && /tmp/fma_peak               # 256-bit (AVX2)
//   gcc -O3 -march=x86-64-v4 -DAVX512 bench/fma_peak.c -o /tmp/fma_peak512 && /tmp/fma_peak512  # 512-bit
// (-O3 keeps the accumulators in registers; run two copies at once for both cores.)
#include <immintrin.h>
#include <stdio.h>
#include <time.h>

#ifdef AVX512
typedef __m512 vec;
#define LANES 16
#define SET1 _mm512_set1_ps
#define FMADD _mm512_fmadd_ps
#define FIRST(v) _mm512_cvtss_f32(v)
#define NAME "avx512"
#else
typedef __m256 vec;
#define LANES 8
#define SET1 _mm256_set1_ps
#define FMADD _mm256_fmadd_ps
#define FIRST(v) _mm256_cvtss_f32(v)
#define NAME "avx2"
#endif

int main(void) {
  vec acc[12], a = SET1(0.9999999f), b = SET1(1e-7f);
  for (int i = 0; i < 12; i++) acc[i] = SET1((float) i);
  const long iters = 200000000L;
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (long n = 0; n < iters; n++) {
    for (int i = 0; i < 12; i++) acc[i] = FMADD(acc[i], a, b);
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double s = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9;
  float sink = 0;
  for (int i = 0; i < 12; i++) sink += FIRST(acc[i]);
  printf("%s_fma_peak_gflops: %.1f (one core; sink %g)\n", NAME, iters * 12.0 * LANES * 2 / s / 1e9, sink);
  return 0;
}
