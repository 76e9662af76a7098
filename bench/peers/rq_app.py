"""The RQ bench job; RQ imports it by dotted path in the work horse."""


def noop(data: dict) -> dict:
    return {"ok": True, "i": data["i"]}
