/*
 * Crypto and OTP HAL entries in C on OpenSSL 3 (link -lcrypto). Each entry
 * agrees byte for byte with the simulator's Node implementation
 * (simulator/security/node-crypto.ts, flash-scripts/security/seal-crypto.ts,
 * sim-otp.ts): a box that does not open, or a key or signature of the wrong
 * size, is undefined / false, never an exception.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/opensslv.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include "hal-crypto.h"
#include "hal-flash.h"

#if OPENSSL_VERSION_MAJOR < 3
#error "the JerryScript host needs OpenSSL 3 (libssl-dev)"
#endif

static jerry_value_t bytes_value(const uint8_t *d, size_t n) {
  jerry_value_t ab = jerry_arraybuffer((jerry_length_t) n);
  if (!jerry_value_is_exception(ab) && n) memcpy(jerry_arraybuffer_data(ab), d, n);
  return ab;
}

/* ---- SHA-256 ------------------------------------------------------------- */

jerry_value_t hal_sha256(const jerry_call_info_t *info, const jerry_value_t args[], jerry_length_t argc) {
  (void) info;
  uint32_t n;
  const uint8_t *d = arg_bytes(args, argc, 0, &n);
  uint8_t md[32];
  if (!EVP_Digest(d, n, md, NULL, EVP_sha256(), NULL)) return jerry_throw_sz(JERRY_ERROR_COMMON, "SHA-256 failed (OpenSSL)");
  return bytes_value(md, 32);
}

/* sha256Flash(partition, offset, length): read in 64 KiB blocks, as NodeCrypto reads (each block one counted read). */
jerry_value_t hal_sha256_flash(const jerry_call_info_t *info, const jerry_value_t args[], jerry_length_t argc) {
  (void) info;
  partition_t *p = argc ? flash_partition(args[0]) : NULL;
  if (!p) return bridged("sha256Flash", args, argc);
  double offset = arg_number(args, argc, 1), length = arg_number(args, argc, 2);
  const double block = length < 1 ? 1 : length < 65536 ? length : 65536;
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
  for (double at = offset, left = length; left > 0;) {
    double n = left < block ? left : block;
    const uint8_t *cells = NULL;
    jerry_value_t r = flash_view(p, at, n, &cells);
    if (jerry_value_is_exception(r)) {
      EVP_MD_CTX_free(ctx);
      return r;
    }
    EVP_DigestUpdate(ctx, cells, (size_t) n);
    at += n;
    left -= n;
  }
  uint8_t md[32];
  EVP_DigestFinal_ex(ctx, md, NULL);
  EVP_MD_CTX_free(ctx);
  if (length > 0) flash_count_hashed(p, length);
  return bytes_value(md, 32);
}

/* ---- Ed25519 ------------------------------------------------------------- */

jerry_value_t hal_verify_ed25519(const jerry_call_info_t *info, const jerry_value_t args[], jerry_length_t argc) {
  (void) info;
  uint32_t nk, nm, ns;
  const uint8_t *key = arg_bytes(args, argc, 0, &nk), *msg = arg_bytes(args, argc, 1, &nm), *sig = arg_bytes(args, argc, 2, &ns);
  if (nk != 32 || ns != 64) return jerry_boolean(false);
  EVP_PKEY *pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, key, 32);
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  int ok = pk && ctx && EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pk) == 1 && EVP_DigestVerify(ctx, sig, 64, msg, nm) == 1;
  EVP_MD_CTX_free(ctx);
  EVP_PKEY_free(pk);
  return jerry_boolean(ok);
}

/* ---- OTP: the dock's fuses, from otp.json ------------------------------- */

static struct {
  int loaded;
  char path[4096];
  char dock_id[129];
  uint8_t manufacturer_key[32];
  size_t manufacturer_key_len;
  uint8_t device_secret[64];
  size_t device_secret_len;
  int factory_locked;
} otp;

/* The value after "key": in a flat JSON object of strings and booleans (what sim-otp.ts writes). */
static const char *json_field(const char *json, const char *key) {
  char quoted[64];
  snprintf(quoted, sizeof quoted, "\"%s\"", key);
  const char *at = strstr(json, quoted);
  if (!at) return NULL;
  at += strlen(quoted);
  while (*at == ' ' || *at == '\n' || *at == '\r' || *at == '\t' || *at == ':') at++;
  return at;
}

