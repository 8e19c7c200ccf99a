/**
 * Reads the parameters of a Bot API request the ways Telegram accepts them: the query string, and
 * a JSON, `application/x-www-form-urlencoded` or `multipart/form-data` body (body values win).
 * Multipart file parts are collected into memory as uploads.
 */
import { Effect, Schema, Stream } from "effect"
import { type HttpServerRequest, Multipart, UrlParams } from "effect/http"
import { badRequest, type BotApiError } from "../BotApiError.ts"
import type { Upload } from "../methods/Method.ts"
import type { Params } from "./Params.ts"

export interface RequestParams {
  readonly params: Params
  readonly uploads: ReadonlyMap<string, Upload>
}

const decodeJsonObject = Schema.decodeUnknownEffect(Schema.fromJsonString(Schema.Record(Schema.String, Schema.Unknown)))

export const readParams = (
  request: HttpServerRequest.HttpServerRequest,
  query: Readonly<Record<string, string | ReadonlyArray<string>>>
): Effect.Effect<RequestParams, BotApiError> => {
  const params: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(query)) params[key] = typeof value === "string" ? value : value[0]
  const uploads = new Map<string, Upload>()
  const contentType = (request.headers["content-type"] ?? "").toLowerCase()
  const done = Effect.sync((): RequestParams => ({ params, uploads }))

  if (contentType.startsWith("application/json")) {
    return request.text.pipe(
      Effect.mapError(() => badRequest("can't read request body")),
      Effect.flatMap((text) =>
        text.trim() === ""
          ? Effect.succeed({})
          : decodeJsonObject(text).pipe(Effect.mapError(() => badRequest("can't parse JSON object")))
      ),
      Effect.flatMap((body) => {
        Object.assign(params, body)
        return done
      })
    )
  }
  if (contentType.startsWith("application/x-www-form-urlencoded")) {
    return request.urlParamsBody.pipe(
      Effect.mapError(() => badRequest("can't parse request body")),
      Effect.flatMap((body) => {
        for (const [key, value] of Object.entries(UrlParams.toRecord(body))) {
          params[key] = typeof value === "string" ? value : value[0]
        }
        return done
      })
    )
  }
  if (contentType.startsWith("multipart/form-data")) {
    return request.multipartStream.pipe(
      Stream.runForEach((part) =>
        Multipart.isField(part)
          ? Effect.sync(() => {
            params[part.key] = part.value
          })
          : Multipart.isFile(part)
          ? Effect.map(part.contentEffect, (content) => {
            uploads.set(part.key, { fileName: part.name, contentType: part.contentType, content })
          })
          : Effect.void
      ),
      Effect.mapError(() => badRequest("can't parse multipart/form-data request body")),
      Effect.flatMap(() => done)
    )
  }
  return done
}
