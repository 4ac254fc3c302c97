/*
 * The dock's engine side on a desktop: JerryScript 3.0 (512 KiB heap) runs the
 * firmware bundle. The HAL entries a dock's firmware implements in C are C
 * here too: the flash partitions (hal-flash.c, on the dock directory's files),
 * SHA-256, Ed25519, the per-dock key store and OTP (hal-crypto.c, OpenSSL 3).
 * The rest (the LMDB ephemeral area, display, serial, clock, reset line) and
 * any partition run with injected faults are answered by the Node simulator
 * over two FIFOs, one synchronous call per HAL entry (frames.c). FORMAT.md
 * here lists the frames and which entry is where, and why. A fatal error (out
 * of memory) is reported as a frame, then the process exits with the
 * engine's code. The watchdog is the chip's: a script running past its time
 * resets the engine (the process ends after a 'W' frame).
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
#include "frames.h"
#include "hal-flash.h"
#include "hal-crypto.h"

/* ---- watchdog: wall-clock time of one request, as the chip's watchdog ---- */

static void watchdog_fired(int sig) {
  (void) sig;
  static const uint8_t frame[5] = { 1, 0, 0, 0, 'W' };
  if (write(frames_to_node_fd(), frame, sizeof frame) < 0) _exit(75);
  _exit(75);
}

static void watchdog_arm(uint32_t ms) {
  struct itimerval t = { { 0, 0 }, { ms / 1000, (ms % 1000) * 1000 } };
  setitimer(ITIMER_REAL, &t, NULL);
}

/* ---- HAL entries --------------------------------------------------------- */

/* The entries this host implements; Node names which of them to use ('H'), the others cross to Node. */
static const struct { const char *name; jerry_external_handler_t fn; } native_hal[] = {
  { "flashGeometry", hal_flash_geometry },
  { "flashRead", hal_flash_read },
  { "flashProgram", hal_flash_program },
  { "flashErase", hal_flash_erase },
  { "sha256", hal_sha256 },
  { "sha256Flash", hal_sha256_flash },
  { "verifyEd25519", hal_verify_ed25519 },
  { "perDockPublicKey", hal_per_dock_public_key },
  { "openSealed", hal_open_sealed },
  { "otpDockId", hal_otp_dock_id },
  { "otpManufacturerPublicKey", hal_otp_manufacturer_public_key },
  { "otpDeviceSecret", hal_otp_device_secret },
  { "otpFactoryLocked", hal_otp_factory_locked },
  { "otpLockFactory", hal_otp_lock_factory },
};

/* A HAL entry Node answers: the function carries its name. */
static jerry_value_t hal_call(const jerry_call_info_t *info, const jerry_value_t args[], const jerry_length_t argc) {
  jerry_value_t name = jerry_object_get_sz(info->function, "halName");
  jerry_value_t out = bridge(name, args, argc);
  jerry_value_free(name);
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

static jerry_external_handler_t native_entry(const char *name) {
  for (size_t i = 0; i < sizeof native_hal / sizeof native_hal[0]; i++)
    if (strcmp(native_hal[i].name, name) == 0) return native_hal[i].fn;
  return NULL;
}

/* 'H': u32 count, then per entry its name and u8 1 when this host runs it; then the OTP file (string) or undefined. */
static void install_hal(rd_t *r) {
  jerry_value_t global = jerry_current_realm();
  jerry_value_t hal = jerry_object();
  uint32_t n = get_u32(r);
  for (uint32_t i = 0; i < n; i++) {
    char *name = get_cstring(r);
    jerry_external_handler_t native = get_u8(r) ? native_entry(name) : NULL;
    jerry_value_t f = jerry_function_external(native ? native : hal_call);
    jerry_value_t key = jerry_string_sz(name);
    if (!native) jerry_value_free(jerry_object_set_sz(f, "halName", key));
    jerry_value_free(jerry_object_set(hal, key, f));
    jerry_value_free(key);
    jerry_value_free(f);
    free(name);
  }
  if (r->at < r->n && r->p[r->at] == V_STRING) {
    char *path = get_cstring(r);
    if (otp_load(path) != 0) {
      fprintf(stderr, "dl7450-jerry: cannot read the OTP file %s\n", path);
      exit(6);
    }
    free(path);
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
  frames_open(argv[1], argv[2]);
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
    } else if (op == 'A') { /* run a flash partition here, on its files */
      flash_attach(&r);
      answer(jerry_undefined(), 0);
    } else if (op == 'D') { /* hand a partition back to Node */
      flash_detach(&r);
      answer(jerry_undefined(), 0);
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
