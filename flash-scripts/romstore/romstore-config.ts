// The vendor's ROM-store YAML, read and checked in full before anything is
// built: every problem is collected and reported at once, with line numbers
// where the YAML has them, and nothing is written while any remains.

import { readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { isMap, isScalar, parseDocument, type Node } from 'yaml';
import { checkImage, ImageInvalidError, type ImageInfo } from '../../images/image-check.ts';
import { imageTypeFromName, type ImageType } from '../../images/image-type.ts';
import { encodeValue, type DockValue } from '../../datastore/value-codec.ts';

const TOP_LEVEL = ['images', 'kv_store', 'code'];
const MAX_NAME_BYTES = 255;
/**
 * The largest config text read. A 13 MiB factory partition holds at most
 * about 53,000 items (each takes at least 256 bytes of data area), which is
 * well under 8 MiB of YAML; big values belong in files (images, code).
 * Refused before parsing, which costs about 50 times the text in memory.
 */
export const MAX_CONFIG_BYTES = 8 * 1024 * 1024;

export interface LoadOptions {
  /** Accept a config with no images, kv_store entries or code (refused otherwise: almost always a mistake). */
  allowEmpty?: boolean;
}

export interface ConfigImage {
  tag: string;
  path: string;
  type: ImageType;
  bytes: Uint8Array;
  info: ImageInfo;
}

export interface ConfigKv {
  key: string;
  value: DockValue;
  encoding: number;
  bytes: Uint8Array;
}

export interface ConfigCode {
  path: string;
  bytes: Uint8Array;
}

export interface RomStoreConfig {
  configPath: string;
  images: ConfigImage[];
  kv: ConfigKv[];
  code: ConfigCode | null;
}

export class RomStoreConfigError extends Error {
  readonly code = 'romstore-config';
  constructor(
    readonly configPath: string,
    readonly problems: string[],
  ) {
    super(`${configPath}: ${problems.length} problem${problems.length === 1 ? '' : 's'}; nothing was built:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'RomStoreConfigError';
  }
}

export function loadRomStoreConfig(configPath: string, options: LoadOptions = {}): RomStoreConfig {
  const problems: string[] = [];
  let text: string;
  try {
    const stat = statSync(configPath);
    if (stat.isDirectory()) throw new RomStoreConfigError(configPath, ['this is a folder: give the ROM-store YAML file inside it (e.g. config.yaml)']);
    if (stat.size > MAX_CONFIG_BYTES) throw new RomStoreConfigError(configPath, [`the config is ${stat.size} bytes; the limit is ${MAX_CONFIG_BYTES} (a factory partition holds 13 MiB, at most about 53,000 items): move large values into files (images, code) or drop entries`]);
    text = readFileSync(configPath, 'utf8');
  } catch (e) {
    if (e instanceof RomStoreConfigError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    throw new RomStoreConfigError(configPath, [code === 'ENOENT' ? 'no such file' : `cannot read the config file: ${code ?? (e as Error).message}`]);
  }
  // Duplicate keys are found below with a Set: the YAML library's own check compares every pair (20,000 keys took 20 s).
  const doc = parseDocument(text, { uniqueKeys: false, prettyErrors: true });
  if (doc.errors.length > 0) {
    throw new RomStoreConfigError(
      configPath,
      doc.errors.map((e) => `YAML ${e.code === 'DUPLICATE_KEY' ? 'duplicate key' : 'syntax error'} at line ${e.linePos?.[0].line ?? '?'}, column ${e.linePos?.[0].col ?? '?'}: ${e.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '')}`),
    );
  }
  const baseDir = dirname(resolve(configPath));
  const lineStarts = [0];
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) lineStarts.push(i + 1);
  const lineOf = (offset: number): number => {
    let lo = 0;
    let hi = lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (lineStarts[mid] <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo + 1;
  };
  const line = (node: Node | null | undefined): string => {
    const range = node?.range;
    return range ? ` (line ${lineOf(range[0])})` : '';
  };
  const duplicates = (map: { items: { key: unknown }[] }, what: string): void => {
    const seen = new Set<string>();
    for (const pair of map.items) {
      const k = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
      if (seen.has(k)) problems.push(`YAML duplicate key at line ${lineOf((pair.key as Node).range?.[0] ?? 0)}: "${k}" in ${what} appears twice`);
      seen.add(k);
    }
  };
  const root = doc.contents;
  const config: RomStoreConfig = { configPath, images: [], kv: [], code: null };
  if (root === null || root === undefined) {
    if (!options.allowEmpty) problems.push(EMPTY);
    return fail();
  }
  if (!isMap(root)) throw new RomStoreConfigError(configPath, ['the file is not a YAML mapping with images, kv_store and code']);
  duplicates(root, 'the top level');

  for (const pair of root.items) {
    const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
    if (TOP_LEVEL.indexOf(key) < 0) problems.push(`unknown top-level key "${key}"${line(pair.key as Node)}: only images, kv_store and code are allowed`);
  }

  const resolvePath = (raw: unknown, what: string, node: Node | null | undefined): string | null => {
    if (typeof raw !== 'string' || raw.trim() === '') {
      problems.push(`${what}: path must be a string${line(node)}`);
      return null;
    }
    const expanded = raw.split('${CONFIG_PATH}').join(baseDir);
    if (!isAbsolute(expanded)) {
      problems.push(`${what}: path "${raw}" is relative${line(node)}; use an absolute path or \${CONFIG_PATH}/…`);
      return null;
    }
    try {
      if (statSync(expanded).isDirectory()) {
        problems.push(`${what}: ${expanded} is a folder, not a file${line(node)}`);
        return null;
      }
    } catch {
      problems.push(`${what}: file not found: ${expanded}${line(node)}`);
      return null;
    }
    return expanded;
  };

  const images = doc.get('images', true) as Node | undefined;
  if (images !== undefined && images !== null) {
    if (!isMap(images)) problems.push(`images must be a mapping of tag to { path, type }${line(images)}`);
    else {
      duplicates(images, 'images');
      for (const pair of images.items) {
        const tag = isScalar(pair.key) ? String(pair.key.value ?? '') : '';
        const where = `image "${tag}"`;
        if (tag.trim() === '') {
          problems.push(`an image with an empty tag${line(pair.key as Node)}`);
          continue;
        }
        if (new TextEncoder().encode(tag).length > MAX_NAME_BYTES) problems.push(`${where}: the tag is longer than ${MAX_NAME_BYTES} bytes`);
        const value = pair.value as Node | null;
        if (!isMap(value)) {
          problems.push(`${where}: expected { path, type }${line(value)}`);
          continue;
        }
        const entry = value.toJSON() as Record<string, unknown>;
        for (const k of Object.keys(entry)) if (k !== 'path' && k !== 'type') problems.push(`${where}: unknown field "${k}"${line(value)}`);
        const typeWord = entry.type;
        const type = typeof typeWord === 'string' ? imageTypeFromName(typeWord) : undefined;
        if (type === undefined) problems.push(`${where}: type ${JSON.stringify(typeWord ?? null)} is not one of png, bmp, jpeg${line(value)}`);
        const path = resolvePath(entry.path, where, value);
        if (path === null || type === undefined) continue;
        const bytes = new Uint8Array(readFileSync(path));
        try {
          config.images.push({ tag, path, type, bytes, info: checkImage(bytes, type, path) });
        } catch (e) {
          if (!(e instanceof ImageInvalidError)) throw e;
          problems.push(`${where}: ${e.message}`);
        }
      }
    }
  }

  const kv = doc.get('kv_store', true) as Node | undefined;
  if (kv !== undefined && kv !== null) {
    if (!isMap(kv)) problems.push(`kv_store must be a mapping of key to value${line(kv)}`);
    else {
      duplicates(kv, 'kv_store');
      for (const pair of kv.items) {
        const key = isScalar(pair.key) ? String(pair.key.value ?? '') : '';
        if (key.trim() === '') {
          problems.push(`a kv_store entry with an empty key${line(pair.key as Node)}`);
          continue;
        }
        if (new TextEncoder().encode(key).length > MAX_NAME_BYTES) problems.push(`kv_store key "${key.slice(0, 40)}…" is longer than ${MAX_NAME_BYTES} bytes`);
        const value = (pair.value as Node | null)?.toJSON?.() ?? null;
        const holdable = checkHoldable(value);
        if (holdable) {
          problems.push(`kv_store "${key}": ${holdable}${line(pair.value as Node)}`);
          continue;
        }
        const { encoding, bytes } = encodeValue(value as DockValue);
        config.kv.push({ key, value: value as DockValue, encoding, bytes });
      }
    }
  }

  const code = doc.get('code', true) as Node | undefined;
  if (code !== undefined && code !== null) {
    const entry = isMap(code) ? (code.toJSON() as Record<string, unknown>) : null;
    if (!entry) problems.push(`code must be { path: … }${line(code)}`);
    else {
      for (const k of Object.keys(entry)) if (k !== 'path') problems.push(`code: unknown field "${k}"${line(code)}`);
      const path = resolvePath(entry.path, 'code', code);
      if (path !== null) {
        if (!/\.(js|mjs)$/.test(path)) {
          problems.push(`code: ${path} is not a JavaScript file: the dock runs JavaScript (build a TypeScript app with dl7450 build; a Python app from the vendor SDK must be ported)`);
        } else {
          const bytes = new Uint8Array(readFileSync(path));
          const text = decodeUtf8(bytes);
          if (text === null) problems.push(`code: ${path} is not UTF-8 text`);
          else if (text.trim() === '') problems.push(`code: ${path} is empty`);
          else config.code = { path, bytes };
        }
      }
    }
  }
  if (problems.length === 0 && !options.allowEmpty && config.images.length === 0 && config.kv.length === 0 && config.code === null) problems.push(EMPTY);
  return fail();

  function fail(): RomStoreConfig {
    if (problems.length > 0) throw new RomStoreConfigError(configPath, problems);
    return config;
  }
}

const EMPTY = 'the config has no images, kv_store entries or code: an empty factory image is almost certainly a mistake (dl7450 romstore build --allow-empty builds one anyway)';

/** Why a YAML value cannot be stored as a kv value, or null if it can. */
function checkHoldable(value: unknown, depth = 0): string | null {
  if (depth > 16) return 'nested too deeply';
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return null;
  if (typeof value === 'number') return Number.isFinite(value) ? null : `the number ${value} cannot be stored`;
  if (Array.isArray(value)) {
    for (const v of value) {
      const why = checkHoldable(v, depth + 1);
      if (why) return why;
    }
    return null;
  }
  if (typeof value === 'object') {
    for (const v of Object.values(value as Record<string, unknown>)) {
      const why = checkHoldable(v, depth + 1);
      if (why) return why;
    }
    return null;
  }
  return `a ${typeof value} cannot be stored`;
}

function decodeUtf8(bytes: Uint8Array): string | null {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return null;
  }
}

