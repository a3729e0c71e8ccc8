#!/usr/bin/env node
// The `gatehouse` command: runs the TypeScript sources through tsx, so a clone
// needs no build step. Before the CLI loads, V8's heap growing factor is set
// (src/lib/server-memory.ts), for every start, cluster workers included.
import { register } from 'tsx/esm/api';

register();
const { tuneHeap } = await import('../src/lib/server-memory.ts');
tuneHeap();
await import('../src/main.ts');
