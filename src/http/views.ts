/**
 * The nunjucks environment for pages (`views/pages`) and mails (`views/email`),
 * with branding available to every template. Autoescaping is on.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import nunjucks from 'nunjucks';
import type { Config } from '../config/schema.ts';

export const viewsDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../views');

export interface Views {
  page(name: string, vars: Record<string, unknown>): string;
  /** An admin console page: `views/admin/<name>.njk`. */
  admin(name: string, vars: Record<string, unknown>): string;
  /** A page of /account or /review: `views/account/<name>.njk`. */
  account(name: string, vars: Record<string, unknown>): string;
  mail(name: string, vars: Record<string, unknown>): { text: string; html: string };
}

export function createViews(config: Pick<Config, 'branding' | 'issuer'>): Views {
  // Two environments: HTML escapes everything; plain-text mail must not (an
  // apostrophe in a name is not &#39; in a text mail).
  const make = (autoescape: boolean) => {
    const env = new nunjucks.Environment(new nunjucks.FileSystemLoader(viewsDir, { noCache: false }), { autoescape, throwOnUndefined: false });
    env.addGlobal('brand', config.branding);
    env.addGlobal('issuer', config.issuer);
    env.addGlobal('base', new URL(config.issuer).pathname.replace(/\/$/, ''));
    return env;
  };
  const env = make(true);
  const text = make(false);
  return {
    page: (name, vars) => env.render(`pages/${name}.njk`, vars),
    admin: (name, vars) => env.render(`admin/${name}.njk`, vars),
    account: (name, vars) => env.render(`account/${name}.njk`, vars),
    mail: (name, vars) => ({
      text: text.render(`email/${name}.txt.njk`, vars),
      html: env.render(`email/${name}.html.njk`, vars),
    }),
  };
}
