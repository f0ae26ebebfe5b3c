"""Conversational turns that need no bank data: greetings, thanks, goodbyes, help."""

from agents_app.replies import AgentReply

MAIN_MENU = ["Check my balance", "Recent transactions", "Transfer money", "Talk to a person"]


class SmallTalkAgent:
    """Answers greetings, thanks, farewells, help and a stray yes/no."""

    name = "smalltalk"
    handles = ("greeting", "farewell", "thanks", "help", "affirmation", "negation")

    def handle(self, *, intent: str) -> AgentReply:
        if intent == "greeting":
            return AgentReply("Hello! How can I help with your banking today?", MAIN_MENU)
        if intent == "farewell":
            return AgentReply("Goodbye! Your conversation is saved if you need to come back.")
        if intent == "thanks":
            return AgentReply("You're welcome! Anything else I can do?", MAIN_MENU[:3])
        if intent == "help":
            return AgentReply(
                "I can check balances, show transactions, move money, pay bills, block or "
                "unblock cards, and connect you with a person.",
                MAIN_MENU,
            )
        return AgentReply("Okay. What would you like to do next?", MAIN_MENU)
