/*
 * Flash HAL entries run in C, as a dock's firmware runs them: NOR rules
 * (erase sets 0xFF, program only clears bits, whole program units, each unit
 * once between erases when strict) on the partition's data file, mapped
 * shared so every completed program or erase is in the file when the call
 * returns. Counters and changed sectors go to the state file for Node.
 */
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include "hal-flash.h"

/* State file header: f64 counters, in this order (FORMAT.md). */
enum { C_READS, C_BYTES_READ, C_PROGRAMS, C_BYTES_PROGRAMMED, C_ERASES, C_MUTATING_OPS, C_PAGE_TOUCHES, C_BYTES_HASHED };
#define STATE_HEADER 128

struct partition {
  char *name;
  uint8_t *cells;
  size_t size;
  uint32_t sector_size, program_unit, page_size, timing_page;
  int strict;
  uint8_t *state;
  size_t state_size;
  double *counters;
  uint8_t *dirty;
  uint32_t *erase_counts;
  uint8_t *programmed;
};

#define MAX_PARTITIONS 8
static partition_t partitions[MAX_PARTITIONS];

static void *map_file(const char *path, size_t expected, size_t *size) {
  int fd = open(path, O_RDWR);
  if (fd < 0) return NULL;
  struct stat st;
  void *m = MAP_FAILED;
  if (fstat(fd, &st) == 0 && (expected == 0 || (size_t) st.st_size == expected) && st.st_size > 0) {
    m = mmap(NULL, (size_t) st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    *size = (size_t) st.st_size;
  }
  close(fd);
  return m == MAP_FAILED ? NULL : m;
}

static void forget(partition_t *p) {
  if (p->cells) munmap(p->cells, p->size);
  if (p->state) munmap(p->state, p->state_size);
  free(p->name);
  memset(p, 0, sizeof *p);
}

/* 'A': string name, string data file, string state file, u32 size, sector size, program unit, page size, timing page, u8 strict. */
void flash_attach(rd_t *r) {
  char *name = get_cstring(r), *data = get_cstring(r), *state = get_cstring(r);
  partition_t n = { 0 };
  n.size = get_u32(r);
  n.sector_size = get_u32(r);
  n.program_unit = get_u32(r);
  n.page_size = get_u32(r);
  n.timing_page = get_u32(r);
  n.strict = get_u8(r);
  n.name = name;
  size_t got;
  n.cells = map_file(data, n.size, &got);
  n.state = map_file(state, 0, &n.state_size);
  size_t sectors = n.size / n.sector_size;
  size_t at_counts = STATE_HEADER + ((sectors + 3) & ~(size_t) 3);
  if (!n.cells || !n.state || n.state_size < at_counts + sectors * 4 + n.size / n.program_unit) {
    fprintf(stderr, "dl7450-jerry: cannot map flash partition %s (%s, %s)\n", name, data, state);
    exit(5);
  }
  n.counters = (double *) n.state;
  n.dirty = n.state + STATE_HEADER;
  n.erase_counts = (uint32_t *) (n.state + at_counts);
  n.programmed = n.state + at_counts + sectors * 4;
  free(data);
  free(state);
  partition_t *slot = NULL;
  for (int i = 0; i < MAX_PARTITIONS; i++) {
    if (partitions[i].name && strcmp(partitions[i].name, name) == 0) forget(&partitions[i]);
    if (!partitions[i].name && !slot) slot = &partitions[i];
  }
  if (!slot) exit(5);
  *slot = n;
}

void flash_detach(rd_t *r) {
  char *name = get_cstring(r);
  for (int i = 0; i < MAX_PARTITIONS; i++)
    if (partitions[i].name && strcmp(partitions[i].name, name) == 0) forget(&partitions[i]);
  free(name);
}

partition_t *flash_partition(jerry_value_t name) {
  char *s = js_string(name);
  partition_t *found = NULL;
  for (int i = 0; i < MAX_PARTITIONS && !found; i++)
    if (partitions[i].name && strcmp(partitions[i].name, s) == 0) found = &partitions[i];
  free(s);
  return found;
}

double arg_number(const jerry_value_t args[], jerry_length_t argc, jerry_length_t i) {
  if (i >= argc) return NAN;
  jerry_value_t n = jerry_value_to_number(args[i]);
  double d = jerry_value_is_exception(n) ? NAN : jerry_value_as_number(n);
  jerry_value_free(n);
  return d;
}

const uint8_t *arg_bytes(const jerry_value_t args[], jerry_length_t argc, jerry_length_t i, uint32_t *n) {
  if (i >= argc || !jerry_value_is_arraybuffer(args[i])) {
    *n = 0;
    return (const uint8_t *) "";
  }
  *n = jerry_arraybuffer_size(args[i]);
  return jerry_arraybuffer_data(args[i]);
}

jerry_value_t bridged(const char *name, const jerry_value_t args[], jerry_length_t argc) {
  jerry_value_t n = jerry_string_sz(name);
  jerry_value_t out = bridge(n, args, argc);
  jerry_value_free(n);
  return out;
}

/* A FlashError as it crosses to the bundle: "FLASH:<code>:<at>:<message>" (hal-functions.ts halErrorMessage). */
static jerry_value_t fault(const char *code, double at, const char *fmt, ...) {
  char message[256], where[32], text[320];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(message, sizeof message, fmt, ap);
  va_end(ap);
  js_number_text(at, where, sizeof where);
  snprintf(text, sizeof text, "FLASH:%s:%s:%s", code, where, message);
  return jerry_throw_sz(JERRY_ERROR_COMMON, text);
}

static int is_integer(double d) { return isfinite(d) && floor(d) == d; }

static jerry_value_t check_range(partition_t *p, double offset, double length) {
  if (!is_integer(offset) || offset < 0 || length < 0 || offset + length > (double) p->size) {
    char o[32], l[32];
    js_number_text(offset, o, sizeof o);
    js_number_text(length, l, sizeof l);
    return fault("out-of-range", offset, "range %s+%s is outside the %zu-byte partition", o, l, p->size);
  }
  return 0;
}

/* A program or erase is not cut in half by the watchdog's reset: it lands whole, then the reset comes. */
static void hold_watchdog(sigset_t *old) {
  sigset_t alarm;
  sigemptyset(&alarm);
  sigaddset(&alarm, SIGALRM);
  sigprocmask(SIG_BLOCK, &alarm, old);
}

static void mark_dirty(partition_t *p, size_t from, size_t length) {
  if (!length) return;
  for (size_t s = from / p->sector_size; s <= (from + length - 1) / p->sector_size; s++) p->dirty[s] = 1;
}

jerry_value_t flash_view(partition_t *p, double offset, double length, const uint8_t **cells) {
  jerry_value_t bad = check_range(p, offset, length);
  if (bad) return bad;
  *cells = p->cells + (size_t) offset;
  p->counters[C_READS]++;
  p->counters[C_BYTES_READ] += length;
  return jerry_undefined();
}

void flash_count_hashed(partition_t *p, double bytes) { p->counters[C_BYTES_HASHED] += bytes; }

/* flashGeometry(partition): [size, sectorSize, programUnit, pageSize]. */
jerry_value_t hal_flash_geometry(const jerry_call_info_t *info, const jerry_value_t args[], jerry_length_t argc) {
  (void) info;
  partition_t *p = argc ? flash_partition(args[0]) : NULL;
  if (!p) return bridged("flashGeometry", args, argc);
  double v[4] = { (double) p->size, p->sector_size, p->program_unit, p->page_size };
  jerry_value_t a = jerry_array(4);
  for (uint32_t i = 0; i < 4; i++) {
    jerry_value_t n = jerry_number(v[i]);
    jerry_value_free(jerry_object_set_index(a, i, n));
    jerry_value_free(n);
  }
  return a;
}

/* flashRead(partition, offset, length): a new ArrayBuffer of the cells. */
jerry_value_t hal_flash_read(const jerry_call_info_t *info, const jerry_value_t args[], jerry_length_t argc) {
  (void) info;
  partition_t *p = argc ? flash_partition(args[0]) : NULL;
  if (!p) return bridged("flashRead", args, argc);
  double offset = arg_number(args, argc, 1), length = arg_number(args, argc, 2);
  if (!is_integer(length) || length < 0 || length > 0xffffffffu) {
    char l[32], m[64];
    js_number_text(length, l, sizeof l);
    snprintf(m, sizeof m, "Invalid typed array length: %s", l);
    return jerry_throw_sz(JERRY_ERROR_RANGE, m);
  }
  const uint8_t *cells = NULL;
  jerry_value_t bad = flash_view(p, offset, length, &cells);
  if (jerry_value_is_exception(bad)) return bad;
  jerry_value_t out = jerry_arraybuffer((jerry_length_t) length);
  if (!jerry_value_is_exception(out) && length > 0) memcpy(jerry_arraybuffer_data(out), cells, (size_t) length);
  return out;
}

/* flashProgram(partition, offset, bytes): clear bits, whole program units, each unit once per erase when strict. */
jerry_value_t hal_flash_program(const jerry_call_info_t *info, const jerry_value_t args[], jerry_length_t argc) {
  (void) info;
  partition_t *p = argc ? flash_partition(args[0]) : NULL;
  if (!p) return bridged("flashProgram", args, argc);
  double offset = arg_number(args, argc, 1);
  uint32_t n;
  const uint8_t *data = arg_bytes(args, argc, 2, &n);
  jerry_value_t bad = check_range(p, offset, n);
  if (bad) return bad;
  size_t at = (size_t) offset, u = p->program_unit;
  if (at % u || n % u) return fault("misaligned", offset, "program at %zu of %u bytes is not on %zu-byte program units", at, n, u);
  for (size_t i = 0; i < n; i++) {
    uint8_t cell = p->cells[at + i];
    if ((cell & data[i]) != data[i]) return fault("set-bit", (double) (at + i), "program would set a bit at %zu (cell 0x%x, data 0x%x): erase the sector first", at + i, cell, data[i]);
  }
  if (p->strict)
    for (size_t k = 0; k < n / u; k++)
      if (p->programmed[at / u + k]) return fault("reprogram", (double) (at + k * u), "unit at %zu was already programmed since its sector was erased", at + k * u);
  p->counters[C_MUTATING_OPS]++;
  /* The time model pays per chip page touched (timing.ts programTimeUs). */
  for (size_t o = at; o < at + n;) {
    size_t page_end = (o / p->timing_page + 1) * p->timing_page;
    o = page_end < at + n ? page_end : at + n;
    p->counters[C_PAGE_TOUCHES]++;
  }
  sigset_t old;
  hold_watchdog(&old);
  mark_dirty(p, at, n);
  for (size_t i = 0; i < n; i++) p->cells[at + i] &= data[i];
  memset(p->programmed + at / u, 1, n / u);
  p->counters[C_PROGRAMS]++;
  p->counters[C_BYTES_PROGRAMMED] += n;
  sigprocmask(SIG_SETMASK, &old, NULL);
  return jerry_undefined();
}

/* flashErase(partition, sector): every byte 0xFF, its units programmable again. */
jerry_value_t hal_flash_erase(const jerry_call_info_t *info, const jerry_value_t args[], jerry_length_t argc) {
  (void) info;
  partition_t *p = argc ? flash_partition(args[0]) : NULL;
  if (!p) return bridged("flashErase", args, argc);
  double index = arg_number(args, argc, 1);
  size_t sectors = p->size / p->sector_size;
  if (!is_integer(index) || index < 0 || index >= (double) sectors) {
    char i[32];
    js_number_text(index, i, sizeof i);
    return fault("out-of-range", index, "sector %s is outside the partition (0..%zu)", i, sectors - 1);
  }
  size_t s = (size_t) index, start = s * p->sector_size;
  sigset_t old;
  hold_watchdog(&old);
  p->dirty[s] = 1;
  p->counters[C_MUTATING_OPS]++;
  memset(p->cells + start, 0xff, p->sector_size);
  memset(p->programmed + start / p->program_unit, 0, p->sector_size / p->program_unit);
  p->erase_counts[s]++;
  p->counters[C_ERASES]++;
  sigprocmask(SIG_SETMASK, &old, NULL);
  return jerry_undefined();
}
