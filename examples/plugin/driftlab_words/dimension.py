"""exclaim: does an answer exclaim? A diff tests it when named (`--dimensions default,exclaim`)."""

from driftlab.diff.dimensions import Dimension


def exclaims(text: str) -> float:
    """1 when the text has an exclamation mark."""
    return float("!" in text)


EXCLAIM = Dimension("exclaim", "proportion", exclaims, does="exclaim")
