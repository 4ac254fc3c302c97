import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { SimFlash } from '../simulator/flash/sim-flash.ts';
import { NodeCrypto } from '../simulator/security/node-crypto.ts';
import { SimOtp } from '../simulator/security/sim-otp.ts';
import { FactoryPartition, FactoryVerificationError, FactoryItemError } from '../datastore/factory/factory-partition.ts';
import { TRAILER_SIZE } from '../datastore/factory/partition-format.ts';
import { decodeValue } from '../datastore/value-codec.ts';
import { BMP, JPEG, PNG } from '../images/image-type.ts';
import { generateSigningKeys, KeyFileError, loadPrivateKey, loadPublicKeyRaw } from '../flash-scripts/signing-keys.ts';
import { loadRomStoreConfig, RomStoreConfigError } from '../flash-scripts/romstore/romstore-config.ts';
import { buildFactoryImage, FactoryImageTooLargeError } from '../flash-scripts/romstore/factory-image-builder.ts';
import { makeBmp, makeJpeg, makePng } from './support/image-files.ts';
import { seededRandom } from '../simulator/seeded-random.ts';

const KiB = 1024;
const work = mkdtempSync(join(tmpdir(), 'dl7450-factory-'));
const keys = generateSigningKeys(join(work, 'keys'));
const otherKeys = generateSigningKeys(join(work, 'other-keys'));
const crypto = new NodeCrypto();
const otp = SimOtp.burn(loadPublicKeyRaw(keys.publicPath), 'dock-1');

function writeConfig(dir: string, yaml: string, files: Record<string, Uint8Array | string> = {}): string {
  mkdirSync(dir, { recursive: true });
  for (const [name, bytes] of Object.entries(files)) writeFileSync(join(dir, name), bytes);
  const path = join(dir, 'config.yaml');
  writeFileSync(path, yaml);
  return path;
}

const fullYaml = `images:
  default:
    path: \${CONFIG_PATH}/background.png
    type: png
  logo:
    path: \${CONFIG_PATH}/logo.jpg
    type: jpeg
  icon:
    path: \${CONFIG_PATH}/icon.bmp
    type: bmp
kv_store:
  dock_name: "Meeting Room 4"
  timezone: "GMT"
  retries: 3
  endpoints: [ "a.example", "b.example" ]
code:
  path: \${CONFIG_PATH}/app.js
`;
const files = { 'background.png': makePng(64, 36), 'logo.jpg': makeJpeg(32, 16), 'icon.bmp': makeBmp(16, 16), 'app.js': 'console.log("hello dock");\n' };
const configPath = writeConfig(join(work, 'full'), fullYaml, files);

function flashWith(image: Uint8Array, size = 13 * 1024 * KiB): SimFlash {
  const f = new SimFlash({ size, sectorSize: 4 * KiB, programUnit: 256 });
  const padded = new Uint8Array(Math.ceil(image.length / 256) * 256).fill(0xff);
  padded.set(image);
  f.program(0, padded);
  return f;
}

function checkOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof FactoryVerificationError) return e.check;
    throw e;
  }
  return 'accepted';
}

const roundTrip = suite('factory partition: build, flash, mount, read');

roundTrip('every item reads back byte-identical with its type and dimensions', () => {
  const config = loadRomStoreConfig(configPath);
  const built = buildFactoryImage(config, loadPrivateKey(keys.privatePath), { builtAt: 1_700_000_000 });
  const factory = FactoryPartition.mount(flashWith(built.image), crypto, otp);
  assert.equal(factory.read('image', 'default'), files['background.png']);
  assert.equal(factory.read('image', 'logo'), files['logo.jpg']);
  assert.equal(factory.read('image', 'icon'), files['icon.bmp']);
  assert.equal(new TextDecoder().decode(factory.read('code', 'app')), files['app.js']);
  const logo = factory.info('image', 'logo')!;
  assert.equal([logo.type, logo.width, logo.height], [JPEG, 32, 16]);
  assert.equal([factory.info('image', 'default')!.type, factory.info('image', 'icon')!.type], [PNG, BMP]);
  const kv = (name: string) => decodeValue(factory.info('kv', name)!.type, factory.read('kv', name)!);
  assert.equal([kv('dock_name'), kv('timezone'), kv('retries'), kv('endpoints')], ['Meeting Room 4', 'GMT', 3, ['a.example', 'b.example']]);
  assert.is(factory.items('image').length, 3);
  assert.ok(factory.info('image', 'default')!.offset % 256 === 0, 'items start on page boundaries');
  assert.is(factory.read('image', 'missing'), undefined);
  const perDock = factory.perDockRegion();
  assert.ok(perDock.offset % 4096 === 0 && perDock.offset >= factory.header.trailerOffset + TRAILER_SIZE && perDock.capacity === 64 * 1024);
  assert.equal(factory.info('per-dock', 'per-dock')!.offset, perDock.offset);
});

