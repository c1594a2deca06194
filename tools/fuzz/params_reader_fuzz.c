/* libFuzzer harness: the .params reader of an exported model (mxc_load_image in MODEL.c).
 * Built by run_c_fuzz.sh against the export of build_model.py:
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -DMODEL_C='"fz.c"' -I EXPORT params_reader_fuzz.c
 * Every input must be accepted or refused with FZ_EFORMAT and a message; a refused file leaves
 * the weights untouched (all or nothing). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include MODEL_C

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static fz_model* m = NULL;
  static real* before = NULL;
  if (!m) {
    if (mxc_new_model(&m)) abort();
    before = (real*)malloc(sizeof(real) * (size_t)FZ_ARENA_SIZE);
    if (!before) abort();
  }
  memcpy(before, m->mem, sizeof(real) * (size_t)FZ_ARENA_SIZE);
  int rc = mxc_load_image(m->mem, data, size, "fuzz.params");
  if (rc) {
    if (rc != FZ_EFORMAT || fz_last_error()[0] == '\0') abort();           /* a clear error */
    if (memcmp(before, m->mem, sizeof(real) * (size_t)FZ_ARENA_SIZE)) abort();  /* all or nothing */
  }
  return 0;
}
