/**
 * The console's dashboard at `/admin`: the `dashboard.show` operation drawn
 * as cards (who is waiting, invitations running out, the gate's decisions as
 * a chart with its table, recent enrolments, the mail queue), each linking
 * to the section where it is dealt with. Ages and dates are put in words
 * here; the template only lays them out.
 */
import { gateChartLegend, gateChartSvg, gateChartTable } from '../chart.ts';
import { adminOf, type ConsoleSection } from '../console.ts';
import { invoke } from '../../operation.ts';
import { dashboardDays, showDashboard, type Dashboard } from '../../ops/dashboard.ts';

const units: [number, string][] = [
  [86_400, 'day'],
  [3_600, 'hour'],
  [60, 'minute'],
];

/**
 * A duration, rounded, in the largest unit it nearly fills: `3 days`, `1 hour`
 * (from 54 minutes), `less than a minute`.
 */
export function duration(seconds: number): string {
  const s = Math.abs(seconds);
  for (const [size, unit] of units) {
    if (s < size * 0.9) continue;
    const n = Math.max(1, Math.round(s / size));
    return `${n} ${unit}${n === 1 ? '' : 's'}`;
  }
  return 'less than a minute';
}

/** `2026-12-01T10:20:30.000Z` → `2026-12-01 10:20 UTC`. */
export function when(isoDate: string | null): string {
  return isoDate ? `${isoDate.slice(0, 10)} ${isoDate.slice(11, 16)} UTC` : '';
}

/** What the template shows: the operation's answer with words for ages and dates, and the chart. */
export function dashboardView(d: Dashboard) {
  const now = Date.parse(d.generated);
  const inWords = (isoDate: string) => {
    const seconds = Math.round((Date.parse(isoDate) - now) / 1000);
    return seconds >= 0 ? `in ${duration(seconds)}` : `${duration(seconds)} ago`;
  };
  return {
    days: dashboardDays,
    generated: when(d.generated),
    requests: {
      ...d.requests,
      items: d.requests.items.map((r) => ({ ...r, age: duration(r.ageSeconds), createdText: when(r.created) })),
    },
    invitations: {
      ...d.invitations,
      items: d.invitations.items.map((t) => ({
        ...t,
        nearlyUsedUp: t.why.includes('uses'),
        endingSoon: t.why.includes('expiry'),
        usesText: t.maxUsers > 0 ? `${t.uses} of ${t.maxUsers} used` : `${t.uses} used (no limit)`,
        expiresText: t.expires ? `ends ${inWords(t.expires)} (${when(t.expires)})` : 'no end date',
      })),
    },
    gate: d.gate,
    chart: { svg: gateChartSvg(d.gate.days), legend: gateChartLegend(d.gate.days), table: gateChartTable(d.gate.days) },
    enrolments: {
      ...d.enrolments,
      items: d.enrolments.items.map((e) => ({ ...e, enrolledText: `${inWords(e.enrolled)} (${when(e.enrolled)})` })),
    },
    mail: {
      ...d.mail,
      oldestText: d.mail.oldestQueued ? `${inWords(d.mail.oldestQueued)} (${when(d.mail.oldestQueued)})` : '',
      failingItems: d.mail.failingItems.map((m) => ({ ...m, queuedText: when(m.queued), nextText: `${inWords(m.nextAttempt)} (${when(m.nextAttempt)})` })),
      lastError: d.mail.failingItems[0],
    },
  };
}

export const dashboardPages: ConsoleSection = (router, { gh, page }) => {
  router.get('/', async (ctx) => {
    const answer = await invoke(showDashboard, { gh, actor: adminOf(ctx).actor }, {});
    page(ctx, 'dashboard', 'dashboard', { title: 'Dashboard', dashboard: dashboardView(answer) });
  });
};
