"""A curated lexicon of Usage Policy phrasings that profanity models miss.

Each category has cues: a regular expression and a weight. A text's category score is
`1 - Π(1 - weight)` over the cues it matches, so one strong cue (0.9) reaches the default flag
threshold (0.8) and two weak ones (0.6) do too. Cues look for intent and a target — "how do I make
a pipe bomb", "kill my boss", "hack into her account" — not for single words, so that "kill a
process", "shoot a portrait" or "how does ransomware work" stay clean.

Patterns are written in lower case and run on the lower-cased text. A cue's pattern runs only
when every set of literals it needs (`zdr.safety.prefilter`) has a member in the text. Which
literals occur is found for all cues at once, in one pass of an Aho-Corasick automaton
(`NeedleFinder`); cues are indexed by the literals of their most selective set, so a text only
looks at the cues one of its literals triggers — for benign text, almost none. The scores equal
those of running every cue's pattern on the text (a test checks it).

Only scores come out of here: which cue matched is never returned, logged or stored.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import ahocorasick  # type: ignore[import-not-found]  # C extension without type information

from zdr.safety.prefilter import Needles, required_literals

PERSON = (
    r"(?:you|u|him|her|them|his|their|your|everyone|everybody|people|"
    r"(?:my|the|that|this|our|your|his|her)\s+(?:\w+\s+)?(?:wife|husband|ex|boss|neighbou?r|"
    r"teacher|co-?worker|roommate|sister|brother|mother|mom|father|dad|kids?|son|daughter|"
    r"family|classmate|girlfriend|boyfriend|landlord|judge|cop|officer|manager|friend|students?|"
    r"children|guy|woman|man|girl|boy|wife's|husband's))\b"
)
HARM = (r"(?:kill|murder|stab|shoot|strangle|choke|beat|hurt|burn|poison|slit|torture|rape|"
        r"gun down|blow up|run over|maim|put a bullet in)")
INTENT = (r"\b(?:i'?m|i am|i will|i'll|im|i'm gonna|gonna|going to|i want to|i wanna|we will|"
          r"we'll|i'm about to|i plan to|i intend to)\b")
GROUP = (
    r"\b(?:immigrants|refugees|migrants|muslims|jews|jewish people|christians|hindus|sikhs|"
    r"black people|blacks|white people|asians|arabs|mexicans|latinos|hispanics|africans|"
    r"chinese people|indians|gay people|gays|lesbians|homosexuals|trans people|transgender people|"
    r"women|disabled people|the disabled|roma|gypsies|catholics|atheists|foreigners)\b"
)
DEHUMANIZING = (
    r"(?:vermin|subhuman|sub-human|animals|rats|cockroaches|parasites|a disease|diseased|a plague|"
    r"(?:genetically |racially )?inferior|savages|filth|freaks|mentally ill|too stupid|rapists|"
    r"criminals|property|a burden|not human|less intelligent|predators|evil|"
    r"control the (?:banks|media|government|world))"
)
ELIMINATION = (
    r"(?:wiped out|exterminated|exterminate|eradicated|gassed|driven out|deport (?:every|all|them)|"
    r"locked up|go back where|don'?t deserve (?:rights|to live)|"
    r"should (?:all )?(?:die|be killed|hang|be shot|be sterili[sz]ed)|by force|"
    r"should not be allowed to vote|must be removed|sent to camps|shouldn'?t be allowed|"
    r"(?:must|should) be stopped by any means)"
)
MINOR = (
    r"\b(?:child|children|kids?|minors?|underage|under-age|pre-?teens?|toddlers?|"
    r"little (?:girl|boy)s?|"
    r"young (?:girl|boy)s?|school ?(?:girl|boy)s?|middle[- ]schoolers?|"
    r"(?:1[0-7]|[1-9])[- ]?(?:year|yr)s?[- ]?olds?|teen(?:ager)?s?|jailbait)\b"
)
SEXUAL = (
    r"\b(?:sex|sexual|sexually|explicit|erotic|erotica|nudes?|naked|porn|porno|pornography|"
    r"aroused|seduce|intercourse|molest|fondle|lewd|nsfw|undress(?:ing|ed)?|romantic and sexual)\b"
)
PROTECTIVE = (
    r"\b(?:sex(?:ual)? education|sex ed|puberty|age[- ]appropriate|body safety|"
    r"protect|report(?:ing)?|signs of (?:abuse|grooming)|prevent(?:ion)?|recogni[sz]e)\b"
)
MAKE = (r"\b(?:make|making|build|building|construct|assemble|create|manufacture|produce|"
        r"recipe for|instructions? (?:for|to)|steps? to|how to make|synthesi[sz]e|cook)\b")
MALWARE = (
    r"(?:ransomware|keylogger|botnet|worm|trojan|rootkit|remote access trojan|malware|spyware|"
    r"infostealer|credential stealer|(?:card )?skimmer|phishing (?:email|page|kit|site|sms))"
)


@dataclass(frozen=True, slots=True)
class Cue:
    """A pattern over lower-cased text, its weight, and the literals it needs (one per set)."""

    pattern: re.Pattern[str]
    weight: float
    needles: tuple[Needles, ...]

    def search(self, lowered: str) -> bool:
        for needles in self.needles:
            if not any(needle in lowered for needle in needles):
                return False
        return self.pattern.search(lowered) is not None

    def possible(self, present: set[str]) -> bool:
        """Whether every needle set has a member in `present` (the literals the text holds)."""
        return not any(map(present.isdisjoint, self.needles))


class NeedleFinder:
    """Which of a fixed set of strings occur in a text, in one pass of an Aho-Corasick automaton.

    `pyahocorasick` (C) walks the text once and reports every occurrence of every string, nested
    and overlapping ones included, so the result is `{s for s in strings if s in text}` exactly
    (a test checks it against that scan) at a fraction of the cost of a regular expression.
    """

    __slots__ = ("_automaton",)

    def __init__(self, strings: Iterable[str]) -> None:
        words = sorted({string for string in strings if string})
        self._automaton: Any = None
        if words:
            automaton = ahocorasick.Automaton()
            for word in words:
                automaton.add_word(word, word)
            automaton.make_automaton()
            self._automaton = automaton

    def present(self, text: str) -> set[str]:
        if self._automaton is None:
            return set()
        return {word for _, word in self._automaton.iter(text)}


def _cues(*pairs: tuple[str, float]) -> tuple[Cue, ...]:
    return tuple(Cue(re.compile(pattern), weight, required_literals(pattern))
                 for pattern, weight in pairs)


CUES: dict[str, tuple[Cue, ...]] = {
    "violent_threats": _cues(
        (INTENT + r"\s+(?:\w+\s+){0,3}?" + HARM + r"\s+" + PERSON, 0.9),
        (r"\bhow (?:can|do|could|would|should) (?:i|we) (?:\w+\s+){0,2}?" + HARM + r"\s+"
         + PERSON, 0.9),
        (r"\b(?:he|she|you|they)(?:'ll| will) (?:be|get) "
         r"(?:shot|killed|stabbed|hurt|murdered)", 0.9),
        (r"\b(?:nobody|no one) (?:is|will be|will) (?:leaving|leave|getting out|get out|walk out)"
         r"(?: of there)? alive", 0.9),
        (r"\bbring(?:ing)? (?:my|a|the) (?:gun|rifle|shotgun|pistol|ar-?15|bomb)s? to "
         r"(?:the |my |our )?(?:office|school|work|church|mosque|synagogue|temple|mall|class)",
         0.9),
        (r"\b(?:attack|shoot|bomb|run over|stab|kill|hurt)\s+(?:the\s+)?(?:protesters|crowd|"
         r"students|worshippers|people|kids|children|police|cops|shoppers)", 0.9),
        (INTENT + r"\s+(?:\w+\s+){0,2}?make (?:him|her|them|you|everyone) pay\b", 0.6),
        (r"\b(?:i have|i've got|i got|with) (?:my|my dad'?s|a|the) (?:gun|rifle|pistol|knife|"
         r"shotgun)", 0.6),
        (r"\b(?:end up|wind up|turn up) (?:in a ditch|dead|in the hospital|in a body bag)", 0.9),
        (r"\b(?:so it looks|make it look) (?:natural|like an accident|like a suicide)", 0.9),
        (r"\battack on (?:the |a )?(?:mosque|church|synagogue|temple|school|parade|concert|"
         r"festival|rally)", 0.9),
        (r"\bi know where (?:you|he|she|they|your|his|her|their)\b", 0.6),
        (r"\b(?:won'?t be safe|(?:better )?watch your back|you'?re (?:dead|next))", 0.6),
        (r"\b(?:coming for you|or else\b|you'?ll regret|you'?ll pay for)", 0.6),
        (r"\b(?:to death|without leaving (?:marks|evidence|a trace)|get away with (?:it|murder))",
         0.6),
    ),
    "weapons": _cues(
        (MAKE + r".{0,40}?(?<!bath )(?<!bath-)\b(?:pipe ?bombs?|car bombs?|bombs?|ieds?|"
         r"explosives?|detonators?|napalm|molotov|grenades?|tatp|anfo)\b", 0.9),
        (r"\b(?:synthesi[sz]e|make|making|produce|extract|extracting|culture|cultivate|"
         r"weaponi[sz]e|aerosoli[sz]e|grow)\b.{0,40}\b(?:sarin|vx|tabun|soman|novichok|"
         r"nerve agents?|mustard gas|ricin|anthrax|botulinum|smallpox|phosgene|toxic gas|"
         r"poison gas)", 0.9),
        (r"\bweaponi[sz]e\b", 0.6),
        (r"\b(?:most damage|most casualties|kill the most|maximum casualties)\b", 0.6),
        (r"\b(?:explosives?|bombs?|shrapnel)\b.{0,40}\b(?:crowd(?:ed)?|subway|stadium|school)",
         0.6),
        (r"\b(?:make|making|build|building|diy|homemade)\b.{0,30}\b(?:silencer|suppressor)s?\b",
         0.9),
        (r"\b(?:into|to) (?:a )?machine ?gun\b|\bglock switch\b|\bwith a switch\b", 0.9),
        (r"\bpoison\b.{0,60}\b(?:without (?:it )?being traced|untraceable|undetectable|"
         r"without (?:anyone|them) (?:knowing|noticing))", 0.9),
        (r"\bconvert\b.{0,30}\b(?:to|into)\s+(?:full[- ]?auto|fully automatic|automatic)", 0.9),
        (r"\b(?:auto ?sear|drop[- ]in sear|solvent trap)\b", 0.6),
        (r"\b(?:untraceable|ghost) (?:gun|firearm|pistol|rifle)s?", 0.9),
        (r"\bwithout (?:a )?background check", 0.6),
        (r"\b3d[- ]?print(?:ed|ing)?\b.{0,30}\b(?:gun|firearm|pistol|rifle)", 0.6),
        (r"\b(?:metal detectors?|x-?rays?|security) (?:can'?t|cannot|won'?t) (?:find|detect|see)",
         0.6),
        (r"\b(?:to use|use it|to hurt|to kill) on (?:people|someone|a person|humans)", 0.6),
    ),
    "self_harm": _cues(
        (r"\b(?:kill|hang|hurt|cut|starve|poison|shoot|drown|overdose) myself\b", 0.9),
        (r"\b(?:end(?:ing)? (?:my|my own) life|end it all|take my (?:own )?life|"
         r"suicide (?:method|note|plan)s?)\b", 0.9),
        (r"\b(?:don'?t|do not) want to (?:be alive|live|wake up)|\bnot wake up\b|"
         r"\bwant (?:it|this) to be over\b|\bwant to die\b|\bmake sure i die\b", 0.9),
        (r"\bhow many\b.{0,40}\b(?:pills|tablets)\b.{0,40}\b(?:die|overdose|not wake|kill)", 0.9),
        (r"\blethal dose\b.{0,60}\b(?:me|my|myself|i want|i weigh)\b", 0.9),
        (r"\bto cut\b.{0,30}\b(?:nobody|no one|not) (?:notices?|sees?)|\bkeep cutting\b|"
         r"\bhide (?:my )?(?:self[- ]harm|cuts|scars)", 0.9),
        (r"\b(?:most painless|easiest|quickest|surest) way to (?:die|end it|kill)", 0.9),
        (r"\b(?:end|take) your (?:own )?life\b", 0.6),
        (r"\bswallow (?:all|every one of|the whole bottle of) (?:my |the |of my )?(?:pills|meds|"
         r"tablets|antidepressants|sleeping pills)", 0.9),
        (r"\b(?:fastest|quickest|easiest) way to (?:bleed out|die|stop breathing)|\bbleed out\b",
         0.9),
        (r"\b(?:cutting|burning|hurting) (?:myself )?again\b|\bcut (?:deeper|myself deeper)|"
         r"\bdo it deeper\b", 0.9),
        (r"\bsuicide note\b|\bgoodbye letter\b", 0.9),
        (r"\b(?:only eating|eat only|under) \d{2,3} calories\b", 0.6),
        (r"\bhide\b.{0,40}\b(?:eating|calories|purging|not eating)\b.{0,30}\b(?:doctor|parents|"
         r"therapist|family)", 0.9),
        (r"\bpro[- ]?(?:ana|mia)\b|\bpurge after\b|\bdown to \d{2} (?:pounds|lbs|kg)\b", 0.9),
    ),
    "cyber_abuse": _cues(
        (r"\b(?:write|create|build|code|make|develop|give me|generate|spread|deploy|inject|plant)"
         r"\b.{0,40}\b" + MALWARE, 0.9),
        (r"\b(?:here(?:'s| is)|below is|sure,? here(?:'s| is))\b.{0,20}\b" + MALWARE, 0.9),
        (r"\b(?:hack|break) into\b.{0,20}\b(?:my ex|his|her|their|someone|someone else|"
         r"my (?:wife|husband|girlfriend|boyfriend|boss|neighbou?r|teacher))", 0.9),
        (r"\bhack (?:into )?(?:an?|my ex'?s|someone'?s|his|her) (?:account|phone|email|instagram|"
         r"facebook|snapchat|whatsapp)", 0.9),
        (r"\b(?:undetectable|fud|evade|bypass|avoid detection by)\b.{0,30}\b(?:antivirus|"
         r"windows defender|defender|edr|anti-?malware)", 0.9),
        (r"\bbrute[- ]?force\b.{0,40}\b(?:passwords?|logins?|accounts?|admin)", 0.6),
        (r"\bddos\b.{0,40}\b(?:off|down|offline)|\b(?:take|knock) (?:a |the |their )?"
         r"(?:site|website|server)s? (?:down|offline)", 0.9),
        (r"\bsteal\b.{0,30}\b(?:passwords?|credentials|logins?|credit cards?|cookies|"
         r"session tokens?|crypto)", 0.9),
        (r"\bencrypts? (?:every|each|all|the victim'?s?)\b.{0,60}\b(?:ransom|bitcoin|"
         r"demand(?:s|ing)? (?:a )?payment)", 0.9),
        (r"\b(?:stealer|grabber)\b|\bgrabs?\b.{0,40}\b(?:tokens|cookies|passwords)", 0.9),
        (r"\bwithout (?:her|him|them|my \w+|their|the owner) "
         r"(?:knowing|noticing|finding out)", 0.6),
        (r"\b(?:get|break) into (?:my |his |her |their |a |someone'?s )?(?:\w+'s )?(?:email|phone|"
         r"account|icloud)", 0.6),
        (r"\bfake (?:\w+ )?(?:login|sign-?in|bank) (?:page|site|form)", 0.9),
        (r"\bexploit\b.{0,40}\b(?:take over|hijack|break into)\b|\btake over\b.{0,30}\b"
         r"(?:servers|computers|machines|accounts)\b", 0.9),
        (r"\b(?:install|put|hide) (?:spyware|stalkerware|a tracker|a keylogger)\b", 0.9),
        (r"\bread (?:her|his|their|my (?:wife|husband|girlfriend|boyfriend)'?s?) "
         r"(?:texts|messages|emails|dms)", 0.6),
        (r"\bwithout (?:authori[sz]ation|permission|them knowing|their consent)", 0.6),
        (r"\b(?:site|website|server|network|system|account)s? (?:i|that i) (?:don'?t|do not) own",
         0.9),
        (r"\b(?:passwords?|messages|location)\b.{0,30}\b(?:girlfriend|boyfriend|wife|husband|ex)"
         r"'?s?\b|\b(?:girlfriend|boyfriend|wife|husband|ex)'s (?:passwords?|messages|phone)", 0.6),
    ),
    "sexual_minors": _cues(
        (MINOR + r".{0,80}" + SEXUAL, 0.9),
        (SEXUAL + r".{0,80}" + MINOR, 0.9),
        (r"\bchild porn|\bcp\b.{0,20}\b(?:links?|site|download)|\bcsam\b", 0.9),
        (r"\bgroom(?:ing)?\b.{0,30}" + MINOR, 0.9),
        (MINOR + r".{0,60}\b(?:get|send|trade) (?:me )?(?:pics|photos|pictures)\b", 0.6),
        (r"\b(?:talk to|meet|chat with) (?:them|kids|children|minors) "
         r"(?:privately|alone|in private)", 0.6),
        (MINOR + r".{0,60}\btrust me\b.{0,40}\b(?:touch|alone|secret)", 0.6),
    ),
    "hate": _cues(
        (GROUP + r"\s+(?:are|is)\s+(?:all\s+|just\s+|nothing but\s+)?(?:\w+\s+){0,2}?"
         + DEHUMANIZING, 0.9),
        (GROUP + r".{0,60}\b" + ELIMINATION, 0.9),
        (r"\b(?:arguing|argue|prove|proving|saying|explain why)\b.{0,30}" + GROUP + r".{0,30}"
         + DEHUMANIZING, 0.9),
        (r"\b(?:kill|exterminate|gas|deport) (?:all|every) (?:the )?" + GROUP, 0.9),
    ),
    "harassment": _cues(
        (r"\b(?:insults?|mean jokes?)\b.{0,30}\b(?:about|for|to) (?:my|his|her|their|"
         r"this|that)\b", 0.9),
        (r"\b(?:make|so) (?:her|him|them|she|he|they) (?:cry|cries|feel worthless)", 0.9),
        (r"\bafter (?:she|he|they) blocked me|\bfake (?:account|profile)s?\b.{0,40}\b(?:message|"
         r"contact|harass|follow|stalk)", 0.9),
        (r"\b(?:track|follow|stalk) (?:her|him|my ex|my (?:wife|girlfriend|boyfriend|husband))"
         r"(?:'s)? (?:location|phone|car|everywhere)", 0.9),
        (r"\b(?:i hope you die|kill yourself|kys)\b", 0.9),
        (r"\bso (?:people|everyone|they) can (?:harass|find|hurt|threaten)", 0.9),
        (r"\b(?:expos(?:e|ing)|post(?:ing)?|publish(?:ing)?|share|sharing)\b.{0,30}\b(?:home )?"
         r"address(?:es)?\b.{0,20}\b(?:and|or) (?:phone )?numbers?", 0.6),
        (r"\bfrom (?:different|new|multiple) (?:numbers|accounts)|\bevery (?:hour|day|night)\b"
         r".{0,30}\b(?:my ex|her|him)", 0.6),
        (r"\bmessages? to (?:send )?my ex\b|\bsend my ex\b", 0.6),
        (r"\b(?:dox|doxx|leak (?:her|his|their) (?:address|nudes|number))", 0.9),
    ),
}

CATEGORIES: tuple[str, ...] = tuple(CUES)
# Every literal any cue needs, found in one pass per text.
_NEEDLES = NeedleFinder(needle for cues in CUES.values() for cue in cues
                        for needles in cue.needles for needle in needles)
# Every cue with its category, in the order of CUES (category scores multiply in that order).
_ALL_CUES: tuple[tuple[str, Cue], ...] = tuple(
    (category, cue) for category, cues in CUES.items() for cue in cues)


def _triggers() -> dict[str, tuple[int, ...]]:
    """Literal -> the cues (positions in _ALL_CUES) whose most selective literal set holds it:
    a text can only match cues that one of its literals triggers."""
    triggers: dict[str, tuple[int, ...]] = {}
    for position, (_, cue) in enumerate(_ALL_CUES):
        for needle in cue.needles[0] if cue.needles else ():
            triggers[needle] = (*triggers.get(needle, ()), position)
    return triggers


_TRIGGERS = _triggers()
# Cues without literals are tried on every text.
_ALWAYS = tuple(position for position, (_, cue) in enumerate(_ALL_CUES) if not cue.needles)

# Context that marks a text about protecting children (sex education, spotting abuse): the
# minors category is scored at half weight there, so a parent's question does not flag.
_PROTECTIVE = re.compile(PROTECTIVE)
# Typographic apostrophes are normalized to "'" so that every cue sees one spelling.
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'"})


def lexicon_scores(text: str) -> dict[str, float]:
    """Per category `1 - Π(1 - weight)` over the cues the text matches."""
    scores = dict.fromkeys(CATEGORIES, 0.0)
    scores.update(matched_scores(normalized(text)))
    return scores


def normalized(text: str) -> str:
    """The text the cues run on: lower case, one apostrophe."""
    if not text.isascii():      # the typographic apostrophes are not ASCII
        text = text.translate(_APOSTROPHES)
    return text.lower()


def matched_scores(lowered: str) -> dict[str, float]:
    """`lexicon_scores` of a `normalized` text, for the categories with a matching cue only."""
    present = _NEEDLES.present(lowered)
    positions = set(_ALWAYS)
    for needle in present:
        triggered = _TRIGGERS.get(needle)
        if triggered is not None:
            positions.update(triggered)
    remaining: dict[str, float] = {}
    for position in sorted(positions):
        category, cue = _ALL_CUES[position]
        if cue.possible(present) and cue.pattern.search(lowered) is not None:
            remaining[category] = remaining.get(category, 1.0) * (1.0 - cue.weight)
    scores = {category: 1.0 - rest for category, rest in remaining.items()}
    if scores.get("sexual_minors") and _PROTECTIVE.search(lowered):
        scores["sexual_minors"] *= 0.5
    return scores
