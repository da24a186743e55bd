"""`toh-cds dead-letters`: work that failed for good, with its reason."""

from __future__ import annotations

import click

from service.cli.common import redis_of, settings

__all__ = ["dead_letters"]


@click.command("dead-letters")
@click.option("--clear", is_flag=True, help="Remove them after listing.")
def dead_letters(clear: bool) -> int:
    """List work that failed permanently (JSON lines: task, reason, status, arguments, time)."""
    import redis

    from service.pipeline.store import DEAD_LETTERS_KEY

    with redis.Redis.from_url(redis_of(settings())) as client:
        letters = list(client.lrange(DEAD_LETTERS_KEY, 0, -1))
        for raw in letters:
            click.echo(raw.decode())
        if clear:
            # Newest first (LPUSH): those listed are now the tail; any added since stay.
            client.ltrim(DEAD_LETTERS_KEY, 0, -(len(letters) + 1))
    click.echo(f"{len(letters)} dead letter(s){', cleared' if clear else ''}", err=True)
    return 0
