/**
 * A worker process for multi-process tests: the real worker role (partition ownership, readers, chat actors,
 * Sender) around the recording handler, configured from the environment like `src/main.ts`.
 * `WORK_MS` simulates handler work; `REPLY=1` makes each update send one message through the Sender.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Layer } from "effect"
import * as Roles from "../../layers/Roles.ts"
import * as Telemetry from "../../layers/Telemetry.ts"
import { recordingHandler } from "./RecordingHandler.ts"

const handler = recordingHandler({
  reply: process.env.REPLY === "1",
  workMs: Number(process.env.WORK_MS ?? 0)
})

NodeRuntime.runMain(
  Layer.launch(
    Roles.worker(handler).pipe(Layer.provide(Roles.infrastructure), Layer.provide(Telemetry.layer))
  )
)
