"""Chat about attached faces (``emoreason chat``, the server's sessions and ``/v1/chat/completions``):

- ``session``: :class:`~emoreason.chat.session.ChatSession`, the multi-turn conversation and the REPL;
- ``answers``: what a question to the rules backend asks (intents, the faces and times in focus) and its answers;
- ``reading``: the answers that weigh the rule engine's scores ("why not X?", "is she X?", "how sure?").
"""
