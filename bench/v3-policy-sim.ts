// Format-v3 design study: allocation / GC / wear policy only (no bytes, no faults).
// Counts what the v3 writer would program and erase, following datastore/runtime/v3/DESIGN.md:
// journal (hot head, app records + MOVE records + index slices + WEAR tables),
// pack (cold head, GC copies, headerless), whole-sector values, cost-benefit or greedy
// victims over closed journal/pack sectors outside the pinned replay window,
// least-worn allocation, static wear levelling by spread.
// Run: npx tsx bench/v3-policy-sim.ts [case[:variant+variant]...]
// (no argument: every case; variants: nowl greedy pool16 w2 cap16 cap32 wlmax wl8). ~15 s for all.
import { seededRandom } from '../simulator/seeded-random.ts';

type Skew = 'uniform' | '90/10';
interface Case {
  name: string;
  sectors: number; // partition sectors (13 MiB = 3328)
  unit: number; // program unit
  valueSize: number; // 64 (log record) or 4096 (sector value)
  keys?: number; // fixed key count, else from fill
  fill?: number; // live / capacity (capacity after reserves)
  skew: Skew;
  updates: number;
  victim?: 'cb' | 'greedy';
  wlDelta?: number; // static WL spread trigger (erase counts)
  warmPasses?: number; // warm up until this many erases per sector on average
  passes?: number;
  budgetPerKey?: number;
  noWindowReserve?: boolean;
  wlToWorn?: boolean;
  singleCycleWindow?: boolean;
  wlDiv?: number;
  packToWorn?: boolean; // open pack sectors on the most-worn free sector (dual-pool style)
  wlMaxTrigger?: boolean; // spread = most-worn sector - least-worn sector holding data
  poolDiv?: number; // keep N/poolDiv sectors free (GC earlier): leverage for least-worn allocation
  budgetCapDiv?: number; // if set: run until mean erase count reaches this (wear study), ignoring updates
}

const S = 4096;
const HDR = 32; // journal sector header
const KEY = 9; // "key-NNNNN"
const REC = (v: number) => 16 + KEY + v + 4;
const PTR = 16 + KEY + 8 + 4; // PUT-S: header, key, (valueCrc, 1 sector), dataCrc
const up = (n: number, u: number) => Math.ceil(n / u) * u;

