/**
 * Assembles one emulator instance: its state, the Bot API and control services, webhook delivery,
 * and the HTTP server (Effect's `HttpRouter` on `@effect/platform-node`'s `NodeHttpServer`)
 * listening on the configured host and port. Outputs the `HttpServer` (for its address) and the
 * services the in-process API reads.
 */
import { NodeHttpServer } from "@effect/platform-node"
import { Layer } from "effect"
import { HttpRouter } from "effect/http"
import * as Http from "node:http"
import { BotApi } from "./BotApi.ts"
import { BotApiRoutes } from "./BotApiRoutes.ts"
import { Bots } from "./Bots.ts"
import { Chats } from "./Chats.ts"
import { Control } from "./Control.ts"
import { ControlRoutes } from "./ControlRoutes.ts"
import { Faults } from "./Faults.ts"
import { Files } from "./Files.ts"
import { Journal } from "./Journal.ts"
import { Limits } from "./Limits.ts"
import { type EmulatorOptions, resolveOptions, Settings } from "./Options.ts"
import { Signal } from "./Signal.ts"
import { Updates } from "./Updates.ts"
import { WebhookDelivery } from "./WebhookDelivery.ts"

export const layer = (options?: EmulatorOptions) => {
  const resolved = resolveOptions(options)
  const base = Layer.mergeAll(Settings.layer(resolved), Signal.layer)
  const stores = Layer.mergeAll(Journal.layer, Limits.layer, Faults.layer, Chats.layer, Bots.layer, Files.layer).pipe(
    Layer.provideMerge(base)
  )
  const state = Updates.layer.pipe(Layer.provideMerge(stores))
  const core = Layer.mergeAll(BotApi.layer, Control.layer, WebhookDelivery).pipe(Layer.provideMerge(state))
  const http = HttpRouter.serve(Layer.mergeAll(BotApiRoutes, ControlRoutes), {
    disableLogger: !resolved.logRequests,
    disableListenLog: true
  }).pipe(
    Layer.provideMerge(NodeHttpServer.layer(() => Http.createServer({ keepAliveTimeout: 65_000 }), {
      port: resolved.port,
      host: resolved.host,
      gracefulShutdownTimeout: "1 second"
    }))
  )
  return http.pipe(Layer.provideMerge(core))
}
