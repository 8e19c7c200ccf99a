/**
 * Files the bots can fetch: registered through the control API or uploaded with sendPhoto or
 * sendDocument. `getFile` answers a file's `file_path`, and `GET /file/bot<token>/<file_path>`
 * serves its bytes.
 */
import { Context, Effect, Layer } from "effect"
import type { File } from "./TelegramTypes.ts"

export interface StoredFile {
  readonly file_id: string
  readonly file_unique_id: string
  readonly file_path: string
  readonly file_size: number
  readonly mimeType: string
  readonly fileName?: string
  readonly content: Uint8Array
}

export interface FileInput {
  /** The bytes, or a string stored as UTF-8. */
  readonly content: Uint8Array | string
  readonly fileId?: string
  /** Where it is served under `/file/bot<token>/`; defaults to `<directory>/file_<n><ext>`. */
  readonly filePath?: string
  /** The folder of a generated `filePath` (default `documents`). */
  readonly directory?: string
  readonly mimeType?: string
  readonly fileName?: string
}

export class Files extends Context.Service<Files, {
  readonly register: (input: FileInput) => StoredFile
  readonly byId: (fileId: string) => StoredFile | undefined
  readonly byPath: (filePath: string) => StoredFile | undefined
  readonly reset: Effect.Effect<void>
}>()("tg-gateway/emulator/Files") {
  static readonly layer = Layer.sync(Files)(() => {
    let byId = new Map<string, StoredFile>()
    let byPath = new Map<string, StoredFile>()
    let counter = 0

    return {
      register: (input) => {
        const content = typeof input.content === "string" ? new TextEncoder().encode(input.content) : input.content
        const n = ++counter
        const previous = input.fileId === undefined ? undefined : byId.get(input.fileId)
        if (previous !== undefined) byPath.delete(previous.file_path)
        const file: StoredFile = {
          file_id: input.fileId ?? `BQACAgEmulatorFile${n.toString(36).padStart(8, "0")}`,
          file_unique_id: `AgADEmu${n.toString(36).padStart(6, "0")}`,
          file_path: input.filePath ?? `${input.directory ?? "documents"}/file_${n}${extensionOf(input.fileName)}`,
          file_size: content.byteLength,
          mimeType: input.mimeType ?? "application/octet-stream",
          content,
          ...(input.fileName === undefined ? {} : { fileName: input.fileName })
        }
        byId.set(file.file_id, file)
        byPath.set(file.file_path, file)
        return file
      },
      byId: (fileId) => byId.get(fileId),
      byPath: (filePath) => byPath.get(filePath),
      reset: Effect.sync(() => {
        byId = new Map()
        byPath = new Map()
      })
    }
  })
}

/** The Bot API `File` object of a stored file. */
export const toTelegramFile = (file: StoredFile): File => ({
  file_id: file.file_id,
  file_unique_id: file.file_unique_id,
  file_size: file.file_size,
  file_path: file.file_path
})

const extensionOf = (fileName: string | undefined) => {
  const match = fileName === undefined ? null : /\.[A-Za-z0-9]{1,8}$/.exec(fileName)
  return match === null ? "" : match[0]
}
