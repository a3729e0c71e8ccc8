/**
 * The manufacturer id allow-list (`deviceRegistration.allowedManufacturerIds`):
 * a file of ids, one a line, `#` comments, re-read when it changes so an
 * operator can add ids without a restart. No file configured: every id is
 * allowed. Depends on errors and node:fs only.
 */
import { readFile, stat } from 'node:fs/promises';
import { GatehouseError } from '../errors.ts';

/** What a manufacturer id may look like (the register-device route refuses others before any lookup). */
export const manufacturerIdPattern = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

export class ManufacturerAllowList {
  private read?: { stamp: string; ids: Set<string> };

  constructor(private readonly file: string | undefined) {}

  async allows(manufacturerId: string): Promise<boolean> {
    if (!this.file) return true;
    try {
      const { mtimeMs, size, ino } = await stat(this.file);
      const stamp = `${mtimeMs}:${size}:${ino}`;
      if (this.read?.stamp !== stamp) {
        const ids = (await readFile(this.file, 'utf8'))
          .split('\n')
          .map((l) => l.replace(/#.*/, '').trim())
          .filter(Boolean);
        this.read = { stamp, ids: new Set(ids) };
      }
    } catch {
      // Checked at start-up; if it went away since, the last list read stands, and without one nobody is allowed.
      if (!this.read) throw new GatehouseError('device.not_allowed', 'the manufacturer id allow-list cannot be read; ask the operator');
    }
    return this.read.ids.has(manufacturerId);
  }

  /** Start-up check: a configured allow-list file must be readable. */
  async check(): Promise<void> {
    if (!this.file) return;
    try {
      await readFile(this.file, 'utf8');
    } catch (err) {
      throw new GatehouseError(
        'config.invalid',
        `deviceRegistration.allowedManufacturerIds: cannot read ${this.file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
      );
    }
  }
}
