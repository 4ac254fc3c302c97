// The splash screen through the HAL display. A background given as a token is
// streamed from its tier in 4 KiB pieces: the image never sits whole in the
// script heap. Bytes given directly are checked first.

import { checkImage } from '../images/image-check.ts';
import { isImageType, type ImageType } from '../images/image-type.ts';
import { ImageStore, type ImageToken } from '../datastore/image-store.ts';
import { hostHal } from './host-hal.ts';

const CHUNK = 4096;
/** Text boxes on the screen now, by id. */
const shown: number[] = [];

function isToken(x: unknown): x is ImageToken {
  return typeof x === 'object' && x !== null && !(x instanceof Uint8Array) && typeof (x as ImageToken).tag === 'string';
}

export class Splashscreen {
  private static nextText = 1;
  /** The vendor SDK's name for setBackground (the same function). */
  declare static set_background: typeof Splashscreen.setBackground;

  static setBackground(image: ImageToken | Uint8Array, type?: ImageType): void {
    const hal = hostHal();
    if (isToken(image)) {
      const store = new ImageStore();
      const piece = new Uint8Array(CHUNK);
      hal.displayBegin(image.size, image.type);
      for (let at = 0; at < image.size; at += CHUNK) {
        const n = store.readToken(image, at, piece);
        hal.displayChunk(piece.slice(0, n).buffer as ArrayBuffer);
      }
      hal.displayEnd();
      return;
    }
    if (!(image instanceof Uint8Array) || type === undefined || !isImageType(type)) throw new TypeError('setBackground(token) or setBackground(bytes, PNG | BMP | JPEG)');
    checkImage(image, type, 'background');
    hal.displayBegin(image.length, type);
    for (let at = 0; at < image.length; at += CHUNK) hal.displayChunk(image.slice(at, at + CHUNK).buffer as ArrayBuffer);
    hal.displayEnd();
  }

  static addTextBox(text: string, x = 0, y = 0): number {
    const id = Splashscreen.nextText++;
    shown.push(id);
    hostHal().displayText(id, String(text), x, y);
    return id;
  }

  static removeTextBox(id: number): void {
    const at = shown.indexOf(id);
    if (at >= 0) shown.splice(at, 1);
    hostHal().displayRemoveText(id);
  }

  /** Remove every text box an app added (the firmware, when it stops the app). */
  static clearTextBoxes(): void {
    for (const id of shown.splice(0)) hostHal().displayRemoveText(id);
  }
}

Splashscreen.set_background = Splashscreen.setBackground;
