/**
 * Postgres through `@effect/sql-pg`, with the migrations in `migrations/` applied when the layer starts
 * (idempotent, and safe with several processes starting at once: the Migrator locks its table).
 */
import { NodeServices } from "@effect/platform-node"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as PgMigrator from "@effect/sql-pg/PgMigrator"
import { Effect, Layer, Redacted } from "effect"
import * as MigratorFileSystem from "effect/sql/MigratorFileSystem"
import * as Path from "node:path"
import * as Env from "../src/config.ts"

const migrationsDirectory = Path.join(import.meta.dirname, "..", "migrations")

/** Applies every migration not yet applied. */
export const migrate = PgMigrator.run({
  loader: MigratorFileSystem.fromFileSystem(migrationsDirectory),
  table: "gateway_migrations"
}).pipe(Effect.provide(NodeServices.layer))

const client = (url: Redacted.Redacted) =>
  PgClient.layer({ url, maxConnections: 10, connectTimeout: "5 seconds", applicationName: "tg-gateway" })

/** `SqlClient` + `PgClient` for an explicit URL, migrated. */
export const layerUrl = (url: Redacted.Redacted) =>
  Layer.effectDiscard(migrate).pipe(Layer.provideMerge(client(url)))

/** `SqlClient` + `PgClient` for `DATABASE_URL`, migrated. */
export const layer = Layer.unwrap(Effect.gen(function*() {
  return layerUrl(yield* Env.databaseUrl)
}))
