/*
 * Frames between the Node simulator and this host (FORMAT.md): a u32 length,
 * then the payload; values are a tag byte then their bytes. Also the one way
 * a HAL entry reaches Node when this host does not implement it (bridge).
 */
#ifndef DL7450_FRAMES_H
#define DL7450_FRAMES_H

#include <stddef.h>
#include <stdint.h>
#include "jerryscript.h"

enum { V_UNDEF = 0, V_NULL, V_FALSE, V_TRUE, V_NUMBER, V_STRING, V_BYTES, V_ARRAY, V_ERROR };

typedef struct { uint8_t *p; size_t n, cap; } buf_t;
typedef struct { const uint8_t *p; size_t at, n; } rd_t;

void frames_open(const char *from_node_path, const char *to_node_path);
int frames_to_node_fd(void);

void put(buf_t *b, const void *d, size_t n);
void put_u8(buf_t *b, uint8_t v);
void put_u32(buf_t *b, uint32_t v);
void put_string(buf_t *b, jerry_value_t s);
void put_value(buf_t *b, jerry_value_t v);
/** Send and free the buffer (never interleaved with the watchdog's frame). */
void send_frame(buf_t *b);

/** The next frame from Node (malloc'd); exits when Node went away. */
uint8_t *read_frame(uint32_t *len);
uint8_t get_u8(rd_t *r);
uint32_t get_u32(rd_t *r);
jerry_value_t get_value(rd_t *r);
/** A string value from the frame as a NUL-terminated C string (malloc'd; "" when not a string). */
char *get_cstring(rd_t *r);

/** One HAL call answered by Node: `name(args...)`; its value, or the exception Node's error becomes. */
jerry_value_t bridge(jerry_value_t name, const jerry_value_t args[], jerry_length_t argc);

/** A value's String(v) as a NUL-terminated C string (malloc'd). */
char *js_string(jerry_value_t v);
/** A number as JavaScript prints it (`${n}`), into out (at least 32 bytes). */
void js_number_text(double n, char *out, size_t size);

#endif
