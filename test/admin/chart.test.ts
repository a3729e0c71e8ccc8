/**
 * The dashboard's gate chart (src/admin/web/chart.ts), a pure function: no
 * data, one day, many reasons, and text from data escaped. The SVG is an
 * image with a summary (role, aria-label, <title>), carries no style=
 * attribute (strict CSP), and every tag it opens it closes.
 */
import { describe, expect, it } from 'vitest';
import { chartSummary, dayLabel, gateChartLegend, gateChartSvg, gateChartTable, reasonColours, reasonText, type ChartDay } from '../../src/admin/web/chart.ts';

function emptyDays(n: number, last = '2026-12-01'): ChartDay[] {
  const end = Date.parse(`${last}T00:00:00Z`);
  return Array.from({ length: n }, (_, i) => ({
    day: new Date(end - (n - 1 - i) * 86_400_000).toISOString().slice(0, 10),
    allowed: 0,
    refused: 0,
    reasons: {},
  }));
}

/** Tags open and close in order (self-closing ones stand alone): a small well-formedness check. */
function balanced(markup: string): boolean {
  const stack: string[] = [];
  for (const m of markup.matchAll(/<(\/?)([a-zA-Z][\w-]*)[^>]*?(\/?)>/g)) {
    const [, closing, name, selfClosing] = m;
    if (selfClosing) continue;
    if (!closing) stack.push(name!);
    else if (stack.pop() !== name) return false;
  }
  return stack.length === 0;
}

const attribute = (svg: string, name: string) => new RegExp(`<svg[^>]* ${name}="([^"]*)"`).exec(svg)?.[1];

