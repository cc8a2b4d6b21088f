"""Prompt templates: files under the prompts folder, validated, versioned by content.

A template is a YAML file `<name>.yaml`:

    format: chat            # chat (messages), instruction (one instruction) or completion
    description: ...        # optional
    messages:               # chat: a list of {role: system|user|assistant, content}
      - {role: system, content: "Answer with one of: {labels}."}
      - {role: user, content: "{examples}\\n\\nText: {text}\\nLabel:"}
    template: "..."         # instruction and completion: one text instead of messages

Placeholders are Python format fields. The platform fills `{labels}` (the class names,
comma-separated), `{examples}` (the most similar stored examples, one `Text: ...` /
`Label: ...` pair each) and `{text}`; any other field is an error, and so are a template
without `{labels}` or `{text}`, unbalanced braces, format specs and attribute access.
The version is the sha256 of the file's bytes: change a character, get a new version.
"""

from __future__ import annotations

import hashlib
import string
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

FORMATS = ("chat", "instruction", "completion")
ROLES = ("system", "user", "assistant")
VARIABLES = ("labels", "examples", "text")
REQUIRED = ("labels", "text")


class PromptError(ValueError):
    """A template that cannot be used: the file and every problem in it."""

    def __init__(self, path: Path, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        super().__init__(f"invalid prompt template {path}:\n  " + "\n  ".join(problems))


@dataclass(frozen=True)
class PromptTemplate:
    """A validated template: its name (file stem), format, parts (role, text) and version."""

    name: str
    format: str
    parts: tuple[tuple[str, str], ...]
    version: str
    variables: tuple[str, ...]

    def render(
        self, *, labels: Sequence[str], examples: Sequence[tuple[str, str]], text: str
    ) -> list[dict[str, str]]:
        """The filled template as chat messages (an instruction or completion is one
        `user` message with its text)."""
        values = {
            "labels": ", ".join(labels),
            "examples": "\n\n".join(f"Text: {t}\nLabel: {label}" for t, label in examples),
            "text": text,
        }
        return [{"role": role, "content": content.format(**values)} for role, content in self.parts]


def prompt_path(folder: str | Path, name: str) -> Path:
    return Path(folder) / f"{name}.yaml"


def load_prompt(path: Path) -> PromptTemplate:
    """Read and validate a template file; raises PromptError listing every problem."""
    if not path.is_file():
        raise PromptError(path, ["no such file"])
    payload = path.read_bytes()
    try:
        document = yaml.safe_load(payload)
    except yaml.YAMLError as exc:
        raise PromptError(path, [f"not YAML: {exc}"]) from None
    if not isinstance(document, dict):
        raise PromptError(path, ["the file must be a mapping with `format`"])
    problems: list[str] = []
    parts = _parts(document, problems)
    found: list[str] = []
    for where, (_, content) in parts:
        found += _fields(where, content, problems)
    for name in REQUIRED:
        if parts and name not in found:
            what = "the label list" if name == "labels" else "the text to classify"
            problems.append(f"no {{{name}}} placeholder: the prompt must show {what}")
    if problems:
        raise PromptError(path, problems)
    return PromptTemplate(
        name=path.stem,
        format=str(document["format"]),
        parts=tuple(part for _, part in parts),
        version=hashlib.sha256(payload).hexdigest()[:16],
        variables=tuple(dict.fromkeys(found)),
    )


def _parts(document: dict[str, Any], problems: list[str]) -> list[tuple[str, tuple[str, str]]]:
    """(where, (role, content)) of each part, problems appended."""
    kind = document.get("format")
    unknown = sorted(set(document) - {"format", "description", "messages", "template"})
    if unknown:
        problems.append(f"unknown key(s): {', '.join(unknown)}")
    if kind not in FORMATS:
        problems.append(f"format: {kind!r} is not one of {', '.join(FORMATS)}")
        return []
    if kind == "chat":
        messages = document.get("messages")
        if "template" in document or not isinstance(messages, list) or not messages:
            problems.append("a chat template needs a non-empty `messages` list (no `template`)")
            return []
        parts = []
        for i, message in enumerate(messages):
            if not isinstance(message, dict) or set(message) != {"role", "content"}:
                problems.append(f"messages.{i}: needs exactly `role` and `content`")
            elif message["role"] not in ROLES:
                problems.append(f"messages.{i}.role: {message['role']!r} is not one of {ROLES}")
            elif not isinstance(message["content"], str) or not message["content"].strip():
                problems.append(f"messages.{i}.content: must be non-empty text")
            else:
                parts.append((f"messages.{i}.content", (message["role"], message["content"])))
        return parts
    template = document.get("template")
    if "messages" in document or not isinstance(template, str) or not template.strip():
        problems.append(f"an {kind} template needs a non-empty `template` text (no `messages`)")
        return []
    return [("template", ("user", template))]


def _fields(where: str, content: str, problems: list[str]) -> list[str]:
    """The placeholder names in `content`; problems appended for bad ones."""
    try:
        parsed = list(string.Formatter().parse(content))
    except ValueError as exc:
        problems.append(f"{where}: {exc} (write a literal brace as {{{{ or }}}})")
        return []
    names = []
    for _, field, spec, conversion in parsed:
        if field is None:
            continue
        if field not in VARIABLES:
            problems.append(
                f"{where}: undefined variable {{{field}}}; known: {', '.join(VARIABLES)}"
            )
        elif spec or conversion:
            problems.append(f"{where}: {{{field}}} takes no format spec or conversion")
        else:
            names.append(field)
    return names
