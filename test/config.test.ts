/**
 * Configuration: the README's table lists every variable the code reads; a missing or bad value stops start-up
 * with one line naming the variable; secrets never reach the output.
 */
import { assert, describe, it } from "@effect/vitest"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { table } from "../src/config.ts"

const root = Path.join(import.meta.dirname, "..")

const start = (env: Record<string, string>) => {
  const clean = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !table.some((row) => row.name === k))
  )
  const result = ChildProcess.spawnSync(process.execPath, [Path.join(root, "src/main.ts")], {
    cwd: root,
    env: { ...clean, ...env },
    encoding: "utf8",
    timeout: 30_000
  })
  return { status: result.status, stderr: result.stderr.trim(), stdout: result.stdout }
}

describe("configuration", () => {
  it("lists every variable the code reads in the README's configuration table", () => {
    const readme = Fs.readFileSync(Path.join(root, "README.md"), "utf8")
    const source = Fs.readFileSync(Path.join(root, "src/config.ts"), "utf8")
    const read = [...source.matchAll(/Config\.\w+\(\s*"([A-Z][A-Z0-9_]+)"|"([A-Z][A-Z0-9_]+)"\s*\)/g)]
      .map((m) => m[1] ?? m[2]!)
    for (const name of new Set(read)) assert.isTrue(table.some((row) => row.name === name), `${name} in table`)
    for (const row of table) assert.match(readme, new RegExp(`^\\| \`${row.name}\``, "m"), `${row.name} in README`)
  })

  it("stops with one line naming a missing required variable", () => {
    const result = start({})
    assert.strictEqual(result.status, 1)
    assert.strictEqual(result.stderr, "tg-gateway: configuration error: BOT_TOKEN: is required but not set")
  })

  it("stops with one line naming a bad value", () => {
    for (const [name, value] of [["PARTITIONS", "0"], ["PORT", "http"], ["ROLES", "http,cashier"], ["WEBHOOK_SECRET", "has space"]]) {
      const result = start({ BOT_TOKEN: "1:secret-token", WEBHOOK_SECRET: "s", [name!]: value! })
      assert.strictEqual(result.status, 1, name)
      assert.strictEqual(result.stderr.split("\n").length, 1, result.stderr)
      assert.match(result.stderr, new RegExp(`^tg-gateway: configuration error: ${name}: `))
      assert.notInclude(result.stderr + result.stdout, "secret-token")
    }
  })

  it("names an unreachable Redis without printing its password", () => {
    const result = start({
      BOT_TOKEN: "1:secret-token",
      WEBHOOK_SECRET: "s",
      REDIS_URL: "redis://:hunter2@127.0.0.1:1"
    })
    assert.strictEqual(result.status, 1)
    assert.strictEqual(result.stderr.split("\n").length, 1, result.stderr)
    assert.match(result.stderr, /Redis does not answer at redis:\/\/:\*\*\*@127\.0\.0\.1:1/)
    assert.notInclude(result.stderr + result.stdout, "hunter2")
    assert.notInclude(result.stderr + result.stdout, "secret-token")
  })
})
