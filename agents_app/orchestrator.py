"""The agent pipeline: NLP → NLU → route (banking, MCP tools, small talk, clarification,
hand-off) → one reply, with what each agent found and how long it took."""

import json
import logging
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from django.db import InterfaceError, OperationalError, transaction

from agents_app.banking import BankingAgent
from agents_app.banking_help import BankingHelpAgent
from agents_app.mcp_agent import BANK, McpAgent, ToolCall, UnreadableCommand
from agents_app.nlp import NlpAgent
from agents_app.nlu import NluAgent, default_classifier
from agents_app.replies import AgentReply
from agents_app.smalltalk import SmallTalkAgent
from messaging_app.services import ReplyDraft
from sessions_app.models import ChatSession, SessionStatus
from sessions_app.services import mark_pending

logger = logging.getLogger(__name__)

# Intents whose question a bare follow-up ("and my savings?") can continue.
FOLLOW_UP_INTENTS = {"balance_check", "transaction_history", "account_info"}
SLOT_ENTITIES = {"money", "account", "card"}
SHORT_ANSWER_WORDS = 5
PLAIN_NUMBER = re.compile(r"^\s*[$€£]?\s*\d[\d,]*(\.\d{1,2})?\s*$")
MAX_CLARIFICATIONS = 3  # consecutive misunderstandings before a person takes over
SLOW_AGENT_MS = 250.0
INTENT_LABELS = {
    "balance_check": "Check my balance",
    "transaction_history": "Recent transactions",
    "money_transfer": "Transfer money",
    "bill_payment": "Pay a bill",
    "card_block": "Block a card",
    "card_unblock": "Unblock a card",
    "card_info": "My cards",
    "account_info": "My accounts",
    "loan_info": "Loans",
}
NOT_READ_ONLY_TEXT = (
    "{command} can change your accounts or cards, so I don't run it from a command. "
    'Tell me in words instead (for example "Send $50 from checking to savings" or '
    '"Block my debit card") and I\'ll check the details with you first.'
)
HANDOFF_TEXT = (
    "I'm connecting you with a member of our support team. They'll reply here shortly, "
    "and your conversation so far is shared with them."
)


@dataclass
class Trace:
    """Which agents ran, for how long, and which failed: stored with the reply."""

    timings: dict[str, float] = field(default_factory=dict)
    failures: list[dict] = field(default_factory=list)

    def run(self, name: str, call, default=None):
        started = time.perf_counter()
        try:
            return call()
        except (OperationalError, InterfaceError):
            raise  # the database itself is gone: the whole turn fails and nothing is stored
        except Exception as exc:
            # One agent failing degrades the reply; it never fails the turn.
            logger.exception("agent %s failed", name)
            self.failures.append({"agent": name, "error": exc.__class__.__name__})
            return default
        finally:
            elapsed = round((time.perf_counter() - started) * 1000, 2)
            self.timings[name] = elapsed
            if elapsed > SLOW_AGENT_MS:
                self.failures.append({"agent": name, "error": "slow", "elapsedMs": elapsed})


@dataclass
class Routed:
    agent: str
    reply: AgentReply | None
    handoff: bool = False
    clarification: bool = False


