/** English texts of the bot. No PII and no amounts ever go into chat messages. */
export const en = {
  welcome: "Welcome! Here you get tournament news, missions, promos and support.\nMoney stays safe in your web cabinet.",
  welcomeBack: "Welcome back! Pick an option from the menu below.",
  linkReceived: "Thanks, your link was received.",
  linkInvalid: "This link is not valid. Please use the latest link you were sent.",
  help:
    "What I can do:\n/start: the main menu\n/help: this message\n\nUse the buttons below the message field: Profile, Tournaments & missions, Bonuses & promo, Support.",
  menuPrompt: "Pick an option from the menu below.",
  notUnderstood: "Sorry, I didn't get that. Please use the menu below.",
  menu: {
    profile: "👤 Profile",
    tournaments: "🏆 Tournaments & missions",
    bonuses: "🎁 Bonuses & promo",
    support: "💬 Support"
  },
  profile: "Your profile, KYC status and wallet preview are in the app.",
  openApp: "Open the app",
  openCabinet: "Open my cabinet",
  tournaments: "Tournaments and missions: see what is running now and what starts soon.",
  tournamentsList: "Tournaments",
  missionsList: "Missions",
  noTournaments: "No tournaments are open right now. We'll let you know when the next one starts.",
  noMissions: "No missions are active for you right now.",
  bonuses: "Bonuses and promo codes.",
  enterPromo: "Enter a promo code",
  promoSoon: "Promo codes can be activated in the app for now.",
  support: "How can we help?",
  faq: "FAQ",
  faqAnswer: "Deposits and withdrawals happen only in your web cabinet. The bot never asks for passwords or card data.",
  contact: "Contact an operator",
  contactAnswer: "An operator will answer you here as soon as possible.",
  staleButton: "This button is no longer active. Please use the menu.",
  done: "Done"
} as const

export type Texts = { readonly [K in keyof typeof en]: (typeof en)[K] extends string ? string : { readonly [J in keyof (typeof en)[K]]: string } }
