/** The package's version, for `gatehouse --version` and the `serve` banner: package.json is its one source. */
import pkg from '../../package.json' with { type: 'json' };

export const version: string = pkg.version;
