/* libFuzzer harness: the data readers and option parsers of an exported trainer (MODEL_train.c).
 * Built by run_c_fuzz.sh against the export of build_model.py:
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -DTRAIN_C='"fz_train.c"' -I EXPORT \
 *         data_reader_fuzz.c EXPORT/fz.c -lm
 * The first byte picks the reader: 'c' CSV (second byte: label column), 'i' IDX, 'r' raw
 * (for the two-file formats the next 4 bytes split the rest into data and labels), 'a' the
 * numeric option parsers. A read either fails with a message and no data, or gives n rows
 * whose every value is readable. */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define main mxc_trainer_main
#include TRAIN_C
#undef main

static volatile real mxc_sink;

/* touches every value of a set that was read, so a short buffer is an ASan finding */
static void mxc_check_set(int rc, mxc_set* s) {
  if (rc) {
    if (s->x || s->y || s->n) abort();
    return;
  }
  if (s->n < 0 || (s->n && (!s->x || !s->y))) abort();
  real acc = 0;
  for (int64_t i = 0; i < s->n * FZ_INPUT_ROW; i++) acc += s->x[i];
  for (int64_t i = 0; i < s->n; i++) acc += s->y[i];
  mxc_sink = acc;
  mxc_set_free(s);
}

static void mxc_fuzz_csv(const uint8_t* d, size_t n) {
  if (n < 1) return;
  mxc_set s = { NULL, NULL, 0 };
  FILE* f = fmemopen((void*)(d + 1), n - 1, "r");
  if (!f) return;
  mxc_check_set(mxc_parse_csv(f, "fuzz.csv", d[0] % (FZ_INPUT_ROW + 1), &s), &s);
  fclose(f);
}

/* splits d into a first and a second file at the offset in its first 4 bytes */
static int mxc_split(const uint8_t* d, size_t n, const uint8_t** a, size_t* la, const uint8_t** b, size_t* lb) {
  if (n < 4) return -1;
  size_t cut = (size_t)mxc_le(d, 4) % (n - 4 + 1);
  *a = d + 4; *la = cut;
  *b = d + 4 + cut; *lb = n - 4 - cut;
  return 0;
}

static void mxc_fuzz_pair(const uint8_t* d, size_t n, int idx) {
  const uint8_t *a, *b;
  size_t la, lb;
  mxc_set s = { NULL, NULL, 0 };
  if (mxc_split(d, n, &a, &la, &b, &lb)) return;
  /* private copies: the readers get buffers of exactly the file's size */
  unsigned char* ca = (unsigned char*)malloc(la + 1);
  unsigned char* cb = (unsigned char*)malloc(lb + 1);
  if (ca && cb) {
    memcpy(ca, a, la);
    memcpy(cb, b, lb);
    int rc = idx ? mxc_parse_idx(ca, la, "fuzz-images", cb, lb, "fuzz-labels", &s)
                 : mxc_parse_raw(ca, la, "fuzz-data", cb, lb, "fuzz-labels", &s);
    mxc_check_set(rc, &s);
  }
  free(ca); free(cb);
}

static void mxc_fuzz_args(const uint8_t* d, size_t n) {
  char* v = (char*)malloc(n + 1);
  long long x = 0, a = 0, b = 0;
  double r = 0;
  if (!v) return;
  memcpy(v, d, n);
  v[n] = '\0';
  if (!mxc_int_arg("--epochs", v, 0, MXC_MAX_EPOCH, &x) && (x < 0 || x > MXC_MAX_EPOCH)) abort();
  if (!mxc_real_arg("--lr", v, &r) && !(r == r && r - r == 0)) abort();
  if (!mxc_parse_range(v, 1000, &a, &b) && !(0 <= a && a < b && b <= 1000)) abort();
  free(v);
}

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  switch (data[0]) {
    case 'c': mxc_fuzz_csv(data + 1, size - 1); break;
    case 'i': mxc_fuzz_pair(data + 1, size - 1, 1); break;
    case 'r': mxc_fuzz_pair(data + 1, size - 1, 0); break;
    case 'a': mxc_fuzz_args(data + 1, size - 1); break;
    default: break;
  }
  return 0;
}
