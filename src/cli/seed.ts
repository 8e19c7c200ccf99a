/**
 * `npm run seed`: migrates the database at `DATABASE_URL` and writes the reference platform's demo data
 * (`services/platform/Seed.ts`: players `demo-1`..`demo-5`, tournaments, leaderboards, missions). Safe to run
 * again: every row is an upsert. The gateway answers from these tables while `PLATFORM_API_URL` is unset.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Effect } from "effect"
import * as Postgres from "../../layers/Postgres.ts"
import { seed } from "../../services/platform/Seed.ts"

export { seed }

const program = Effect.gen(function*() {
  const seeded = yield* seed
  process.stdout.write(
    `seeded the reference platform: ${seeded.users} players (demo-1..demo-${seeded.users}), ` +
      `${seeded.transactions} transactions, ${seeded.tournaments} tournaments with leaderboards, missions, ` +
      `promo codes (WELCOME10, SPRING expired, VIP for KYC 3, ONCE single use)\n`
  )
}).pipe(Effect.provide(Postgres.layer))

if (import.meta.main) NodeRuntime.runMain(program)