describe('gate chart', () => {
  it('draws 14 empty days as an image that says there were none', () => {
    const days = emptyDays(14);
    const svg = gateChartSvg(days);
    expect(svg.startsWith('<svg')).toBe(true);
    expect(attribute(svg, 'role')).toBe('img');
    expect(attribute(svg, 'aria-label')).toBe('Gate decisions over the last 14 days (2026-11-18 to 2026-12-01, UTC): none.');
    expect(svg).toContain('<title>Gate decisions over the last 14 days (2026-11-18 to 2026-12-01, UTC): none.</title>');
    expect(svg).toContain('No gate decisions in these days.');
    expect(svg).not.toMatch(/style=/i);
    expect(svg).not.toContain('<rect');
    // Every day is labelled, the month only where it starts or changes (short labels fit their bars).
    expect(svg).toContain('>18 Nov<');
    expect(svg).toContain('>19</text>');
    expect(svg).toContain('>1 Dec<');
    expect(svg).not.toContain('>19 Nov<');
    expect(svg.match(/<g class="bar">/g)).toHaveLength(14);
    expect(balanced(svg)).toBe(true);
    const table = gateChartTable(days);
    expect(table.match(/<tr>/g)).toHaveLength(1 + 14 + 1);
    expect(table).toContain('<th scope="col">Allowed</th>');
    expect(table).toContain('<tfoot><tr><th scope="row">Total</th><td>0</td><td>0</td></tr></tfoot>');
    expect(balanced(table)).toBe(true);
    expect(gateChartLegend(days)).toContain('Allowed: 0');
  });

  it('draws one day with allowed at the bottom and the refusal above it', () => {
    const days: ChartDay[] = [{ day: '2026-12-01', allowed: 3, refused: 1, reasons: { 'acl_token.exhausted': 1 } }];
    const svg = gateChartSvg(days);
    expect(attribute(svg, 'aria-label')).toBe(
      'Gate decisions over the last 1 day (2026-12-01 to 2026-12-01, UTC): 3 allowed, 1 refused (invitation used up: 1). Busiest day 2026-12-01 with 4 decisions.',
    );
    const rects = [...svg.matchAll(/<rect class="(\w+)" x="[\d.]+" y="([\d.]+)" width="[\d.]+" height="([\d.]+)" fill="(#[0-9a-f]{6})"\/>/g)].map((m) => ({
      kind: m[1],
      y: Number(m[2]),
      h: Number(m[3]),
      fill: m[4],
    }));
    expect(rects.map((r) => r.kind)).toEqual(['allowed', 'refused']);
    // Stacked: the refusal sits on top of the allowed part, three times shorter.
    expect(rects[1]!.y + rects[1]!.h).toBeCloseTo(rects[0]!.y, 1);
    expect(rects[0]!.h / rects[1]!.h).toBeCloseTo(3, 1);
    expect(rects[1]!.fill).toBe(reasonColours[0]);
    expect(svg).toContain('<title>2026-12-01: 3 allowed, 1 refused (invitation used up: 1)</title>');
    expect(svg).not.toContain('No gate decisions');
    expect(svg).not.toMatch(/style=/i);
    expect(balanced(svg)).toBe(true);
    expect(gateChartTable(days)).toContain('<tr><th scope="row"><time datetime="2026-12-01">2026-12-01</time></th><td>3</td><td>1</td><td>1</td></tr>');
  });

  it('gives each of many reasons its own colour, the most frequent first, in legend, bars and table', () => {
    const days = emptyDays(14);
    const reasons = ['no_access', 'acl_token.exhausted', 'acl_token.expired', 'acl_token.revoked', 'access.token_required', 'auth.user_disabled'];
    days[3] = { ...days[3]!, allowed: 10, refused: 6, reasons: Object.fromEntries(reasons.map((r) => [r, 1])) };
    days[13] = { ...days[13]!, allowed: 2, refused: 5, reasons: { no_access: 4, 'acl_token.expired': 1 } };
    const legend = gateChartLegend(days);
    // In plain words, the most frequent first (ties by code).
    const order = [...legend.matchAll(/Refused, ([^:<]+): (\d+)/g)].map((m) => `${m[1]}=${m[2]}`);
    expect(order).toEqual([
      'no access to the client=5',
      'invitation expired=2',
      'no invitation=1',
      'invitation used up=1',
      'invitation revoked=1',
      'account disabled=1',
    ]);
    expect(legend).toContain('Allowed: 12');
    expect(legend).not.toMatch(/style=/i);
    const svg = gateChartSvg(days);
    expect(svg).toContain('12 allowed, 11 refused (no access to the client: 5, invitation expired: 2, no invitation: 1');
    expect(svg).toContain('Busiest day 2026-11-21 with 16 decisions.');
    const fills = new Set([...svg.matchAll(/class="refused"[^>]* fill="(#[0-9a-f]{6})"/g)].map((m) => m[1]));
    expect(fills.size).toBe(6);
    expect(svg.match(/<rect /g)).toHaveLength(2 + 6 + 2);
    // The axis tops at a round number above the busiest day.
    expect(svg).toContain('>20</text>');
    expect(balanced(svg)).toBe(true);
    const table = gateChartTable(days);
    expect(table.match(/<th scope="col">/g)).toHaveLength(3 + 6);
    expect(table).toContain('<th scope="col">Refused: no_access</th>');
    expect(table).toContain(
      '<tfoot><tr><th scope="row">Total</th><td>12</td><td>11</td><td>5</td><td>2</td><td>1</td><td>1</td><td>1</td><td>1</td></tr></tfoot>',
    );
    expect(balanced(table)).toBe(true);
  });

  it('names a reason it does not know by its code, and draws axis text dark and large enough to read', () => {
    const days: ChartDay[] = [{ day: '2026-12-01', allowed: 1, refused: 2, reasons: { 'acl_token.something_new': 1, unknown: 1 } }];
    const legend = gateChartLegend(days);
    expect(legend).toContain('Refused, acl_token.something_new: 1');
    expect(legend).toContain('Refused, no reason recorded: 1');
    expect(reasonText('acl_token.wrong_client')).toBe('invitation for another client');
    expect(reasonText('toString')).toBe('toString');
    const svg = gateChartSvg(days);
    const fills = [...svg.matchAll(/<text [^>]*fill="(#[0-9a-f]{6})"/g)].map((m) => m[1]);
    expect(fills.length).toBeGreaterThan(0);
    expect(new Set(fills)).toEqual(new Set(['#1d2430']));
    for (const m of svg.matchAll(/<text [^>]*font-size="(\d+)"/g)) expect(Number(m[1])).toBeGreaterThanOrEqual(13);
    // The first two reasons (stacked next to each other) are not two shades of red.
    expect(reasonColours.slice(0, 2)).toEqual(['#c62828', '#1565c0']);
  });

  it('escapes text from the data in the SVG, the legend and the table', () => {
    const nasty = '<script>alert("x")</script>&\'';
    const days: ChartDay[] = [{ day: '2026-12-01', allowed: 0, refused: 2, reasons: { [nasty]: 2 } }];
    const svg = gateChartSvg(days);
    const legend = gateChartLegend(days);
    const table = gateChartTable(days);
    for (const markup of [svg, legend, table]) {
      expect(markup).not.toContain('<script>');
      expect(markup).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;');
      expect(balanced(markup)).toBe(true);
    }
    expect(attribute(svg, 'aria-label')).toContain('&lt;script&gt;');
    // A day that is not a date is shown as it is, escaped too.
    expect(dayLabel('<b>')).toBe('<b>');
    expect(gateChartSvg([{ day: '<b>', allowed: 1, refused: 0, reasons: {} }])).toContain('>&lt;b&gt;</text>');
    expect(chartSummary([])).toBe('Gate decisions over the last 0 days: none.');
    expect(balanced(gateChartSvg([]))).toBe(true);
  });
});
