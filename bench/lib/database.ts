/** A throwaway Postgres database for one benchmark run, on the server of `DATABASE_URL`. */
import * as PgClient from "@effect/sql-pg/PgClient"
import { Effect, Redacted } from "effect"
import * as Reactivity from "effect/reactivity/Reactivity"
import * as Crypto from "node:crypto"

const adminUrl = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres"

const exec = (statement: string) =>
  Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    const sql = yield* PgClient.make({ url: Redacted.make(adminUrl), maxConnections: 1 })
    yield* sql.unsafe(statement)
  })).pipe(Effect.provide(Reactivity.layer)))

/** Creates the database; `drop` removes it. */
export const scratchDatabase = async (label: string) => {
  const name = `bench_${label}_${Crypto.randomBytes(4).toString("hex")}`
  await exec(`CREATE DATABASE ${name}`)
  const url = new URL(adminUrl)
  url.pathname = `/${name}`
  return { url: url.toString(), drop: () => exec(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) }
}
