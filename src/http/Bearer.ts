/**
 * The Mini App's routes are called with `Authorization: Bearer <jwt>` (the access token of a sign-in). A request
 * is counted against its address's budget first, then, once the token verifies, against its user's: the sign-in
 * budgets or the Mini App data routes' (`AuthLimits`), as the route says.
 */
import { Effect } from "effect"
import { HttpServerRequest } from "effect/http"
import type { Budget } from "./AuthLimits.ts"
import { Unauthenticated } from "./AuthApi.ts"
import type { TokenIssuer } from "../../services/TokenIssuer.ts"

/** The claims of the request's bearer token, within the address's and then the user's `budget`. */
export const authenticator = (budget: Budget, tokens: TokenIssuer["Service"]) =>
  Effect.gen(function*() {
    yield* budget.address
    const request = yield* HttpServerRequest.HttpServerRequest
    const header = request.headers["authorization"] ?? ""
    // The scheme is case-insensitive (RFC 9110); the token is a compact JWS.
    const match = /^bearer +([A-Za-z0-9_.-]{1,4096})$/i.exec(header)
    if (match === null) return yield* new Unauthenticated({ message: "missing or malformed bearer token" })
    const claims = yield* tokens.verify(match[1]!)
    yield* budget.user(claims.tgUid)
    return claims
  })
