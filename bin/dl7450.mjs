#!/usr/bin/env node
// Entry point of the `dl7450` command: runs the TypeScript host tools through tsx.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../flash-scripts/cli.ts');
process.exitCode = await main(process.argv.slice(2));
