// knex's dialect clients, imported by src/db/knex.ts to extend them (knex ships no types for lib/).
declare module 'knex/lib/dialects/postgres/index.js' {
  import type { Knex } from 'knex';
  const Client_PG: typeof Knex.Client;
  export default Client_PG;
}

declare module 'knex/lib/dialects/better-sqlite3/index.js' {
  import type { Knex } from 'knex';
  const Client_BetterSQLite3: typeof Knex.Client;
  export default Client_BetterSQLite3;
}
