/**
 * `npm run emulator`: a standalone Telegram Bot API emulator. Configured from the environment
 * (EMULATOR_PORT, EMULATOR_HOST, EMULATOR_GLOBAL_RATE, EMULATOR_CHAT_RATE,
 * EMULATOR_GROUP_RATE_PER_MIN, EMULATOR_MAX_IN_FLIGHT, EMULATOR_BOT_USERNAME, EMULATOR_TOKENS);
 * limits left unset are off. Logs the URL to use as TELEGRAM_API_ROOT.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Config, Effect, Layer, Option } from "effect"
import { Emulator } from "./Emulator.ts"
import type { EmulatorOptions } from "./Options.ts"

const optionalNumber = (name: string) => Config.option(Config.Number(name))

const EmulatorConfig = Config.all({
  port: Config.Port("EMULATOR_PORT").pipe(Config.withDefault(8081)),
  host: Config.String("EMULATOR_HOST").pipe(Config.withDefault("127.0.0.1")),
  globalRate: optionalNumber("EMULATOR_GLOBAL_RATE"),
  chatRate: optionalNumber("EMULATOR_CHAT_RATE"),
  groupRatePerMin: optionalNumber("EMULATOR_GROUP_RATE_PER_MIN"),
  maxInFlight: optionalNumber("EMULATOR_MAX_IN_FLIGHT"),
  botUsername: Config.option(Config.String("EMULATOR_BOT_USERNAME")),
  tokens: Config.option(Config.String("EMULATOR_TOKENS"))
})

const Main = Layer.unwrap(Effect.gen(function*() {
  const config = yield* EmulatorConfig
  const tokens = Option.map(config.tokens, (list) => list.split(",").map((token) => token.trim()).filter((t) => t !== ""))
  const options: EmulatorOptions = {
    port: config.port,
    host: config.host,
    limits: {
      globalPerSecond: Option.getOrNull(config.globalRate),
      chatPerSecond: Option.getOrNull(config.chatRate),
      groupPerMinute: Option.getOrNull(config.groupRatePerMin),
      maxInFlight: Option.getOrNull(config.maxInFlight)
    },
    ...Option.match(config.botUsername, { onNone: () => ({}), onSome: (botUsername) => ({ botUsername }) }),
    ...Option.match(tokens, { onNone: () => ({}), onSome: (list) => ({ tokens: list }) })
  }
  return Layer.effectDiscard(Effect.gen(function*() {
    const emulator = yield* Emulator
    yield* Effect.log(`Telegram Bot API emulator listening on ${emulator.url}`)
    yield* Effect.log(`default bot token: ${emulator.token}; control API: ${emulator.url}/_emulator/`)
  })).pipe(Layer.provide(Emulator.layer(options)))
}))

NodeRuntime.runMain(Layer.launch(Main))
