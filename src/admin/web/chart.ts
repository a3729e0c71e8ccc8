/**
 * The dashboard's chart of gate decisions, drawn on the server: a pure
 * function from the daily buckets to an inline SVG (stacked bars per day:
 * allowed at the bottom, the refusals above it, one colour per reason), its
 * legend, and the same numbers as an HTML table for screen readers and for
 * anyone who wants them exact. The strict CSP forbids inline styles, so
 * colours and sizes are presentation attributes (fill=, width=), never style=.
 * Every text that comes from data is escaped.
 */

/** One UTC day of gate decisions (the shape of src/audit/stats.ts's GateDay). */
export interface ChartDay {
  /** YYYY-MM-DD */
  day: string;
  allowed: number;
  refused: number;
  reasons: Record<string, number>;
}

export const allowedColour = '#2e7d32';
/**
 * Colours of the refusal reasons, in order of their totals (cycled when there
 * are more reasons). Neighbours differ in hue and in lightness (red, blue,
 * amber, purple, …), so two stacked reasons stay apart for colour-blind eyes too;
 * each has at least 3:1 contrast on white.
 */
export const reasonColours = ['#c62828', '#1565c0', '#b26a00', '#6a1b9a', '#00796b', '#ad1457', '#5d4037', '#37474f'];

/** Axis text and lines: dark on the white panel. */
const ink = '#1d2430';

/**
 * What the gate's refusal reasons (src/gating/access.ts, src/gating/acl-tokens.ts,
 * src/audit/stats.ts) mean, in plain words; a reason not listed is shown as its code.
 */
export const reasonWords: Record<string, string> = {
  no_access: 'no access to the client',
  'access.token_required': 'no invitation',
  'acl_token.exhausted': 'invitation used up',
  'acl_token.expired': 'invitation expired',
  'acl_token.revoked': 'invitation revoked',
  'acl_token.not_found': 'invitation not found',
  'acl_token.wrong_client': 'invitation for another client',
  'auth.user_disabled': 'account disabled',
  unknown: 'no reason recorded',
};

/** A refusal reason in plain words (its code when it is not one we know). */
export function reasonText(reason: string): string {
  return Object.hasOwn(reasonWords, reason) ? reasonWords[reason]! : reason;
}

const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

const width = 720;
const height = 240;
const margin = { top: 12, right: 8, bottom: 34, left: 44 };
/** Axis text in the viewBox's units; admin.css keeps the chart at least 40rem wide (scrolling in its box on a phone), so this never shrinks below about 11 px. */
const fontSize = 13;

export function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