static size_t json_hex(const char *json, const char *key, uint8_t *out, size_t cap) {
  const char *at = json_field(json, key);
  if (!at || *at++ != '"') return 0;
  size_t n = 0;
  unsigned v;
  while (n < cap && at[0] != '"' && at[1] != '"' && sscanf(at, "%2x", &v) == 1) {
    out[n++] = (uint8_t) v;
    at += 2;
  }
  return n;
}

int otp_load(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return -1;
  char json[8192];
  size_t n = fread(json, 1, sizeof json - 1, f);
  fclose(f);
  json[n] = 0;
  const char *id = json_field(json, "dockId");
  if (!id || *id != '"') return -1;
  size_t k = 0;
  for (id++; *id && *id != '"' && k < sizeof otp.dock_id - 1; id++) otp.dock_id[k++] = *id;
  otp.dock_id[k] = 0;
  otp.manufacturer_key_len = json_hex(json, "manufacturerPublicKey", otp.manufacturer_key, sizeof otp.manufacturer_key);
  otp.device_secret_len = json_hex(json, "deviceSecret", otp.device_secret, sizeof otp.device_secret);
  const char *locked = json_field(json, "factoryLocked");
  otp.factory_locked = locked && strncmp(locked, "true", 4) == 0;
  snprintf(otp.path, sizeof otp.path, "%s", path);
  otp.loaded = 1;
  return 0;
}

jerry_value_t hal_otp_dock_id(const jerry_call_info_t *info, const jerry_value_t args[], jerry_length_t argc) {
  (void) info, (void) args, (void) argc;
  return jerry_string_sz(otp.dock_id);
}

jerry_value_t hal_otp_manufacturer_public_key(const jerry_call_info_t *info, const jerry_value_t args[], jerry_length_t argc) {
  (void) info, (void) args, (void) argc;
  return bytes_value(otp.manufacturer_key, otp.manufacturer_key_len);
}

jerry_value_t hal_otp_device_secret(const jerry_call_info_t *info, const jerry_value_t args[], jerry_length_t argc) {
  (void) info, (void) args, (void) argc;
  return bytes_value(otp.device_secret, otp.device_secret_len);
}

jerry_value_t hal_otp_factory_locked(const jerry_call_info_t *info, const jerry_value_t args[], jerry_length_t argc) {
  (void) info, (void) args, (void) argc;
  return jerry_boolean(otp.factory_locked);
}

/* Burning the fuse goes through Node's SimOtp (the one writer of otp.json; FORMAT.md says why); then the file is read again. */
jerry_value_t hal_otp_lock_factory(const jerry_call_info_t *info, const jerry_value_t args[], jerry_length_t argc) {
  (void) info;
  jerry_value_t out = bridged("otpLockFactory", args, argc);
  if (!jerry_value_is_exception(out) && otp_load(otp.path) != 0) otp.factory_locked = 1;
  return out;
}

/* ---- the per-dock key store (datastore/factory/FORMAT.md §8) ----------- */

/* HKDF-SHA256 (RFC 5869) of `ikm` with `salt` and `info`, 32 bytes. */
static int hkdf32(const uint8_t *ikm, size_t ikm_len, const uint8_t *salt, size_t salt_len, const char *label, uint8_t out[32]) {
  EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
  EVP_KDF_CTX *ctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
  EVP_KDF_free(kdf);
  if (!ctx) return 0;
  OSSL_PARAM params[5], *p = params;
  *p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, "SHA256", 0);
  *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *) ikm, ikm_len);
  *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *) salt, salt_len);
  *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *) label, strlen(label));
  *p = OSSL_PARAM_construct_end();
  int ok = EVP_KDF_derive(ctx, out, 32, params) == 1;
  EVP_KDF_CTX_free(ctx);
  return ok;
}

