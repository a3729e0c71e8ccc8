/**
 * Entry point of `gatehouse` and `npm start`: hands argv to the CLI. First
 * V8's heap growing factor (./lib/server-memory.ts), for every start, cluster
 * workers included (they run this file again).
 */
import { runCli } from './cli/index.ts';
import { tuneHeap } from './lib/server-memory.ts';

tuneHeap();
process.exitCode = await runCli(process.argv);
