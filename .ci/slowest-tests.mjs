// Prints the ten slowest test files of the last `npm test`, from vitest's JSON report
// (vitest.config.ts writes it): where the suite's minutes go on the CI machine.
// A file's time runs from its first test's start to its last test's end (vitest's JSON
// reporter); importing the file and its first beforeAll come before that.
// Usage: node .ci/slowest-tests.mjs [report.json]
import { readFileSync } from 'node:fs';
import path from 'node:path';

const reportPath = process.argv[2] ?? 'test-results/vitest.json';
let report;
try {
  report = JSON.parse(readFileSync(reportPath, 'utf8'));
} catch (err) {
  console.log(`ci: no test report at ${reportPath} (${err instanceof Error ? err.message : String(err)}), so no list of the slowest files`);
  process.exit(0);
}

const files = report.testResults
  .map((file) => ({ name: path.relative(process.cwd(), file.name), seconds: (file.endTime - file.startTime) / 1000, failed: file.status === 'failed' }))
  .sort((a, b) => b.seconds - a.seconds)
  .slice(0, 10);
console.log(`\nci: the ${files.length} slowest test files (seconds, first test start to last test end)`);
for (const file of files) console.log(`${file.seconds.toFixed(1).padStart(7)}  ${file.name}${file.failed ? '  (failed)' : ''}`);
