"""Turns the raw KJV reader output and the tagged Brown corpus into plain text.

Output: train.txt and heldout.txt, one verse / sentence per line, blank line between
chapters / paragraphs. The held-out set is the last fraction of each source, so both
styles are evaluated.
"""
import argparse
import re
from pathlib import Path

VERSE = re.compile(r"^\s+\d+ (.*)$")
CHAPTER = re.compile(r"^[1-3]?\s?[A-Z][A-Za-z ]+ \d+$")


def kjv_paragraphs(raw: str) -> list[str]:
    paragraphs, verses = [], []
    for line in raw.splitlines():
        match = VERSE.match(line)
        if match:
            verses.append(match.group(1).strip())
        elif line.strip() and CHAPTER.match(line.strip()):
            if verses:
                paragraphs.append("\n".join(verses))
            verses = []
        elif line.strip():
            raise ValueError(f"unexpected KJV line: {line!r}")
    if verses:
        paragraphs.append("\n".join(verses))
    return paragraphs


def detag_brown_sentence(tagged: str) -> str:
    words = []
    for token in tagged.split():
        word = token.rsplit("/", 1)[0]
        words.append({"``": '"', "''": '"', "--": "--"}.get(word, word))
    text, open_quote = "", False
    for word in words:
        if not text:
            text = word
            open_quote = word == '"'
        elif word == '"':
            text += '"' if open_quote else ' "'
            open_quote = not open_quote
        elif re.fullmatch(r"[.,;:?!)\]]+|'s|'", word) or text.endswith(("(", "[")) or (open_quote and text.endswith('"') and text.count('"') % 2 == 1):
            text += word
        else:
            text += " " + word
    text = re.sub(r"\s+n't\b", "n't", text)
    return text


def brown_paragraphs(folder: Path) -> list[str]:
    files = sorted(p for p in folder.iterdir() if re.fullmatch(r"c[a-r]\d\d", p.name))
    if len(files) != 500:
        raise ValueError(f"expected 500 Brown sample files in {folder}, found {len(files)}")
    paragraphs = []
    for path in files:
        for block in re.split(r"\n\s*\n", path.read_text(encoding="utf-8")):
            sentences = [detag_brown_sentence(line) for line in block.splitlines() if line.strip()]
            if sentences:
                paragraphs.append("\n".join(sentences))
    return paragraphs


def split(paragraphs: list[str], fraction: float) -> tuple[list[str], list[str]]:
    cut = len(paragraphs) - max(1, round(len(paragraphs) * fraction))
    return paragraphs[:cut], paragraphs[cut:]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kjv", type=Path, required=True)
    parser.add_argument("--brown", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--heldout-fraction", type=float, default=0.02)
    args = parser.parse_args()

    kjv_train, kjv_held = split(kjv_paragraphs(args.kjv.read_text(encoding="utf-8")), args.heldout_fraction)
    brown_train, brown_held = split(brown_paragraphs(args.brown), args.heldout_fraction)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, parts in (("train.txt", kjv_train + brown_train), ("heldout.txt", kjv_held + brown_held)):
        text = "\n\n".join(parts) + "\n"
        (args.out / name).write_text(text, encoding="utf-8")
        print(f"{name}: {len(parts)} paragraphs, {len(text.split())} words, {len(text.encode())} bytes")


if __name__ == "__main__":
    main()
