/*
 * The dock's crypto engine and fuses in C on OpenSSL 3: SHA-256 (of bytes and
 * of flash), Ed25519 verify, the per-dock X25519 key store
 * (datastore/factory/FORMAT.md §8), and OTP read from the dock's otp.json.
 */
#ifndef DL7450_HAL_CRYPTO_H
#define DL7450_HAL_CRYPTO_H

#include "frames.h"

/** Read the dock's fuses from its OTP file (as simulator/security/sim-otp.ts writes it); 0 on success. */
int otp_load(const char *path);

jerry_value_t hal_sha256(const jerry_call_info_t *info, const jerry_value_t args[], jerry_length_t argc);
jerry_value_t hal_sha256_flash(const jerry_call_info_t *info, const jerry_value_t args[], jerry_length_t argc);
jerry_value_t hal_verify_ed25519(const jerry_call_info_t *info, const jerry_value_t args[], jerry_length_t argc);
jerry_value_t hal_per_dock_public_key(const jerry_call_info_t *info, const jerry_value_t args[], jerry_length_t argc);
jerry_value_t hal_open_sealed(const jerry_call_info_t *info, const jerry_value_t args[], jerry_length_t argc);
jerry_value_t hal_otp_dock_id(const jerry_call_info_t *info, const jerry_value_t args[], jerry_length_t argc);
jerry_value_t hal_otp_manufacturer_public_key(const jerry_call_info_t *info, const jerry_value_t args[], jerry_length_t argc);
jerry_value_t hal_otp_device_secret(const jerry_call_info_t *info, const jerry_value_t args[], jerry_length_t argc);
jerry_value_t hal_otp_factory_locked(const jerry_call_info_t *info, const jerry_value_t args[], jerry_length_t argc);
jerry_value_t hal_otp_lock_factory(const jerry_call_info_t *info, const jerry_value_t args[], jerry_length_t argc);

#endif