/** `2026-11-18` → `18 Nov` (an unreadable day is shown as it is). */
export function dayLabel(day: string): string {
  const m = /^\d{4}-(\d{2})-(\d{2})$/.exec(day);
  const month = m ? months[Number(m[1]) - 1] : undefined;
  return m && month ? `${Number(m[2])} ${month}` : day;
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** The refusal reasons over all days, the most frequent first (ties by name). */
export function reasonsOf(days: readonly ChartDay[]): { reason: string; count: number; colour: string }[] {
  const totals = new Map<string, number>();
  for (const d of days) for (const [reason, n] of Object.entries(d.reasons)) totals.set(reason, (totals.get(reason) ?? 0) + n);
  return [...totals]
    .filter(([, n]) => n > 0)
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .map(([reason, count], i) => ({ reason, count, colour: reasonColours[i % reasonColours.length]! }));
}

function totals(days: readonly ChartDay[]): { allowed: number; refused: number } {
  return days.reduce((t, d) => ({ allowed: t.allowed + d.allowed, refused: t.refused + d.refused }), { allowed: 0, refused: 0 });
}

/** The numbers in one sentence: the SVG's aria-label and <title>. */
export function chartSummary(days: readonly ChartDay[]): string {
  const span = days.length ? ` (${days[0]!.day} to ${days[days.length - 1]!.day}, UTC)` : '';
  const head = `Gate decisions over the last ${plural(days.length, 'day')}${span}`;
  const { allowed, refused } = totals(days);
  if (allowed + refused === 0) return `${head}: none.`;
  const reasons = reasonsOf(days);
  const why = reasons.length ? ` (${reasons.map((r) => `${reasonText(r.reason)}: ${r.count}`).join(', ')})` : '';
  const busiest = days.reduce((best, d) => (d.allowed + d.refused > best.allowed + best.refused ? d : best), days[0]!);
  return `${head}: ${allowed} allowed, ${refused} refused${why}. Busiest day ${busiest.day} with ${plural(busiest.allowed + busiest.refused, 'decision')}.`;
}

/** The smallest of 1, 2, 5 × 10^k at or above `n` (the top of the axis). */
function niceCeiling(n: number): number {
  if (n <= 1) return 1;
  const power = 10 ** Math.floor(Math.log10(n));
  for (const step of [1, 2, 5, 10]) if (step * power >= n) return step * power;
  return 10 * power;
}

const round = (n: number) => Math.round(n * 100) / 100;

/** The stacked bar chart as an SVG string (role="img", aria-label and <title> summarising the numbers). */
export function gateChartSvg(days: readonly ChartDay[]): string {
  const summary = escapeXml(chartSummary(days));
  const reasons = reasonsOf(days);
  const colourOf = new Map(reasons.map((r) => [r.reason, r.colour]));
  const top = niceCeiling(Math.max(0, ...days.map((d) => d.allowed + d.refused)));
  const plotW = width - margin.left - margin.right;
  const plotH = height - margin.top - margin.bottom;
  const baseline = margin.top + plotH;
  const slot = days.length ? plotW / days.length : plotW;
  const barW = round(Math.max(2, slot * 0.7));
  const y = (v: number) => round(baseline - (v / top) * plotH);

  const parts: string[] = [];
  parts.push(
    // No width or height: the chart takes its container's width and keeps its proportions.
    `<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 ${width} ${height}" role="img" aria-label="${summary}">`,
    `<title>${summary}</title>`,
  );
  // The axis: 0, half and the top, with faint grid lines.
  const ticks = top === 1 ? [0, 1] : [0, top / 2, top];
  for (const t of ticks) {
    parts.push(
      `<line x1="${margin.left}" x2="${width - margin.right}" y1="${y(t)}" y2="${y(t)}" stroke="#d0d4da" stroke-width="1"/>`,
      `<text x="${margin.left - 6}" y="${y(t) + 4}" text-anchor="end" font-size="${fontSize}" fill="${ink}">${t}</text>`,
    );
  }
  days.forEach((d, i) => {
    const x = round(margin.left + i * slot + (slot - barW) / 2);
    // The month only on the first day and where it changes (`18 Nov`, `19`, … `1 Dec`): short labels that fit their bar.
    const full = dayLabel(d.day);
    const sameMonth = i > 0 && d.day.slice(0, 7) === days[i - 1]!.day.slice(0, 7) && full !== d.day;
    const label = escapeXml(sameMonth ? full.split(' ')[0]! : full);
    const detail = Object.entries(d.reasons)
      .filter(([, n]) => n > 0)
      .map(([reason, n]) => `${reasonText(reason)}: ${n}`)
      .join(', ');
    const tip = escapeXml(`${d.day}: ${d.allowed} allowed, ${d.refused} refused${detail ? ` (${detail})` : ''}`);
    parts.push(`<g class="bar"><title>${tip}</title>`);
    let stacked = 0;
    const segment = (value: number, fill: string, cls: string) => {
      if (value <= 0) return;
      const y0 = y(stacked + value);
      parts.push(`<rect class="${cls}" x="${x}" y="${y0}" width="${barW}" height="${round(y(stacked) - y0)}" fill="${fill}"/>`);
      stacked += value;
    };
    segment(d.allowed, allowedColour, 'allowed');
    // Refusals in the legend's order, so the same reason sits at the same height of every bar.
    for (const r of reasons) segment(d.reasons[r.reason] ?? 0, colourOf.get(r.reason)!, 'refused');
    // Refusals a bucket counts without a reason breakdown.
    segment(d.refused - Object.values(d.reasons).reduce((a, b) => a + b, 0), reasonColours[0]!, 'refused');
    parts.push(`</g>`);
    parts.push(`<text x="${round(x + barW / 2)}" y="${baseline + 18}" text-anchor="middle" font-size="${fontSize}" fill="${ink}">${label}</text>`);
  });
  parts.push(`<line x1="${margin.left}" x2="${width - margin.right}" y1="${baseline}" y2="${baseline}" stroke="${ink}" stroke-width="1"/>`);
  if (days.every((d) => d.allowed + d.refused === 0)) {
    parts.push(
      `<text x="${margin.left + plotW / 2}" y="${margin.top + plotH / 2}" text-anchor="middle" font-size="14" fill="${ink}">No gate decisions in these days.</text>`,
    );
  }
  parts.push('</svg>');
  return parts.join('');
}

const swatch = (colour: string) =>
  `<svg class="swatch" width="12" height="12" viewBox="0 0 12 12" aria-hidden="true" focusable="false"><rect width="12" height="12" fill="${colour}"/></svg>`;

/** The legend under the chart: allowed, then each refusal reason with its total. */
export function gateChartLegend(days: readonly ChartDay[]): string {
  const { allowed } = totals(days);
  const items = [
    `<li>${swatch(allowedColour)} Allowed: ${allowed}</li>`,
    ...reasonsOf(days).map((r) => `<li>${swatch(r.colour)} Refused, ${escapeXml(reasonText(r.reason))}: ${r.count}</li>`),
  ];
  return `<ul class="chart-legend">${items.join('')}</ul>`;
}

/** The same numbers as a table: one row per day, a column per refusal reason, totals at the foot. */
export function gateChartTable(days: readonly ChartDay[]): string {
  const reasons = reasonsOf(days);
  const head = ['Day (UTC)', 'Allowed', 'Refused', ...reasons.map((r) => `Refused: ${r.reason}`)];
  const cells = (d: ChartDay) => [d.allowed, d.refused, ...reasons.map((r) => d.reasons[r.reason] ?? 0)].map((n) => `<td>${n}</td>`).join('');
  const rows = days.map((d) => `<tr><th scope="row"><time datetime="${escapeXml(d.day)}">${escapeXml(d.day)}</time></th>${cells(d)}</tr>`);
  const sum = totals(days);
  const foot = `<tr><th scope="row">Total</th>${cells({ day: '', ...sum, reasons: Object.fromEntries(reasons.map((r) => [r.reason, r.count])) })}</tr>`;
  return [
    '<table class="chart-data">',
    '<caption>Gate decisions per day</caption>',
    `<thead><tr>${head.map((h) => `<th scope="col">${escapeXml(h)}</th>`).join('')}</tr></thead>`,
    `<tbody>${rows.join('')}</tbody>`,
    `<tfoot>${foot}</tfoot>`,
    '</table>',
  ].join('');
}