roundTrip('builds are reproducible: same inputs and time, same bytes', () => {
  const config = loadRomStoreConfig(configPath);
  const key = loadPrivateKey(keys.privatePath);
  const a = buildFactoryImage(config, key, { builtAt: 1 });
  const b = buildFactoryImage(config, key, { builtAt: 1 });
  assert.equal(a.image, b.image); // Ed25519 signatures are deterministic
});

roundTrip("the vendor's sample ROM store builds unchanged and mounts", () => {
  const vendor = resolve(import.meta.dirname, '..', '..', 'shared', 'samples', 'vendor-rom-store', 'config.yaml');
  const built = buildFactoryImage(loadRomStoreConfig(vendor), loadPrivateKey(keys.privatePath));
  const factory = FactoryPartition.mount(flashWith(built.image), crypto, otp);
  assert.equal(factory.items('image').map((i) => `${i.name} ${i.width}x${i.height}`).sort(), ['default 1920x1080', 'screen_2 1920x1080', 'screen_3 1920x1080']);
  assert.is(decodeValue(factory.info('kv', 'dock_name')!.type, factory.read('kv', 'dock_name')!), 'IoT Demo Dock');
  assert.ok(built.freeBytes > 8 * 1024 * KiB);
});

const trust = suite('factory partition: nothing unverified is served');

trust('flipping any single bit anywhere in header, manifest, data or trailer is refused', () => {
  const small = writeConfig(join(work, 'small'), 'images:\n  i:\n    path: ${CONFIG_PATH}/i.png\n    type: png\nkv_store:\n  k: "v"\ncode:\n  path: ${CONFIG_PATH}/a.js\n', {
    'i.png': makePng(8, 8),
    'a.js': 'x();',
  });
  const built = buildFactoryImage(loadRomStoreConfig(small), loadPrivateKey(keys.privatePath), { partitionSize: 256 * KiB, perDockCapacity: 4 * KiB });
  const end = built.header.trailerOffset + TRAILER_SIZE;
  const base = flashWith(built.image, 256 * KiB);
  assert.is(checkOf(() => FactoryPartition.mount(base, crypto, otp)), 'accepted');
  const seen = new Set<string>();
  for (let offset = 0; offset < end; offset++) {
    const f = base.clone();
    f.flipStoredBit(offset, offset % 8);
    const check = checkOf(() => FactoryPartition.mount(f, crypto, otp));
    assert.ok(check !== 'accepted', `a flipped bit at byte ${offset} was accepted`);
    seen.add(check);
  }
  assert.ok(end > 1000, `swept ${end} bytes`);
  assert.ok(seen.has('header') && seen.has('digest') && seen.has('trailer') && seen.has('signature'), [...seen].join(','));
});

trust('an image signed with another key is refused; a blank partition says so', () => {
  const built = buildFactoryImage(loadRomStoreConfig(configPath), loadPrivateKey(otherKeys.privatePath));
  assert.is(checkOf(() => FactoryPartition.mount(flashWith(built.image), crypto, otp)), 'signature');
  const blank = new SimFlash({ size: 13 * 1024 * KiB, sectorSize: 4 * KiB, programUnit: 256 });
  assert.is(checkOf(() => FactoryPartition.mount(blank, crypto, otp)), 'blank');
});

trust('flash damage after mount: the item read is refused, never returned wrong', () => {
  const built = buildFactoryImage(loadRomStoreConfig(configPath), loadPrivateKey(keys.privatePath));
  const f = flashWith(built.image);
  const factory = FactoryPartition.mount(f, crypto, otp);
  f.flipStoredBit(factory.info('image', 'logo')!.offset + 10, 2);
  assert.throws(() => factory.read('image', 'logo'), (e: unknown) => e instanceof FactoryItemError && /re-flash/.test((e as Error).message));
  assert.equal(factory.read('image', 'icon'), files['icon.bmp']);
});