export function run(c: Case) {
  const N = c.sectors;
  const U = c.unit;
  const random = seededRandom(77);
  const sectorValues = c.valueSize >= 3072;
  const P = S - HDR;
  // --- per-sector RAM state (what the store would keep): kind, live bytes, stamp, erase count
  const FREE = 0, JOURNAL = 1, PACK = 2, VALUE = 3, ANCHOR = 4;
  const kind = new Uint8Array(N);
  const live = new Float64Array(N);
  const stamp = new Float64Array(N);
  const erases = new Uint32Array(N);
  const used = new Float64Array(N); // bytes appended (journal)
  let maxPinnedGarbage = 0;
  const jOrder = new Int32Array(N).fill(-1); // journal open order (for the pinned window)
  kind[0] = kind[1] = ANCHOR;
  const recs: number[][] = Array.from({ length: N }, () => []);
  // --- records
  const MAXR = 1 << 23;
  const recKey = new Int32Array(MAXR);
  const recSector = new Int32Array(MAXR);
  const recSize = new Int32Array(MAXR);
  let nrec = 0;
  // --- key count
  const recBytes = sectorValues ? PTR : REC(c.valueSize);
  const hotFoot = up(recBytes, U);
  const cycleBytesPerKey = 8;
  const budgetOf = (k: number) => Math.min(Math.max(16384, (c.budgetPerKey ?? 20) * k), (N * S) / (c.budgetCapDiv ?? 8));
  const reserveSectors = 8; // gcMinimum-like hard reserve + erased pool
  const windowReserve = (k: number) => c.noWindowReserve ? 0 : (c.singleCycleWindow ? 2 : 3) * (budgetOf(k) + cycleBytesPerKey * k); // pinned replay window allowance
  let K = c.keys ?? 0;
  if (!K && sectorValues) K = Math.floor(c.fill! * (N - 2 - reserveSectors - 4));
  if (!K) {
    // capacity = what a write may fill: usable sectors - reserve - window allowance
    for (K = 1000; ; K += 100) {
      const cap = (N - 2 - reserveSectors) * P - windowReserve(K);
      if ((K + 100) * hotFoot > c.fill! * cap) break;
    }
  }
  const keyRec = new Int32Array(K).fill(-1);
  const keyValueSector = new Int32Array(K).fill(-1);
  // --- counters
  let programmed = 0, eraseCount = 0, now = 0;
  let opErases = 0, worstErases = 0, worstReads = 0, opReads = 0;
  let extraSteps = 0, wlMoves = 0, gcCopied = 0, sliceBytes = 0, wearBytes = 0, moveBytes = 0;
  const erase = (s: number) => { erases[s]++; eraseCount++; opErases++; };
  // --- allocation: least-worn free sector (ties: lowest index); cold data to the most-worn
  const alloc = (k: number, worn = false) => {
    let best = -1;
    for (let s = 2; s < N; s++) if (kind[s] === FREE && (best < 0 || (worn ? erases[s] > erases[best] : erases[s] < erases[best]))) best = s;
    if (best < 0) { let lv = 0, pin = 0, jn = 0, pk = 0; for (let q = 2; q < N; q++) { lv += live[q]; if (kind[q] === JOURNAL) { jn++; if (jOrder[q] >= windowStartOpen) pin++; } if (kind[q] === PACK) pk++; } throw new Error(`partition wedged at put ${now} K=${K} live=${lv} journal=${jn} pinned=${pin} pack=${pk} window=${jOpens - windowStartOpen}`); }
    kind[best] = k; live[best] = 0; used[best] = 0; stamp[best] = now; recs[best].length = 0;
    erase(best); freeCount--;
    return best;
  };
  const freeSector = (s: number) => { if (kind[s] !== FREE) freeCount++; kind[s] = FREE; live[s] = 0; recs[s].length = 0; jOrder[s] = -1; };
  let freeCount = N - 2;
  // --- journal stream
  let jHead = -1, jFill = P, jOpens = 0;
  let jPos = 0; // journal bytes written (stream position)
  const jStartPos: number[] = []; // stream position at each journal open
  let windowStartOpen = 0; // journal open index holding the durable point
  const journalAppend = (bytes: number, keyIdx = -1) => {
    let id = -1;
    if (jFill >= P) { jHead = alloc(JOURNAL); jOrder[jHead] = jOpens++; jStartPos.push(jPos); jFill = 0; if (U === 16) programmed += HDR; }
    if (keyIdx >= 0) { id = nrec++; recKey[id] = keyIdx; recSector[id] = jHead; recSize[id] = bytes; recs[jHead].push(id); live[jHead] += bytes; }
    stamp[jHead] = now; used[jHead] += bytes;
    jFill += bytes; jPos += bytes;
    while (jFill > P) { // the record runs on into the next sector
      const over = jFill - P;
      jHead = alloc(JOURNAL); jOrder[jHead] = jOpens++; jStartPos.push(jPos - over); if (U === 16) programmed += HDR;
      jFill = over;
    }
    return id;
  };
  // --- pack stream (cold head, headerless)
  let pHead = -1, pFill = S;
  const packAppend = (bytes: number, keyIdx: number) => {
    if (pFill + bytes > S) { pHead = alloc(PACK, !!c.packToWorn); pFill = 0; }
    const id = nrec++;
    recKey[id] = keyIdx; recSector[id] = pHead; recSize[id] = bytes; recs[pHead].push(id); live[pHead] += bytes; pFill += bytes; stamp[pHead] = now;
    return id;
  };
  // --- index cycle pacing
  const B = () => budgetOf(K);
  let prevCycleStartOpen = 0;
  let cycleEntries = 0, cycleStartPos = 0, counted = 0;
  const slicePace = (appBytes: number, padding: number) => {
    counted += appBytes;
    // entries the padding of this commit carries for free
    if (padding >= 48) cycleEntries += Math.floor((padding - 28) / 8);
    const due = (counted / B()) * K;
    const chunk = Math.min(Math.ceil(K / 8), 500); // catch up an eighth of the cycle, at most ~one sector per put
    if (due - cycleEntries >= chunk) {
      const n = chunk;
      const bytes = up(28 + 8 * n + 20, U);
      journalAppend(bytes); programmed += bytes; sliceBytes += bytes; cycleEntries += n;
    }
    if (cycleEntries >= K) { // cycle complete: the durable point moves to its first slice
      const startOpen = jStartPos.findIndex((p, i) => p <= cycleStartPos && (i + 1 >= jStartPos.length || jStartPos[i + 1] > cycleStartPos));
      // the window keeps the previous complete cycle too (fallback if a slice of the newest is damaged)
      windowStartOpen = Math.max(windowStartOpen, c.singleCycleWindow ? startOpen : prevCycleStartOpen);
      prevCycleStartOpen = startOpen;
      cycleEntries = 0; counted = 0; cycleStartPos = jPos;
    }
  };
  // --- wear table: N bytes every N/4 erases
  let erasesAtWear = 0;
  const wearPace = () => {
    if (eraseCount - erasesAtWear >= N / 4) { const b = up(N + 32, U); journalAppend(b); programmed += b; wearBytes += b; erasesAtWear = eraseCount; }
  };
  // --- GC
  const victimOk = (s: number) => (kind[s] === JOURNAL && s !== jHead && jOrder[s] < windowStartOpen) || (kind[s] === PACK && s !== pHead);
  const pickVictim = () => {
    let best = -1, bestScore = -Infinity;
    for (let s = 2; s < N; s++) {
      if (!victimOk(s)) continue;
      const u = live[s] / S;
      const age = now - stamp[s] + 1;
      const score = c.victim === 'greedy' ? -u + age * 1e-12 : ((1 - u) * age) / (2 * u + 1e-3); // empty sectors: oldest first
      if (score > bestScore) { bestScore = score; best = s; }
    }
    return best;
  };
  const collect = (v: number) => {
    opReads += live[v];
    let n = 0;
    for (const id of recs[v]) {
      const k = recKey[id];
      if (keyRec[k] !== id) continue;
      keyRec[k] = packAppend(recSize[id], k); n++; gcCopied += recSize[id];
      programmed += recSize[id];
    }
    if (n) { const mb = 20 + 12 * n; journalAppend(mb); programmed += mb; moveBytes += mb; slicePace(mb, 0); }
    freeSector(v);
  };
  const relocateValue = (s: number) => { // static WL: move a whole-sector value onto a worn sector
    const k = keyOfValue[s];
    const t = alloc(VALUE, !!c.wlToWorn); programmed += S; keyValueSector[k] = t; keyOfValue[t] = k;
    const id = journalAppend(PTR, k); programmed += up(PTR, U); const old = keyRec[k]; if (old >= 0) live[recSector[old]] -= recSize[old]; keyRec[k] = id;
    freeSector(s); wlMoves++;
  };
  const keyOfValue = new Int32Array(N).fill(-1);
  const gcLow = reserveSectors + Math.max(Math.min(16, Math.ceil(N / 32)), Math.ceil(N / (c.poolDiv ?? 32)));
  const staticWl = () => {
    const delta = c.wlDelta === 0 ? 0 : Math.max(c.wlDelta ?? 6, Math.ceil(eraseCount / (N - 2) / (c.wlDiv ?? 3))); // spread bound: max(4, mean/4)
    if (!delta || opErases === 0) return;
    let max = Infinity, min = Infinity, minS = -1; // max: least-worn free sector (what allocation uses next)
    for (let s = 2; s < N; s++) { if (c.wlMaxTrigger ? erases[s] > (max === Infinity ? -1 : max) : kind[s] === FREE && erases[s] < max) max = erases[s]; if (kind[s] !== FREE && kind[s] !== ANCHOR && s !== jHead && s !== pHead && (kind[s] !== JOURNAL || jOrder[s] < windowStartOpen) && erases[s] < min) { min = erases[s]; minS = s; } }
    if (minS >= 0 && max !== Infinity && max - min > delta) { if (kind[minS] === VALUE) relocateValue(minS); else { collect(minS); wlMoves++; } }
  };
  const gcStep = () => {
    let steps = 0;
    while (freeCount < gcLow && (steps === 0 || freeCount < reserveSectors)) {
      if (steps > 0 && measuring) extraSteps++;
      const v = pickVictim();
      if (v < 0) break;
      collect(v); steps++;
    }
  };
  // --- a put
  const put = (k: number) => {
    now++;
    opErases = 0; opReads = 0;
    gcStep();
    if (sectorValues) {
      const s = alloc(VALUE); programmed += S; keyOfValue[s] = k;
      const old = keyValueSector[k]; if (old >= 0) { freeSector(old); keyOfValue[old] = -1; }
      keyValueSector[k] = s;
    }
    const id = journalAppend(hotFoot, k);
    programmed += hotFoot;
    const old = keyRec[k]; if (old >= 0) live[recSector[old]] -= recSize[old];
    keyRec[k] = id;
    slicePace(recBytes, hotFoot - recBytes);
    wearPace();
    staticWl();
    if (measuring && now % 97 === 0) { let g = 0; for (let q = 2; q < N; q++) if (kind[q] === JOURNAL && jOrder[q] >= windowStartOpen) g += Math.max(0, used[q] - live[q]); if (g > maxPinnedGarbage) maxPinnedGarbage = g; }
    const overhead = opErases - (sectorValues ? 1 : 0);
    if (measuring && overhead > worstErases) worstErases = overhead;
    if (measuring && opReads > worstReads) worstReads = opReads;
  };
  let measuring = false;
  const pick = c.skew === 'uniform' ? () => Math.floor(random() * K) : () => { const hot = Math.max(1, Math.floor(K / 10)); return random() < 0.9 ? Math.floor(random() * hot) : hot + Math.floor(random() * (K - hot)); };
  for (let k = 0; k < K; k++) put(k);
  const t0 = performance.now();
  const warm = (c.warmPasses ?? 1) * N;
  while (eraseCount < warm) put(pick());
  const wearFrom = erases.slice();
  const p0 = programmed, e0 = eraseCount, g0 = gcCopied, s0 = sliceBytes, w0 = wearBytes, m0 = moveBytes, wl0 = wlMoves;
  measuring = true;
  let n = 0;
  if (c.passes) { while (eraseCount / (N - 2) < c.passes) { put(pick()); n++; } } else for (; n < c.updates; n++) put(pick());
  const dw = Array.from(erases.slice(2), (e, i) => e - wearFrom[i + 2]);
  const mean = (a: number[]) => a.reduce((x, y) => x + y, 0) / a.length;
  const all = Array.from(erases.slice(2));
  const capacity = (N - 2 - reserveSectors) * P - windowReserve(K);
  const hist: Record<string, Record<number, number>> = {};
  for (let q = 2; q < N; q++) { const kk = ['free', 'journal', 'pack', 'value'][kind[q]]; (hist[kk] ??= {})[erases[q]] = ((hist[kk] ??= {})[erases[q]] ?? 0) + 1; }
  if (process.env.HIST) console.log(JSON.stringify(hist));
  const out = {
    case: c.name, unit: U, valueSize: c.valueSize, skew: c.skew, victim: c.victim ?? 'cb', wlDelta: c.wlDelta ?? 6, keys: K,
    fill: +(K * (sectorValues ? S + PTR : hotFoot) / capacity).toFixed(3), effectiveUtilisation: +((K * c.valueSize) / (N * S)).toFixed(3), updates: n,
    programmedPerValueByte: +((programmed - p0) / (n * c.valueSize)).toFixed(3),
    floor: +((sectorValues ? S + up(PTR, U) : up(recBytes, U)) / c.valueSize).toFixed(3),
    erasesPer1000: +(((eraseCount - e0) * 1000) / n).toFixed(0),
    gcCopiedPerUpdate: +((gcCopied - g0) / n).toFixed(1), slicesPerUpdate: +((sliceBytes - s0) / n).toFixed(1), wearPerUpdate: +((wearBytes - w0) / n).toFixed(1), movePerUpdate: +((moveBytes - m0) / n).toFixed(1), wlMoves: wlMoves - wl0,
    wearWindowMaxOverMean: +(Math.max(...dw) / mean(dw)).toFixed(2), wearTotalMaxOverMean: +(Math.max(...all) / mean(all)).toFixed(2), meanErases: +mean(all).toFixed(1),
    worstPutOverheadErases: worstErases, worstPutGcReadBytes: worstReads, pinnedWindowSectors: jOpens - windowStartOpen, putsNeedingExtraGcSteps: extraSteps, maxPinnedGarbageKB: Math.round(maxPinnedGarbage / 1024), windowReserveKB: Math.round(windowReserve(K) / 1024), ms: Math.round(performance.now() - t0),
  };
  return out;
}

