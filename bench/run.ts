/**
 * `npm run bench -- <name> [--quick]`: runs `bench/<name>.ts`, prints its table, and as the last line one JSON
 * object `{"bench":"<name>", ...figures}`. `--quick` keeps every benchmark under 60 s on a 2-core machine.
 */
const [name, ...flags] = process.argv.slice(2)
const benches = ["ingest", "e2e", "broadcast", "initdata", "exchange", "mailing"]
if (name === undefined || !benches.includes(name)) {
  process.stderr.write(`usage: npm run bench -- <${benches.join("|")}> [--quick]\n`)
  process.exit(2)
}
const quick = flags.includes("--quick")
const module = (await import(`./${name}.ts`)) as {
  run: (options: { quick: boolean }) => Promise<{ table: ReadonlyArray<ReadonlyArray<unknown>>; figures: Record<string, unknown> }>
}
const started = performance.now()
const { table, figures } = await module.run({ quick })
const widths = table[0]!.map((_, c) => Math.max(...table.map((row) => String(row[c]).length)))
for (const row of table) process.stdout.write(row.map((cell, c) => String(cell).padEnd(widths[c]!)).join("  ") + "\n")
process.stdout.write(`(${((performance.now() - started) / 1000).toFixed(1)} s, ${quick ? "quick" : "full"} run)\n`)
process.stdout.write(JSON.stringify({ bench: name, quick, ...figures }) + "\n")
process.exit(0)
