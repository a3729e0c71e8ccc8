#!/usr/bin/env -S node --max-semi-space-size=8
// The `gatehouse` command: runs the TypeScript sources through tsx, so a clone
// needs no build step. A young generation of 8 MB per semi-space (V8's default
// grows to 16) keeps a serving process's memory lower under load; smaller ones
// cost throughput (objects of requests in flight outlive a scavenge and are
// promoted: measured in bench/README.md). `npm start` runs with the same flag.
import { register } from 'tsx/esm/api';

register();
await import('../src/main.ts');
