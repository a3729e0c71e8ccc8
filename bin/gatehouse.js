#!/usr/bin/env -S MALLOC_MMAP_THRESHOLD_=4194304 node
// The `gatehouse` command: runs the TypeScript sources through tsx, so a clone
// needs no build step. Run as a program (./bin/gatehouse.js, the installed
// `gatehouse`), it starts with glibc's mmap threshold fixed at 4 MiB, so each
// argon2id hash's 19 MiB goes back to the system when the hash ends instead
// of staying in the thread's malloc heap (src/lib/server-memory.ts; started
// as `node bin/gatehouse.js`, the environment's own setting holds). Before the
// CLI loads, V8's heap growing factor is set the same way for every start.
import { register } from 'tsx/esm/api';

register();
const { tuneHeap } = await import('../src/lib/server-memory.ts');
tuneHeap();
await import('../src/main.ts');
