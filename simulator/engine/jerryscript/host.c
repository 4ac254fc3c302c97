/*
 * The dock's engine side on a desktop: JerryScript 3.0 (512 KiB heap) runs the
 * firmware bundle; every __hal function is answered by the Node simulator
 * (flash files with NOR rules, crypto, OTP, the LMDB ephemeral area, display,
 * serial, clock) over two FIFOs, one synchronous call per HAL entry, so the
 * engine sees exactly what the QuickJS host gives it. See FORMAT.md here for
 * the frames. A fatal error (out of memory) is reported as a frame, then the
 * process exits with the engine's code. The watchdog is the chip's: a script
 * running past its time resets the engine (the process ends after a 'W' frame).
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/time.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include "jerryscript.h"
#include "jerryscript-port.h"
#include "jerryscript-snapshot.h"

static FILE *from_node; /* requests and HAL answers */
static FILE *to_node;   /* answers, HAL calls, log lines */

enum { V_UNDEF = 0, V_NULL, V_FALSE, V_TRUE, V_NUMBER, V_STRING, V_BYTES, V_ARRAY, V_ERROR };

/* ---- frames: u32 length, then the payload ------------------------------ */

typedef struct { uint8_t *p; size_t n, cap; } buf_t;

static void put(buf_t *b, const void *d, size_t n) {
  if (b->n + n > b->cap) {
    b->cap = (b->n + n) * 2 + 64;
    b->p = realloc(b->p, b->cap);
    if (!b->p) exit(12);
  }
  memcpy(b->p + b->n, d, n);
  b->n += n;
}
static void put_u8(buf_t *b, uint8_t v) { put(b, &v, 1); }
static void put_u32(buf_t *b, uint32_t v) { put(b, &v, 4); }

static void send_frame(buf_t *b) {
  /* The watchdog's frame must never land inside another one. */
  sigset_t alarm, old;
  sigemptyset(&alarm);
  sigaddset(&alarm, SIGALRM);
  sigprocmask(SIG_BLOCK, &alarm, &old);
  uint32_t n = (uint32_t) b->n;
  fwrite(&n, 4, 1, to_node);
  fwrite(b->p, 1, b->n, to_node);
  fflush(to_node);
  sigprocmask(SIG_SETMASK, &old, NULL);
  free(b->p);
}

/* ---- watchdog: wall-clock time of one request, as the chip's watchdog ---- */

static void watchdog_fired(int sig) {
  (void) sig;
  static const uint8_t frame[5] = { 1, 0, 0, 0, 'W' };
  if (write(fileno(to_node), frame, sizeof frame) < 0) _exit(75);
  _exit(75);
}

static void watchdog_arm(uint32_t ms) {
  struct itimerval t = { { 0, 0 }, { ms / 1000, (ms % 1000) * 1000 } };
  setitimer(ITIMER_REAL, &t, NULL);
}

static uint8_t *read_frame(uint32_t *len) {
  if (fread(len, 4, 1, from_node) != 1) exit(0); /* Node went away */
  uint8_t *p = malloc(*len ? *len : 1);
  if (!p || fread(p, 1, *len, from_node) != *len) exit(0);
  return p;
}

typedef struct { const uint8_t *p; size_t at, n; } rd_t;
static uint8_t get_u8(rd_t *r) { return r->at < r->n ? r->p[r->at++] : 0; }
static uint32_t get_u32(rd_t *r) {
  uint32_t v = 0;
  if (r->at + 4 <= r->n) memcpy(&v, r->p + r->at, 4);
  r->at += 4;
  return v;
}

/* ---- values between engine and Node ------------------------------------ */

static void put_string(buf_t *b, jerry_value_t s) {
  jerry_size_t n = jerry_string_size(s, JERRY_ENCODING_UTF8);
  uint8_t *tmp = malloc(n ? n : 1);
  jerry_string_to_buffer(s, JERRY_ENCODING_UTF8, tmp, n);
  put_u32(b, n);
  put(b, tmp, n);
  free(tmp);
}

static void put_value(buf_t *b, jerry_value_t v) {
  if (jerry_value_is_undefined(v)) put_u8(b, V_UNDEF);
  else if (jerry_value_is_null(v)) put_u8(b, V_NULL);
  else if (jerry_value_is_boolean(v)) put_u8(b, jerry_value_is_true(v) ? V_TRUE : V_FALSE);
  else if (jerry_value_is_number(v)) {
    double d = jerry_value_as_number(v);
    put_u8(b, V_NUMBER);
    put(b, &d, 8);
  } else if (jerry_value_is_string(v)) {
    put_u8(b, V_STRING);
    put_string(b, v);
  } else if (jerry_value_is_arraybuffer(v)) {
    jerry_length_t n = jerry_arraybuffer_size(v);
    put_u8(b, V_BYTES);
    put_u32(b, n);
    put(b, jerry_arraybuffer_data(v), n);
  } else if (jerry_value_is_array(v)) {
    uint32_t n = jerry_array_length(v);
    put_u8(b, V_ARRAY);
    put_u32(b, n);
    for (uint32_t i = 0; i < n; i++) {
      jerry_value_t e = jerry_object_get_index(v, i);
      put_value(b, e);
      jerry_value_free(e);
    }
  } else {
    jerry_value_t s = jerry_value_to_string(v);
    put_u8(b, V_STRING);
    put_string(b, s);
    jerry_value_free(s);
  }
}

