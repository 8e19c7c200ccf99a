/** Waiting until processes of one role share a set of partitions, for benchmarks that start several. */
import { Redis } from "ioredis"

/**
 * Waits until every lease in `leases` is held and `count` distinct processes hold them, unchanged for a second
 * (a lease's value is `member|epoch`); fails after 60 s naming `what`.
 */
export const leasesSettled = async (redisUrl: string, leases: ReadonlyArray<string>, count: number, what: string) => {
  const client = new Redis(redisUrl)
  try {
    const deadline = Date.now() + 60_000
    let last = ""
    while (Date.now() < deadline) {
      const holders = (await client.mget(...leases)).map((l) => l?.split("|")[0] ?? "")
      const now = holders.join(",")
      if (holders.every((h) => h !== "") && new Set(holders).size === count && now === last) return
      last = now
      await new Promise((resolve) => setTimeout(resolve, 1000))
    }
    throw new Error(`the ${count} ${what} did not share their partitions within 60 s`)
  } finally {
    client.disconnect()
  }
}