trust('mutated images never crash the reader and are never served', () => {
  const small = join(work, 'small', 'config.yaml');
  const built = buildFactoryImage(loadRomStoreConfig(small), loadPrivateKey(keys.privatePath), { partitionSize: 256 * KiB, perDockCapacity: 4 * KiB });
  const base = flashWith(built.image, 256 * KiB);
  const random = seededRandom(9);
  const end = built.header.trailerOffset + TRAILER_SIZE;
  for (let i = 0; i < 2000; i++) {
    const f = base.clone();
    const n = 1 + Math.floor(random() * 8);
    for (let k = 0; k < n; k++) f.flipStoredBit(Math.floor(random() * end), Math.floor(random() * 8));
    assert.ok(checkOf(() => FactoryPartition.mount(f, crypto, otp)) !== 'accepted', `case ${i} accepted`);
  }
});

const bad = suite('romstore build: bad input gets a clear error and writes nothing');

function problems(yaml: string, extra: Record<string, Uint8Array | string> = {}): string {
  const dir = join(work, `bad-${Math.random().toString(36).slice(2)}`);
  const path = writeConfig(dir, yaml, { ...files, ...extra });
  try {
    loadRomStoreConfig(path);
  } catch (e) {
    if (e instanceof RomStoreConfigError) return e.message;
    throw e;
  }
  return 'accepted';
}

bad('unknown top-level key, missing file, unknown type, mislabelled or damaged image', () => {
  assert.match(problems('imagez:\n  a: 1\n'), /unknown top-level key "imagez" \(line 1\)/);
  assert.match(problems('images:\n  a:\n    path: ${CONFIG_PATH}/nope.png\n    type: png\n'), /file not found: .*nope\.png/);
  assert.match(problems('images:\n  a:\n    path: ${CONFIG_PATH}/logo.jpg\n    type: gif\n'), /type "gif" is not one of png, bmp, jpeg/);
  assert.match(problems('images:\n  a:\n    path: ${CONFIG_PATH}/logo.jpg\n    type: png\n'), /its bytes are a JPEG file/);
  const cut = makePng(20, 20).subarray(0, 100);
  assert.match(problems('images:\n  a:\n    path: ${CONFIG_PATH}/cut.png\n    type: png\n', { 'cut.png': cut }), /truncated/);
  const crc = makePng(20, 20);
  crc[50] ^= 1;
  assert.match(problems('images:\n  a:\n    path: ${CONFIG_PATH}/crc.png\n    type: png\n', { 'crc.png': crc }), /fails its CRC/);
});

bad('duplicate or empty tags, a YAML syntax error with its line, a Python app, all problems at once', () => {
  assert.match(problems('images:\n  a:\n    path: ${CONFIG_PATH}/logo.jpg\n    type: jpeg\n  a:\n    path: ${CONFIG_PATH}/logo.jpg\n    type: jpeg\n'), /duplicate key at line 5/);
  assert.match(problems('kv_store:\n  "": "x"\n'), /empty key/);
  assert.match(problems('kv_store:\n  ratio: .inf\n'), /kv_store "ratio": the number Infinity cannot be stored/);
  assert.match(problems('images:\n  "":\n    path: ${CONFIG_PATH}/logo.jpg\n    type: jpeg\n'), /empty tag/);
  assert.match(problems('images:\n  a: [unclosed\n'), /syntax error at line \d+/);
  assert.match(problems('code:\n  path: ${CONFIG_PATH}/app.py\n', { 'app.py': 'print(1)' }), /not a JavaScript file/);
  const many = problems('junk: 1\nimages:\n  a:\n    path: ${CONFIG_PATH}/none.png\n    type: png\ncode:\n  path: ${CONFIG_PATH}/app.py\n', { 'app.py': 'print(1)' });
  assert.match(many, /3 problems/);
});

bad('too big for the partition says by how much; an unreadable key file is named', () => {
  const config = loadRomStoreConfig(configPath);
  assert.throws(
    () => buildFactoryImage(config, loadPrivateKey(keys.privatePath), { partitionSize: 64 * KiB }),
    (e: unknown) => e instanceof FactoryImageTooLargeError && /bytes too many/.test((e as Error).message),
  );
  assert.throws(() => loadPrivateKey(join(work, 'missing.key')), (e: unknown) => e instanceof KeyFileError && /missing\.key/.test((e as Error).message));
  assert.throws(() => loadPrivateKey(keys.publicPath), (e: unknown) => e instanceof KeyFileError && /not an Ed25519 private key/.test((e as Error).message));
});

bad('keys generate: private key 0600, refuses to overwrite', () => {
  assert.is(statSync(keys.privatePath).mode & 0o777, 0o600);
  assert.throws(() => generateSigningKeys(join(work, 'keys')), (e: unknown) => e instanceof KeyFileError && /refusing to overwrite/.test((e as Error).message));
});

bad.after(() => rmSync(work, { recursive: true, force: true }));

roundTrip.run();
trust.run();
bad.run();
