/**
 * The Prometheus metrics of the gateway (names fixed by the contract), defined once and shared.
 * `GET /metrics` renders them with `PrometheusMetrics.format`.
 */
import { Metric } from "effect"

/** One metric per label value, created once: hot paths look it up instead of building it per call. */
const byLabel = <K extends string | number, M>(make: (label: K) => M): (label: K) => M => {
  const cache = new Map<K, M>()
  return (label) => {
    let metric = cache.get(label)
    if (metric === undefined) cache.set(label, metric = make(label))
    return metric
  }
}

/** The same for metrics with two labels. */
const byLabels = <M>(make: (a: string, b: string) => M): (a: string, b: string) => M => {
  const cache = new Map<string, M>()
  return (a, b) => {
    const key = `${a}\u0000${b}`
    let metric = cache.get(key)
    if (metric === undefined) cache.set(key, metric = make(a, b))
    return metric
  }
}

const secondsBuckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

export const webhookLatency = Metric.histogram("tg_webhook_latency_seconds", {
  description: "Time from webhook request to answer",
  boundaries: secondsBuckets
})
export const webhookResponses = byLabel((code: number) =>
  Metric.counter("tg_webhook_responses_total", {
    description: "Webhook answers by status code",
    incremental: true,
    attributes: { code: String(code) }
  }))
export const updatesDeduplicated = Metric.counter("tg_updates_deduplicated_total", {
  description: "Updates received again and not queued a second time",
  incremental: true
})
export const updatesIngested = byLabel((source: "webhook" | "polling") =>
  Metric.counter("tg_updates_ingested_total", {
    description: "Updates appended to the update stream",
    incremental: true,
    attributes: { source }
  }))
export const updatesProcessed = byLabel((result: "ok" | "dead_letter" | "already_applied" | "fenced") =>
  Metric.counter("tg_updates_processed_total", {
    description: "Updates finished by chat actors, by result",
    incremental: true,
    attributes: { result }
  }))
export const handlerFailures = Metric.counter("tg_handler_failures_total", {
  description: "Handler attempts that failed (each is retried until the attempts run out)",
  incremental: true
})
export const handleLatency = Metric.histogram("tg_update_handle_seconds", {
  description: "Time from stream append to acknowledgement",
  boundaries: secondsBuckets
})
export const queueLag = byLabel((stream: string) =>
  Metric.gauge("tg_queue_lag_seconds", {
    description: "Age of the oldest entry not yet acknowledged",
    attributes: { stream }
  }))
export const queuePending = byLabel((stream: string) =>
  Metric.gauge("tg_queue_pending", {
    description: "Entries delivered to a consumer and not yet acknowledged",
    attributes: { stream }
  }))
export const partitionsOwned = byLabel((role: string) =>
  Metric.gauge("tg_partitions_owned", {
    description: "Partitions this process owns: of the update stream (role worker) or of the outbox (role sender)",
    attributes: { role }
  }))
export const actorsActive = Metric.gauge("tg_chat_actors_active", {
  description: "Chat actors alive in this process"
})
export const messagesSent = byLabels((lane, method) =>
  Metric.counter("tg_messages_sent_total", {
    description: "Bot API calls that succeeded, by lane and method",
    incremental: true,
    attributes: { lane, method }
  }))
export const sendErrors = byLabel((code: string) =>
  Metric.counter("tg_send_errors_total", {
    description: "Bot API calls that failed, by error code",
    incremental: true,
    attributes: { code }
  }))
export const sendDeduplicated = Metric.counter("tg_send_deduplicated_total", {
  description: "Bot API calls answered from the idempotency record instead of being sent again",
  incremental: true
})
export const sendInDoubt = Metric.counter("tg_send_in_doubt_total", {
  description: "Bot API calls whose earlier attempt died mid-flight; not sent again (at most once)",
  incremental: true
})
export const floodWaitHits = Metric.counter("tg_flood_wait_hits_total", {
  description: "429 answers from the Bot API",
  incremental: true
})
export const outboxQueued = byLabel((lane: string) =>
  Metric.counter("tg_outbox_queued_total", {
    description: "Messages appended to an outbox lane",
    incremental: true,
    attributes: { lane }
  }))
