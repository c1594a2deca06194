"""The machine's peak single-precision GFLOP/s, measured by an FMA loop in C on every core."""
import os
import subprocess
import sys
import tempfile

FMA_C = r"""
#include <stdio.h>
#include <stdlib.h>
#include <omp.h>
#if defined(__AVX512F__)
#define W 16
#elif defined(__AVX__)
#define W 8
#else
#define W 4
#endif
typedef float vec __attribute__((vector_size(W * 4)));
#define ACC 12
int main(int argc, char** argv) {
  long iters = argc > 1 ? atol(argv[1]) : 20000000L;
  double best = 0; int threads = 1;
  for (int rep = 0; rep < 3; rep++) {
    double t0 = omp_get_wtime(); float sink = 0;
#pragma omp parallel reduction(+:sink)
    {
      vec a[ACC], b, c;
      for (int k = 0; k < W; k++) { b[k] = 0.999999f; c[k] = 1e-7f; }
      for (int i = 0; i < ACC; i++) for (int k = 0; k < W; k++) a[i][k] = (float)(i + k);
      for (long it = 0; it < iters; it++)
        for (int i = 0; i < ACC; i++) a[i] = a[i] * b + c;
      for (int i = 0; i < ACC; i++) for (int k = 0; k < W; k++) sink += a[i][k];
#pragma omp single
      threads = omp_get_num_threads();
    }
    double s = omp_get_wtime() - t0;
    double g = 2.0 * W * ACC * (double)iters * threads / s / 1e9;
    if (g > best) best = g;
    if (sink == 12345.f) printf("#");
  }
  printf("%.3f %d %d\n", best, threads, W);
  return 0;
}
"""


def measure(iters=20000000):
    """(GFLOP/s, threads, vector width in floats), or None when no C compiler works."""
    cc = os.environ.get("CC", "cc")
    with tempfile.TemporaryDirectory() as d:
        src, exe = os.path.join(d, "fma.c"), os.path.join(d, "fma")
        with open(src, "w") as f:
            f.write(FMA_C)
        try:
            subprocess.run([cc, "-O3", "-march=native", "-fopenmp", src, "-o", exe],
                           check=True, capture_output=True)
            out = subprocess.run([exe, str(iters)], check=True, capture_output=True,
                                 text=True).stdout.split()
        except (OSError, subprocess.CalledProcessError) as err:
            print("peak FMA measurement failed: %s" % err, file=sys.stderr)
            return None
    return float(out[-3]), int(out[-2]), int(out[-1])


if __name__ == "__main__":
    print(measure())