static jerry_value_t get_value(rd_t *r) {
  uint8_t tag = get_u8(r);
  switch (tag) {
    case V_NULL: return jerry_null();
    case V_FALSE: return jerry_boolean(false);
    case V_TRUE: return jerry_boolean(true);
    case V_NUMBER: {
      double d = 0;
      if (r->at + 8 <= r->n) memcpy(&d, r->p + r->at, 8);
      r->at += 8;
      return jerry_number(d);
    }
    case V_STRING:
    case V_ERROR: {
      uint32_t n = get_u32(r);
      jerry_value_t s = jerry_string((const jerry_char_t *) r->p + r->at, n, JERRY_ENCODING_UTF8);
      r->at += n;
      if (tag == V_STRING) return s;
      jerry_value_t e = jerry_error(JERRY_ERROR_COMMON, s);
      jerry_value_free(s);
      return jerry_throw_value(e, true);
    }
    case V_BYTES: {
      uint32_t n = get_u32(r);
      jerry_value_t ab = jerry_arraybuffer(n);
      if (jerry_value_is_exception(ab)) return ab;
      if (n) memcpy(jerry_arraybuffer_data(ab), r->p + r->at, n);
      r->at += n;
      return ab;
    }
    case V_ARRAY: {
      uint32_t n = get_u32(r);
      jerry_value_t a = jerry_array(n);
      for (uint32_t i = 0; i < n; i++) {
        jerry_value_t e = get_value(r);
        jerry_value_free(jerry_object_set_index(a, i, e));
        jerry_value_free(e);
      }
      return a;
    }
    default: return jerry_undefined();
  }
}

/* ---- HAL entries: each one call to the Node side ----------------------- */

static jerry_value_t hal_call(const jerry_call_info_t *info, const jerry_value_t args[], const jerry_length_t argc) {
  jerry_value_t name = jerry_object_get_sz(info->function, "halName");
  buf_t b = { 0 };
  put_u8(&b, 'K');
  put_value(&b, name);
  jerry_value_free(name);
  put_u32(&b, argc);
  for (jerry_length_t i = 0; i < argc; i++) put_value(&b, args[i]);
  send_frame(&b);
  uint32_t len;
  uint8_t *frame = read_frame(&len);
  rd_t r = { frame, 0, len };
  jerry_value_t out = get_value(&r);
  free(frame);
  return out;
}

static jerry_value_t console_log(const jerry_call_info_t *info, const jerry_value_t args[], const jerry_length_t argc) {
  (void) info;
  buf_t b = { 0 };
  put_u8(&b, 'L');
  put_u32(&b, argc);
  for (jerry_length_t i = 0; i < argc; i++) put_value(&b, args[i]);
  send_frame(&b);
  return jerry_undefined();
}

static void install_hal(rd_t *r) {
  jerry_value_t global = jerry_current_realm();
  jerry_value_t hal = jerry_object();
  uint32_t n = get_u32(r);
  for (uint32_t i = 0; i < n; i++) {
    jerry_value_t name = get_value(r);
    jerry_value_t f = jerry_function_external(hal_call);
    jerry_value_free(jerry_object_set_sz(f, "halName", name));
    jerry_value_free(jerry_object_set(hal, name, f));
    jerry_value_free(f);
    jerry_value_free(name);
  }
  jerry_value_free(jerry_object_set_sz(global, "__hal", hal));
  jerry_value_t console = jerry_object();
  jerry_value_t log = jerry_function_external(console_log);
  jerry_value_free(jerry_object_set_sz(console, "log", log));
  jerry_value_free(jerry_object_set_sz(console, "error", log));
  jerry_value_free(jerry_object_set_sz(global, "console", console));
  jerry_value_free(log);
  jerry_value_free(console);
  jerry_value_free(hal);
  jerry_value_free(global);
}

/* ---- answers ----------------------------------------------------------- */

static void answer(jerry_value_t result, int as_json) {
  buf_t b = { 0 };
  if (jerry_value_is_exception(result)) {
    jerry_value_t err = jerry_exception_value(result, false);
    jerry_value_t msg = jerry_value_to_string(err);
    put_u8(&b, 'X');
    put_u8(&b, V_STRING);
    put_string(&b, msg);
    jerry_value_free(msg);
    jerry_value_free(err);
  } else {
    put_u8(&b, 'R');
    if (as_json && !jerry_value_is_undefined(result)) {
      jerry_value_t json = jerry_json_stringify(result);
      put_value(&b, jerry_value_is_exception(json) ? jerry_undefined() : json);
      jerry_value_free(json);
    } else put_value(&b, result);
  }
  send_frame(&b);
}

