/**
 * The player's identity verification changed state. Transactional: sent to every linked, reachable player,
 * whatever the consents. The message names the state only; the cabinet has the details and the next step.
 */
import { Schema } from "effect"
import { defineTemplate } from "../Template.ts"

const Status = Schema.Literals(["pending", "approved", "rejected", "action_required"])

const en = {
  pending: "🪪 Your documents were received and are being checked.",
  approved: "🪪 Your identity is verified. Thank you!",
  rejected: "🪪 Your verification was not approved. Your cabinet explains why and what to do next.",
  action_required: "🪪 Your verification needs one more step in your cabinet."
} as const

const it = {
  pending: "🪪 Abbiamo ricevuto i tuoi documenti e li stiamo verificando.",
  approved: "🪪 La tua identità è verificata. Grazie!",
  rejected: "🪪 La verifica non è stata approvata. Nell'area personale trovi il motivo e cosa fare.",
  action_required: "🪪 La verifica richiede un altro passaggio nell'area personale."
} as const

export const template = defineTemplate({
  name: "kyc_status_changed",
  consent: undefined,
  vars: Schema.Struct({ status: Status }),
  texts: {
    en: (v, links) => ({ text: en[v.status], buttons: [[{ text: "Open your cabinet", url: links.cabinet }]] }),
    it: (v, links) => ({ text: it[v.status], buttons: [[{ text: "Apri l'area personale", url: links.cabinet }]] })
  },
  example: { status: "approved" }
})
