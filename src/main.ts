/** Entry point of `gatehouse` and `npm start`: hands argv to the CLI. */
import { runCli } from './cli/index.ts';

process.exitCode = await runCli(process.argv);