static void heap_stats(void) {
  jerry_heap_stats_t s = { 0 };
  jerry_heap_stats(&s);
  buf_t b = { 0 };
  double v[3] = { (double) s.allocated_bytes, (double) s.peak_allocated_bytes, (double) s.size };
  put_u8(&b, 'R');
  put_u8(&b, V_ARRAY);
  put_u32(&b, 3);
  for (int i = 0; i < 3; i++) {
    put_u8(&b, V_NUMBER);
    put(&b, &v[i], 8);
  }
  send_frame(&b);
}

/* ---- the firmware from flash: literal list and static snapshot --------- */

/*
 * The literal list (jerry-snapshot litdump's list format: "<bytes> <text>\n"
 * per string) is registered as external magic strings before the engine
 * makes any string, so a static snapshot's constants resolve to it. On a dock
 * both stay in flash; here they are read once and never freed, like flash.
 */
static void register_literals(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) exit(4);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *list = malloc((size_t) n + 1);
  if (!list || fread(list, 1, (size_t) n, f) != (size_t) n) exit(4);
  fclose(f);
  list[n] = 0;
  uint32_t count = 0;
  for (char *p = list; p < list + n;) {
    char *text;
    long len = strtol(p, &text, 10);
    if (len <= 0) break;
    count++;
    p = text + 1 + len + 1;
  }
  const jerry_char_t **items = malloc(sizeof *items * (count ? count : 1));
  jerry_length_t *lengths = malloc(sizeof *lengths * (count ? count : 1));
  char *p = list;
  for (uint32_t i = 0; i < count; i++) {
    char *text;
    lengths[i] = (jerry_length_t) strtol(p, &text, 10);
    items[i] = (const jerry_char_t *) text + 1;
    p = text + 1 + lengths[i] + 1;
  }
  if (count) jerry_register_magic_strings(items, count, lengths);
}

/* A static snapshot runs in place: its bytes must outlive the engine (they are the dock's flash). */
static jerry_value_t run_snapshot(const uint8_t *bytes, uint32_t n) {
  uint32_t *flash = malloc(n ? n : 4);
  memcpy(flash, bytes, n);
  return jerry_exec_snapshot(flash, n, 0, JERRY_SNAPSHOT_EXEC_ALLOW_STATIC, NULL);
}

/* The engine's fatal errors (out of memory: code 10) end the process; Node is told first. */
void jerry_port_fatal(jerry_fatal_code_t code) {
  buf_t b = { 0 };
  put_u8(&b, 'F');
  put_u32(&b, (uint32_t) code);
  send_frame(&b);
  exit((int) code);
}

int main(int argc, char **argv) {
  if (argc != 3 && argc != 4) {
    fprintf(stderr, "usage: dl7450-jerry <fifo from node> <fifo to node> [literal list]\n");
    return 2;
  }
  from_node = fopen(argv[1], "rb");
  to_node = fopen(argv[2], "wb");
  if (!from_node || !to_node) return 3;
  signal(SIGALRM, watchdog_fired);
  jerry_init(JERRY_INIT_EMPTY);
  if (argc == 4) register_literals(argv[3]);
  for (;;) {
    uint32_t len;
    uint8_t *frame = read_frame(&len);
    rd_t r = { frame, 0, len };
    uint8_t op = get_u8(&r);
    if (op == 'H') {
      install_hal(&r);
      answer(jerry_undefined(), 0);
    } else if (op == 'E') { /* run a script (global scope, like a <script>); the result crosses as JSON */
      watchdog_arm(get_u32(&r));
      uint32_t n = get_u32(&r);
      jerry_value_t script = jerry_parse(r.p + r.at, n > len - r.at ? len - r.at : n, NULL);
      jerry_value_t res = jerry_value_is_exception(script) ? jerry_value_copy(script) : jerry_run(script);
      watchdog_arm(0);
      answer(res, 1);
      jerry_value_free(res);
      jerry_value_free(script);
    } else if (op == 'P') { /* run the firmware's static snapshot (bytes), in place */
      watchdog_arm(get_u32(&r));
      uint32_t n = get_u32(&r);
      jerry_value_t res = run_snapshot(r.p + r.at, n > len - r.at ? len - r.at : n);
      watchdog_arm(0);
      answer(res, 1);
      jerry_value_free(res);
    } else if (op == 'C') { /* call dl7450.<name>(bytes) */
      watchdog_arm(get_u32(&r));
      jerry_value_t name = get_value(&r);
      jerry_value_t arg = get_value(&r);
      jerry_value_t global = jerry_current_realm();
      jerry_value_t ns = jerry_object_get_sz(global, "dl7450");
      jerry_value_t fn = jerry_object_get(ns, name);
      jerry_value_t res = jerry_call(fn, ns, &arg, 1);
      watchdog_arm(0);
      answer(res, 0);
      jerry_value_free(res);
      jerry_value_free(fn);
      jerry_value_free(ns);
      jerry_value_free(global);
      jerry_value_free(arg);
      jerry_value_free(name);
    } else if (op == 'S') heap_stats();
    else if (op == 'Q') {
      free(frame);
      break;
    }
    free(frame);
  }
  jerry_cleanup();
  return 0;
}
