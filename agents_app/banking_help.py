"""Answers to the 77 BANKING77 questions: a help text with buttons for the action that follows,
or a hand-off when only a person can sort it out (disputes, identity, recalling money).

Three categories are actions the banking agent performs itself (`action`): a lost, stolen or
compromised card is blocked, a PIN blocked by wrong attempts is unblocked. Their answer here is
what to say when the action cannot run (no card on file, the flow was interrupted).
"""

from dataclasses import dataclass

from agents_app.replies import AgentReply

BALANCE = "Check my balance"
HISTORY = "Recent transactions"
TRANSFER = "Transfer money"
BLOCK = "Block a card"
UNBLOCK = "Unblock a card"
CARDS = "My cards"
ACCOUNTS = "My accounts"
PERSON = "Talk to a person"


@dataclass(frozen=True)
class Topic:
    text: str
    quick_replies: tuple[str, ...] = ()
    # Only a person can resolve it: the conversation goes to the support team.
    handoff: bool = False
    # The banking agent's intent that acts on it instead of answering, if any.
    action: str | None = None


def _help(text: str, *quick_replies: str) -> Topic:
    return Topic(text, (*quick_replies, PERSON))


def _person(text: str, *quick_replies: str) -> Topic:
    return Topic(text, quick_replies, handoff=True)


