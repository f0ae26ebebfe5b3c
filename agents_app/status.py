"""Whether each agent of the pipeline is up, for GET /api/agents and operators."""

import logging

from agents_app.banking_help import TOPICS as BANKING77_TOPICS
from agents_app.models import Account

logger = logging.getLogger(__name__)


def _probe(check) -> tuple[bool, dict]:
    try:
        return True, check() or {}
    except Exception as exc:  # a down agent is reported, never raised
        logger.warning("agent probe failed: %s", exc.__class__.__name__)
        return False, {"error": exc.__class__.__name__}


def agents_status() -> list[dict]:
    from agents_app.orchestrator import default_orchestrator

    pipeline = default_orchestrator()
    nlu_up, nlu_details = _probe(lambda: {"intents": len(pipeline.nlu.intents)})
    nlp_up, nlp_details = _probe(lambda: {"language": pipeline.nlp.analyze("hello").language})
    # The banking agent is up when its tables answer a query.
    bank_up, bank_details = _probe(lambda: {"hasAccounts": Account.objects.exists()})
    mcp_up, mcp_details = _probe(lambda: {"tools": pipeline.mcp.list_tools(user_id="-")})
    # The two agents without a backend are asked for a real answer, so that a broken topic
    # table or reply shows here rather than in a customer's conversation.
    help_up, help_details = _probe(
        lambda: {
            "topics": len(BANKING77_TOPICS),
            "answers": bool(pipeline.banking_help.answer(topic="card_arrival").text),
        }
    )
    talk_up, talk_details = _probe(
        lambda: {"answers": bool(pipeline.smalltalk.handle(intent="greeting").text)}
    )
    return [
        {
            "name": "nlp",
            "description": "Language, keywords, sentiment, entities (money, dates, accounts)",
            "handles": ["analysis"],
            "up": nlp_up,
            "details": nlp_details,
        },
        {
            "name": "nlu",
            "description": "Intent classification with confidence; asks when unsure",
            "handles": list(getattr(pipeline.nlu, "intents", [])),
            "up": nlu_up,
            "details": nlu_details,
        },
        {
            "name": "banking",
            "description": "Balances, transactions, accounts, cards, transfers, bill payments",
            "handles": list(pipeline.banking.handles),
            "up": bank_up,
            "details": bank_details,
        },
        {
            "name": "mcp",
            "description": "Bank operations as Model Context Protocol tools; tool-style requests",
            "handles": ["command"],
            "up": mcp_up and pipeline.mcp.is_up(),
            "details": mcp_details,
        },
        {
            "name": "banking_help",
            "description": "Answers the 77 BANKING77 topics; hands off where a person is needed",
            "handles": ["banking_help"],
            "up": help_up,
            "details": help_details,
        },
        {
            "name": "smalltalk",
            "description": "Greetings, thanks, farewells, help",
            "handles": list(pipeline.smalltalk.handles),
            "up": talk_up,
            "details": talk_details,
        },
    ]
