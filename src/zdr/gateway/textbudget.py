"""How much text one exchange hands the safety classifier, and in what pieces.

A long text — an uploaded file, a feedback transcript, a downloaded file — is scored in pieces of
`PIECE_CHARS` characters (the default classifier's window: it scores at most 8,000 characters of
each text), overlapping by `OVERLAP_CHARS` so a sentence cut at a boundary is still whole in one
piece. A conversation of a batch (a request, a result) is one part, scored as a whole and charged
at most `PIECE_CHARS`. One exchange hands over at most `MAX_SCORED_CHARS` scored characters
(about a second of the default classifier's time on one core: 500 pieces, or 500 long batch
requests, or thousands of short ones); text past that is not scored, and the exchange's result
says so (`not_scored:size_limit`).
"""

from __future__ import annotations

PIECE_CHARS = 8_000
OVERLAP_CHARS = 200
MAX_SCORED_CHARS = 4_000_000


class TextBudget:
    """The characters an exchange may still hand over; `exceeded` once some text was cut."""

    __slots__ = ("exceeded", "left")

    def __init__(self, limit: int = MAX_SCORED_CHARS) -> None:
        self.left = limit
        self.exceeded = False

    def take(self, text: str) -> str:
        """`text`, or as much of its start as the budget allows (then `exceeded`)."""
        if len(text) <= self.left:
            self.left -= len(text)
            return text
        self.exceeded = True
        kept, self.left = text[:self.left], 0
        return kept

    def admit(self, text: str) -> bool:
        """Whether one more whole part fits; charged the `PIECE_CHARS` at most it is scored on."""
        if self.left <= 0:
            self.exceeded = True
            return False
        self.left -= min(len(text), PIECE_CHARS)
        return True

    @property
    def spent(self) -> bool:
        return self.left <= 0


def pieces(text: str, budget: TextBudget) -> list[str]:
    """`text` in overlapping pieces of at most `PIECE_CHARS`, within `budget`."""
    if len(text) <= PIECE_CHARS:
        kept = budget.take(text)
        return [kept] if kept else []
    found = []
    step = PIECE_CHARS - OVERLAP_CHARS
    for start in range(0, len(text) - OVERLAP_CHARS, step):
        if budget.spent:
            budget.exceeded = True
            break
        piece = budget.take(text[start:start + PIECE_CHARS])
        if piece:
            found.append(piece)
    return found
