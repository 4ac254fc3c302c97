// The dock's screen in the simulator: the background arrives in chunks (the
// firmware streams it through an image token), text boxes by id. What it shows
// can be written out for people to look at: splash.png (background and text,
// as the panel shows them) and a text listing.

import { existsSync, writeFileSync } from 'node:fs';
import { renderSplash } from './splash-picture.ts';

export interface TextBox {
  id: number;
  text: string;
  x: number;
  y: number;
}

export class SimDisplay {
  background: Uint8Array | null = null;
  backgroundType = 0;
  /** Largest chunk the firmware sent: the most image bytes it held at once. */
  largestChunk = 0;
  readonly textBoxes = new Map<number, TextBox>();
  private incoming: Uint8Array | null = null;
  private filled = 0;
  /** Something changed since the last save (saving re-renders the panel: only when needed). */
  private changed = true;

  begin(size: number, type: number): void {
    this.incoming = new Uint8Array(size);
    this.filled = 0;
    this.backgroundType = type;
  }

  chunk(data: Uint8Array): void {
    if (!this.incoming) throw new Error('display: chunk without begin');
    if (this.filled + data.length > this.incoming.length) throw new Error('display: more bytes than announced');
    this.incoming.set(data, this.filled);
    this.filled += data.length;
    if (data.length > this.largestChunk) this.largestChunk = data.length;
  }

  end(): void {
    if (!this.incoming || this.filled !== this.incoming.length) throw new Error(`display: background ended after ${this.filled} of ${this.incoming?.length ?? 0} bytes`);
    this.background = this.incoming;
    this.incoming = null;
    this.changed = true;
  }

  text(id: number, text: string, x: number, y: number): void {
    this.textBoxes.set(id, { id, text, x, y });
    this.changed = true;
  }

  removeText(id: number): void {
    if (this.textBoxes.delete(id)) this.changed = true;
  }

  /** splash.png: the panel as it looks (background, text boxes in a font); splash.png.txt: the text boxes. */
  save(path: string): void {
    if (!this.changed && existsSync(path)) return;
    this.changed = false;
    const texts = [...this.textBoxes.values()];
    writeFileSync(path, renderSplash(this.background && { bytes: this.background, type: this.backgroundType }, texts));
    writeFileSync(`${path}.txt`, [...this.textBoxes.values()].map((t) => `text box ${t.id} at (${t.x}, ${t.y}): ${t.text}`).join('\n') + '\n');
  }
}