TOPICS: dict[str, Topic] = {
    # --- cards: getting one ------------------------------------------------------------------
    "activate_my_card": _help(
        "To activate your new card, open the app, go to Cards and choose 'Activate', then enter "
        "the last four digits printed on it. A first payment with your PIN activates it too.",
        CARDS,
    ),
    "card_arrival": _help(
        "Cards arrive within 5 working days of ordering (up to 10 abroad). If yours hasn't come "
        "after that, block it in case it went astray and order a replacement for free.",
        CARDS,
        BLOCK,
    ),
    "card_delivery_estimate": _help(
        "A new card is delivered within 5 working days in the country, up to 10 abroad; express "
        "delivery takes 2 working days for a small fee.",
        CARDS,
    ),
    "card_about_to_expire": _help(
        "We send a new card automatically about a month before yours expires, to your address "
        "on file. Keep using the old one until the new one is activated.",
        CARDS,
    ),
    "get_physical_card": _help(
        "You can order a physical card in the app under Cards > 'Order a card'. It uses your "
        "account's balance, and arrives within 5 working days.",
        CARDS,
    ),
    "order_physical_card": _help(
        "Order a physical card in the app under Cards > 'Order a card': choose debit or credit "
        "and confirm your address. Delivery takes up to 5 working days.",
        CARDS,
    ),
    "getting_spare_card": _help(
        "You can hold up to three cards on one account. Order an extra one in the app under "
        "Cards > 'Order a card'; the first spare card is free.",
        CARDS,
    ),
    "getting_virtual_card": _help(
        "Virtual cards are created instantly in the app under Cards > 'New virtual card' and "
        "can be used online or added to Apple Pay or Google Pay right away.",
        CARDS,
    ),
    "get_disposable_virtual_card": _help(
        "A disposable virtual card works for one online payment, then its number changes. "
        "Create one in the app under Cards > 'New virtual card' > 'Disposable'.",
        CARDS,
    ),
    "disposable_card_limits": _help(
        "Disposable virtual cards are for one payment each: you can create up to 20 a day, and "
        "each follows your account's usual online spending limit.",
        CARDS,
    ),
    "card_linking": _help(
        "To link a card you already have, open the app, go to Cards > 'Link a card' and enter "
        "the card's details. We send a small verification charge that is refunded at once.",
        CARDS,
    ),
    "visa_or_mastercard": _help(
        "Our debit cards are Visa and our credit cards are Mastercard. Both are accepted "
        "wherever those networks are.",
        CARDS,
    ),
    "supported_cards_and_currencies": _help(
        "You can top up with Visa or Mastercard debit and credit cards, and hold and spend USD, "
        "EUR and GBP. Card payments in other currencies are converted at the network's rate.",
        ACCOUNTS,
    ),
    # --- cards: using one --------------------------------------------------------------------
    "card_acceptance": _help(
        "Your card works wherever Visa or Mastercard is accepted, in shops, online and at ATMs "
        "worldwide. A merchant may still choose to refuse card payments.",
        CARDS,
    ),
    "card_not_working": _help(
        "If your card is refused, check in My cards that it isn't blocked or expired, and that "
        "the payment is within your balance and limits. If it still fails, a replacement is "
        "free.",
        CARDS,
        UNBLOCK,
    ),
    "contactless_not_working": _help(
        "For security, contactless needs one payment with your PIN after a new card or a PIN "
        "change; after that it works up to the contactless limit. Insert the card once and try "
        "again.",
        CARDS,
    ),
    "virtual_card_not_working": _help(
        "If your virtual card is declined, check in My cards that it is active, that a "
        "disposable card hasn't been used already, and that the merchant accepts virtual cards.",
        CARDS,
    ),
    "apple_pay_or_google_pay": _help(
        "Yes, our cards work with Apple Pay and Google Pay. In the app, open the card and tap "
        "'Add to Apple Wallet' or 'Add to Google Pay', or add it from the wallet app itself.",
        CARDS,
    ),
    "card_swallowed": _help(
        "If an ATM kept your card, block it now so nobody else can use it, then order a "
        "replacement in the app; it's free and arrives within 5 working days.",
        BLOCK,
        CARDS,
    ),
    "change_pin": _help(
        "You can change your PIN at any of our ATMs (Card services > Change PIN), or view it in "
        "the app under Cards > 'Show PIN'.",
        CARDS,
    ),
    "passcode_forgotten": _help(
        "If you've forgotten your app passcode, tap 'Forgot passcode?' on the login screen; we "
        "send a code to your phone and email to set a new one.",
    ),
    "pin_blocked": Topic(
        "Your PIN is blocked after three wrong attempts. I can unblock your card now; then use "
        "the PIN shown in the app under Cards > 'Show PIN'.",
        (UNBLOCK, CARDS, PERSON),
        action="card_unblock",
    ),
    "lost_or_stolen_card": Topic(
        "I'm sorry. Block the card now so no new payments go through; you can order a free "
        "replacement in the app straight after.",
        (BLOCK, CARDS, PERSON),
        action="card_block",
    ),
    "compromised_card": Topic(
        "If you think someone else has your card details, block the card now. A person from "
        "our team will then check recent payments with you.",
        (BLOCK, HISTORY, PERSON),
        action="card_block",
    ),
    "lost_or_stolen_phone": _person(
        "If your phone was lost or stolen, a member of our team will secure your app login and "
        "cards with you now. You can also block your cards from any other device.",
        BLOCK,
    ),
    # --- card payments and cash --------------------------------------------------------------
    "card_payment_fee_charged": _help(
        "Card payments in your account's currency are free. Payments in another currency carry "
        "a 1% exchange fee, shown next to the payment in your transactions.",
        HISTORY,
    ),
    "card_payment_not_recognised": _person(
        "A payment you don't recognise needs a person: I'm passing you to our team, who can "
        "dispute it. Block your card meanwhile if you think its details were stolen.",
        BLOCK,
    ),
    "card_payment_wrong_exchange_rate": _help(
        "Card payments in another currency use the card network's rate on the day the "
        "merchant settles, which can differ from the rate when you paid. Weekend rates include "
        "a small margin.",
        HISTORY,
    ),
    "declined_card_payment": _help(
        "A card payment is declined when the balance is too low, a limit is reached, the card "
        "is blocked or expired, or the merchant's check fails. Check your balance and card "
        "status first.",
        BALANCE,
        CARDS,
    ),
    "pending_card_payment": _help(
        "A card payment stays pending until the merchant collects it, usually within 3 working "
        "days (hotels and car rentals up to 30). The money is reserved, not yet taken.",
        HISTORY,
    ),
    "reverted_card_payment?": _help(
        "A payment is reverted when the merchant cancels it or never collects it; the reserved "
        "money returns to your balance, usually within 7 working days.",
        HISTORY,
        BALANCE,
    ),
    "transaction_charged_twice": _person(
        "A payment taken twice needs checking by a person. Often the first is only a pending "
        "reservation that drops off; our team will confirm and refund a real duplicate.",
        HISTORY,
    ),
    "extra_charge_on_statement": _help(
        "An unexpected charge is usually a currency fee, an ATM fee or a pending amount later "
        "adjusted by the merchant. Your transactions show each fee separately.",
        HISTORY,
    ),
    "atm_support": _help(
        "Our cards work at any ATM showing the Visa or Mastercard logo, in this country and "
        "abroad. Withdrawals are free up to 200 a month, then 2%.",
        BALANCE,
    ),
    "cash_withdrawal_charge": _help(
        "Cash withdrawals are free up to 200 a month; after that we charge 2%. Some ATM "
        "operators add their own fee, which the machine shows before you confirm.",
        HISTORY,
    ),
    "cash_withdrawal_not_recognised": _person(
        "A cash withdrawal you didn't make needs a person: I'm passing you to our team now. "
        "Block your card meanwhile so no more cash can be taken.",
        BLOCK,
    ),
    "declined_cash_withdrawal": _help(
        "A withdrawal is declined when the balance or daily cash limit is reached, the PIN is "
        "wrong, or the ATM doesn't accept the card. Check your balance and try another ATM.",
        BALANCE,
        CARDS,
    ),
    "pending_cash_withdrawal": _help(
        "A withdrawal shows as pending until the ATM operator confirms it, usually within a "
        "day; if the ATM gave no cash, the amount returns by itself within 7 working days.",
        HISTORY,
    ),
    "wrong_amount_of_cash_received": _person(
        "If the ATM gave you less cash than it took, our team needs to claim it back from the "
        "ATM operator: I'm passing you to a person now.",
        HISTORY,
    ),
    "wrong_exchange_rate_for_cash_withdrawal": _help(
        "Cash in another currency is converted at the card network's rate plus any ATM "
        "operator's fee. Decline the ATM's own conversion offer to get our rate.",
        HISTORY,
    ),
    # --- money in: top-ups and deposits ------------------------------------------------------
    "automatic_top_up": _help(
        "Auto top-up adds money from your linked card when your balance falls below an amount "
        "you choose. Turn it on in the app under Accounts > 'Auto top-up'.",
        BALANCE,
    ),
    "top_up_by_bank_transfer_charge": _help(
        "Topping up by bank transfer is free. Your sending bank may charge its own fee.",
        ACCOUNTS,
    ),
    "top_up_by_card_charge": _help(
        "Top-ups with a debit card are free; with a credit card or a card from abroad we charge "
        "0.5%, shown before you confirm.",
        BALANCE,
    ),
    "top_up_by_cash_or_cheque": _help(
        "You can pay in cash at any branch counter, and cheques at a branch or by post. Cash "
        "shows at once; cheques clear in 2 working days.",
        BALANCE,
    ),
    "topping_up_by_card": _help(
        "To top up with a card, open the app, choose 'Add money', pick or link a card and "
        "enter the amount; the money shows at once.",
        BALANCE,
    ),
    "top_up_failed": _help(
        "A top-up fails when the card declines it, the card isn't verified, or a limit is "
        "reached. Nothing is taken for a failed top-up; try another card or a bank transfer.",
        BALANCE,
    ),
    "top_up_limits": _help(
        "You can top up to 10,000 a day and 30,000 a month by card; bank transfers have no "
        "limit. Your balance can hold up to 100,000.",
        BALANCE,
    ),
    "top_up_reverted": _help(
        "A top-up is reverted when the card's bank refuses it after authorising it. The money "
        "goes back to that card within 5 working days.",
        BALANCE,
        HISTORY,
    ),
    "pending_top_up": _help(
        "Card top-ups usually show at once; some banks hold them for up to an hour. Bank "
        "transfer top-ups take up to one working day.",
        BALANCE,
    ),
    "verify_top_up": _help(
        "To verify a top-up card, we make a small charge with a code in its description. Enter "
        "that code in the app under Cards > 'Verify card'.",
        CARDS,
    ),
    "balance_not_updated_after_bank_transfer": _help(
        "Incoming bank transfers can take up to one working day, and up to 3 from abroad. If "
        "it's been longer, ask the sender for the transfer reference.",
        BALANCE,
        HISTORY,
    ),
    "balance_not_updated_after_cheque_or_cash_deposit": _help(
        "Cash paid in shows at once; a cheque clears in 2 working days, and the money appears "
        "in your balance on the third.",
        BALANCE,
        HISTORY,
    ),
    # --- money out: transfers ----------------------------------------------------------------
    "transfer_into_account": _help(
        "To move money into one of your accounts, tell me the amount and the accounts, for "
        "example 'Transfer 50 from checking to savings', or tap Transfer money.",
        TRANSFER,
        ACCOUNTS,
    ),
    "receiving_money": _help(
        "To receive money, give the sender your account number and sort code or IBAN "
        "(My accounts shows them). Transfers arrive within one working day.",
        ACCOUNTS,
    ),
    "beneficiary_not_allowed": _help(
        "A payee can be refused when their details don't match their bank's records, or our "
        "checks flag the account. Check the name and number; a person can tell you more.",
        TRANSFER,
    ),
    "cancel_transfer": _person(
        "A transfer that has left can only be recalled by our team: I'm passing you to a "
        "person now. Tell them the amount and the payee.",
        HISTORY,
    ),
    "declined_transfer": _help(
        "A transfer is declined when the balance is too low, a limit is reached, or the payee's "
        "details fail our checks. Check your balance and the details, then try again.",
        BALANCE,
        TRANSFER,
    ),
    "failed_transfer": _help(
        "A failed transfer returns its money to your balance, usually within 2 working days. "
        "The most common cause is a wrong account number or name.",
        HISTORY,
        TRANSFER,
    ),
    "pending_transfer": _help(
        "A transfer stays pending while we run our checks and the receiving bank processes it, "
        "usually within one working day; international ones take up to 3.",
        HISTORY,
    ),
    "transfer_not_received_by_recipient": _help(
        "Transfers arrive within one working day, up to 3 abroad. If it shows as completed in "
        "your transactions, the receiving bank has it: the payee can ask them with our "
        "reference.",
        HISTORY,
    ),
    "transfer_timing": _help(
        "Transfers between your own accounts are instant; to other banks they take up to one "
        "working day, and up to 3 for international ones.",
        TRANSFER,
        HISTORY,
    ),
    "transfer_fee_charged": _help(
        "Transfers in the same currency are free; international transfers cost 0.5% (at least "
        "1), shown before you confirm. The receiving bank may charge its own fee.",
        HISTORY,
    ),
    # --- refunds -------------------------------------------------------------------------------
    "request_refund": _help(
        "Refunds come from the merchant: ask them first. If they refuse or don't answer within "
        "15 days, a person from our team can open a dispute.",
        HISTORY,
    ),
    "Refund_not_showing_up": _help(
        "A merchant's refund takes up to 7 working days to reach your balance after they issue "
        "it. If it's been longer, ask the merchant for the refund reference.",
        HISTORY,
        BALANCE,
    ),
    "direct_debit_payment_not_recognised": _person(
        "A direct debit you don't recognise can be claimed back under the Direct Debit "
        "Guarantee: I'm passing you to a person to do that with you.",
        HISTORY,
    ),
    # --- currencies ----------------------------------------------------------------------------
    "exchange_rate": _help(
        "We exchange at the market rate during the week, with a 0.5% margin at weekends; the "
        "app shows the exact rate before you confirm.",
        ACCOUNTS,
    ),
    "exchange_charge": _help(
        "Exchanging money is free during the week up to 1,000 a month, then 0.5%; weekend "
        "exchanges carry an extra 0.5%.",
        ACCOUNTS,
    ),
    "exchange_via_app": _help(
        "To exchange money, open the app, choose 'Exchange', pick the two currencies and the "
        "amount; the money moves between your currency balances at once.",
        ACCOUNTS,
    ),
    "fiat_currency_support": _help(
        "You can hold USD, EUR and GBP; card payments in over 150 other currencies are "
        "converted automatically. We don't offer cryptocurrencies.",
        ACCOUNTS,
    ),
    "country_support": _help(
        "You can open an account if you live in the US, the UK or the EU; you can use the card "
        "and send money to most countries worldwide.",
        ACCOUNTS,
    ),
    # --- the account and identity --------------------------------------------------------------
    "age_limit": _help(
        "You need to be 18 to open an account on your own; 13 to 17 year olds can have a "
        "linked account opened by a parent.",
        ACCOUNTS,
    ),
    "edit_personal_details": _help(
        "You can change your address, phone number or email in the app under Profile > "
        "'Personal details'. A change of name needs a document, which a person can help with.",
        ACCOUNTS,
    ),
    "terminate_account": _person(
        "Closing an account is done by our team, who will move any remaining balance for you: "
        "I'm passing you to a person now.",
        BALANCE,
    ),
    "verify_my_identity": _help(
        "To verify your identity, open the app, go to Profile > 'Verify identity', photograph "
        "your passport or ID card and take a selfie. It takes a few minutes.",
    ),
    "why_verify_identity": _help(
        "The law requires banks to know who their customers are, to prevent fraud and money "
        "laundering. Verification also protects your account from someone posing as you.",
    ),
    "unable_to_verify_identity": _person(
        "If the identity check keeps failing, a member of our team can verify you another way: "
        "I'm passing you to a person now.",
    ),
    "verify_source_of_funds": _help(
        "For larger deposits we may ask where the money comes from, for example a payslip, a "
        "sale contract or a bank statement. Upload it in the app under Profile > 'Documents'.",
    ),
}


class BankingHelpAgent:
    """Answers a BANKING77 question by its category: help text, buttons, or a hand-off."""

    name = "banking_help"

    def answer(self, *, topic: str) -> AgentReply:
        """The reply for `topic`; `data["handoff"]` says a person must take over."""
        found = TOPICS.get(topic)
        if found is None:
            return AgentReply(
                "I can check balances, show transactions, move money, pay bills, and block or "
                "unblock cards. For anything else, a person from our team can help.",
                quick_replies=[BALANCE, HISTORY, TRANSFER, PERSON],
                data={"topic": topic, "handoff": False},
            )
        return AgentReply(
            found.text,
            quick_replies=list(found.quick_replies),
            data={"topic": topic, "handoff": found.handoff},
        )
