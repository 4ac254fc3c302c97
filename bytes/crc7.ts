// CRC-7/MMC (poly x^7 + x^3 + 1, init 0, not reflected): the runtime store's
// one-byte key check. Unlike a byte cut from CRC-32, a CRC catches every
// single-bit error (and every two-bit error within 127 bits, the polynomial
// being primitive); seven bits leave 0x80..0xFF free to mean "no check".

const TABLE = (() => {
  const t = new Uint8Array(256);
  for (let n = 0; n < 256; n++) {
    // The register is kept left-aligned in 8 bits (crc << 1), so a byte is folded in whole.
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 0x80 ? ((c << 1) ^ (0x09 << 1)) & 0xff : (c << 1) & 0xff;
    t[n] = c;
  }
  return t;
})();

export function crc7(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let c = 0; // left-aligned: the CRC is c >> 1
  for (let i = start; i < end; i++) c = TABLE[c ^ bytes[i]];
  return c >> 1;
}