const M13 = 3328;
// Recommended defaults: cost-benefit victims, free pool N/32, static WL spread max(6, mean/3),
// replay window = two complete cycles + the one in progress. Fills as in bench/runtime.ts fill().
const cases: Record<string, Case> = {
  'v4k-256': { name: '4 KiB uniform 0.9', sectors: M13, unit: 256, valueSize: 4096, keys: 2788, skew: 'uniform', updates: 6000 },
  'v4k-16': { name: '4 KiB uniform 0.9', sectors: M13, unit: 16, valueSize: 4096, keys: 2926, skew: 'uniform', updates: 6000 },
  'v4k-256-skew': { name: '4 KiB 90/10 0.9', sectors: M13, unit: 256, valueSize: 4096, keys: 2788, skew: '90/10', updates: 6000 },
  'v4k-256-10p': { name: '4 KiB uniform 0.9, until 10 passes', sectors: M13, unit: 256, valueSize: 4096, keys: 2788, skew: 'uniform', updates: 0, passes: 10 },
  'v4k-16-10p': { name: '4 KiB uniform 0.9, until 10 passes', sectors: M13, unit: 16, valueSize: 4096, keys: 2926, skew: 'uniform', updates: 0, passes: 10 },
  'v4k-256-skew-10p': { name: '4 KiB 90/10 0.9, until 10 passes', sectors: M13, unit: 256, valueSize: 4096, keys: 2788, skew: '90/10', updates: 0, passes: 10 },
  's64-16-skew': { name: '64 B 90/10 0.9', sectors: M13, unit: 16, valueSize: 64, fill: 0.9, skew: '90/10', updates: 40000 },
  's64-16-uni': { name: '64 B uniform 0.9', sectors: M13, unit: 16, valueSize: 64, fill: 0.9, skew: 'uniform', updates: 40000 },
  's64-256-skew': { name: '64 B 90/10 0.9', sectors: M13, unit: 256, valueSize: 64, fill: 0.9, skew: '90/10', updates: 40000 },
  's64-256-uni': { name: '64 B uniform 0.9', sectors: M13, unit: 256, valueSize: 64, fill: 0.9, skew: 'uniform', updates: 40000 },
  'kv-256': { name: 'kv-workload 1000 keys, aged 5 passes', sectors: M13, unit: 256, valueSize: 64, keys: 1000, skew: 'uniform', updates: 20000, warmPasses: 5 },
  'kv-16': { name: 'kv-workload 1000 keys, aged 5 passes', sectors: M13, unit: 16, valueSize: 64, keys: 1000, skew: 'uniform', updates: 20000, warmPasses: 5 },
  'wear-4k-uni': { name: 'wear 4 KiB uniform, 128 sectors, 10 passes', sectors: 128, unit: 256, valueSize: 4096, fill: 0.9, skew: 'uniform', updates: 0, passes: 10, warmPasses: 0 },
  'wear-4k-skew': { name: 'wear 4 KiB 90/10, 128 sectors, 10 passes', sectors: 128, unit: 256, valueSize: 4096, fill: 0.9, skew: '90/10', updates: 0, passes: 10, warmPasses: 0 },
  'wear-64-skew': { name: 'wear 64 B 90/10, 128 sectors, 10 passes', sectors: 128, unit: 16, valueSize: 64, fill: 0.9, skew: '90/10', updates: 0, passes: 10, warmPasses: 0 },
};
const variants: Record<string, Partial<Case>> = {
  nowl: { wlDelta: 0 }, greedy: { victim: 'greedy' }, pool16: { poolDiv: 16 }, w2: { singleCycleWindow: true },
  cap16: { budgetCapDiv: 16 }, wl6: { wlDelta: 6, wlDiv: 3 }, wlmax: { wlMaxTrigger: true }, packworn: { packToWorn: true }, wl8: { wlDelta: 8, wlDiv: 2 }, cap32: { budgetCapDiv: 32 },
};
// name[:variant[+variant]]
const names = process.argv.slice(2);
for (const arg of names.length ? names : Object.keys(cases)) {
  const [base, vs] = arg.split(':');
  const c = { ...cases[base] };
  for (const v of vs ? vs.split('+') : []) { Object.assign(c, variants[v]); c.name += ' [' + v + ']'; }
  console.log(JSON.stringify(run(c)));
}
