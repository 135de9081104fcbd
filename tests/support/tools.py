"""Python functions used as `kind = "python"` experts by the tests."""

import asyncio
import time


def shout(query: str, suffix: str = "!") -> str:
    return query.upper() + suffix


async def slow_echo(query: str, delay: float = 0.0) -> str:
    await asyncio.sleep(delay)
    return f"echo: {query}"


def broken(query: str) -> str:
    raise RuntimeError("the tool broke")


def number(query: str) -> int:
    return 42


def sleepy(query: str) -> str:
    time.sleep(5)
    return "late"


def passages(query: str) -> str:
    return "(1) Bram Stoker: Abraham Stoker was an Irish author, best known for his 1897 Gothic novel Dracula."


def hang(query: str, seconds: float = 3600.0) -> str:
    """A tool that never comes back (in a test's time)."""
    time.sleep(seconds)
    return "too late"
