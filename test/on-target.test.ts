import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join, resolve } from 'node:path';
import { rmSync } from 'node:fs';
import { build } from 'esbuild';
import { ENGINE_TARGET, checkEngineProfile, checkShippedSyntax, parenthesiseArrowParams } from '../flash-scripts/toolchain/engine-profile.ts';
import { testEngines } from './support/engines.ts';
import { SimFlash } from '../simulator/flash/sim-flash.ts';
import { LmdbEphemeral } from '../simulator/ephemeral/lmdb-ephemeral.ts';

const entry = join(resolve(import.meta.dirname), 'on-target', 'datastore.target.ts');
const bundle = async (minify: boolean) => (await build({ ...ENGINE_TARGET, entryPoints: [entry], bundle: true, write: false, minify, logLevel: 'silent' })).outputFiles[0].text;
const code = parenthesiseArrowParams(await bundle(true));
const readable = await bundle(false);

const target = suite('datastore tests inside the engine (on target)');

for (const engine of testEngines('on-target datastore suite')) target(`the on-target suite is built for the engine profile and every test in it passes on ${engine.name}`, async () => {
  assert.equal(checkEngineProfile(readable), []);
  assert.equal(checkShippedSyntax(code), []);
  const ephPath = join('/dev/shm', `dl7450-ontarget-${process.pid}-${engine.name}`);
  const eph = LmdbEphemeral.open(ephPath, { fresh: true, capacityBytes: 1024 * 1024 });
  const scratch = new SimFlash({ size: 256 * 1024, sectorSize: 4096, programUnit: 16 });
  const host = await engine.start({ partitions: { scratch }, ephemeral: eph, watchdogMs: 60_000 });
  try {
    host.eval(code, 'datastore.target.js');
    const results = host.eval('runTargetTests()') as string[];
    assert.ok(results.length >= 7, `${results.length} tests ran`);
    const failed = results.filter((r) => !r.startsWith('ok '));
    assert.equal(failed, []);
  } finally {
    host.dispose();
    eph.close();
    rmSync(ephPath, { recursive: true, force: true });
  }
});

target.run();
