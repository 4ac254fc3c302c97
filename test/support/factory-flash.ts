// A simulated factory partition holding a built image (as the factory line would flash it).

import { SimFlash } from '../../simulator/flash/sim-flash.ts';

export function flashHolding(image: Uint8Array, size: number): SimFlash {
  const flash = new SimFlash({ size, sectorSize: 4096, programUnit: 256 });
  const padded = new Uint8Array(Math.ceil(image.length / 256) * 256).fill(0xff);
  padded.set(image);
  flash.program(0, padded);
  return flash;
}
