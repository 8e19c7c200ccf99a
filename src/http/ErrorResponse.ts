/**
 * The one JSON error shape of every route: `{"error":{"code":"<snake_case>","message":"<human text>"}}`.
 */
import { HttpServerResponse } from "effect/http"

export const errorResponse = (
  status: number,
  code: string,
  message: string,
  headers?: Record<string, string>
): HttpServerResponse.HttpServerResponse =>
  HttpServerResponse.jsonUnsafe({ error: { code, message } }, headers === undefined ? { status } : { status, headers })