class Orchestrator:
    """Answers one user message for a locked session (a `messaging_app` Responder)."""

    def __init__(
        self,
        *,
        nlp: NlpAgent,
        nlu: NluAgent,
        banking: BankingAgent,
        mcp: McpAgent,
        smalltalk: SmallTalkAgent,
        banking_help: BankingHelpAgent | None = None,
    ):
        self.nlp, self.nlu, self.banking, self.mcp = nlp, nlu, banking, mcp
        self.smalltalk = smalltalk
        self.banking_help = banking_help or BankingHelpAgent()

    def __call__(self, *, session: ChatSession, content: str, message_type: str) -> ReplyDraft:
        started = time.perf_counter()
        trace = Trace()
        nlp = trace.run("nlp", lambda: self.nlp.analyze(content))
        nlu = trace.run("nlu", lambda: self.nlu.understand(content))
        context = dict(session.conversation_context or {})
        state = dict(session.state or {})

        if session.status == SessionStatus.PENDING:
            # A person has the conversation: store what we understood, say nothing.
            routed = Routed(agent="human", reply=None)
        else:
            routed = self._route(session, content, message_type, nlp, nlu, context, state, trace)

        if routed.handoff:
            mark_pending(session, state["handoffReason"])
        state["clarifications"] = state.get("clarifications", 0) + 1 if routed.clarification else 0
        if routed.reply is not None:
            for key, value in routed.reply.context.items():
                if value is None:
                    context.pop(key, None)
                else:
                    context[key] = value
        session.conversation_context = context
        session.state = state
        return self._draft(routed, nlp, nlu, trace, started)

    # --- routing ---------------------------------------------------------------------------
    def _route(self, session, content, message_type, nlp, nlu, context, state, trace) -> Routed:
        call = (
            trace.run("mcp", lambda: self.mcp.parse_command(content))
            if message_type == "command" or content[:1] == "/"
            else None
        )
        if call is not None:
            return Routed(agent="mcp", reply=self._run_tool(session.user_id, call, trace))

        intent = nlu.intent if nlu and not nlu.needs_clarification else None
        if intent is None and nlu is not None:
            intent = self._follow_up_intent(nlu, nlp, context)
        if intent == "human_handoff":
            state["handoffReason"] = "user_request"
            return Routed(agent="handoff", reply=AgentReply(HANDOFF_TEXT), handoff=True)

        pending = self.banking.has_pending_flow(context)
        if (
            pending
            and not self.banking.overrides_pending_flow(intent)
            and self._answers_a_question(content, nlp)
        ):
            intent = "slot_fill"  # "checking", "$200", "card ending 4242" while a flow asks
        if intent == "banking_help" and nlu.topic and not pending:
            # A BANKING77 question: its own answer, or a person when only one can sort it out.
            reply = self.banking_help.answer(topic=nlu.topic)
            if reply.data["handoff"]:
                state["handoffReason"] = f"needs_person:{nlu.topic}"
                return Routed(agent="handoff", reply=reply, handoff=True)
            return Routed(agent="banking_help", reply=reply)
        if intent in self.banking.handles or (
            pending and intent not in {"greeting", "farewell", "thanks", "help"}
        ):
            if intent in self.banking.handles and intent not in {"affirmation", "negation"}:
                context["currentIntent"] = intent
            reply = trace.run(
                "banking",
                lambda: self._in_savepoint(
                    lambda: self.banking.handle(
                        user_id=session.user_id,
                        intent=intent or "unknown",
                        text=content,
                        nlp=nlp,
                        context=context,
                    )
                ),
            )
            if reply is None:
                reply = AgentReply(
                    "I couldn't complete that just now. Please try again in a moment.",
                    ["Talk to a person"],
                )
            return Routed(agent="banking", reply=reply)
        if intent in self.smalltalk.handles:
            return Routed(agent="smalltalk", reply=self.smalltalk.handle(intent=intent))
        return self._clarify(nlu, state)

    @staticmethod
    def _answers_a_question(content: str, nlp) -> bool:
        """A short reply naming an amount, account or card answers the pending question,
        whatever intent its words alone would suggest."""
        if nlp is None or len(content.split()) > SHORT_ANSWER_WORDS:
            return False
        return any(e.type in SLOT_ENTITIES for e in nlp.entities) or bool(
            PLAIN_NUMBER.match(content)
        )

    def _follow_up_intent(self, nlu, nlp, context) -> str | None:
        """'And my savings?' after a balance question continues that question."""
        mentions_account = nlp is not None and nlp.first("account") is not None
        if mentions_account and context.get("currentIntent") in FOLLOW_UP_INTENTS:
            return context["currentIntent"]
        return None

    def _clarify(self, nlu, state) -> Routed:
        if state.get("clarifications", 0) + 1 >= MAX_CLARIFICATIONS:
            state["handoffReason"] = "repeated_failure"
            return Routed(
                agent="handoff",
                reply=AgentReply("I'm sorry I keep misunderstanding. " + HANDOFF_TEXT),
                handoff=True,
            )
        options = [
            INTENT_LABELS[name]
            for name, _ in ([(nlu.intent, nlu.confidence), *nlu.alternatives] if nlu else [])
            if name in INTENT_LABELS
        ][:3]
        return Routed(
            agent="clarification",
            reply=AgentReply(
                "I'm not sure I understood. What would you like to do?",
                quick_replies=list(
                    dict.fromkeys([*options, "Check my balance", "Talk to a person"])
                )[:4],
            ),
            clarification=True,
        )

    @staticmethod
    def _in_savepoint(call):
        # A failing agent must not leave the turn's transaction aborted.
        with transaction.atomic():
            return call()

    def _run_tool(self, user_id: str, call: ToolCall | UnreadableCommand, trace) -> AgentReply:
        if isinstance(call, UnreadableCommand):
            return AgentReply(
                f"I couldn't read the arguments of {_typed(call)}. Try a JSON object "
                '(/get_transactions {"limit": 5}) or key=value pairs (account_type=savings).',
                data={"ok": False, "tool": call.tool, "server": call.server},
            )
        # Only read-only tools run from the chat: a change goes through the conversation,
        # which confirms it with the user, never straight from a command.
        result = trace.run(
            "mcp", lambda: self.mcp.call_tool(user_id=user_id, call=call, read_only=True)
        )
        if result is not None and result.not_read_only:
            return AgentReply(
                NOT_READ_ONLY_TEXT.format(command=_typed(call)),
                quick_replies=["Transfer money", "Block a card", "Unblock a card"],
                data={"ok": False, "tool": call.tool, "server": call.server, "readOnly": False},
            )
        return self._tool_reply(result)

    @staticmethod
    def _tool_reply(result) -> AgentReply:
        if result is None or not result.ok:
            error = result.error if result is not None else "unavailable"
            return AgentReply(f"That tool call failed: {error}.", data={"ok": False})
        return AgentReply(
            f"{result.server}.{result.tool} returned:\n{_short_json(result.data)}",
            data={"ok": True, "tool": result.tool, "server": result.server, "result": result.data},
        )

    # --- the stored record -------------------------------------------------------------------
    def _draft(self, routed: Routed, nlp, nlu, trace: Trace, started: float) -> ReplyDraft:
        involved = [name for name in trace.timings]
        if routed.agent not in involved:
            involved.append(routed.agent)
        reply = routed.reply
        return ReplyDraft(
            content=reply.text if reply else None,
            intent=nlu.intent if nlu else None,
            entities=[e.as_dict() for e in nlp.entities] if nlp else [],
            sentiment=nlp.sentiment if nlp else None,
            confidence=round(nlu.confidence, 4) if nlu else None,
            processing_time_ms=round((time.perf_counter() - started) * 1000),
            agent_info={
                "primary": routed.agent,
                "agentsInvolved": involved,
                "timings": trace.timings,
                "failures": trace.failures,
            },
            processing={
                "language": nlp.language if nlp else None,
                "keywords": nlp.keywords if nlp else [],
                "sentimentScore": nlp.sentiment_score if nlp else None,
                "alternatives": [list(a) for a in nlu.alternatives] if nlu else [],
                "route": routed.agent,
                "handoff": routed.handoff,
                "clarification": routed.clarification,
                "degraded": bool(trace.failures),
                "result": reply.data if reply else {},
            },
            metadata={
                "quickReplies": reply.quick_replies if reply else [],
                "suggestedActions": reply.suggested_actions if reply else [],
            },
            error_info={"failures": trace.failures} if trace.failures else None,
        )


def _typed(call: ToolCall | UnreadableCommand) -> str:
    """The command as the user types it: /get_balance, /fx.convert."""
    return f"/{call.tool}" if call.server == BANK else f"/{call.server}.{call.tool}"


def _short_json(data: Any, limit: int = 1500) -> str:
    text = json.dumps(data, indent=1, default=str)
    return text if len(text) <= limit else text[:limit] + "…"


_default: Orchestrator | None = None
_default_lock = threading.Lock()


def default_orchestrator() -> Orchestrator:
    """The process-wide pipeline, built once (loading the NLU model) on first use."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Orchestrator(
                nlp=NlpAgent(),
                nlu=NluAgent(classifier=default_classifier()),
                banking=BankingAgent(),
                mcp=McpAgent(),
                smalltalk=SmallTalkAgent(),
            )
        return _default
