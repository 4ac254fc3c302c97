// A progress bar on stderr for work that runs longer than a second; silent
// when stderr is not a terminal or the output is JSON (machines read stdout).

export class ProgressBar {
  private readonly started = Date.now();
  private lastDraw = 0;
  private drawn = false;

  constructor(
    private readonly label: string,
    private readonly enabled = process.stderr.isTTY === true,
  ) {}

  update(done: number, total: number, note = ''): void {
    if (!this.enabled) return;
    const now = Date.now();
    if (now - this.started < 1000 || (now - this.lastDraw < 100 && done < total)) return;
    this.lastDraw = now;
    this.drawn = true;
    const width = 30;
    const fraction = total > 0 ? Math.min(1, done / total) : 0;
    const filled = Math.round(fraction * width);
    const rate = done / Math.max(0.001, (now - this.started) / 1000);
    const eta = rate > 0 ? Math.max(0, (total - done) / rate) : 0;
    process.stderr.write(`\r${this.label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${(fraction * 100).toFixed(0).padStart(3)}% ${(rate / 1024).toFixed(1)} KiB/s eta ${eta.toFixed(0)} s ${note}\x1b[K`);
  }

  done(): void {
    if (this.drawn) process.stderr.write('\n');
  }
}

/** One line per item (a dock), redrawn in place on a terminal; silent otherwise. */
export class MultiProgress {
  private readonly lines = new Map<string, string>();
  private drawnLines = 0;
  private lastDraw = 0;

  constructor(private readonly enabled = process.stderr.isTTY === true) {}

  set(label: string, text: string): void {
    if (!this.enabled) return;
    this.lines.set(label, text);
    const now = Date.now();
    if (now - this.lastDraw < 100) return;
    this.lastDraw = now;
    this.draw();
  }

  static bar(done: number, total: number, width = 24): string {
    const f = total > 0 ? Math.min(1, done / total) : 0;
    const filled = Math.round(f * width);
    return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${(f * 100).toFixed(0).padStart(3)}%`;
  }

  private draw(): void {
    let text = this.drawnLines > 0 ? `\x1b[${this.drawnLines}A` : '';
    for (const [label, line] of this.lines) text += `\r${label} ${line}\x1b[K\n`;
    this.drawnLines = this.lines.size;
    process.stderr.write(text);
  }

  done(): void {
    if (this.enabled && this.lines.size) this.draw();
  }
}
