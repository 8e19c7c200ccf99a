/**
 * Signs initData and Login Widget data the way Telegram does, for tests: what a real client would send for a
 * bot whose token the test knows. (Telegram's Ed25519 signatures cannot be made here: its private key is
 * Telegram's; tests use a published vector for those.)
 */
import * as Crypto from "node:crypto"

const checkString = (fields: Readonly<Record<string, string>>) =>
  Object.entries(fields).map(([k, v]) => `${k}=${v}`).sort().join("\n")

/** `fields` (values as Telegram sends them, JSON already stringified), signed, as a query string. */
export const signInitData = (fields: Readonly<Record<string, string>>, botToken: string): string => {
  const key = Crypto.createHmac("sha256", "WebAppData").update(botToken).digest()
  const hash = Crypto.createHmac("sha256", key).update(checkString(fields)).digest("hex")
  return new URLSearchParams({ ...fields, hash }).toString()
}

export const initDataFor = (
  user: { readonly id: number; readonly first_name: string; readonly language_code?: string; readonly username?: string },
  botToken: string,
  authDate: number,
  extra: Readonly<Record<string, string>> = {}
) =>
  signInitData({
    query_id: "AAHdF6IQAAAAAN0XohDhrOrc",
    user: JSON.stringify(user),
    auth_date: String(authDate),
    ...extra
  }, botToken)

/** Login Widget fields signed with `botToken`, as the widget's callback hands them over. */
export const signLoginWidget = <F extends Readonly<Record<string, string | number>>>(fields: F, botToken: string) => {
  const key = Crypto.createHash("sha256").update(botToken).digest()
  const hash = Crypto.createHmac("sha256", key).update(
    checkString(Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, String(v)])))
  ).digest("hex")
  return { ...fields, hash }
}
