"""Realm import errors: every problem names the path of the offending key."""

from __future__ import annotations

from pydantic import ValidationError

from ostiary.core.errors import ValidationFailed


def path_text(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(root)"


class RealmError(ValidationFailed):
    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        lines = "; ".join(f"{path}: {message}" for path, message in problems[:20])
        more = f" (and {len(problems) - 20} more)" if len(problems) > 20 else ""
        super().__init__(
            f"The realm file has {len(problems)} problem(s): {lines}{more}", code="invalid_realm"
        )

    @classmethod
    def from_validation(cls, error: ValidationError) -> RealmError:
        problems = []
        for item in error.errors():
            # Drop pydantic's union-branch labels such as "PermissionEntry" / "function-after[...]".
            loc = tuple(p for p in item["loc"] if not (isinstance(p, str) and (p[:1].isupper() or "[" in p)))
            problems.append((path_text(loc), item["msg"]))
        return cls(problems)
