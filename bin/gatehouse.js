#!/usr/bin/env node
// The `gatehouse` command: runs the TypeScript sources through tsx, so a clone
// needs no build step.
import { register } from 'tsx/esm/api';

register();
await import('../src/main.ts');
