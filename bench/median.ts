/** The middle value of repeated wall-clock runs (the upper middle for an even count): the figure benches report for time. */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}
