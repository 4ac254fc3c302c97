// CRC-32 (IEEE 802.3, as zlib and PNG: reflected, poly 0xEDB88320, init and
// final xor 0xFFFFFFFF; check value 0xCBF43926 for "123456789"): the bulk
// lane's frame check. CRC-16 would miss too much at 1 KiB frames.

const TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/**
 * Continue a CRC over more bytes, zlib style: `crc` is a finished CRC-32 of
 * what came before (0 for nothing), the result the finished CRC-32 of it all.
 */
export function crc32Update(crc: number, bytes: Uint8Array, start = 0, end = bytes.length): number {
  let c = ~crc;
  for (let i = start; i < end; i++) c = TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

export function crc32(bytes: Uint8Array, start = 0, end = bytes.length): number {
  return crc32Update(0, bytes, start, end);
}
