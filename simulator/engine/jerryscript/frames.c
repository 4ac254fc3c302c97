/* Frames between Node and the engine host: see frames.h and FORMAT.md. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "frames.h"

static FILE *from_node; /* requests and HAL answers */
static FILE *to_node;   /* answers, HAL calls, log lines */

void frames_open(const char *from_node_path, const char *to_node_path) {
  from_node = fopen(from_node_path, "rb");
  to_node = fopen(to_node_path, "wb");
  if (!from_node || !to_node) exit(3);
}

int frames_to_node_fd(void) { return fileno(to_node); }

void put(buf_t *b, const void *d, size_t n) {
  if (b->n + n > b->cap) {
    b->cap = (b->n + n) * 2 + 64;
    b->p = realloc(b->p, b->cap);
    if (!b->p) exit(12);
  }
  memcpy(b->p + b->n, d, n);
  b->n += n;
}
void put_u8(buf_t *b, uint8_t v) { put(b, &v, 1); }
void put_u32(buf_t *b, uint32_t v) { put(b, &v, 4); }

void send_frame(buf_t *b) {
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
  b->p = NULL;
  b->n = b->cap = 0;
}

uint8_t *read_frame(uint32_t *len) {
  if (fread(len, 4, 1, from_node) != 1) exit(0); /* Node went away */
  uint8_t *p = malloc(*len ? *len : 1);
  if (!p || fread(p, 1, *len, from_node) != *len) exit(0);
  return p;
}

uint8_t get_u8(rd_t *r) { return r->at < r->n ? r->p[r->at++] : 0; }
uint32_t get_u32(rd_t *r) {
  uint32_t v = 0;
  if (r->at + 4 <= r->n) memcpy(&v, r->p + r->at, 4);
  r->at += 4;
  return v;
}

void put_string(buf_t *b, jerry_value_t s) {
  jerry_size_t n = jerry_string_size(s, JERRY_ENCODING_UTF8);
  uint8_t *tmp = malloc(n ? n : 1);
  jerry_string_to_buffer(s, JERRY_ENCODING_UTF8, tmp, n);
  put_u32(b, n);
  put(b, tmp, n);
  free(tmp);
}

void put_value(buf_t *b, jerry_value_t v) {
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

jerry_value_t get_value(rd_t *r) {
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

char *get_cstring(rd_t *r) {
  if (get_u8(r) != V_STRING) return strdup("");
  uint32_t n = get_u32(r);
  if (r->at + n > r->n) n = 0;
  char *s = malloc(n + 1);
  if (!s) exit(12);
  memcpy(s, r->p + r->at, n);
  s[n] = 0;
  r->at += n;
  return s;
}

jerry_value_t bridge(jerry_value_t name, const jerry_value_t args[], jerry_length_t argc) {
  buf_t b = { 0 };
  put_u8(&b, 'K');
  put_value(&b, name);
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

char *js_string(jerry_value_t v) {
  jerry_value_t s = jerry_value_to_string(v);
  if (jerry_value_is_exception(s)) {
    jerry_value_free(s);
    return strdup("");
  }
  jerry_size_t n = jerry_string_size(s, JERRY_ENCODING_UTF8);
  char *out = malloc(n + 1);
  if (!out) exit(12);
  jerry_string_to_buffer(s, JERRY_ENCODING_UTF8, (jerry_char_t *) out, n);
  out[n] = 0;
  jerry_value_free(s);
  return out;
}

void js_number_text(double n, char *out, size_t size) {
  jerry_value_t v = jerry_number(n);
  char *s = js_string(v);
  jerry_value_free(v);
  snprintf(out, size, "%s", s);
  free(s);
}
