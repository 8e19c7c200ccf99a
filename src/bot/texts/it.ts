/** Italian texts of the bot. No PII and no amounts ever go into chat messages. */
import type { Texts } from "./en.ts"

export const it: Texts = {
  welcome:
    "Benvenuto! Qui ricevi novità sui tornei, missioni, promozioni e assistenza.\nIl denaro resta al sicuro nel tuo cabinet web.",
  welcomeBack: "Bentornato! Scegli un'opzione dal menu qui sotto.",
  linkInvalid: "Questo link non è valido. Usa l'ultimo link che ti abbiamo inviato.",
  linkReused: "Questo link è già stato usato. Se te ne serve uno nuovo, richiedilo nel tuo cabinet o all'assistenza.",
  linkExpired: "Questo link è scaduto. Richiedine uno nuovo nel tuo cabinet.",
  linkNotYours: "Questo link è stato creato per un altro account. Usa un link inviato a te.",
  campaignWelcome: "Benvenuto! Il tuo invito è stato ricevuto.",
  landing: { tournament: "Apri il torneo", mission: "Apri la missione", promo: "Apri la promo" },
  resumePrompt: "Riprendi da dove avevi lasciato:",
  resumeButton: "Continua",
  referralWelcome: "Benvenuto! Sei arrivato con l'invito di un amico.",
  linkConfirm: "Collegare questo account Telegram al tuo account del cabinet? Riceverai qui le novità su tornei, missioni e prelievi.",
  linkConfirmButton: "✅ Collega il mio account",
  linkCancelButton: "Annulla",
  linkDone: "Il tuo account è collegato. Puoi scegliere quali notifiche ricevere nelle impostazioni.",
  linkTaken: "Questo account Telegram è già collegato a un altro account. Scollegalo prima nelle impostazioni, poi usa di nuovo il link.",
  linkCancelled: "Non è stato collegato nulla.",
  linkPendingGone: "Questa conferma non è più valida. Apri un nuovo link dal tuo cabinet.",
  moneyInCabinet: "Depositi e prelievi avvengono solo nel tuo cabinet web.",
  help:
    "Cosa posso fare:\n/start: il menu principale\n/help: questo messaggio\n\nUsa i pulsanti sotto il campo del messaggio: Profilo, Tornei e missioni, Bonus e promo, Assistenza.",
  menuPrompt: "Scegli un'opzione dal menu qui sotto.",
  notUnderstood: "Scusa, non ho capito. Usa il menu qui sotto.",
  menu: {
    profile: "👤 Profilo",
    tournaments: "🏆 Tornei e missioni",
    bonuses: "🎁 Bonus e promo",
    support: "💬 Assistenza"
  },
  profile: "Profilo, stato KYC e anteprima del portafoglio sono nell'app.",
  openApp: "Apri l'app",
  openCabinet: "Apri il mio cabinet",
  tournaments: "Tornei e missioni: guarda cosa è in corso e cosa inizia a breve.",
  tournamentsList: "Tornei",
  missionsList: "Missioni",
  noTournaments: "Al momento non ci sono tornei aperti. Ti avviseremo quando inizia il prossimo.",
  noMissions: "Al momento non hai missioni attive.",
  bonuses: "Bonus e codici promo.",
  enterPromo: "Inserisci un codice promo",
  promoSoon: "Per ora i codici promo si attivano nell'app.",
  support: "Come possiamo aiutarti?",
  faq: "Domande frequenti",
  faqAnswer:
    "Depositi e prelievi avvengono solo nel tuo cabinet web. Il bot non chiede mai password o dati della carta.",
  contact: "Contatta un operatore",
  contactAnswer: "Un operatore ti risponderà qui il prima possibile.",
  staleButton: "Questo pulsante non è più attivo. Usa il menu.",
  done: "Fatto"
}
