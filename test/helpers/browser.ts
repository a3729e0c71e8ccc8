/** Real headless Chromium through playwright-core, with the flags this machine needs. */
import { chromium, type Browser } from 'playwright-core';
import { chromiumPath } from './services.ts';

export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-quic',
      '--no-first-run',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}
