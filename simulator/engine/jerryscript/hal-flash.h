/*
 * The dock's NOR flash partitions, in C: each partition's cells are its data
 * file mapped into memory, its bookkeeping (programmed units, erase counts,
 * operation counters, changed sectors) a state file Node reads back
 * (FORMAT.md, "Flash state file"). The same rules and error messages as the
 * simulator's flash (simulator/flash/sim-flash.ts).
 */
#ifndef DL7450_HAL_FLASH_H
#define DL7450_HAL_FLASH_H

#include "frames.h"

typedef struct partition partition_t;

/** Request 'A': map a partition's data and state files; 'D': forget one (its HAL calls go to Node again). */
void flash_attach(rd_t *r);
void flash_detach(rd_t *r);

/** The natively run partition a HAL argument names, or NULL (then the call goes to Node). */
partition_t *flash_partition(jerry_value_t name);
/** A read of [offset, offset + length) for hashing: counted as a read; an exception value on a bad range, else undefined. */
jerry_value_t flash_view(partition_t *p, double offset, double length, const uint8_t **cells);
void flash_count_hashed(partition_t *p, double bytes);

jerry_value_t hal_flash_geometry(const jerry_call_info_t *info, const jerry_value_t args[], jerry_length_t argc);
jerry_value_t hal_flash_read(const jerry_call_info_t *info, const jerry_value_t args[], jerry_length_t argc);
jerry_value_t hal_flash_program(const jerry_call_info_t *info, const jerry_value_t args[], jerry_length_t argc);
jerry_value_t hal_flash_erase(const jerry_call_info_t *info, const jerry_value_t args[], jerry_length_t argc);

/** Arguments as the Node HAL table reads them: Number(v), and the bytes of an ArrayBuffer (none otherwise). */
double arg_number(const jerry_value_t args[], jerry_length_t argc, jerry_length_t i);
const uint8_t *arg_bytes(const jerry_value_t args[], jerry_length_t argc, jerry_length_t i, uint32_t *n);
/** This HAL entry answered by Node (a partition with faults injected, or one not given to this host). */
jerry_value_t bridged(const char *name, const jerry_value_t args[], jerry_length_t argc);

#endif
