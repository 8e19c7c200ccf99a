/**
 * The in-process emulator: a scoped service that starts the HTTP server on a loopback port
 * (ephemeral by default) and offers its base URL, the default bot's token, and every control and
 * inspection operation as an Effect. Other folders' tests provide `Emulator.layer()` and point the
 * gateway's TELEGRAM_API_ROOT at `url`.
 */
import { Context, Effect, Layer } from "effect"
import { HttpServer, type HttpServerError } from "effect/http"
import { NetAddress } from "effect/net"
import { Bots } from "./Bots.ts"
import { Control, type ControlApi } from "./Control.ts"
import type { EmulatorOptions } from "./Options.ts"
import * as Server from "./Server.ts"

export interface EmulatorApi extends ControlApi {
  /** Base URL, e.g. `http://127.0.0.1:40123`: use it as TELEGRAM_API_ROOT. */
  readonly url: string
  /** The default bot's token (accepted, and the bot updates are injected for by default). */
  readonly token: string
  /** The default bot's id. */
  readonly botId: number
}

export class Emulator extends Context.Service<Emulator, EmulatorApi>()("tg-gateway/emulator/Emulator") {
  static readonly layer = (options?: EmulatorOptions): Layer.Layer<Emulator, HttpServerError.ServeError> =>
    Layer.effect(Emulator)(Effect.gen(function*() {
      const server = yield* HttpServer.HttpServer
      const control = yield* Control
      const bots = yield* Bots
      return { ...control, url: baseUrl(server.address), token: bots.defaultBot.token, botId: bots.defaultBot.id }
    })).pipe(Layer.provide(Server.layer(options)))
}

/** `http://host:port` of a listening address; a wildcard address is reached through loopback. */
const baseUrl = (address: NetAddress.SocketAddress): string => {
  if (NetAddress.isUnixPathAddress(address)) return `http+unix://${encodeURIComponent(NetAddress.formatUrlUnsafe(address))}`
  const url = new URL(NetAddress.formatUrlUnsafe(address))
  if (NetAddress.isUnspecified(address.address)) url.hostname = "127.0.0.1"
  return url.origin
}
