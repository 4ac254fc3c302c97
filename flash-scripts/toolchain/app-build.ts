// `dl7450 build app.ts -o app.js`: bundles a dock app for the engine. The SDK
// modules (datastore, image, dock, wakeup, splashscreen) stay external: the
// firmware's app loader hands them to the app's `require`, so an app ships as
// its own code only.

import { build } from 'esbuild';
import { checkEngineProfile, checkShippedSyntax, ENGINE_TARGET, parenthesiseArrowParams, ShippedSyntaxError, type ProfileViolation } from './engine-profile.ts';

export const SDK_MODULES = ['datastore', 'image', 'dock', 'wakeup', 'splashscreen'];

export interface AppBundle {
  code: string;
  bytes: number;
  violations: ProfileViolation[];
}

export class AppBuildError extends Error {
  readonly code = 'app-build';
}

export async function buildApp(entry: string, minify = true): Promise<AppBundle> {
  const run = (min: boolean) =>
    build({ ...ENGINE_TARGET, format: 'cjs', entryPoints: [entry], bundle: true, write: false, minify: min, external: SDK_MODULES, legalComments: 'none', logLevel: 'silent' }).catch((e: { errors?: { text: string; location?: { file: string; line: number } }[] }) => {
      const first = e.errors?.[0];
      throw new AppBuildError(first ? `${first.location ? `${first.location.file}:${first.location.line}: ` : ''}${first.text}` : String(e));
    });
  const [out, readable] = await Promise.all([run(minify), run(false)]);
  let code: string;
  try {
    code = parenthesiseArrowParams(out.outputFiles[0].text);
  } catch (e) {
    if (e instanceof ShippedSyntaxError) throw new AppBuildError(`${entry}: ${e.message}`);
    throw e;
  }
  // The loader provides `require` for the SDK modules, and only for them.
  const sdkRequire = new RegExp(`require\\("(${SDK_MODULES.join('|')})"\\)`);
  const violations = checkEngineProfile(readable.outputFiles[0].text).filter((v) => !(v.rule.startsWith('require') && sdkRequire.test(v.text) && !/require\("(?!(datastore|image|dock|wakeup|splashscreen)")/.test(v.text))).concat(minify ? checkShippedSyntax(code) : []);
  return { code, bytes: Buffer.byteLength(code), violations };
}
