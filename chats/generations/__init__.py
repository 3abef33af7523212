"""Generations: assistant replies that run detached from any connection, and the events they stream.

One concern per module: ``planning`` (model, route, history, the rows of a start), ``start`` (the public starts),
``state`` (a running reply and its followers), ``running`` (the provider call, its end, stopping it),
``following`` (from the run or from the log), ``persistence`` (slices, text, end state, fan-out), ``repair``
(shutdown and crashed processes). The events themselves are built by ``core.events``.

Public API (views, consumers and compare build on it):

- ``generation_start(*, user, conversation, reply_to, model=None, group_id=None) -> Generation`` (sync code) and
  ``ageneration_start(...)`` (async code): create the streaming assistant Message and its Generation and start the
  provider call as a task of this process. The model is ``model``, else ``reply_to.model``, else the conversation's
  default, else ``PARLEY_DEFAULT_MODEL``. Raises ProviderError (bad model, provider not configured) before anything
  is stored, and ConversationBusy (409) while another reply streams into the conversation; generations sharing a
  ``group_id`` (a compare fan-out) may run side by side.
- ``conversation_reply_start`` / ``aconversation_reply_start(*, user, conversation, content, model=None,
  attachments=None)``: store the user's message (with its upload ids attached) and start the reply in one
  transaction (nothing is stored on 409 or a refused attachment).
- ``generation_events(generation_id, *, after=0) -> AsyncIterator[dict]``: the SPEC §4 events (each with ``type``
  and ``seq``) after ``after``: the missed ones replayed, then live ones, ending with ``done``. Works in any process.
  A client whose ``after`` is a seq a crash kept out of the log (or past its end) first gets a ``snapshot``
  (no ``seq``) of the stored text; a run hands out only seqs reserved in the database, so none is ever reused.
  ``generation_event_batches`` is the same in batches, with ``[]`` after ``idle_timeout`` seconds of silence.
- ``generation_cancel(*, user, generation_id) -> Generation`` (404 for another user's): closes the provider call;
  the partial text is stored ``cancelled``. ``agenerations_wait_finished`` waits for the end state.
- ``relay_stateless(route, request)``: the same events for a reply that is not stored.
- ``generations_shutdown()`` stores running generations of this process as ``interrupted``;
  ``generations_repair(stale_after=...)`` does the same for ones a crashed process left ``streaming``.
"""
from chats.generations.errors import ConversationBusy, InternalFailure, Interrupted, NoUserMessage
from chats.generations.following import generation_event_batches, generation_events
from chats.generations.persistence import close_persister_connection
from chats.generations.planning import StartPlan, chat_history, plan_start, resolve_model, store_many, store_start
from chats.generations.repair import generations_repair, generations_shutdown
from chats.generations.running import (
    agenerations_wait_finished,
    generation_cancel,
    note_server_loop,
    relay_stateless,
)
from chats.generations.start import (
    aconversation_reply_start,
    ageneration_start,
    conversation_reply_start,
    generation_start,
    reply_start_in_loop,
    start_planned,
)
from chats.generations.state import RUNS, Subscriber
from chats.selectors import ACTIVE, conversation_for_streaming, generation_get
from core.db_workers import close_worker_connections
from core.events import TERMINAL as TERMINAL_EVENT


def close_db_connections() -> None:
    """Close the connections of the persister and worker threads (server shutdown, end of a test)."""
    close_persister_connection()
    close_worker_connections()


__all__ = [
    "ACTIVE", "RUNS", "TERMINAL_EVENT", "ConversationBusy", "InternalFailure", "Interrupted", "NoUserMessage",
    "StartPlan", "Subscriber", "aconversation_reply_start", "ageneration_start", "agenerations_wait_finished",
    "chat_history", "close_db_connections", "conversation_for_streaming", "conversation_reply_start",
    "generation_cancel", "generation_event_batches", "generation_events", "generation_get", "generation_start",
    "generations_repair", "generations_shutdown", "note_server_loop", "plan_start", "relay_stateless",
    "reply_start_in_loop", "resolve_model", "start_planned", "store_many", "store_start",
]
