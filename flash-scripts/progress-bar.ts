// Progress for work that runs longer than a second, on stderr (machines read
// stdout): redrawn in place on a terminal, one plain line every 10 s when
// stderr is a file or a pipe (a CI log, `2>&1 | tee`), nothing under --json
// or -q (DL7450_QUIET).

const PLAIN_EVERY_MS = 10_000;

function quiet(): boolean {
  return process.env.DL7450_QUIET === '1';
}

export class ProgressBar {
  private readonly started = Date.now();
  private lastDraw = 0;
  private drawn = false;
  private readonly tty = process.stderr.isTTY === true;

  /** `enabled`: false under --json. */
  constructor(
    private readonly label: string,
    private readonly enabled = true,
  ) {}

  update(done: number, total: number, note = ''): void {
    if (!this.enabled || quiet()) return;
    const now = Date.now();
    const fraction = total > 0 ? Math.min(1, done / total) : 0;
    const rate = done / Math.max(0.001, (now - this.started) / 1000);
    const eta = rate > 0 ? Math.max(0, (total - done) / rate) : 0;
    if (!this.tty) {
      if (now - this.lastDraw < PLAIN_EVERY_MS && done < total) return;
      if (this.lastDraw === 0 && done < total) {
        this.lastDraw = now; // the first plain line after 10 s, not at once
        return;
      }
      this.lastDraw = now;
      process.stderr.write(`${this.label}: ${(fraction * 100).toFixed(0)}% (${done} of ${total} bytes), ${(rate / 1024).toFixed(1)} KiB/s, eta ${eta.toFixed(0)} s ${note}\n`);
      return;
    }
    if (now - this.started < 1000 || (now - this.lastDraw < 100 && done < total)) return;
    this.lastDraw = now;
    this.drawn = true;
    const width = 30;
    const filled = Math.round(fraction * width);
    process.stderr.write(`\r${this.label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${(fraction * 100).toFixed(0).padStart(3)}% ${(rate / 1024).toFixed(1)} KiB/s eta ${eta.toFixed(0)} s ${note}\x1b[K`);
  }

  done(): void {
    if (this.drawn) process.stderr.write('\n');
  }
}

/** One line per item (a dock): redrawn in place on a terminal; on a pipe, a line when an item changes stage, at most one per item every 10 s otherwise. */
export class MultiProgress {
  private readonly lines = new Map<string, string>();
  private readonly printed = new Map<string, { stage: string; at: number }>();
  private drawnLines = 0;
  private lastDraw = 0;
  private readonly tty = process.stderr.isTTY === true;

  /** `enabled`: false under --json. */
  constructor(private readonly enabled = true) {}

  set(label: string, text: string): void {
    if (!this.enabled || quiet()) return;
    this.lines.set(label, text);
    const now = Date.now();
    if (!this.tty) {
      const stage = text.split(' ')[0];
      const last = this.printed.get(label);
      if (last && last.stage === stage && now - last.at < PLAIN_EVERY_MS) return;
      this.printed.set(label, { stage, at: now });
      process.stderr.write(`${label.trimEnd()}: ${text}\n`);
      return;
    }
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
    if (this.enabled && this.tty && this.lines.size && !quiet()) this.draw();
  }
}
