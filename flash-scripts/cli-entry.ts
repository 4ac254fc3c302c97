// What `dl7450` runs (bundled to dist/dl7450.mjs by bin/dl7450.mjs).
import { main } from './cli.ts';

// `dl7450 … | head -1`: the reader went away; stop quietly, as Unix tools do.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});
process.exitCode = await main(process.argv.slice(2));
