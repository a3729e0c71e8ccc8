import { describe, expect, it } from 'vitest';
import { mallocEnv, mallocEnvFor } from '../../src/lib/server-memory.ts';

describe('server memory settings', () => {
  it('adds the malloc settings a server process is started with', () => {
    expect(mallocEnvFor({})).toEqual({ MALLOC_MMAP_THRESHOLD_: String(4 * 1024 * 1024) });
    expect(mallocEnvFor({})).toEqual(mallocEnv);
  });

  it("leaves the operator's own value alone", () => {
    expect(mallocEnvFor({ MALLOC_MMAP_THRESHOLD_: '1048576' })).toEqual({});
  });
});