export const outboxFinished = byLabels((lane, result) =>
  Metric.counter("tg_outbox_finished_total", {
    description: "Queued messages finished, by lane and result (sent, unreachable, dead_letter; withheld, cancelled: " +
      "a mailing's message not sent because it was paused or cancelled; unlinked, no_consent: withdrawn before " +
      "sending; late: past its deadline; store_unavailable: a mailing's message given back after a store outage)",
    incremental: true,
    attributes: { lane, result }
  }))
export const chatsUnreachable = Metric.counter("tg_chats_marked_unreachable_total", {
  description: "Chats marked unreachable after a 403 (blocked, deactivated, kicked)",
  incremental: true
})
export const authVerifications: (method: "init_data" | "login_widget", result: string) => Metric.Counter<number> =
  byLabels((method, result) =>
    Metric.counter("tg_auth_verify_total", {
      description: "Sign-in checks (initData, Login Widget) by method and result (ok or the refusal's code)",
      incremental: true,
      attributes: { method, result }
    }))
export const jwtIssueLatency = Metric.histogram("tg_jwt_issue_latency_seconds", {
  description: "Time to sign one access token",
  boundaries: [0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.1]
})
export const leaderboardRtt = Metric.histogram("tg_leaderboard_rtt_seconds", {
  description: "Round trip of one leaderboard read from the platform (HTTP backend or reference tables), answered or not",
  boundaries: secondsBuckets
})

export const apiResponses = byLabels((route, codeClass) =>
  Metric.counter("tg_api_responses_total", {
    description: "Answers of the gateway's API routes by route and status class",
    incremental: true,
    attributes: { route, code_class: codeClass }
  }))

export const deepLinkEvents = byLabel((result: string) =>
  Metric.counter("tg_deep_link_events_total", {
    description: "Deep-link resolutions by result (ok, reused, expired, not_yours, invalid)",
    incremental: true,
    attributes: { result }
  }))

export const sessionsRevoked = byLabel((reason: string) =>
  Metric.counter("tg_sessions_revoked_total", {
    description: "Sign-in sessions revoked, by reason (refresh_reused: a copied refresh token; unlinked)",
    incremental: true,
    attributes: { reason }
  }))

export const notifications = byLabels((template, result) =>
  Metric.counter("tg_notifications_total", {
    description: "Notifications by template and result (queued: one per chat; unlinked, no_consent, unreachable, " +
      "unknown_chat: skipped targets)",
    incremental: true,
    attributes: { template, result }
  }))
export const platformEvents = byLabel((result: string) =>
  Metric.counter("tg_platform_events_total", {
    description: "Platform events read, by result (ok, dead_letter, expired, pending: left for a store outage, " +
      "trimmed: trimmed by the producer before they were handled)",
    incremental: true,
    attributes: { result }
  }))

export const reminders = byLabel((result: string) =>
  Metric.counter("tg_reminders_total", {
    description: "Tournament reminders by result (set, already_set, too_late, not_found, limit_reached, cancelled, " +
      "fired, skipped_<reason>)",
    incremental: true,
    attributes: { result }
  }))
export const reminderDelay = Metric.histogram("tg_reminder_delay_seconds", {
  description: "Time from a reminder's due time to its message entering the outbox",
  boundaries: secondsBuckets
})

export const mailingEvents = byLabel((event: string) =>
  Metric.counter("tg_mailings_total", {
    description: "Mailing transitions (created, started, paused, auto_paused, resumed, cancelled, completed)",
    incremental: true,
    attributes: { event }
  }))
export const mailingRecipients = byLabel((result: string) =>
  Metric.counter("tg_mailing_recipients_total", {
    description: "Mailing recipients by result (queued and skipped_<reason> when a wave is released; sent, blocked, " +
      "failed, cancelled, withheld (back to pending by a pause) as the sender reports)",
    incremental: true,
    attributes: { result }
  }))
export const mailingWaves = Metric.counter("tg_mailing_waves_total", {
  description: "Mailing waves released",
  incremental: true
})