/* The dock's X25519 key: HKDF-SHA256(device secret, no salt, "dl7450 per-dock x25519 v1"). */
static EVP_PKEY *dock_key(void) {
  uint8_t d[32];
  if (!hkdf32(otp.device_secret, otp.device_secret_len, (const uint8_t *) "", 0, "dl7450 per-dock x25519 v1", d)) return NULL;
  EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, d, 32);
  memset(d, 0, sizeof d);
  return k;
}

jerry_value_t hal_per_dock_public_key(const jerry_call_info_t *info, const jerry_value_t args[], jerry_length_t argc) {
  (void) info, (void) args, (void) argc;
  EVP_PKEY *k = dock_key();
  uint8_t pub[32];
  size_t n = sizeof pub;
  int ok = k && EVP_PKEY_get_raw_public_key(k, pub, &n) == 1 && n == 32;
  EVP_PKEY_free(k);
  return ok ? bytes_value(pub, 32) : jerry_throw_sz(JERRY_ERROR_COMMON, "the per-dock key could not be derived (OpenSSL)");
}

/* X25519 with the box's ephemeral key, HKDF-SHA256(shared, salt = ephemeral | dock public, "dl7450 per-dock seal v1"), AES-256-GCM. */
static int open_box(const uint8_t *epk, const uint8_t *nonce, const uint8_t *ct, uint32_t ct_len, const uint8_t *tag, const uint8_t *aad, uint32_t aad_len, uint8_t *plain) {
  EVP_PKEY *mine = dock_key(), *theirs = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, epk, 32);
  EVP_PKEY_CTX *dh = mine && theirs ? EVP_PKEY_CTX_new(mine, NULL) : NULL;
  uint8_t shared[32], salt[64], key[32];
  size_t shared_len = sizeof shared, pub_len = 32;
  int ok = dh && EVP_PKEY_derive_init(dh) == 1 && EVP_PKEY_derive_set_peer(dh, theirs) == 1 && EVP_PKEY_derive(dh, shared, &shared_len) == 1 &&
           EVP_PKEY_get_raw_public_key(mine, salt + 32, &pub_len) == 1;
  EVP_PKEY_CTX_free(dh);
  EVP_PKEY_free(mine);
  EVP_PKEY_free(theirs);
  memcpy(salt, epk, 32);
  ok = ok && hkdf32(shared, shared_len, salt, sizeof salt, "dl7450 per-dock seal v1", key);
  EVP_CIPHER_CTX *c = ok ? EVP_CIPHER_CTX_new() : NULL;
  int n = 0, fin = 0;
  ok = c && EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1 && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, 12, NULL) == 1 &&
       EVP_DecryptInit_ex(c, NULL, NULL, key, nonce) == 1 && EVP_DecryptUpdate(c, NULL, &n, aad, (int) aad_len) == 1 &&
       EVP_DecryptUpdate(c, plain, &n, ct, (int) ct_len) == 1 && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, 16, (void *) tag) == 1 &&
       EVP_DecryptFinal_ex(c, plain + n, &fin) == 1;
  EVP_CIPHER_CTX_free(c);
  memset(shared, 0, sizeof shared);
  memset(key, 0, sizeof key);
  return ok;
}

/* openSealed(ephemeralPublicKey, nonce, ciphertext, tag, aad): the plaintext, or undefined when the box does not open. */
jerry_value_t hal_open_sealed(const jerry_call_info_t *info, const jerry_value_t args[], jerry_length_t argc) {
  (void) info;
  uint32_t ne, nn, nc, nt, na;
  const uint8_t *epk = arg_bytes(args, argc, 0, &ne), *nonce = arg_bytes(args, argc, 1, &nn), *ct = arg_bytes(args, argc, 2, &nc), *tag = arg_bytes(args, argc, 3, &nt),
                *aad = arg_bytes(args, argc, 4, &na);
  if (ne != 32 || nn != 12 || nt != 16) return jerry_undefined();
  uint8_t *plain = malloc(nc + 16);
  if (!plain) return jerry_throw_sz(JERRY_ERROR_COMMON, "out of host memory opening a sealed box");
  jerry_value_t out = open_box(epk, nonce, ct, nc, tag, aad, na, plain) ? bytes_value(plain, nc) : jerry_undefined();
  memset(plain, 0, nc + 16);
  free(plain);
  return out;
}
