"""A short account of how two renders of the same pages differ, for assertion messages."""


def page_differences(after: dict, before: dict, context: int = 2, limit: int = 40) -> str:
    """What differs between two {page: html} renders, short enough for a CI log: pages only
    in one of them, then per differing page the first `limit` lines of a unified diff (long
    lines such as inline PNGs cut to 160 characters). '' when they are equal."""
    import difflib

    def text(v) -> list[str]:
        s = v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)
        return [line[:160] for line in s.splitlines()]

    out = []
    for name in sorted(set(after) ^ set(before)):
        out.append(f"{name}: only in {'after' if name in after else 'before'}")
    for name in sorted(set(after) & set(before)):
        if after[name] != before[name]:
            diff = difflib.unified_diff(
                text(before[name]), text(after[name]), "before", "after", n=context, lineterm=""
            )
            out.append(f"--- {name} differs:\n" + "\n".join(list(diff)[:limit]))
    return "\n".join(out)
